"""Volume at COPY speed, for benchmarks: `xorj db seed --traders N --trades M` when the
owner's URL is known (MIGRATION_DATABASE_URL, as for `xorj db migrate`); without it,
one api call per trade (app.seed.generate_volume). No rule is switched off (no trigger
disabled, no session_replication_role):

* users (a bot enabled for a new vault, settings), execution jobs (started; all but the
  last completed at the end), scoring runs (created, started, completed): the api
  functions, through the door (app/dbapi/sync.py), actor seed:volume;
* scores: COPY as the owner into xorj.trader_scores while the run is RUNNING (two
  streams): every key, constraint and trigger applies, then api.complete_scoring_run
  publishes them at once (api.fail_scoring_run if a stream fails);
* trades: two streams of disjoint vaults, batches of one transaction: COPY into a temp
  table, a check that each vault's bot is enabled (api.create_trade's rule that no
  constraint holds), INSERT ... SELECT into xorj.trades (PENDING; guard, touch, audit
  and figures triggers per row), one UPDATE per move (SUBMITTED with a signature,
  CONFIRMED, FAILED; the guard checks each, the audit writes each event). A vault and
  pair appear once per batch (the in-flight key holds at every statement); at the end
  no two seeded trades not FAILED may share vault, pair, amount and venue.

Scores (mostly disk) and trades (mostly CPU) are seeded side by side. Shape: see
plan_vaults; a vault's trades spread over the seed's time and the 992 token pairs; about
85% CONFIRMED, 10% FAILED (half after submission), 3% SUBMITTED, 2% PENDING. The
triggers are the cost: about 1.2 ms of server CPU per trade (three row writes, each with
its audit and figures rows) and 50 us per score, measured here.

Limitation: created_at, submitted_at, completed_at, the events' `at` are the database's
clock (its triggers): seeded trades carry the time of the seed, whatever they stand for.
"""

from __future__ import annotations

import math
import random
import secrets
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import psycopg

from app import base58
from app.dbapi import bots, jobs, scoring, settings
from app.dbapi.sync import SyncDatabase
from app.seed import (
    _FAILURES_AFTER_SUBMIT,
    _FAILURES_BEFORE_SUBMIT,
    SHARE_FAILED,
    SHARE_PENDING,
    SHARE_SUBMITTED,
    SUBMITTED_LAST_VALID_BLOCK_HEIGHT,
    TRADES_PER_JOB,
    VOLUME_ACTOR,
    VOLUME_MINTS,
    VOLUME_PAIRS,
    check_volume,
    generate_volume,
    user_claims,
)
from app.workers.engine import Progress

T = TypeVar("T")
HEAVY_VAULT_TRADES = 10_000
SCORE_STREAMS = 2
SCORE_STATEMENT = 250_000  # rows per COPY statement of a stream
SCORE_PIECE = 20_000  # rows generated at a time
_COPY = "COPY xorj.trader_scores (run_id, wallet_address, xorj_trust_score, metrics) FROM STDIN"
TRADE_BATCH = 25_000  # trades per transaction, over all streams
TRADE_STREAMS = 2
PAIRS = len(VOLUME_PAIRS)
_P_PENDING = SHARE_PENDING / (SHARE_SUBMITTED + SHARE_PENDING)  # of the trades in flight
_P_FAILED = SHARE_FAILED / (1 - SHARE_SUBMITTED - SHARE_PENDING)  # of the finished ones
_STEPS = tuple(s for s in range(1, PAIRS) if math.gcd(s, PAIRS) == 1)

# Random base58 text: bytes mapped onto the alphabet (bytes.translate). A 43-character
# address whose first character is '5' or later decodes to exactly 32 bytes, an
# 87-character signature whose first is '3' or later to exactly 64 (58^42 x 4 >= 2^248,
# 58^86 x 2 >= 2^504), so both are the canonical base58 of real-sized keys.
_B58 = base58.ALPHABET.encode()
_ANY = bytes(_B58[i % 58] for i in range(256))
_ADDRESS_HEAD = bytes(_B58[4 + i % 54] for i in range(256))
_SIGNATURE_HEAD = bytes(_B58[2 + i % 56] for i in range(256))


def _base58_texts(rng: random.Random, count: int, length: int, head: bytes) -> list[str]:
    first = rng.randbytes(count).translate(head).decode()
    body = rng.randbytes(count * (length - 1)).translate(_ANY).decode()
    return [first[i] + body[i * (length - 1) : (i + 1) * (length - 1)] for i in range(count)]


def owner_can_seed(owner_url: str) -> bool:
    """Whether `owner_url`'s login may write xorj.trades and xorj.trader_scores (the owner)."""
    try:
        with psycopg.connect(owner_url, connect_timeout=5) as conn:
            row = conn.execute(
                """SELECT count(*) = 2 AND bool_and(has_table_privilege(c.oid, 'INSERT')
                                                   AND has_table_privilege(c.oid, 'UPDATE'))
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = 'xorj' AND c.relname IN ('trades', 'trader_scores')"""
            ).fetchone()
    except psycopg.Error:
        return False
    return bool(row and row[0])


def volume(
    app_url: str,
    owner_url: str | None,
    traders: int,
    trades: int,
    progress: bool,
    vault_sizes: Sequence[int] | None = None,
) -> list[str]:
    """`xorj db seed --traders N --trades M`: the COPY path when `owner_url` may write the
    tables, else app.seed.generate_volume (its lines after a first one saying so).
    `vault_sizes`: the trades of each vault (adding up to `trades`; default: plan_vaults).
    Returns the report's lines, the last one the rows and rows/s.
    ValueError (before anything is written) when a count is negative."""
    check_volume(traders, trades)
    if vault_sizes is not None and (sum(vault_sizes) != trades or min(vault_sizes) < 1):
        raise ValueError("vault sizes must be 1 or more and add up to --trades")
    if owner_url is None or not owner_can_seed(owner_url):
        note = "through the api functions, one call per trade (the COPY path needs the owner)"
        return [note, *generate_volume(app_url, traders, trades, progress)]
    rng = random.Random(secrets.randbits(64))
    started = time.perf_counter()
    lines: list[str] = []
    rows = 0
    with ExitStack() as stack:

        def door(role: str) -> SyncDatabase:
            db = SyncDatabase(app_url, VOLUME_ACTOR, role=role, statement_timeout=3600)
            stack.callback(db.close)
            return db

        # The scores (mostly disk) beside the trades (mostly CPU), in a thread of their own.
        engine = door("xorj_engine") if traders else None
        pool = stack.enter_context(ThreadPoolExecutor(1))
        scored = None
        if engine is not None:
            scorer = random.Random(rng.getrandbits(64))
            task = partial(_scores, engine, owner_url, traders, scorer, progress and not trades)
            scored = pool.submit(lambda: (task(), time.perf_counter()))
        if trades:
            sizes = list(vault_sizes) if vault_sizes is not None else plan_vaults(trades, rng)
            t0 = time.perf_counter()
            vaults = _users(door("xorj_api"), len(sizes), rng, progress)
            bot = door("xorj_bot")
            nonce = secrets.token_hex(4)
            job_ids = _start_jobs(bot, math.ceil(trades / TRADES_PER_JOB), nonce)
            lines.append(
                f"users: {len(sizes):,} with bots enabled for new vaults (largest vault "
                f"{max(sizes):,} trades) in {time.perf_counter() - t0:.1f} s; jobs: "
                f"{len(job_ids)} ({len(job_ids) - 1} COMPLETED, 1 RUNNING)"
            )
            t0 = time.perf_counter()
            counts, events = _trades(owner_url, vaults, sizes, job_ids, nonce, rng, progress)
            took = time.perf_counter() - t0
            for k, job_id in enumerate(job_ids[:-1]):
                bot.run(jobs.complete(job_id, f"seed-worker-{k}"))
            lines.append(
                f"trades: {trades:,} with {events:,} events in {took:.1f} s "
                f"({trades / took:,.0f} trades/s): "
                + ", ".join(f"{status} {n:,}" for status, n in counts.items())
            )
            rows += trades + events
        if scored is not None:
            run_id, ended = scored.result()
            took = ended - started
            lines.insert(
                0,
                f"scoring run {run_id}: COMPLETED with {traders:,} trader scores in "
                f"{took:.1f} s ({traders / took:,.0f}/s)",
            )
            rows += traders
    took = time.perf_counter() - started
    lines.append(f"seeded {rows:,} rows in {took:.1f} s ({rows / took:,.0f} rows/s)")
    return lines


def plan_vaults(trades: int, rng: random.Random) -> list[int]:
    """The trades of each vault, adding up to `trades`: about 3 vaults of 10,000 per
    1,000,000 trades, 10% in vaults of 500-2,000, the rest in vaults of 1-500 (log-normal,
    median about 55)."""
    sizes = [HEAVY_VAULT_TRADES] * round(trades * 0.03 / HEAVY_VAULT_TRADES)
    left, medium = trades - sum(sizes), trades // 10
    while left > 0:
        if medium > 0:
            size = min(rng.randint(500, 2_000), medium, left)
            medium -= size
        else:
            size = min(left, max(1, min(500, int(rng.lognormvariate(4.0, 1.0)))))
        sizes.append(size)
        left -= size
    return sizes


def _users(user: SyncDatabase, count: int, rng: random.Random, progress: bool) -> list[str]:
    """`count` new users, each with its bot enabled for a new vault and its settings
    saved (api.enable_bot, api.update_user_settings for the user's own claims): their
    vaults."""
    bar = Progress("seeding users", unit="users", total=count, enabled=progress)
    vaults = []
    for done in range(1, count + 1):
        wallet, vault = base58.encode(rng.randbytes(32)), base58.encode(rng.randbytes(32))
        patch = {
            "riskProfile": rng.choice(("Conservative", "Balanced", "Aggressive")),
            "maxDrawdownLimit": rng.randint(5, 30),
            "positionSizePercent": rng.randint(1, 10),
            "investmentAmount": rng.choice([250, 500, 1000, 5000]),
        }
        with user.transaction(claims=user_claims(wallet)) as t:
            t.conn.execute("SET LOCAL synchronous_commit = off")  # a seed: no flush per user
            t.run(bots.enable(vault))
            t.run(settings.update(patch))
        vaults.append(vault)
        bar.update(done)
    bar.close(count)
    return vaults


def _start_jobs(bot: SyncDatabase, count: int, nonce: str) -> list[str]:
    job_ids = []
    for k in range(count):
        with bot.transaction() as t:
            job = t.run(jobs.create("SCHEDULED_RUN", {"seed": nonce, "part": k}))
            t.run(jobs.start(job["id"], f"seed-worker-{k}"))
        job_ids.append(str(job["id"]))
    return job_ids


def _as_seed(conn: psycopg.Connection[Any]) -> None:
    """For the owner's transaction: acting as seed:volume (the actor of the audit rows),
    no statement timeout, no wait for the commit's flush."""
    conn.execute(
        "SELECT set_config('xorj.actor', %s, true), set_config('statement_timeout', '0', true),"
        " set_config('synchronous_commit', 'off', true), set_config('jit', 'off', true)",
        (VOLUME_ACTOR,),
    )


def _in_streams(tasks: Sequence[Callable[[list[int], int], T]], bar: Any) -> list[T]:
    """Each task(done, k) in a thread of its own, the sum of done (task k counts at done[k])
    drawn on the progress bar: their results (the first exception once all have ended)."""
    done = [0] * len(tasks)
    with ThreadPoolExecutor(len(tasks)) as pool:
        futures = [pool.submit(task, done, k) for k, task in enumerate(tasks)]
        while not all(f.done() for f in futures):
            bar.update(sum(done))
            time.sleep(0.2)
        return [f.result() for f in futures]


# --- scores ------------------------------------------------------------------------------


def _scores(
    engine: SyncDatabase, owner_url: str, traders: int, rng: random.Random, progress: bool
) -> str:
    """A COMPLETED run of `traders` new wallets: created and started through the api, its
    scores COPYed in SCORE_STREAMS streams while it is RUNNING, completed through the api
    (FAILED instead when a stream fails)."""
    run = engine.run(scoring.create_run())
    run_id = str(run["id"])
    engine.run(scoring.start_run(run_id))
    streams = min(SCORE_STREAMS, max(1, traders // SCORE_PIECE))
    shares = [traders // streams + (k < traders % streams) for k in range(streams)]
    bar = Progress("seeding traders", unit="traders", total=traders, enabled=progress)
    try:
        _in_streams(
            [partial(_score_stream, owner_url, run_id, n, rng.getrandbits(64)) for n in shares],
            bar,
        )
    except BaseException:
        engine.run(scoring.fail_run(run_id, "volume seed: a stream of scores failed"))
        raise
    engine.run(scoring.complete_run(run_id))
    bar.close(traders)
    return run_id


def _score_stream(
    owner_url: str, run_id: str, count: int, seed: int, done: list[int], k: int
) -> None:
    """COPY `count` scores of new wallets into the run (statements of SCORE_STATEMENT rows,
    one transaction), best first as an engine sending its ranking would (order statistics
    of uniform draws from the largest down, squared: most are low); wallets random."""
    rng = random.Random(seed)
    rnd = rng.random
    top = 1.0  # the last draw: the next is its fraction rnd() ** (1 / draws left)
    with psycopg.connect(owner_url, prepare_threshold=None) as conn:
        _as_seed(conn)
        for first in range(0, count, SCORE_STATEMENT):
            with conn.cursor().copy(_COPY) as copy:
                for lo in range(first, min(count, first + SCORE_STATEMENT), SCORE_PIECE):
                    n = min(SCORE_PIECE, count - lo, first + SCORE_STATEMENT - lo)
                    piece = []
                    for w in _base58_texts(rng, n, 43, _ADDRESS_HEAD):
                        top *= rnd() ** (1 / (count - lo - len(piece)))
                        piece.append((100 * top * top, w))
                    copy.write(
                        "".join(
                            f'{run_id}\t{w}\t{s:.4f}\t{{"total_trades": {5 + int(1995 * rnd())}, '
                            f'"win_rate": {0.3 + 0.5 * rnd():.3f}, '
                            f'"avg_profit": {rng.gauss(0.01, 0.03):.4f}, '
                            f'"max_drawdown": {0.02 + 0.58 * rnd():.3f}}}\n'
                            for s, w in piece
                        )
                    )
                    done[k] = lo + n
        conn.commit()


# --- trades ------------------------------------------------------------------------------

_BATCH_COLUMNS = (
    "job uuid, vault text, coid text, from_token text, to_token text, amount numeric, "
    "expected numeric, final text, signature text, actual numeric, slippage numeric, "
    "gas numeric, error text"
)
_ROW = (  # a batch row's trade: its key row, then (id, created_at) in its month
    "FROM seed_batch b JOIN xorj.trade_keys k ON (k.user_vault_address, k.client_order_id)"
    " = (b.vault, b.coid) WHERE (t.id, t.created_at) = (k.id, k.created_at)"
)
_MOVES = (  # to SUBMITTED (the trades broadcast: a signature), CONFIRMED, FAILED (0013's basis)
    "UPDATE xorj.trades t SET status = 'SUBMITTED', transaction_signature = b.signature, "
    f"last_valid_block_height = %(lvbh)s {_ROW} AND b.signature IS NOT NULL",
    "UPDATE xorj.trades t SET status = 'CONFIRMED', actual_amount_out = b.actual, "
    f"slippage_realized = b.slippage, gas_fee = b.gas {_ROW} AND b.final = 'CONFIRMED'",
    "UPDATE xorj.trades t SET status = 'FAILED', error_message = b.error, gas_fee = b.gas, "
    f"failure_basis = CASE WHEN b.signature IS NULL THEN 'never_broadcast' END {_ROW} "
    "AND b.final = 'FAILED'",
)


@dataclass(slots=True)
class _Vault:
    """A vault's plan: `size` trades, the last `in_flight` of them left PENDING or
    SUBMITTED; its j-th trade uses pair (offset + j * step) mod 992, so any 992
    consecutive trades of the vault have distinct pairs, and trades of one pair differ
    in their j // 992, which is part of their amount (never the same amount twice)."""

    address: str
    size: int
    in_flight: int
    offset: int
    step: int


def _trades(
    owner_url: str,
    vaults: Sequence[str],
    sizes: Sequence[int],
    job_ids: Sequence[str],
    nonce: str,
    rng: random.Random,
    progress: bool,
) -> tuple[dict[str, int], int]:
    """The trades, as the owner, in TRADE_STREAMS streams of disjoint vaults: (count per
    final status, events)."""
    share = SHARE_SUBMITTED + SHARE_PENDING
    plan = []
    for address, size in sorted(zip(vaults, sizes, strict=True), key=lambda x: -x[1]):
        wanted = size * share
        in_flight = min(size, PAIRS, int(wanted) + (rng.random() < wanted % 1))
        plan.append(_Vault(address, size, in_flight, rng.randrange(PAIRS), rng.choice(_STEPS)))
    streams = min(TRADE_STREAMS, len(plan))
    bar = Progress("seeding trades", unit="trades", total=sum(sizes), enabled=progress)
    results = _in_streams(
        [
            partial(_trade_stream, owner_url, plan[k::streams], job_ids, nonce, rng.getrandbits(64))
            for k in range(streams)
        ],
        bar,
    )
    bar.close(sum(sizes))
    # api.create_trade's recent-repeat rule, which no constraint holds, more strictly: no
    # two seeded trades not FAILED share a vault, pair, amount and venue (by construction)
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) xorj.vault_trade_stats")  # a row version per trade
        (repeated,) = conn.execute(
            """SELECT count(*) FROM (
                 SELECT 1 FROM xorj.trades t
                 WHERE t.job_id = ANY(%s::uuid[]) AND t.status <> 'FAILED'
                 GROUP BY t.user_vault_address, t.from_token_address, t.to_token_address,
                          t.amount_in, t.venue
                 HAVING count(*) > 1) AS r""",
            (list(job_ids),),
        ).fetchone()
    if repeated:
        raise RuntimeError(f"volume seed: {repeated} repeated trades (same vault, pair, amount)")
    counts = {status: sum(r[0][status] for r in results) for status in results[0][0]}
    return counts, sum(r[1] for r in results)


def _trade_stream(
    owner_url: str,
    plan: Sequence[_Vault],
    job_ids: Sequence[str],
    nonce: str,
    seed: int,
    done: list[int],
    k: int,
) -> tuple[dict[str, int], int]:
    """The trades of `plan`'s vaults, in batches of about TRADE_BATCH / TRADE_STREAMS
    (the trades of a vault spread evenly over them, at most one per vault and pair in
    each), one transaction each; then the trades left in flight, in one more."""
    rng = random.Random(seed)
    terminal = [v.size - v.in_flight for v in plan]
    batches = max(
        1, math.ceil(sum(terminal) * TRADE_STREAMS / TRADE_BATCH), math.ceil(max(terminal) / PAIRS)
    )
    counts = dict.fromkeys(("CONFIRMED", "FAILED", "SUBMITTED", "PENDING"), 0)
    seq = events = 0
    with psycopg.connect(owner_url, autocommit=True, prepare_threshold=None) as conn:
        for b in range(batches + 1):  # the terminal batches, then the trades left in flight
            rows: list[tuple[_Vault, int]] = []
            for v, t in zip(plan, terminal, strict=True):
                lo, hi = (
                    (-(-b * t // batches), -(-(b + 1) * t // batches))
                    if b < batches
                    else (t, v.size)
                )
                rows.extend((v, j) for j in range(lo, hi))
            rng.shuffle(rows)
            lines = []
            for v, j in rows:
                final = _final(rng, j >= v.size - v.in_flight)
                counts[final] += 1
                number = seq * TRADE_STREAMS + k  # distinct over the streams
                job = job_ids[min(number // TRADES_PER_JOB, len(job_ids) - 1)]
                line, broadcast = _trade_line(rng, v, j, final, job, f"vol-{nonce}-{number}")
                lines.append(line)
                events += 1 + broadcast + (final in ("CONFIRMED", "FAILED"))  # creation, moves
                seq += 1
            with conn.transaction():
                _trade_batch(conn, "".join(lines))
            done[k] = seq
    return counts, events


def _final(rng: random.Random, in_flight: bool) -> str:
    if in_flight:
        return "PENDING" if rng.random() < _P_PENDING else "SUBMITTED"
    return "FAILED" if rng.random() < _P_FAILED else "CONFIRMED"


def _trade_line(
    rng: random.Random, v: _Vault, j: int, final: str, job: str, coid: str
) -> tuple[str, bool]:
    """One trade as a line of COPY text (the columns of _BATCH_COLUMNS), and whether it
    was broadcast (has a signature)."""
    a, b = VOLUME_PAIRS[(v.offset + j * v.step) % PAIRS]
    amount = rng.randrange(100, 10**8) * 1000 + (j // PAIRS) % 1000
    expected = max(1, int(amount * rng.uniform(0.001, 1000)))
    broadcast = final in ("SUBMITTED", "CONFIRMED") or (final == "FAILED" and rng.random() < 0.5)
    signature = _base58_texts(rng, 1, 87, _SIGNATURE_HEAD)[0] if broadcast else r"\N"
    actual = slippage = gas = error = r"\N"
    if final == "CONFIRMED":
        s = round(rng.uniform(-0.3, 1.5), 3)
        actual, slippage = str(max(1, int(expected * (1 - s / 100)))), str(s)
        gas = str(rng.randint(5_000, 25_000))
    elif final == "FAILED":
        error = rng.choice(_FAILURES_AFTER_SUBMIT if broadcast else _FAILURES_BEFORE_SUBMIT)
        gas = str(rng.randint(5_000, 25_000)) if broadcast else r"\N"
    return (
        f"{job}\t{v.address}\t{coid}\t{VOLUME_MINTS[a]}\t{VOLUME_MINTS[b]}\t"
        f"{amount}\t{expected}\t{final}\t{signature}\t{actual}\t{slippage}\t{gas}\t{error}\n"
    ), broadcast


def _trade_batch(conn: psycopg.Connection[Any], text: str) -> None:
    """One batch, in the caller's transaction: COPY, check that every vault's bot is
    enabled (api.create_trade's rule, which no table constraint holds), create every
    trade PENDING, then move them on, move by move."""
    _as_seed(conn)  # each batch row finds its trade by key: no hash join of the whole log
    conn.execute("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off")
    conn.execute(f"CREATE TEMP TABLE seed_batch ({_BATCH_COLUMNS}) ON COMMIT DROP")
    with conn.cursor().copy("COPY seed_batch FROM STDIN") as copy:
        copy.write(text)
    conn.execute("ANALYZE seed_batch")
    (disabled,) = conn.execute(
        """SELECT count(DISTINCT b.vault) FROM seed_batch b
           WHERE NOT EXISTS (SELECT 1 FROM xorj.bot_states s
                             WHERE s.vault_address = b.vault AND s.enabled)"""
    ).fetchone()
    if disabled:
        raise RuntimeError(f"volume seed: the bots of {disabled} vaults are not enabled")
    conn.execute(
        """INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id,
                                    from_token_address, to_token_address, amount_in,
                                    expected_amount_out)
           SELECT b.job, b.vault, b.coid, b.from_token, b.to_token, b.amount, b.expected
           FROM seed_batch b"""
    )
    for move in _MOVES:
        conn.execute(move, {"lvbh": SUBMITTED_LAST_VALID_BLOCK_HEIGHT})
