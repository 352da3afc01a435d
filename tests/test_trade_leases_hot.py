"""Lease updates of trades rewrite no index when the row's page has room: no index holds
claimed_by or claim_expires_at (migration 0009), so such an update is HOT (heap-only).

Measured per transaction with pg_stat_get_xact_tuples_updated / _hot_updated (the
counters of the transaction itself, read before it commits). A HOT update needs room for
the new version on the row's own page: fillfactor 85 leaves room for one or two per page,
and pruning the versions of earlier transactions makes more (which any open transaction
of the cluster, in whatever database, defers). Asserted: a lease update of a trade whose
page has room (after a VACUUM) is HOT, which no index on a lease column would allow; a
status move never is. Reported as figures: the share of HOT updates when a bot renews
300 claims at once, round after round (the in-flight trades share pages, so most of a
round finds no room: the limit of leases kept in xorj.trades).
"""

from __future__ import annotations

import psycopg

from tests.conftest import report_figures
from tests.solana import address

TRADES = 300
ROUNDS = 20

_COUNTERS = (
    "SELECT pg_stat_get_xact_tuples_updated('xorj.trades'::regclass),"
    " pg_stat_get_xact_tuples_hot_updated('xorj.trades'::regclass)"
)


def _in_one_transaction(
    conn: psycopg.Connection, statement: str, *params: object
) -> tuple[int, int]:
    """Run `statement` in a transaction of its own: (rows updated, of which HOT)."""
    with conn.transaction():
        upd0, hot0 = conn.execute(_COUNTERS).fetchone()
        conn.execute(statement, params)
        upd1, hot1 = conn.execute(_COUNTERS).fetchone()
    return upd1 - upd0, hot1 - hot0


def trades_hot_share(db_url: str) -> tuple[int, int]:
    """(updates, HOT updates) of xorj.trades since the database was created, as the
    statistics collector reports them (flushed by the backends that ended)."""
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
            " WHERE relid = 'xorj.trades'::regclass"
        ).fetchone()


def test_claim_renewals_and_releases_are_hot_updates(db_url: str) -> None:
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

        one = _in_one_transaction(
            conn,
            "SELECT count(*) FROM api.claim_trades('bot-one', interval '1 minute', p_limit => 1)",
        )
        claimed = _in_one_transaction(
            conn,
            "SELECT count(*) FROM api.claim_trades('bot-h', interval '1 minute', p_limit => 500)",
        )
        assert (one[0], claimed[0]) == (1, TRADES - 1)
        renew = "SELECT api.renew_trade_claims('bot-h', interval '1 minute')"
        rounds = []
        for _ in range(ROUNDS):
            u, h = _in_one_transaction(conn, renew)
            assert u == TRADES - 1
            rounds.append(h)
        updated, hot = ROUNDS * (TRADES - 1), sum(rounds)
        released = _in_one_transaction(conn, "SELECT api.release_trade_claims('bot-h')")
        assert released[0] == TRADES - 1
        # One lease on a page with room (VACUUM first): renewed, then released.
        single = []
        for statement in (
            "SELECT api.renew_trade_claims('bot-one', interval '1 minute')",
            "SELECT api.renew_trade_claims('bot-one', interval '2 minutes')",
            "SELECT api.release_trade_claims('bot-one')",
        ):
            conn.execute("VACUUM xorj.trades")
            single.append(_in_one_transaction(conn, statement))
        # A status move changes indexed columns: never HOT (the control).
        moved = _in_one_transaction(
            conn,
            "UPDATE xorj.trades SET status = 'FAILED', error_message = 'cancelled'"
            " WHERE user_vault_address = %s",
            vault,
        )

    report_figures(
        "HOT updates of trades",
        claims=f"{claimed[1]}/{claimed[0]}",
        renewals=f"{hot}/{updated}",
        by_round="/".join(map(str, rounds)),
        releases=f"{released[1]}/{released[0]}",
        status_moves=f"{moved[1]}/{moved[0]}",
    )
    assert moved == (TRADES, 0), moved
    # With room on its page, a lease update is HOT: no index is rewritten.
    assert single == [(1, 1)] * 3, single
    # Without VACUUM, the pages still have room for some (fillfactor 85).
    assert min(rounds) > 0, rounds
