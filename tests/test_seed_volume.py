"""The volume seed's COPY path (app.seed_bulk; `xorj db seed --traders N --trades M` with
the owner's URL) leaves data every rule accepts, and `make bench-scale` prints its ratios.

Small sizes (2,000 trades, 5,000 scores; a bench run of a few hundred trades): the
rules, not the speed, are under test here.
"""

from __future__ import annotations

import random
import re
from typing import Any

import psycopg
import pytest

from app import seed, seed_bulk
from app.dbapi import scoring
from app.dbapi.sync import SyncDatabase
from tests.bench import bench_scale

# The audit trail of a trade, by its final status and whether it was broadcast.
PATHS = {
    ("PENDING", False): ["-PENDING"],
    ("SUBMITTED", True): ["-PENDING", "PENDING-SUBMITTED"],
    ("CONFIRMED", True): ["-PENDING", "PENDING-SUBMITTED", "SUBMITTED-CONFIRMED"],
    ("FAILED", True): ["-PENDING", "PENDING-SUBMITTED", "SUBMITTED-FAILED"],
    ("FAILED", False): ["-PENDING", "PENDING-FAILED"],
}


def _one(conn: psycopg.Connection[Any], query: str) -> Any:
    return conn.execute(query).fetchone()[0]


def test_the_copy_seed_keeps_every_rule(db_url: str, app_url: str) -> None:
    lines = seed_bulk.volume(app_url, db_url, traders=5_000, trades=2_000, progress=False)
    assert re.fullmatch(r"seeded [\d,]+ rows in [\d.]+ s \([\d,]+ rows/s\)", lines[-1])
    assert "COMPLETED with 5,000 trader scores" in lines[0]
    run_id = lines[0].split()[2].rstrip(":")

    with psycopg.connect(db_url) as conn:
        statuses = dict(
            conn.execute("SELECT status::text, count(*) FROM xorj.trades GROUP BY 1").fetchall()
        )
        assert sum(statuses.values()) == 2_000
        assert statuses["CONFIRMED"] > 1_500 and 100 < statuses["FAILED"] < 300
        assert statuses.get("PENDING", 0) + statuses.get("SUBMITTED", 0) > 20

        # Every trade has its events, creation first, then each move, in time order, by
        # the seed; the SUBMITTED event names the trade's signature.
        trails = conn.execute(
            """SELECT t.status::text, t.transaction_signature IS NOT NULL,
                      array_agg(coalesce(e.from_status::text, '') || '-' || e.to_status::text
                                ORDER BY e.id),
                      bool_and(e.actor = 'seed:volume'),
                      bool_and(e.at >= t.created_at),
                      array_agg(e.at ORDER BY e.id) = array_agg(e.at ORDER BY e.at, e.id),
                      bool_and(e.to_status <> 'SUBMITTED'
                               OR e.detail ->> 'transaction_signature' = t.transaction_signature)
               FROM xorj.trades t JOIN xorj.trade_events e ON e.trade_id = t.id
               GROUP BY t.id, t.created_at"""
        ).fetchall()
        assert len(trails) == 2_000
        for status, signed, path, by_seed, after, ordered, named in trails:
            assert path == PATHS[(status, signed)]
            assert by_seed and after and ordered and named
        assert {(s, b) for s, b, *_ in trails} >= {("FAILED", True), ("FAILED", False)}

        # Required fields and times, status by status.
        assert (
            _one(
                conn,
                """SELECT count(*) FROM xorj.trades t WHERE NOT CASE t.status
                     WHEN 'PENDING' THEN t.transaction_signature IS NULL
                          AND t.submitted_at IS NULL AND t.completed_at IS NULL
                     WHEN 'SUBMITTED' THEN t.transaction_signature IS NOT NULL
                          AND t.last_valid_block_height = 1000000000
                          AND t.submitted_at >= t.created_at AND t.completed_at IS NULL
                     WHEN 'CONFIRMED' THEN t.actual_amount_out IS NOT NULL
                          AND t.slippage_realized IS NOT NULL AND t.gas_fee IS NOT NULL
                          AND t.error_message IS NULL
                          AND t.submitted_at >= t.created_at AND t.completed_at >= t.submitted_at
                     ELSE t.error_message <> '' AND t.actual_amount_out IS NULL
                          AND (t.transaction_signature IS NULL) = (t.submitted_at IS NULL)
                          AND t.completed_at >= t.created_at
                   END""",
            )
            == 0
        )
        # The keys: one trade in flight per vault, pair and venue; no repeat of a vault,
        # pair and amount unless FAILED; one trade per signature; client order ids unique.
        assert (
            _one(
                conn,
                """SELECT count(*) FROM (SELECT 1 FROM xorj.trades
                     WHERE status IN ('PENDING', 'SUBMITTED')
                     GROUP BY user_vault_address, from_token_address, to_token_address, venue
                     HAVING count(*) > 1) AS x""",
            )
            == 0
        )
        assert (
            _one(
                conn,
                """SELECT count(*) FROM (SELECT 1 FROM xorj.trades WHERE status <> 'FAILED'
                     GROUP BY user_vault_address, from_token_address, to_token_address,
                              amount_in, venue
                     HAVING count(*) > 1) AS x""",
            )
            == 0
        )
        signatures, signed, keys = conn.execute(
            """SELECT count(DISTINCT transaction_signature), count(transaction_signature),
                      count(DISTINCT (user_vault_address, client_order_id))
               FROM xorj.trades"""
        ).fetchone()
        assert signatures == signed == sum(1 for _, has, *_ in trails if has)
        assert keys == 2_000
        # Every vault belongs to a user whose bot is enabled and who saved settings; the
        # trades' job is RUNNING (it is the last job).
        assert (
            _one(
                conn,
                """SELECT count(*) FROM xorj.trades t
                   WHERE NOT EXISTS (SELECT 1 FROM xorj.bot_states b
                                     JOIN xorj.user_settings s ON s.wallet_address = b.user_id
                                     WHERE b.vault_address = t.user_vault_address AND b.enabled)
                      OR NOT EXISTS (SELECT 1 FROM xorj.execution_jobs j
                                     WHERE j.id = t.job_id AND j.status = 'RUNNING')""",
            )
            == 0
        )
        # The per-vault figures kept by trigger agree with a recount of the log.
        if _one(conn, "SELECT to_regprocedure('xorj.vault_trade_stats_drift()') IS NOT NULL"):
            assert conn.execute("SELECT * FROM xorj.vault_trade_stats_drift()").fetchall() == []
        run = conn.execute(
            "SELECT status::text, (SELECT count(*) FROM xorj.trader_scores WHERE run_id = r.id)"
            " FROM xorj.scoring_runs r WHERE r.id = %s",
            (run_id,),
        ).fetchone()
        assert run == ("COMPLETED", 5_000)

    # api.ranked_traders, as a user's process calls it, ranks all 5,000, best first.
    user = SyncDatabase(app_url, "test", role="xorj_api")
    try:
        first = user.run(scoring.ranked_traders(1000, 0))
        last = user.run(scoring.ranked_traders(1000, 4000))
    finally:
        user.close()
    assert [r[0] for r in first] == list(range(1, 1001))
    assert [r[0] for r in last] == list(range(4001, 5001))
    assert {str(r[4]) for r in first + last} == {run_id}
    ranked = [r[2] for r in first + last]
    assert ranked == sorted(ranked, reverse=True)


def test_the_seed_command_copies_with_the_owners_url(
    db_url: str, app_url: str, xorj_cli: Any
) -> None:
    fast = xorj_cli(
        "db", "seed", "--traders", "300", "--trades", "200",
        env={"DATABASE_URL": app_url, "MIGRATION_DATABASE_URL": db_url},
    )  # fmt: skip
    assert fast.returncode == 0, fast.stderr
    assert fast.stdout.splitlines()[-1].startswith("seeded ")
    assert "through the api functions" not in fast.stdout
    # Without the owner's URL: one api call per trade, said so first.
    slow = xorj_cli("db", "seed", "--trades", "100", env={"DATABASE_URL": app_url})
    assert slow.returncode == 0, slow.stderr
    assert slow.stdout.startswith("through the api functions")
    with psycopg.connect(db_url) as conn:
        assert _one(conn, "SELECT count(*) FROM xorj.trades") == 300
        assert _one(conn, "SELECT count(*) FROM xorj.trader_scores") == 300


def test_volume_limits_and_shape() -> None:
    seed.check_volume(10_000_000, 1_000_000)  # the benchmark's sizes are accepted
    with pytest.raises(ValueError):
        seed.check_volume(0, -1)
    with pytest.raises(ValueError, match="add up"):
        seed_bulk.volume("unused", "unused", 0, 10, False, vault_sizes=[4, 5])
    sizes = seed_bulk.plan_vaults(1_000_000, random.Random(7))
    assert sum(sizes) == 1_000_000
    assert sizes.count(10_000) == 3 and max(sizes) == 10_000
    small = sorted(n for n in sizes if n <= 500)
    assert 5_000 < len(sizes) < 20_000 and 30 < small[len(small) // 2] < 100


def test_bench_scale_prints_a_ratio_per_operation(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--small-trades", "300", "--large-trades", "600"]
    argv += ["--small-scores", "1000", "--large-scores", "2000", "--repeat", "3"]
    assert bench_scale.main(argv) == 0
    out = capsys.readouterr().out
    ratios = re.findall(r"^(\S.*?)\s+[\d.]+\s+[\d.]+\s+([\d.]+)  (pass|FAIL)$", out, re.M)
    names = [
        "ranked_traders(100, 0)",
        "bot_status (probe vault)",
        "claim_trades(limit 500)",
        "create_trade",
        "list_trades(vault, 100)",
        "trades_to_recover(0, 100)",
    ]
    assert [name for name, _, _ in ratios] == names
    assert all((float(r) <= 1.5) == (verdict == "pass") for _, r, verdict in ratios)
    assert re.search(r"^goal: every ratio <= 1\.5: \d of 6 pass", out, re.M)
    for table in ("trades", "trade_events", "trader_scores"):
        assert re.search(rf"^  {table}\s+[\d,]+ rows x\s+\d+ B =", out, re.M)
