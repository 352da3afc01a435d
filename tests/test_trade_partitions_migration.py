"""Migration 0011 on a database with history: the trades, events and leases written
before it (over three months, every status, signatures, a live lease) come out of it
unchanged, each trade in its month's partition with its key row and its events in the
same month, the rules holding across months at once; and its rollback gives back the
tables of 0010 with the same rows and keys, which 0011 then takes again.

The history is written as the release before 0011 stored it: rows of the plain tables,
as the superuser with the triggers off (session_replication_role = replica), since this
release's functions (procedures/) expect the partitioned tables.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from app import migrate
from tests.solana import address, signature

NOW = datetime.now(UTC)
# (client_order_id, days ago, status): three months, every status.
HISTORY = [
    ("h-1", 70, "CONFIRMED"),
    ("h-2", 70, "FAILED"),
    ("h-3", 40, "CONFIRMED"),
    ("h-4", 40, "SUBMITTED"),
    ("h-5", 0, "PENDING"),
    ("h-6", 0, "CONFIRMED"),
]
VAULT = address(6100)


def write_history(superuser_url: str) -> None:
    with psycopg.connect(superuser_url) as conn:
        conn.execute("SET LOCAL session_replication_role = replica")
        (job,) = conn.execute(
            "INSERT INTO xorj.execution_jobs (trigger_reason) VALUES ('SCHEDULED_RUN') RETURNING id"
        ).fetchone()
        for i, (coid, days, status) in enumerate(HISTORY):
            at = NOW - timedelta(days=days, minutes=i)
            done = at + timedelta(seconds=30) if status in ("CONFIRMED", "FAILED") else None
            signed = status != "PENDING" and coid != "h-2"
            (trade,) = conn.execute(
                """INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, status,
                       from_token_address, to_token_address, amount_in, expected_amount_out,
                       actual_amount_out, transaction_signature, error_message, submitted_at,
                       completed_at, created_at, updated_at)
                   VALUES (%(job)s, %(vault)s, %(coid)s, %(status)s, %(from)s, %(to)s, 1000,
                           990, %(actual)s, %(sig)s, %(error)s, %(sub)s, %(done)s, %(at)s,
                           coalesce(%(done)s, %(at)s))
                   RETURNING id""",
                {
                    "job": job,
                    "vault": VAULT,
                    "coid": coid,
                    "status": status,
                    "from": address(6200 + i),
                    "to": address(6300 + i),
                    "actual": 985 if status == "CONFIRMED" else None,
                    "sig": signature(6400 + i) if signed else None,
                    "error": "expired" if status == "FAILED" else None,
                    "sub": at + timedelta(seconds=5) if signed else None,
                    "done": done,
                    "at": at,
                },
            ).fetchone()
            moves = [(None, "PENDING")]
            if signed:
                moves.append(("PENDING", "SUBMITTED"))
            if status in ("CONFIRMED", "FAILED"):
                moves.append((moves[-1][1], status))
            for k, (a, b) in enumerate(moves):
                conn.execute(
                    "INSERT INTO xorj.trade_events (trade_id, from_status, to_status, at, actor)"
                    " VALUES (%s, %s, %s, %s, 'bot:history')",
                    (trade, a, b, at + timedelta(seconds=k)),
                )
            if status in ("PENDING", "SUBMITTED"):
                conn.execute(
                    "INSERT INTO xorj.trade_claims (trade_id, claimed_by, claim_expires_at)"
                    " VALUES (%s, 'bot-h', %s)",
                    (trade, NOW + timedelta(minutes=5)),
                )


def snapshot(url: str) -> dict[str, list[tuple]]:
    """The rows of 0010's shape: trades, events (without trade_created_at), leases."""
    with psycopg.connect(url) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        return {
            # Without the columns later migrations add (0013: the search of send-first trades).
            "trades": conn.execute(
                "SELECT (to_jsonb(t) - ARRAY['records_signature_first', 'search_until_height',"
                " 'failure_basis'])::text FROM xorj.trades t ORDER BY id"
            ).fetchall(),
            "events": conn.execute(
                "SELECT id, trade_id, from_status, to_status, at, actor, detail"
                " FROM xorj.trade_events ORDER BY id"
            ).fetchall(),
            "claims": conn.execute("SELECT * FROM xorj.trade_claims ORDER BY trade_id").fetchall(),
        }


def relkind(url: str) -> str:
    """xorj.trades' kind: r, a table; p, a partitioned table."""
    with psycopg.connect(url) as conn:
        query = "SELECT relkind::text FROM pg_class WHERE oid = 'xorj.trades'::regclass"
        return conn.execute(query).fetchone()[0]


def test_trades_of_a_database_with_history_survive_0011_and_its_rollback(
    db_url: str, superuser_url: Callable[[str], str]
) -> None:
    while (rolled := migrate.rollback(db_url)) != "0011_trade_partitions":
        assert rolled is not None
    assert relkind(db_url) == "r"
    write_history(superuser_url(db_url))
    before = snapshot(db_url)
    assert len(before["trades"]) == 6 and len(before["events"]) == 14

    assert "0011_trade_partitions" in migrate.migrate(db_url).applied
    assert relkind(db_url) == "p"
    assert snapshot(db_url) == before
    with psycopg.connect(db_url, autocommit=True) as conn:
        # Each trade in its month's partition; its events in the same month; its key.
        placed = conn.execute(
            """SELECT t.client_order_id, t.tableoid::regclass::text,
                      'xorj.trades_' || to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY_MM'),
                      (SELECT array_agg(DISTINCT e.tableoid::regclass::text)
                         FROM xorj.trade_events e WHERE e.trade_id = t.id),
                      k.created_at = t.created_at, k.unfinished,
                      k.transaction_signature IS NOT DISTINCT FROM t.transaction_signature
               FROM xorj.trades t JOIN xorj.trade_keys k ON k.id = t.id
               ORDER BY t.client_order_id"""
        ).fetchall()
        assert [p[0] for p in placed] == [h[0] for h in HISTORY]
        for (coid, part, month_part, event_parts, same_at, unfinished, same_sig), h in zip(
            placed, HISTORY, strict=True
        ):
            assert part == month_part, coid
            assert event_parts == [month_part.replace("trades_", "trade_events_")], coid
            assert same_at and same_sig, coid
            assert unfinished == (h[2] in ("PENDING", "SUBMITTED")), coid
        assert len({p[1] for p in placed}) == 3  # three months
        # The event ids go on after the old ones.
        (job,) = conn.execute("SELECT job_id FROM xorj.trades LIMIT 1").fetchone()
        conn.execute(
            "UPDATE xorj.execution_jobs SET status = 'RUNNING', worker_id = 'bot-h',"
            " started_at = clock_timestamp() WHERE id = %s",
            (job,),
        )
        conn.execute(
            "INSERT INTO xorj.bot_states (user_id, enabled, vault_address) VALUES (%s, true, %s)",
            (address(6099), VAULT),
        )
        conn.execute(
            "SELECT api.create_trade(%s, %s, 'h-new', %s, %s, 5, 5)",
            (job, VAULT, address(6500), address(6501)),
        )
        (first_new,) = conn.execute(
            "SELECT min(e.id) FROM xorj.trade_events e JOIN xorj.trades t ON t.id = e.trade_id"
            " WHERE t.client_order_id = 'h-new'"
        ).fetchone()
        assert first_new > max(e[0] for e in before["events"])
        # The rules hold across months at once: the SUBMITTED trade of 40 days ago is in
        # flight for its pair; its signature is taken.
        with pytest.raises(psycopg.Error) as in_flight:
            conn.execute(
                "SELECT api.create_trade(%s, %s, 'h-new-2', %s, %s, 5, 5)",
                (job, VAULT, address(6203), address(6303)),
            )
        assert in_flight.value.diag.constraint_name == "trade_in_flight"
        (new_id,) = conn.execute(
            "SELECT id FROM xorj.trades WHERE client_order_id = 'h-new'"
        ).fetchone()
        with pytest.raises(psycopg.Error) as taken:
            conn.execute("SELECT api.mark_trade_submitted(%s, %s)", (new_id, signature(6400)))
        assert taken.value.diag.constraint_name == "signature_in_use"
        # The new trade is not part of the history compared below.
        conn.execute(
            "SELECT api.mark_trade_failed(%s, 'test', p_failure_basis => 'never_broadcast')",
            (new_id,),
        )

    while (rolled := migrate.rollback(db_url)) != "0011_trade_partitions":  # later ones first
        assert rolled is not None
    after = snapshot(db_url)
    assert [r for r in after["trades"] if "h-new" not in r[0]] == before["trades"]
    assert after["claims"] == before["claims"]
    assert after["events"][: len(before["events"])] == before["events"]
    assert relkind(db_url) == "r"
    with psycopg.connect(db_url) as conn:
        indexes = {
            name
            for (name,) in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = 'xorj'"
                " AND tablename = 'trades'"
            )
        }
        assert {
            "trades_pkey",
            "trades_vault_client_order_key",
            "trades_transaction_signature_key",
            "trades_one_in_flight_per_pair_key",
        } <= indexes
    assert "0011_trade_partitions" in migrate.migrate(db_url).applied
    assert snapshot(db_url)["trades"] == after["trades"]
