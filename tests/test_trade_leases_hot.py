"""A bot's leases live in xorj.trade_claims (migration 0010), so claiming, renewing and
releasing never writes xorj.trades, and a renewal is a HOT update of a narrow row whose
indexed columns (trade_id, claimed_by) do not change: no index is rewritten.

Measured per transaction with pg_stat_get_xact_tuples_updated / _hot_updated (the
counters of the transaction itself, read before it commits), as a bot sends them: each
call in its own transaction. A HOT update needs room for the new version on the row's
own page: trade_claims keeps half of each page free (fillfactor 50), so the first
renewal of every lease finds room; later rounds find the room the earlier versions leave
when they are pruned (which any open transaction of the cluster, in whatever database,
defers: those rounds are reported as figures, not asserted).
"""

from __future__ import annotations

import psycopg

from tests.conftest import report_figures
from tests.solana import address

TRADES = 300
ROUNDS = 20


def _counters(conn: psycopg.Connection, table: str) -> tuple[int, int, int]:
    """This transaction's (inserted, updated, HOT updated) rows of xorj.<table>, of its
    partitions when it has some (xorj.trades: one per month; the counters are theirs)."""
    return conn.execute(
        "SELECT sum(pg_stat_get_xact_tuples_inserted(r.relid))::int,"
        " sum(pg_stat_get_xact_tuples_updated(r.relid))::int,"
        " sum(pg_stat_get_xact_tuples_hot_updated(r.relid))::int"
        " FROM (SELECT relid FROM pg_partition_tree(%(t)s::regclass)"
        "       UNION SELECT %(t)s::regclass) AS r",
        {"t": f"xorj.{table}"},
    ).fetchone()


def _in_one_transaction(
    conn: psycopg.Connection, statement: str
) -> dict[str, tuple[int, int, int]]:
    """Run `statement` in a transaction of its own: per table, (inserted, updated, HOT)."""
    with conn.transaction():
        before = {t: _counters(conn, t) for t in ("trades", "trade_claims")}
        conn.execute(statement)
        after = {t: _counters(conn, t) for t in ("trades", "trade_claims")}
    return {t: tuple(a - b for a, b in zip(after[t], before[t], strict=True)) for t in after}


def updates_by_table(db_url: str) -> dict[str, tuple[int, int]]:
    """(updates, HOT updates) of xorj.trades (the sum of its month partitions: the
    statistics are kept per partition) and of xorj.trade_claims since the database was
    created, as the statistics report them (flushed by the backends that ended)."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT 'trades', sum(n_tup_upd)::int, sum(n_tup_hot_upd)::int"
            " FROM pg_stat_user_tables"
            " WHERE relid IN (SELECT relid FROM pg_partition_tree('xorj.trades'))"
            " UNION ALL SELECT 'trade_claims', n_tup_upd, n_tup_hot_upd"
            " FROM pg_stat_user_tables WHERE relid = 'xorj.trade_claims'::regclass"
        ).fetchall()
    return {name: (upd, hot) for name, upd, hot in rows}


def test_leases_never_write_trades_and_renewals_are_hot(db_url: str) -> None:
    vault = address(7001)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO xorj.bot_states (user_id, enabled, vault_address) VALUES (%s, true, %s)",
            (address(7000), vault),
        )
        (job,) = conn.execute(
            "INSERT INTO xorj.execution_jobs (trigger_reason) VALUES ('SCHEDULED_RUN') RETURNING id"
        ).fetchone()
        conn.execute(
            "UPDATE xorj.execution_jobs SET status = 'RUNNING', worker_id = 'bot-h',"
            " started_at = clock_timestamp() WHERE id = %s",
            (job,),
        )
        for i in range(TRADES):  # one token pair each: the in-flight rule allows them all
            conn.execute(
                "SELECT api.create_trade(%s, %s, %s, %s, %s, 1000, 990)",
                (job, vault, f"hot-{i}", address(8000 + i), address(9000 + i)),
            )

        claim = _in_one_transaction(
            conn,
            "SELECT count(*) FROM api.claim_trades('bot-h', interval '1 minute', p_limit => 500)",
        )
        rounds = [
            _in_one_transaction(conn, "SELECT api.renew_trade_claims('bot-h', interval '1 minute')")
            for _ in range(ROUNDS)
        ]
        release = _in_one_transaction(conn, "SELECT api.release_trade_claims('bot-h')")
        # A status move is a write of trades, never HOT (it changes indexed columns).
        moved = _in_one_transaction(
            conn,
            "UPDATE xorj.trades SET status = 'FAILED', error_message = 'cancelled',"
            " failure_basis = CASE status WHEN 'PENDING' THEN 'never_broadcast' END"
            f" WHERE user_vault_address = '{vault}'",
        )
        (left,) = conn.execute("SELECT count(*) FROM xorj.trade_claims").fetchone()

    hot_by_round = [r["trade_claims"][2] for r in rounds]
    report_figures(
        "leases (trade_claims), HOT renewals by round",
        trades=TRADES,
        hot=f"{sum(hot_by_round)}/{ROUNDS * TRADES}",
        by_round="/".join(map(str, hot_by_round)),
    )
    # Leases never write xorj.trades.
    for call in (claim, *rounds, release):
        assert call["trades"] == (0, 0, 0), call
    assert claim["trade_claims"][0] == TRADES  # a claim inserts the lease
    assert all(r["trade_claims"][1] == TRADES for r in rounds)  # a renewal updates each
    # The first renewal of every lease finds room on its page: HOT, no index touched.
    assert rounds[0]["trade_claims"][2] == TRADES, rounds[0]
    assert left == 0  # released
    assert moved["trades"][1:] == (TRADES, 0), moved
