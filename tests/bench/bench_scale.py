"""Per-call cost as the data grows: does an api call cost the same on a database 100 times
larger? Ratios large/small of the median latency of each call, measured in one run.

    make bench-scale
    .venv/bin/python -m tests.bench.bench_scale [--small-trades 10000] [--large-trades 1000000]
        [--small-scores 100000] [--large-scores 10000000] [--repeat 100]

One database of its own (xorj_bench_scale_<pid>, created by the test server's superuser,
owned and migrated by the owner role, dropped at the end), seeded with the volume seed's
COPY path (app.seed_bulk: every rule applies) and grown from the small size to the large:

* small: one vault of min(10,000, small trades) trades (the probe vault) and the rest of
  the small trades shaped as `xorj db seed` shapes them; a scoring run of small scores;
* large: the trades up to large trades (new users, the seed's shape: a few vaults of
  10,000, many small ones) and a new run of large scores, now the latest.

After each seeding xorj.trades and xorj.trade_keys are compacted (VACUUM FULL: the seed
wrote three versions of most trades, space a live table reuses) and the database vacuumed
and analyzed. Then, at
each size, `repeat` calls of each operation (after a few untimed ones), each in its own
transaction through the door as the application login with its role (the prelude is not
timed, the call is):

* api.ranked_traders(100, 0)                          xorj_api
* api.bot_status() of the probe vault's wallet        xorj_api, the wallet's claims
* api.claim_trades(worker, 60 s, 0, 500)              xorj_bot; released after each
                                                      (api.release_trade_claims, untimed)
* api.create_trade for a vault of its own             xorj_bot; marked FAILED after each
                                                      (untimed), so its pair is free again
* api.list_trades(vault => the probe vault, 100)      xorj_bot
* api.trades_to_recover(0, 100)                       xorj_bot

and prints the median of each, the ratio large/small and whether it meets the goal
(ratio <= 1.5): ratios, never timed assertions (2 shared cores: expect noise). Then the
bytes per row of every table of schema xorj at both sizes (pg_total_relation_size:
heap, TOAST and indexes, of every partition of a partitioned table, pg_partition_tree)
and an estimate for one year at 10 trades/s (2.9 events per trade) and an hourly run of
100,000 scores, from the large size's bytes per row.

Runtime with the defaults on this machine (2 shared cores): 37 minutes measured with the
scores and the trades seeded one after the other (10,000,000 scores 22 min, disk-bound;
990,000 trades 12 min; users 1.5 min; compaction and vacuum under a minute; the
latencies 30 s); the seed now runs them side by side and sends scores best first,
expected about 25 minutes. Nearly all of it is the rules' work per row (about 1.2 ms of
server CPU per trade, 50 us per score). A quick check (5 minutes):
`--small-trades 10000 --large-trades 200000 --small-scores 100000 --large-scores 2000000`.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import psycopg
from psycopg import sql

from app import base58, migrate, seed_bulk
from app.dbapi import bots, jobs, scoring, trades
from app.dbapi.core import Call
from app.dbapi.sync import SyncDatabase
from app.seed import VOLUME_MINTS, VOLUME_PAIRS, user_claims
from tests import dbutil
from tests.conftest import app_url_of

GOAL = 1.5
WARMUP = 3
ACTOR = "bench:scale"
WORKER = "bench-scale"
YEAR_SECONDS = 365 * 24 * 3600
YEAR_ROWS = {  # one year at 10 trades/s, 2.9 events per trade, hourly runs of 100,000 scores
    "trades": 10 * YEAR_SECONDS,
    "trade_keys": 10 * YEAR_SECONDS,  # one key row per trade, kept after an archive (0011)
    "trade_events": round(10 * 2.9 * YEAR_SECONDS),
    "trader_scores": 365 * 24 * 100_000,
}


def _say(text: str = "") -> None:
    print(text, flush=True)


def timed(
    db: SyncDatabase, call: Call, claims: Mapping[str, Any] | None = None
) -> tuple[float, Any]:
    """Run `call` in a transaction of its own as `db`'s role: (seconds of the call alone,
    its answer)."""
    with db.tx(claims=claims) as conn:
        started = time.perf_counter()
        cur = conn.execute(call.sql, call.params)
        rows = cur.fetchall() if cur.description else []
        elapsed = time.perf_counter() - started
    return elapsed, call.answer(rows)


class Bench:
    """The calls measured on one database, as the application login."""

    def __init__(self, owner_url: str, probe_wallet: str, probe_vault: str) -> None:
        app = app_url_of(owner_url)
        self.api = SyncDatabase(app, ACTOR, role="xorj_api", statement_timeout=600)
        self.bot = SyncDatabase(app, ACTOR, role="xorj_bot", statement_timeout=600)
        self.probe = user_claims(probe_wallet)
        self.probe_vault = probe_vault
        self.created = 0
        # a vault of its own for create_trade, and a RUNNING job
        wallet, self.vault = base58.encode(os.urandom(32)), base58.encode(os.urandom(32))
        self.api.run(bots.enable(self.vault), user_claims(wallet))
        with self.bot.transaction() as t:
            job = t.run(jobs.create("MANUAL_TRIGGER", {"bench": "scale"}))
            t.run(jobs.start(job["id"], WORKER))
        self.job = str(job["id"])
        self.nonce = secrets.token_hex(4)

    def close(self) -> None:
        self.api.close()
        self.bot.close()

    def operations(self) -> dict[str, Callable[[], float]]:
        return {
            "ranked_traders(100, 0)": lambda: timed(self.api, scoring.ranked_traders(100, 0))[0],
            "bot_status (probe vault)": lambda: timed(self.api, bots.status(), self.probe)[0],
            "claim_trades(limit 500)": self.claim,
            "create_trade": self.create,
            "list_trades(vault, 100)": lambda: timed(
                self.bot, trades.listing(vault=self.probe_vault, limit=100)
            )[0],
            "trades_to_recover(0, 100)": lambda: timed(self.bot, trades.to_recover(limit=100))[0],
        }

    def claim(self) -> float:
        elapsed, _ = timed(self.bot, trades.claim(WORKER, timedelta(seconds=60), limit=500))
        self.bot.run(trades.release_claims(WORKER))
        return elapsed

    def create(self) -> float:
        n = self.created
        self.created += 1
        a, b = VOLUME_PAIRS[n % len(VOLUME_PAIRS)]
        call = trades.create(
            self.job,
            self.vault,
            f"bench-{self.nonce}-{n}",
            VOLUME_MINTS[a],
            VOLUME_MINTS[b],
            1_000_000 + n,
            2_000_000,
        )
        elapsed, (replay, trade) = timed(self.bot, call)
        assert not replay
        self.bot.run(
            trades.mark_failed(
                trade["id"], "bench: measured, released", failure_basis=trades.NEVER_BROADCAST
            )
        )
        return elapsed

    def measure(self, repeat: int) -> dict[str, float]:
        """The median seconds of each operation over `repeat` calls."""
        medians = {}
        for name, op in self.operations().items():
            for _ in range(WARMUP):
                op()
            medians[name] = statistics.median(op() for _ in range(repeat))
            _say(f"  {name:<28} {medians[name] * 1000:9.3f} ms")
        return medians


def compact(url: str) -> None:
    """VACUUM FULL the trades and their keys (the seed's dead row versions), then VACUUM
    ANALYZE all."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET statement_timeout = 0")
        conn.execute("VACUUM FULL xorj.trades")
        conn.execute("VACUUM FULL xorj.trade_keys")  # its row follows each move too (0011)
        conn.execute("VACUUM (ANALYZE)")


def table_sizes(url: str) -> dict[str, tuple[int, int]]:
    """Every table of schema xorj (a partitioned one as a whole): (rows, bytes with its
    TOAST, indexes and partitions)."""
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            """SELECT c.relname::text,
                      coalesce((SELECT sum(pg_total_relation_size(p.relid))::bigint
                                FROM pg_partition_tree(c.oid) p),  -- nothing: not partitioned
                               pg_total_relation_size(c.oid))
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'xorj' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
               ORDER BY 1"""
        ).fetchall()
        sizes = {}
        for name, size in tables:
            query = sql.SQL("SELECT count(*) FROM xorj.{}").format(sql.Identifier(name))
            sizes[name] = (conn.execute(query).fetchone()[0], size)
    return sizes


def probe_of(url: str) -> tuple[str, str]:
    """The wallet and vault of the vault with the most trades."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            """SELECT b.user_id::text, b.vault_address::text FROM xorj.bot_states b
               WHERE b.vault_address = (SELECT t.user_vault_address FROM xorj.trades t
                                        GROUP BY 1 ORDER BY count(*) DESC LIMIT 1)"""
        ).fetchone()


def seed(owner_url: str, scores: int, trade_count: int, sizes: list[int] | None = None) -> None:
    lines = seed_bulk.volume(
        app_url_of(owner_url), owner_url, scores, trade_count, sys.stderr.isatty(), sizes
    )
    for line in lines:
        _say(f"  {line}")


def _bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def report(
    medians: dict[str, dict[str, float]], sizes: dict[str, dict[str, tuple[int, int]]]
) -> None:
    small, large = medians["small"], medians["large"]
    _say(f"\n{'operation':<28} {'small ms':>10} {'large ms':>10} {'ratio':>7}")
    passed = []
    for name in small:
        ratio = large[name] / small[name]
        ok = ratio <= GOAL
        passed.append(ok)
        _say(
            f"{name:<28} {small[name] * 1000:10.3f} {large[name] * 1000:10.3f} {ratio:7.2f}"
            f"  {'pass' if ok else 'FAIL'}"
        )
    failing = [name for name, ok in zip(small, passed, strict=True) if not ok]
    _say(
        f"goal: every ratio <= {GOAL}: {sum(passed)} of {len(passed)} pass"
        + (f" (over: {', '.join(failing)})" if failing else "")
    )

    _say(f"\n{'table':<22} {'rows small':>12} {'B/row':>7} {'rows large':>13} {'B/row':>7}")
    for name in sizes["large"]:
        rs, bs = sizes["small"].get(name, (0, 0))
        rl, bl = sizes["large"][name]
        per_small = f"{bs / rs:7.0f}" if rs else f"{'-':>7}"
        per_large = f"{bl / rl:7.0f}" if rl else f"{'-':>7}"
        _say(f"{name:<22} {rs:12,} {per_small} {rl:13,} {per_large}")

    _say("\none year at 10 trades/s (2.9 events per trade) and an hourly run of 100,000 scores:")
    total = 0.0
    for name, rows in YEAR_ROWS.items():
        count, size = sizes["large"].get(name, (0, 0))
        if not count:
            continue
        estimate = rows * size / count
        total += estimate
        _say(f"  {name:<16} {rows:>15,} rows x {size / count:6.0f} B = {_bytes(estimate):>10}")
    _say(f"  {'total':<16} {'':>15}                 {_bytes(total):>10}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--small-trades", type=int, default=10_000)
    parser.add_argument("--large-trades", type=int, default=1_000_000)
    parser.add_argument("--small-scores", type=int, default=100_000)
    parser.add_argument("--large-scores", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=100, help="timed calls per operation")
    args = parser.parse_args(argv)
    if not 0 < args.small_trades < args.large_trades:
        parser.error("need 0 < --small-trades < --large-trades")
    if min(args.small_scores, args.large_scores, args.repeat) < 1:
        parser.error("--small-scores, --large-scores and --repeat must be 1 or more")

    started = time.perf_counter()
    name = f"xorj_bench_scale_{os.getpid()}"
    owner = dbutil.owner_role()
    dbutil.create_database(name, owner)
    url = dbutil.url_for(name, owner)
    medians: dict[str, dict[str, float]] = {}
    sizes: dict[str, dict[str, tuple[int, int]]] = {}
    try:
        migrate.migrate(url)
        probe = min(seed_bulk.HEAVY_VAULT_TRADES, args.small_trades)
        rest = args.small_trades - probe
        phases = (
            (
                "small",
                args.small_scores,
                args.small_trades,
                [probe, *seed_bulk.plan_vaults(rest, random.Random(1))],
            ),
            ("large", args.large_scores, args.large_trades - args.small_trades, None),
        )
        bench = None
        for size, scores, trade_count, vaults in phases:
            _say(f"{size}: seeding {scores:,} scores and {trade_count:,} trades")
            t0 = time.perf_counter()
            seed(url, scores, trade_count, vaults)
            compact(url)
            _say(f"  seeded and compacted in {time.perf_counter() - t0:.0f} s")
            if bench is None:
                bench = Bench(url, *probe_of(url))
            _say(f"{size}: median of {args.repeat} calls")
            t0 = time.perf_counter()
            medians[size] = bench.measure(args.repeat)
            _say(f"  measured in {time.perf_counter() - t0:.0f} s")
            sizes[size] = table_sizes(url)
        assert bench is not None
        bench.close()
    finally:
        dbutil.drop_database(name)
    report(medians, sizes)
    _say(f"\nbench-scale ran {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
