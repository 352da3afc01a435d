"""Fair benchmarks of the rules: each against the bare write it stands for, on logged
tables of the same database, A/B/A/B over several rounds, with medians, spreads (min-max)
and the goal next to each ratio. A benchmark, run on demand: never a timed test.

    make bench                 (about 12 minutes on 2 shared cores; 18 with BEFORE=)
    .venv/bin/python -m tests.bench.bench_db [--quick] [--rounds 3] [--skip http ...]

Rows (tests/bench/bench_sql.py, tests/bench/bench_http.py):

1. create_trade at 1 and 8 clients (pgbench): the bot's transaction as its door sends it
   (the prelude and the call in one round trip) vs BEGIN, INSERT into a logged table with
   the trade log's columns and unique keys, one event row, COMMIT. Goal: time ratio
   <= 1.25.
2. complete_scoring_run with 100,000 (and 1,000,000) scores vs CREATE TABLE + COPY of the
   same rows into a logged table with the keys of trader_scores: primary key (id, run_id),
   unique (run_id, wallet_address). Goal <= 2.0.
3. `xorj engine load` of 100,000 lines vs `psql \\copy` of the same file into a table with
   an id primary key and one jsonb column, unique on the wallet. Goal <= 2.0.
4. GET /api/bot/status and POST /internal/trades of `xorj serve` vs the minimal app
   (tests/bench/minimal_app.py), 1 and 2 uvicorn workers, 32 keep-alive connections.
   Goal: real/minimal >= 0.8 in requests/s.

And, for information (no goal; tests/bench/bench_extras.py): the status transaction
unprepared vs prepared (README, "Deploying"), create_trade's one round trip vs four,
create_trade against the bare write sent in one round trip too, create_trade's
plan_cache_mode as migrated vs toggled.

--before REV (make bench BEFORE=REV): the rows 1-4 measure, in every round, the rule on
the current tree, then on REV's tree (its own database, migrated by its own code:
tests/bench/before.py), then the baseline; the table gives both ratios.

One database of its own (xorj_bench_<pid>: created by the test server's superuser, owned
and migrated by the owner role, dropped at the end); a CHECKPOINT before each measured
run. --quick: tiny sizes and 1-2 s runs, to check that everything works (its figures
mean little). XORJ_BENCH_DRIVER=python: the asyncio HTTP driver even where wrk is
installed.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import time
from collections.abc import Callable

import psycopg

from app import migrate
from app.auth import auth_config, issue, verify
from app.dbapi import jobs
from app.dbapi.sync import SyncDatabase
from tests import dbutil
from tests.bench import bench_extras, bench_http, bench_sql
from tests.bench.before import Before
from tests.bench.common import (
    USER,
    VAULT,
    Clock,
    Row,
    address,
    address_sql,
    environment,
    loadavg,
    print_table,
    say,
    temp_dir,
)
from tests.conftest import app_url_of

SECTIONS = ("trades", "extras", "scores", "load", "http")


def setup(owner_url: str, vaults: int, secret: str) -> tuple[bench_sql.Db, str, str]:
    """Enabled vaults, a RUNNING job, the baseline's tables; the Db and two tokens."""
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO xorj.bot_states (user_id, enabled, vault_address) "
            "SELECT u, true, v FROM generate_series(0, %s - 1) g, "
            f"LATERAL (SELECT {address_sql(USER, 'g')} AS u, {address_sql(VAULT, 'g')} AS v) a",
            (vaults,),
        )
    notes = bench_sql.create_bare_tables(owner_url)
    app_url = app_url_of(owner_url)
    bot_db = SyncDatabase(app_url, "bot:bench", role="xorj_bot")
    try:
        with bot_db.transaction() as t:
            job = t.run(jobs.create("MANUAL_TRIGGER", {"bench": "fair"}))
            t.run(jobs.start(job["id"], "bench"))
    finally:
        bot_db.close()
    config = auth_config({"JWT_SECRET": secret})
    user_token = issue(config, wallet=address(USER, 0), ttl=86400)
    bot_token = issue(config, role="bot", ttl=86400)
    user, bot = verify(user_token, config), verify(bot_token, config)
    db = bench_sql.Db(
        owner_url=owner_url,
        app_url=app_url,
        job_id=str(job["id"]),
        vaults=vaults,
        bot_claims=bot.claims,
        bot_actor=bot.actor,
        user_claims=user.claims,
        user_actor=user.actor,
        workdir=temp_dir(),
        notes=notes,
    )
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return db, user_token, bot_token


def run(
    args: argparse.Namespace,
    db: bench_sql.Db,
    user_token: str,
    bot_token: str,
    secret: str,
    old: bench_sql.Db | None = None,
) -> list[Row]:
    """Every section wanted; `old`: the database of --before's tree (rows 1-4 twice)."""
    rows: list[Row] = []
    rounds = args.rounds
    wanted = [s for s in SECTIONS if s not in args.skip]

    def section(title: str, work: Callable[[], list[Row]]) -> None:
        """One part of the bench; a failure is reported in the table and the rest runs."""
        say(f"\n{title}  (load average {loadavg()})")
        clock = Clock()
        try:
            rows.extend(work())
        except Exception as exc:  # a benchmark's failure must not lose the others' figures
            failed = Row(title, "s", "info")
            failed.note = f"FAILED: {' '.join(str(exc).split())[:300]}"
            rows.append(failed)
            say(f"  {failed.note}")
        say(f"  ({clock})")

    if "trades" in wanted:
        for clients in (1, 8):
            section(
                f"create_trade, {clients} client(s): rule vs bare INSERTs",
                lambda c=clients: [
                    bench_sql.bench_create_trade(db, c, rounds, args.trade_seconds, old)
                ],
            )
    if "scores" in wanted:
        small: list[Row] = []

        def scores() -> list[Row]:
            small.append(bench_sql.bench_complete_scoring_run(db, args.scores, rounds, old))
            return small

        section(f"complete_scoring_run, {args.scores:,} scores: rule vs COPY", scores)
        if args.large_scores and small:
            row = small[0]
            factor = args.large_scores / args.scores
            sides = [row.rule, row.base] + ([row.before] if row.before else [])
            expect = factor * rounds * sum(statistics.median(side) for side in sides)
            label = f"complete_scoring_run, {args.large_scores:,} scores"
            if expect <= args.large_budget:
                section(
                    f"{label}: rule vs COPY (expected ~{expect:.0f} s)",
                    lambda: [
                        bench_sql.bench_complete_scoring_run(db, args.large_scores, rounds, old)
                    ],
                )
            else:
                skipped = Row(label, "s", "<= 2.0")
                skipped.note = (
                    f"not run: expected ~{expect:.0f} s from the {args.scores:,} figures, over "
                    f"the budget of {args.large_budget:.0f} s (--large-budget)"
                )
                rows.append(skipped)
    if "load" in wanted:
        section(
            f"xorj engine load, {args.engine_lines:,} lines: rule vs psql \\copy",
            lambda: [bench_sql.bench_engine_load(db, args.engine_lines, rounds, old)],
        )
    if "http" in wanted:
        section(
            "HTTP: xorj serve vs the minimal app",
            lambda: bench_http.bench_http(
                db, secret, user_token, bot_token, rounds, args.http_seconds, into=rows, before=old
            ),
        )
    if "extras" in wanted:  # last, the status transaction on the table's last line
        per_client = max(20, int((db.rule_tps or 300) * args.trade_seconds / 2))
        section(
            "for information: round trips, plan_cache_mode, prepared statements",
            lambda: [
                bench_extras.bench_round_trips(db, rounds, per_client),
                bench_extras.bench_one_trip_baseline(db, rounds, per_client),
                bench_extras.bench_plan_cache(db, rounds, per_client),
                bench_extras.bench_status_prepared(db, rounds, max(1, args.trade_seconds // 2)),
            ],
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a check, not figures")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--trade-seconds", type=int, default=8, help="per create_trade run")
    parser.add_argument("--scores", type=int, default=100_000)
    parser.add_argument("--large-scores", type=int, default=1_000_000, help="0: not run")
    parser.add_argument(
        "--large-budget",
        type=float,
        default=None,
        help="seconds the large scoring rounds may take (estimated), else skipped "
        "(default 300; 700 with --before, which runs a third side)",
    )
    parser.add_argument("--engine-lines", type=int, default=100_000)
    parser.add_argument("--http-seconds", type=int, default=8, help="per HTTP run")
    parser.add_argument("--vaults", type=int, default=20_000)
    parser.add_argument("--skip", action="append", default=[], choices=SECTIONS)
    parser.add_argument(
        "--before",
        metavar="REV",
        help="also measure the rules of git revision REV in the same rounds (its own database)",
    )
    args = parser.parse_args(argv)
    if args.large_budget is None:
        args.large_budget = 700.0 if args.before else 300.0
    if args.quick:
        args.trade_seconds, args.http_seconds, args.vaults = 1, 1, 2000
        args.scores, args.large_scores, args.engine_lines = 2000, 0, 2000
    if args.rounds < 1:
        parser.error("--rounds must be 1 or more")

    try:
        before = Before(args.before) if args.before else None
    except RuntimeError as exc:  # not a revision git knows: stop before anything is made
        parser.error(f"--before: {exc}")
    clock = Clock()
    start_load = loadavg()
    name = f"xorj_bench_{os.getpid()}"
    owner = dbutil.owner_role()
    dbutil.create_database(name, owner)
    url = dbutil.url_for(name, owner)
    db = None
    old = None
    try:
        migrate.migrate(url)
        secret = secrets.token_urlsafe(48)
        db, user_token, bot_token = setup(url, args.vaults, secret)
        say(f"database {name}: migrated, {args.vaults:,} enabled vaults, a RUNNING job")
        if before is not None:
            say(f"\nbefore: {before.label}  (load average {loadavg()})")
            try:
                old = before.open(lambda u: setup(u, args.vaults, secret)[0], db.workdir)
            except Exception as exc:  # the current tree's figures are still worth having
                before.notes.append(f"FAILED to set up: {' '.join(str(exc).split())[:600]}")
                say(f"  {before.notes[-1]}")
        rows = run(args, db, user_token, bot_token, secret, old)
        for row in rows if before is not None and old is None else []:
            if row.goal != "info":
                row.before_note = "before not run: its set-up failed (see below)"
        with psycopg.connect(url) as conn:
            trades, events = conn.execute(
                "SELECT (SELECT count(*) FROM xorj.trades), "
                "(SELECT count(*) FROM xorj.trade_events)"
            ).fetchone()
        env = environment(url)
    finally:
        if before is not None:
            before.close()
        dbutil.drop_database(name)
        if db is not None:
            shutil.rmtree(db.workdir, ignore_errors=True)
    say("\n" + ("SMOKE RUN (--quick): tiny sizes, the figures mean little\n" if args.quick else ""))
    print_table(rows, before.sha if before else None)
    for note in db.notes:
        say(f"  {note}")
    if before is not None:
        for note in old.notes if old else []:
            say(f"  before database: {note}")
        say()
        for line in before.describe():
            say(line)
        say("before: not measured for the rows for information (the current tree only)")
        say(f"\nrounds: {args.rounds}, after/before/baseline in every round")
        say("figures: median [min-max] of the rounds; met? is about the after ratio")
    else:
        say(f"\nrounds: {args.rounds}, A/B interleaved; figures: median [min-max] of the rounds")
    say("ratio: rule time / baseline time (HTTP: real rps / minimal rps), per round")
    say(f"trade log at the end: {trades:,} trades, {events:,} events")
    say(f"load generator: {bench_http.driver_name()}")
    for line in env:
        say(line)
    say(f"load average at start {start_load}, at end {loadavg()}")
    say(f"make bench ran {clock} ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
