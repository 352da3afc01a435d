"""Benchmarks of the database rules, each a ratio against a baseline measured in the same
run on the same server (numbers of seconds alone say little on a shared 2-core machine).

    make bench            (or: .venv/bin/python -m tests.bench.bench_db [--scores N] [--trades M])

- complete_scoring_run: N scores validated and saved in one call, against COPY of the
  same rows into an unconstrained temporary table (the raw cost of writing them).
- create_trade: M trades created one call each (locks, duplicate rules, audit row),
  against M plain single-row INSERTs into an unconstrained temporary table.
- ranked_traders: the first page of the latest run, against the same page read from a
  temporary copy of the scores with no index (a full sort).
- unprepared API transaction: the status request's transaction as the door sends it
  (prelude, api.bot_status(), with prepare_threshold=None, which a transaction pooler
  needs), against the same transaction with psycopg's server-side prepared statements
  (prepare_threshold=0): the measurement behind "no prepared statements" (README,
  "Deploying"); a ratio near 1 means preparing would gain nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import psycopg
from psycopg.types.json import Jsonb

from app import migrate
from tests import dbutil
from tests.conftest import app_url_of
from tests.solana import address


def _timed(fn: Callable[[], object], repeat: int = 3) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def _as(conn: psycopg.Connection, role: str) -> None:
    """On a connection as the application login (app_url_of): `role` for the transaction."""
    conn.execute("SELECT set_config('role', %s, true)", (role,))


def bench_scores(url: str, n: int) -> tuple[float, float]:
    scores = [
        {
            "wallet_address": address(i),
            "xorj_trust_score": (i * 7919) % 10000 / 100,
            "metrics": {"total_trades": i % 200},
        }
        for i in range(n)
    ]

    def rule() -> None:
        with psycopg.connect(app_url_of(url)) as conn:
            _as(conn, "xorj_engine")
            (run,) = conn.execute("SELECT api.create_scoring_run()").fetchone()
            conn.execute("SELECT api.start_scoring_run(%s)", (run["id"],))
            conn.execute("SELECT api.complete_scoring_run(%s, %s)", (run["id"], Jsonb(scores)))

    def baseline() -> None:
        with psycopg.connect(url) as conn:
            conn.execute(
                "CREATE TEMP TABLE raw (wallet_address text, xorj_trust_score numeric, "
                "metrics jsonb)"
            )
            with conn.cursor().copy("COPY raw FROM STDIN") as copy:
                for s in scores:
                    copy.write_row(
                        (s["wallet_address"], s["xorj_trust_score"], Jsonb(s["metrics"]))
                    )

    return _timed(rule), _timed(baseline)


def bench_trades(url: str, m: int) -> tuple[float, float]:
    with psycopg.connect(url) as conn:
        for v in range(m):
            conn.execute(
                "INSERT INTO xorj.bot_states (user_id, enabled, vault_address) "
                "VALUES (%s, true, %s)",
                (address(10_000_000 + v), address(20_000_000 + v)),
            )
    counter = iter(range(10**9))

    def rule() -> None:
        with psycopg.connect(app_url_of(url)) as conn:
            with conn.transaction():
                _as(conn, "xorj_bot")
                (job,) = conn.execute(
                    "SELECT api.create_execution_job('MANUAL_TRIGGER')"
                ).fetchone()
                conn.execute("SELECT api.start_execution_job(%s, 'bench')", (job["id"],))
            k = next(counter)
            for v in range(m):
                with conn.transaction():
                    _as(conn, "xorj_bot")
                    conn.execute(
                        "SELECT api.create_trade(%s, %s, %s, %s, %s, %s, 1)",
                        (
                            job["id"],
                            address(20_000_000 + v),
                            f"bench-{k}-{v}",
                            address(30_000_000 + k),
                            address(40_000_000 + k),
                            1000 + k,
                        ),
                    )

    def baseline() -> None:
        with psycopg.connect(url) as conn:
            conn.execute(
                "CREATE TEMP TABLE raw (vault text, k text, a text, b text, amount numeric)"
            )
            for v in range(m):
                with conn.transaction():
                    conn.execute(
                        "INSERT INTO raw VALUES (%s, %s, %s, %s, %s)",
                        (address(v), f"k{v}", address(1), address(2), 1000),
                    )

    return _timed(rule), _timed(baseline)


def bench_ranked(url: str) -> tuple[float, float]:
    with psycopg.connect(url) as conn:
        conn.execute("ANALYZE xorj.trader_scores")

    def rule() -> None:
        with psycopg.connect(app_url_of(url)) as conn:
            _as(conn, "xorj_api")
            conn.execute("SELECT * FROM api.ranked_traders(100, 0)").fetchall()

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE UNLOGGED TABLE IF NOT EXISTS public.bench_scores AS "
            "SELECT wallet_address, xorj_trust_score, metrics FROM xorj.trader_scores"
        )

    def baseline() -> None:
        with psycopg.connect(url) as conn:
            conn.execute(
                "SELECT * FROM public.bench_scores "
                "ORDER BY xorj_trust_score DESC, wallet_address LIMIT 100"
            ).fetchall()

    return _timed(rule, 5), _timed(baseline, 5)


def bench_prepared(url: str, n: int = 2000) -> tuple[float, float]:
    from app.dbapi.core import PRELUDE, prelude_params

    wallet = address(1)
    params = prelude_params("xorj_api", {"wallet_address": wallet}, "bench", 30000)

    def transactions(threshold: int | None) -> Callable[[], None]:
        def run() -> None:
            with psycopg.connect(
                app_url_of(url), autocommit=True, prepare_threshold=threshold
            ) as conn:
                for _ in range(n):
                    with conn.transaction():
                        conn.execute(PRELUDE, params)
                        conn.execute("SELECT api.bot_status()").fetchall()

        return run

    transactions(None)()  # warm the server's caches
    return _timed(transactions(None)), _timed(transactions(0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scores", type=int, default=100_000)
    parser.add_argument("--trades", type=int, default=500)
    args = parser.parse_args()
    name = "xorj_bench"
    owner = dbutil.owner_role()
    dbutil.create_database(name, owner)
    url = dbutil.url_for(name, owner)
    try:
        migrate.migrate(url)
        rows = [
            (f"complete_scoring_run, {args.scores} scores", *bench_scores(url, args.scores)),
            (f"create_trade, {args.trades} calls", *bench_trades(url, args.trades)),
            ("ranked_traders(100, 0)", *bench_ranked(url)),
            ("unprepared API transaction x2000", *bench_prepared(url)),
        ]
    finally:
        dbutil.drop_database(name)
    print(f"{'benchmark':<40} {'rule s':>9} {'baseline s':>11} {'ratio':>7}")
    for label, rule, base in rows:
        print(f"{label:<40} {rule:>9.3f} {base:>11.3f} {rule / base:>7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
