"""`xorj db maintain`: the retention of scores and the trade partitions ahead, as an
operator (or cron) runs it, a real subprocess against a real database. It runs as the
owner (MIGRATION_DATABASE_URL, as `xorj db migrate`), in one transaction, and prints what
it did; it is safe to run again, concurrently, and while a load of scores holds the table
(it says so and does nothing). And the scores of a database migrated to 0008 with history
(one partition for the old finished runs, one for a run still RUNNING) survive the
migration and its rollback, and leave by the same retention."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import psycopg
from psycopg.types.json import Jsonb

from app import migrate
from tests.solana import address

Cli = Callable[..., subprocess.CompletedProcess[str]]


def env_of(owner_url: str, app_url: str) -> dict[str, str]:
    """The configuration of a deployment: the processes' URL and the owner's."""
    return {"DATABASE_URL": app_url, "MIGRATION_DATABASE_URL": owner_url}


def completed_run(conn: psycopg.Connection, scores: int) -> str:
    """A run created, started and completed through the api with `scores` scores."""
    run = conn.execute("SELECT api.create_scoring_run() ->> 'id'").fetchone()[0]
    conn.execute("SELECT api.start_scoring_run(%s)", (run,))
    batch = [{"wallet_address": address(i), "xorj_trust_score": i} for i in range(1, scores + 1)]
    conn.execute("SELECT api.complete_scoring_run(%s, %s)", (run, Jsonb(batch)))
    return run


def partition_of(conn: psycopg.Connection, run: str) -> str | None:
    name = "xorj.trader_scores_" + run.replace("-", "")
    return conn.execute("SELECT to_regclass(%s)::text", (name,)).fetchone()[0]


def scores_by_run(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT run_id::text, count(*) FROM xorj.trader_scores GROUP BY run_id"
        ).fetchall()
    return dict(rows)


def test_maintain_prunes_the_runs_outside_the_limits_and_says_so(
    db_url: str, app_url_of: Callable[[str], str], xorj_cli: Cli
) -> None:
    env = env_of(db_url, app_url_of(db_url))
    with psycopg.connect(db_url, autocommit=True) as conn:
        runs = [completed_run(conn, 3) for _ in range(4)]  # oldest first

    # The settings (48 runs, 7 days) keep everything.
    kept = xorj_cli("db", "maintain", env=env)
    assert kept.returncode == 0, kept.stderr
    assert kept.stdout.splitlines() == [
        "scores: pruned 0 run(s), 0 row(s) in 0 partition(s); kept 4 run(s)"
        " (the last 48 completed, and those younger than 7 day(s))",
        f"trades: 0 month(s) of partitions created; partitions ready through {month_ahead(3)}",
    ]

    pruned = xorj_cli("db", "maintain", "--keep-runs", "2", "--keep-days", "0", env=env)
    assert pruned.returncode == 0, pruned.stderr
    assert pruned.stdout.splitlines()[0] == (
        "scores: pruned 2 run(s), 6 row(s) in 2 partition(s); kept 2 run(s)"
        " (the last 2 completed, and those younger than 0 day(s))"
    )
    assert scores_by_run(db_url) == {runs[2]: 3, runs[3]: 3}
    with psycopg.connect(db_url) as conn:
        assert [partition_of(conn, r) is None for r in runs] == [True, True, False, False]
        marked = conn.execute(
            "SELECT id::text FROM xorj.scoring_runs WHERE scores_pruned_at IS NOT NULL"
        ).fetchall()
        assert sorted(r for (r,) in marked) == sorted(runs[:2])
        # The latest run is what the bot reads, untouched.
        latest = conn.execute("SELECT DISTINCT run_id::text FROM api.ranked_traders(10, 0)")
        assert latest.fetchall() == [(runs[3],)]

    again = xorj_cli("db", "maintain", "--keep-runs", "2", "--keep-days", "0", env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("scores: pruned 0 run(s), 0 row(s) in 0 partition(s); kept 2")


def month_ahead(months: int) -> str:
    """YYYY-MM of the month `months` after this one (UTC)."""
    now = datetime.now(UTC)
    index = now.year * 12 + now.month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def test_maintain_creates_the_missing_months_of_trade_partitions_ahead(
    db_url: str, app_url_of: Callable[[str], str], xorj_cli: Cli
) -> None:
    """A month ahead whose partitions are missing (dropped by hand here, as the owner can)
    is created by the next maintain, with its guard; a second maintain creates nothing."""
    env = env_of(db_url, app_url_of(db_url))
    suffix = month_ahead(2).replace("-", "_")
    with psycopg.connect(db_url, autocommit=True) as conn:
        for table in ("trade_events", "trades"):
            conn.execute(f"ALTER TABLE xorj.{table} DETACH PARTITION xorj.{table}_{suffix}")
            conn.execute(f"DROP TABLE xorj.{table}_{suffix}")
    first = xorj_cli("db", "maintain", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[1] == (
        f"trades: 1 month(s) of partitions created; partitions ready through {month_ahead(3)}"
    )
    with psycopg.connect(db_url) as conn:
        guards = conn.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid IN (%s::regclass, %s::regclass)"
            " AND tgname IN ('trades_no_truncate', 'trade_events_no_truncate')",
            (f"xorj.trades_{suffix}", f"xorj.trade_events_{suffix}"),
        ).fetchone()[0]
    assert guards == 2
    second = xorj_cli("db", "maintain", env=env)
    assert second.stdout.splitlines()[1].startswith("trades: 0 month(s) of partitions created")


def test_maintain_refuses_a_limit_out_of_range_in_one_line(
    db_url: str, app_url_of: Callable[[str], str], xorj_cli: Cli
) -> None:
    env = env_of(db_url, app_url_of(db_url))
    proc = xorj_cli("db", "maintain", "--keep-runs", "0", env=env)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "xorj: db maintain: invalid keep_runs: 0 must be 1 or more"
    ]


def test_concurrent_maintains_prune_each_run_once(
    db_url: str, app_url_of: Callable[[str], str], xorj_cli: Cli
) -> None:
    env = env_of(db_url, app_url_of(db_url))
    with psycopg.connect(db_url, autocommit=True) as conn:
        runs = [completed_run(conn, 2) for _ in range(5)]
    args = ("db", "maintain", "--keep-runs", "1", "--keep-days", "0")
    with ThreadPoolExecutor(3) as pool:
        procs = list(pool.map(lambda _: xorj_cli(*args, env=env), range(3)))
    assert [p.returncode for p in procs] == [0, 0, 0], [p.stderr for p in procs]
    pruned = sorted(int(p.stdout.split("pruned ")[1].split(" ")[0]) for p in procs)
    assert pruned == [0, 0, 4]  # one call pruned them; the others waited, then found nothing
    assert scores_by_run(db_url) == {runs[-1]: 2}


def test_maintain_while_a_load_holds_the_scores_does_nothing_and_says_so(
    db_url: str, app_url_of: Callable[[str], str], xorj_cli: Cli
) -> None:
    env = env_of(db_url, app_url_of(db_url))
    with psycopg.connect(db_url, autocommit=True) as conn:
        runs = [completed_run(conn, 2) for _ in range(3)]
    with psycopg.connect(db_url) as loader:
        # A load of scores in progress: an open transaction that wrote into trader_scores.
        loader.execute("LOCK TABLE xorj.trader_scores IN ROW EXCLUSIVE MODE")
        busy = xorj_cli("db", "maintain", "--keep-runs", "1", "--keep-days", "0", env=env)
        assert busy.returncode == 0, busy.stderr
        assert busy.stdout.splitlines()[0] == (
            "scores: pruned 0 run(s), 0 row(s) in 0 partition(s); kept 3 run(s)"
            " (the last 1 completed, and those younger than 0 day(s)); trader_scores was busy"
            " (a load of scores in progress?): 2 run(s) left to prune, run it again later"
        )
        loader.rollback()
    assert scores_by_run(db_url) == {r: 2 for r in runs}

    done = xorj_cli("db", "maintain", "--keep-runs", "1", "--keep-days", "0", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("scores: pruned 2 run(s), 4 row(s) in 2 partition(s)")


def _rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT id, run_id, wallet_address, xorj_trust_score, metrics, created_at, updated_at"
            " FROM xorj.trader_scores ORDER BY id"
        ).fetchall()


def test_scores_of_a_database_with_history_survive_0008_and_its_rollback_and_leave_by_retention(
    db_url: str, app_url_of: Callable[[str], str], xorj_cli: Cli
) -> None:
    # Back to the schema before 0008 (the migrations after it first).
    while (rolled := migrate.rollback(db_url)) != "0008_score_partitions":
        assert rolled is not None
    with psycopg.connect(db_url, autocommit=True) as conn:
        kinds = conn.execute(
            "SELECT relkind::text FROM pg_class WHERE oid = 'xorj.trader_scores'::regclass"
        ).fetchone()
        assert kinds == ("r",)
        # History, written as the release before 0008 wrote it: two completed runs, one
        # failed after a score, one still RUNNING with a score, one PENDING.
        runs = {}
        for name, scores in (("c1", 3), ("c2", 2), ("f1", 1), ("r1", 1), ("p1", 0)):
            (run,) = conn.execute(
                "INSERT INTO xorj.scoring_runs DEFAULT VALUES RETURNING id::text"
            ).fetchone()
            runs[name] = run
            if name == "p1":
                continue
            conn.execute("UPDATE xorj.scoring_runs SET status = 'RUNNING' WHERE id = %s", (run,))
            for i in range(1, scores + 1):
                conn.execute(
                    "INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score,"
                    " metrics) VALUES (%s, %s, %s, %s)",
                    (run, address(i), i, Jsonb({"n": i})),
                )
            if name in ("c1", "c2"):
                conn.execute(
                    "UPDATE xorj.scoring_runs SET status = 'COMPLETED' WHERE id = %s", (run,)
                )
            elif name == "f1":
                conn.execute(
                    "UPDATE xorj.scoring_runs SET status = 'FAILED', error_message = 'x'"
                    " WHERE id = %s",
                    (run,),
                )
    before = _rows(db_url)
    assert len(before) == 7

    assert "0008_score_partitions" in migrate.migrate(db_url).applied
    assert _rows(db_url) == before
    with psycopg.connect(db_url, autocommit=True) as conn:
        parts = dict(
            conn.execute(
                "SELECT partition::text, (SELECT array_agg(u::text ORDER BY u::text)"
                " FROM unnest(run_ids) u) FROM xorj.trader_scores_partitions()"
            ).fetchall()
        )
        assert parts == {
            "xorj.trader_scores_legacy": sorted([runs["c1"], runs["c2"], runs["f1"]]),
            partition_of(conn, runs["r1"]): [runs["r1"]],
            partition_of(conn, runs["p1"]): [runs["p1"]],
        }
        # The run that was RUNNING goes on in its own partition, through the api.
        conn.execute(
            "SELECT api.complete_scoring_run(%s, %s)",
            (runs["r1"], Jsonb([{"wallet_address": address(9), "xorj_trust_score": 9}])),
        )

    # Back and forth: the rollback restores the unpartitioned table, every row kept.
    after = _rows(db_url)
    while (rolled := migrate.rollback(db_url)) != "0008_score_partitions":
        assert rolled is not None
    assert _rows(db_url) == after
    with psycopg.connect(db_url) as conn:
        kinds = conn.execute(
            "SELECT relkind::text FROM pg_class WHERE oid = 'xorj.trader_scores'::regclass"
        ).fetchone()
        assert kinds == ("r",)
    migrate.migrate(db_url)
    assert _rows(db_url) == after

    # The round trip put r1, completed meanwhile, into the legacy partition with c1, c2
    # and f1. A new run, n1, is the latest; keeping 2 completed runs (n1, r1) keeps the
    # legacy partition whole: c1, c2 and f1 wait.
    with psycopg.connect(db_url, autocommit=True) as conn:
        n1 = completed_run(conn, 1)
    env = env_of(db_url, app_url_of(db_url))
    kept = xorj_cli("db", "maintain", "--keep-runs", "2", "--keep-days", "0", env=env)
    assert kept.returncode == 0, kept.stderr
    assert kept.stdout.startswith("scores: pruned 0 run(s), 0 row(s) in 0 partition(s)")
    assert "; 3 run(s) left to prune by the next run" in kept.stdout

    # Keep only the latest (n1): the legacy partition leaves whole, its four runs marked;
    # the PENDING run keeps its partition.
    pruned = xorj_cli("db", "maintain", "--keep-runs", "1", "--keep-days", "0", env=env)
    assert pruned.returncode == 0, pruned.stderr
    assert pruned.stdout.startswith("scores: pruned 4 run(s), 8 row(s) in 1 partition(s)")
    assert scores_by_run(db_url) == {n1: 1}
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT to_regclass('xorj.trader_scores_legacy')").fetchone() == (None,)
        assert partition_of(conn, runs["p1"]) is not None
        marked = conn.execute(
            "SELECT count(*) FROM xorj.scoring_runs WHERE scores_pruned_at IS NOT NULL"
        ).fetchone()
        assert marked == (4,)
