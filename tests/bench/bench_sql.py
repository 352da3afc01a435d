"""The database halves of `make bench`: each rule against the bare write it stands for,
on logged tables, in the same database, A/B/A/B.

* create_trade: pgbench (-M extended: unnamed statements, as psycopg sends them with
  prepare_threshold=None) runs the bot's transaction as its door (app/dbapi/sync.py,
  like app/dbapi/aio.py) sends it, one round trip each: BEGIN, the prelude (role
  xorj_bot, the bot token's claims, its actor, the statement timeout), the SQL of
  app.dbapi.trades.create, COMMIT; against BEGIN, an INSERT into bench.trades (the
  trade log's columns as plain types, its unique keys) RETURNING id, created_at, an
  INSERT into bench.trade_events, COMMIT. Both get the same keys (vault, pair,
  client_order_id derived from one counter), the same number of transactions, so both
  sides hold the same number of rows after every round.
* complete_scoring_run: the engine's two transactions (create and start a run, then
  complete it with every score as one JSON text) against CREATE TABLE (the scores'
  columns and their keys: primary key (id, run_id) with ids of gen_random_uuid(), unique
  (run_id, wallet_address)) and COPY of the same rows.
* `xorj engine load FILE` (the installed command, a process of its own) against
  `psql -1 -c 'CREATE TABLE ...' -c '\\copy ... FROM FILE'` (an id primary key of
  gen_random_uuid() and one jsonb column, unique on the wallet).
  The baselines have the keys of xorj.trader_scores (its primary key was missing from
  them before issue 13), not its rank index, foreign key or checks: those are the rules'
  price.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import psycopg

from app.dbapi import scoring, trades
from app.dbapi.core import (
    CONNECT_KWARGS,
    ONE_TRIP_PRELUDE,
    PRELUDE,
    PRELUDE_NAMES,
    prelude_params,
)
from tests.bench.common import (
    FROM,
    TO,
    VAULT,
    Row,
    address_sql,
    checkpoint,
    interleave,
    libpq_env,
    parse,
    pg_tool,
    say,
    spread,
)
from tests.conftest import cli_env

BARE_DDL = """
CREATE SCHEMA IF NOT EXISTS bench;
CREATE TABLE bench.trades (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    job_id                  uuid NOT NULL,
    user_vault_address      text NOT NULL,
    client_order_id         text NOT NULL,
    status                  text NOT NULL DEFAULT 'PENDING',
    from_token_address      text NOT NULL,
    to_token_address        text NOT NULL,
    amount_in               numeric NOT NULL,
    expected_amount_out     numeric NOT NULL,
    actual_amount_out       numeric,
    transaction_signature   text,
    slippage_realized       numeric,
    gas_fee                 numeric,
    error_message           text,
    submitted_at            timestamptz,
    completed_at            timestamptz,
    created_at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_valid_block_height bigint,
    venue                   text NOT NULL DEFAULT 'live',
    records_signature_first boolean NOT NULL DEFAULT false,
    search_until_height     bigint,
    failure_basis           text,
    UNIQUE (user_vault_address, client_order_id),
    UNIQUE (transaction_signature)
);
CREATE UNIQUE INDEX bench_trades_one_unfinished_per_pair
    ON bench.trades (user_vault_address, from_token_address, to_token_address, venue)
    WHERE status IN ('PENDING', 'SUBMITTED');
CREATE TABLE bench.trade_events (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    trade_id         uuid NOT NULL,
    from_status      text,
    to_status        text NOT NULL,
    at               timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor            text NOT NULL,
    detail           jsonb NOT NULL DEFAULT '{}',
    trade_created_at timestamptz NOT NULL
);
"""

# pgbench: each client counts its transactions (k) and takes the keys of index
# base + (k-1) * clients + client_id: vault (index mod vaults) and pair (index div vaults),
# so that no two transactions share a pair of a vault, and A and B of a round the same.
KEYS = """\\set k :k + 1
\\set i :base + (:k - 1) * :clients + :client_id
\\set v :i % :nvaults
\\set p :i / :nvaults
"""
AMOUNT_IN, EXPECTED_OUT = 1_000_000, 990_000


@dataclass
class Db:
    """The bench's database and what the scripts need."""

    owner_url: str
    app_url: str
    job_id: str
    vaults: int
    bot_claims: dict[str, Any]
    bot_actor: str
    user_claims: dict[str, Any]
    user_actor: str
    workdir: Path
    next_index: int = 0
    rule_tps: float = 0.0  # create_trade at 1 client, from its warm-up
    notes: list[str] = field(default_factory=list)
    # The table that gains one row per trade (before the trade log was partitioned:
    # xorj.trades), and the SQL of a call where the tree of this database sends another
    # than the current one (--before: tests/bench/before.py).
    trade_table: str = "xorj.trade_keys"
    call_sql: dict[str, str] = field(default_factory=dict)
    # Whether the bot's door of that tree sends a call in one round trip (since issue
    # 13: app/dbapi/sync.py) or as BEGIN, prelude, call, COMMIT.
    one_trip: bool = True
    # The `xorj` command of that tree (argv head, extra environment, directory); empty:
    # the installed command.
    xorj: list[str] = field(default_factory=list)
    xorj_env: dict[str, str] = field(default_factory=dict)
    xorj_cwd: Path | None = None

    def sql(self, name: str, call: Any) -> str:
        """The SQL of `call` (app.dbapi's `name`) as this database's tree sends it."""
        return self.call_sql.get(name, call.sql)

    def command(self) -> list[str]:
        return self.xorj or [str(Path(sys.executable).parent / "xorj")]

    def take(self, count: int) -> int:
        """The first index of `count` fresh ones (keys nobody has used)."""
        first = self.next_index
        self.next_index += count
        return first


def create_bare_tables(owner_url: str) -> list[str]:
    """The baseline's tables; a note when their columns differ from xorj.trades'."""
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute(BARE_DDL)
        cols = """SELECT array_agg(attname::text ORDER BY attname) FROM pg_attribute
                  WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped"""
        real = conn.execute(cols, ("xorj.trades",)).fetchone()[0]
        bare = conn.execute(cols, ("bench.trades",)).fetchone()[0]
    if real != bare:
        return [f"bench.trades columns differ from xorj.trades: {sorted(set(real) ^ set(bare))}"]
    return []


def prelude_sql() -> str:
    return PRELUDE % (":role", ":claims", ":actor", ":timeout")


class Script(NamedTuple):
    """A pgbench script and the protocol it is sent with (-M)."""

    text: str
    mode: str = "extended"


def rule_script(trips: int = 0, db: Db | None = None) -> Script:
    """The bot's transaction as its door (app/dbapi/sync.py) sends it: `trips` 0, that
    of the tree of `db` (the current one without `db`): 1, the prelude and the call as one
    query string (core.one_trip; the simple protocol, the values quoted as literals, as
    psycopg's client-side cursor sends them); 4, BEGIN, prelude, call, COMMIT, one round
    trip each (unnamed statements of the extended protocol). `db`: the call's SQL as that
    database's tree sends it."""
    trips = trips or (1 if db is None or db.one_trip else 4)
    call = trades.create("JOB", "VAULT", "COID", "FROM", "TO", 1, 1)
    sql = db.sql("trades.create", call) if db else call.sql
    values = {
        "job_id": ":qjob" if trips == 1 else ":job",
        "vault": address_sql(VAULT, ":v"),
        "client_order_id": "'c' || :i",
        "from_token": address_sql(FROM, ":p"),
        "to_token": address_sql(TO, ":p"),
        "amount_in": ":amt",
        "expected_amount_out": ":exp",
        "worker": "NULL",
        "lease": "NULL",
    }
    assert set(values) == set(call.params), call.params
    if trips == 1:
        prelude = ONE_TRIP_PRELUDE.rstrip().removesuffix(";") % {
            name: f":q{name.removeprefix('xorj_')}" for name in PRELUDE_NAMES
        }
        return Script(f"{KEYS}{prelude} \\;\n{sql % values};\n", "simple")
    return Script(f"{KEYS}BEGIN;\n{prelude_sql()};\n{sql % values};\nCOMMIT;\n")


def bare_script(one_trip: bool = False) -> Script:
    """BEGIN, INSERT of the trade RETURNING its id, INSERT of its event, COMMIT (four round
    trips, as a plain client sends them); `one_trip`: the two INSERTs as one statement (a
    data-modifying WITH), in one round trip like the rule."""
    trade = (
        "INSERT INTO bench.trades (job_id, user_vault_address, client_order_id, "
        "from_token_address, to_token_address, amount_in, expected_amount_out) VALUES "
        f"({':qjob::uuid' if one_trip else ':job'}, {address_sql(VAULT, ':v')}, 'c' || :i, "
        f"{address_sql(FROM, ':p')}, {address_sql(TO, ':p')}, :amt, :exp) "
        "RETURNING id, created_at"
    )
    if one_trip:
        return Script(
            f"{KEYS}WITH t AS ({trade}) INSERT INTO bench.trade_events (trade_id, "
            "trade_created_at, to_status, actor) SELECT id, created_at, 'PENDING', :qactor "
            "FROM t;\n",
            "simple",
        )
    return Script(
        f"{KEYS}BEGIN;\n{trade} \\gset\n"
        "INSERT INTO bench.trade_events (trade_id, trade_created_at, to_status, actor) "
        "VALUES (:id, :created_at, 'PENDING', :actor);\n"
        "COMMIT;\n"
    )


def pgbench(
    db: Db,
    url: str,
    name: str,
    script: str,
    clients: int,
    variables: dict[str, Any],
    transactions: int | None = None,
    seconds: int | None = None,
    mode: str = "extended",
) -> float:
    """tps of one pgbench run (without the connection time); fails on any error."""
    path = db.workdir / f"{name}.sql"
    path.write_text(script)
    argv = [pg_tool("pgbench"), "-n", "-M", mode, "-c", str(clients), "-j", str(min(clients, 2))]
    argv += ["-t", str(transactions)] if transactions else ["-T", str(seconds)]
    for key, value in variables.items():
        argv += ["-D", f"{key}={value}"]
    argv += ["-f", str(path)]
    out = subprocess.run(argv, env=libpq_env(url), capture_output=True, text=True, timeout=900)
    text = out.stdout + out.stderr
    if out.returncode != 0 or "aborted" in text:
        raise RuntimeError(f"pgbench {name} failed ({out.returncode}):\n{text[-3000:]}")
    if transactions:
        done = parse(r"actually processed: (\d+)/", text, "transaction count")
        if int(done) != transactions * clients:
            raise RuntimeError(f"pgbench {name}: {done} of {transactions * clients}:\n{text}")
    return float(parse(r"^tps = ([\d.]+)", text, "tps"))


def _trade_vars(db: Db, base: int, clients: int) -> dict[str, Any]:
    role, claims, actor, timeout = prelude_params("xorj_bot", db.bot_claims, db.bot_actor, 30000)
    return {
        "k": 0,
        "base": base,
        "clients": clients,
        "nvaults": db.vaults,
        "job": db.job_id,
        "amt": AMOUNT_IN,
        "exp": EXPECTED_OUT,
        "role": role,
        "claims": claims,
        "actor": actor,
        "timeout": timeout,
    } | {  # the same as SQL literals, for the simple protocol (rule_script(1))
        f"q{name}": "'" + str(value).replace("'", "''") + "'"
        for name, value in (
            ("job", db.job_id),
            ("role", role),
            ("claims", claims),
            ("actor", actor),
            ("timeout", timeout),
        )
    }


def _count(db: Db, table: str) -> int:
    with psycopg.connect(db.owner_url) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def trade_pair(
    db: Db,
    clients: int,
    per_client: int,
    a_script: Script,
    b_script: Script,
    b_url: str | None = None,
    before: Db | None = None,
):
    """Callables of round r: A (on the trade log) and B (on the trade log too, or the
    baseline's tables when `b_url` is the owner's), and, with `before` (the database of
    --before's tree), A on that database (else None). Keys are fresh in every round; on
    two tables (or databases) A and B get the same ones, on the trade log each its own
    (the same keys again would make B an idempotent replay of A's trades)."""
    bases: dict[tuple[int, str], int] = {}

    def run(r: int, side: str, script: Script, url: str, target: Db) -> float:
        key = (r, side if b_url is None else "both")
        if key not in bases:
            bases[key] = db.take(clients * per_client)
        table = "bench.trades" if side == "b" and b_url else target.trade_table
        count_before = _count(target, table)
        checkpoint()
        variables = _trade_vars(target, bases[key], clients)
        tps = pgbench(
            target,
            url,
            f"{side}{clients}",
            script.text,
            clients,
            variables,
            per_client,
            mode=script.mode,
        )
        if _count(target, table) - count_before != clients * per_client:  # a replay, a refusal
            raise RuntimeError(f"{side}: not {clients * per_client} new rows in {table}")
        return tps

    def a(r: int) -> float:
        return run(r, "a", a_script, db.app_url, db)

    def b(r: int) -> float:
        return run(r, "b", b_script, b_url or db.app_url, db)

    if before is None:
        return a, b, None
    c_script = rule_script(db=before)

    def c(r: int) -> float:
        return run(r, "c", c_script, before.app_url, before)

    return a, b, c


def bench_create_trade(
    db: Db, clients: int, rounds: int, seconds: float, before: Db | None = None
) -> Row:
    """create_trade vs the bare INSERTs at `clients` clients; each run about `seconds`.
    `before`: the rule on --before's database too, with the same keys and counts."""
    # Calibrate (and warm up): a short run of each, then the count that gives the rule
    # about `seconds` per run; every side always writes the same count.
    warm = max(20, 200 // clients)
    row = Row(f"create_trade, {clients} client{'s' if clients > 1 else ''}", "tps", "<= 1.25")
    a, b, c = trade_pair(db, clients, warm, rule_script(), bare_script(), db.owner_url, before)
    tps = a(0)
    if c is not None:
        try:
            say(f"  warm-up of the before side: {c(0):,.0f} tps")
        except Exception as exc:  # REV's side fails: noted on the row, the row goes on
            row.before_note = f"before FAILED in its warm-up: {' '.join(str(exc).split())[:300]}"
            say(f"  {row.before_note}")
    b(0)
    per_client = max(20, int(tps * seconds / clients))
    if clients == 1:
        db.rule_tps = tps
    say(f"  warm-up: rule {tps:,.0f} tps -> {per_client:,} transactions per client per run")
    a, b, c = trade_pair(
        db, clients, per_client, rule_script(), bare_script(), db.owner_url, before
    )
    return interleave(rounds, a, b, row, f"create_trade x{clients}", c)


# --- scores ------------------------------------------------------------------------------


def score_rows(n: int) -> list[tuple[str, str, str]]:
    from tests.solana import address

    return [
        (address(i), f"{(i * 7919) % 10000 / 100}", f'{{"total_trades": {i % 200}}}')
        for i in range(n)
    ]


def bench_complete_scoring_run(db: Db, n: int, rounds: int, before: Db | None = None) -> Row:
    """The engine's two transactions vs CREATE TABLE and COPY; `before`: on --before's
    database too (the same scores)."""
    rows = score_rows(n)
    scores_json = (
        "["
        + ",".join(
            f'{{"wallet_address": "{w}", "xorj_trust_score": {s}, "metrics": {m}}}'
            for w, s, m in rows
        )
        + "]"
    )
    engine = prelude_params("xorj_engine", None, "engine:bench", 3_600_000)

    def rule_on(target: Db) -> float:
        with psycopg.connect(target.app_url, **CONNECT_KWARGS) as conn:
            checkpoint()
            started = time.perf_counter()
            with conn.transaction():
                conn.execute(PRELUDE, engine)
                create = scoring.create_run()
                run_id = conn.execute(target.sql("scoring.create_run", create)).fetchone()[0]["id"]
                call = scoring.start_run(run_id)
                conn.execute(target.sql("scoring.start_run", call), call.params)
            with conn.transaction():
                conn.execute(PRELUDE, engine)
                call = scoring.complete_run(run_id, scores_json)
                sql = target.sql("scoring.complete_run", call)
                done = conn.execute(sql, call.params).fetchone()[0]
            elapsed = time.perf_counter() - started
        if done.get("status") != "COMPLETED" or done.get("scores_inserted") != n:
            raise RuntimeError(f"complete_scoring_run answered {str(done)[:300]}")
        return elapsed

    def rule(r: int) -> float:
        return rule_on(db)

    def base(r: int) -> float:
        run_id = str(uuid.uuid4())
        data = "".join(f"{run_id}\t{w}\t{s}\t{m}\n" for w, s, m in rows).encode()
        table = f"bench.scores_{run_id.replace('-', '')}"
        with psycopg.connect(db.owner_url, autocommit=True) as conn:
            checkpoint()
            started = time.perf_counter()
            with conn.transaction():
                conn.execute(
                    f"CREATE TABLE {table} (id uuid NOT NULL DEFAULT gen_random_uuid(), "
                    "run_id uuid NOT NULL, wallet_address text NOT NULL, "
                    "xorj_trust_score numeric NOT NULL, metrics jsonb NOT NULL DEFAULT '{}', "
                    "created_at timestamptz NOT NULL DEFAULT clock_timestamp(), "
                    "updated_at timestamptz NOT NULL DEFAULT clock_timestamp(), "
                    "PRIMARY KEY (id, run_id), UNIQUE (run_id, wallet_address))"
                )
                copy_sql = (
                    f"COPY {table} (run_id, wallet_address, xorj_trust_score, metrics) FROM STDIN"
                )
                with conn.cursor().copy(copy_sql) as copy:
                    copy.write(data)
            return time.perf_counter() - started

    row = Row(f"complete_scoring_run, {n:,} scores", "s", "<= 2.0")
    old = (lambda r: rule_on(before)) if before else None
    return interleave(rounds, rule, base, row, f"scores {n:,}", old)


def bench_engine_load(db: Db, lines: int, rounds: int, before: Db | None = None) -> Row:
    """`xorj engine load` vs psql's \\copy; `before`: --before's tree's command on its
    database too (the same file)."""
    from tests.test_engine_load import write_scores

    path = write_scores(db.workdir / "scores.jsonl", lines)
    inner: dict[str, list[float]] = {"after": [], "before": []}

    def rule_on(target: Db, side: str) -> float:
        env = cli_env({"DATABASE_URL": target.app_url, **target.xorj_env})
        checkpoint()
        started = time.perf_counter()
        out = subprocess.run(
            [*target.command(), "engine", "load", str(path)],
            env=env,
            cwd=target.xorj_cwd,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        elapsed = time.perf_counter() - started
        if out.returncode != 0 or f"COMPLETED with {lines:,} scores" not in out.stdout:
            raise RuntimeError(f"xorj engine load failed:\n{out.stdout}\n{out.stderr}")
        loader = parse(r" scores in ([\d.]+) s", out.stdout, "the loader's time")
        inner[side].append(float(loader))
        return elapsed

    def rule(r: int) -> float:
        return rule_on(db, "after")

    def base(r: int) -> float:
        table = f"bench.lines_{uuid.uuid4().hex}"
        argv = [pg_tool("psql"), "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1"]
        argv += [
            "-c",
            f"CREATE TABLE {table} (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "
            "doc jsonb NOT NULL)",
        ]
        argv += ["-c", f"CREATE UNIQUE INDEX ON {table} ((doc ->> 'wallet_address'))"]
        argv += ["-c", f"\\copy {table} (doc) FROM '{path}'"]
        checkpoint()
        started = time.perf_counter()
        out = subprocess.run(
            argv, env=libpq_env(db.owner_url), capture_output=True, text=True, timeout=1800
        )
        elapsed = time.perf_counter() - started
        if out.returncode != 0:
            raise RuntimeError(f"psql \\copy failed:\n{out.stderr}")
        return elapsed

    row = Row(f"xorj engine load, {lines:,} lines", "s", "<= 2.0")
    old = (lambda r: rule_on(before, "before")) if before else None
    interleave(rounds, rule, base, row, f"engine load {lines:,}", old)
    ratios = [i / b for i, b in zip(inner["after"], row.base, strict=True)]
    row.note = (
        "wall time of each process, Python's start included; the loader's own time "
        f"(run created to completed) {spread(inner['after'], 2)} s, ratio {spread(ratios, 2)}"
    )
    if inner["before"]:
        old_ratios = [i / b for i, b in zip(inner["before"], row.base, strict=False)]
        row.note += f"; before: {spread(inner['before'], 2)} s, ratio {spread(old_ratios, 2)}"
    return row
