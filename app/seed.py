"""Sample data of the original system (`--sample-data`), loaded through the api functions
exactly as the API, the engine and the bot would call them (app/dbapi/sync.py: each
call in its own transaction as the role that owns it), so every rule applies. Nothing is
read or written outside the api functions.

Idempotent: loading twice leaves the same data (bots are enabled again, settings are
saved only when the wallet has none, and the sample scoring run is created only when the
latest completed run, as api.ranked_traders reads it, does not rank the sample traders).
"""

from __future__ import annotations

import hashlib
import math
import random
import secrets
import time
from contextlib import ExitStack
from dataclasses import dataclass, field

from app import base58
from app.dbapi import batches, bots, jobs, scoring, settings
from app.dbapi.sync import SyncDatabase
from app.workers.planner import TARGETS, USDC

# Two users: one whose bot is enabled for a vault, one whose bot is disabled.
ACTIVE_WALLET = "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU"
ACTIVE_VAULT = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"
STOPPED_WALLET = "5FHwkrdxntdK24hgQU8qgBjn35Y1zwhGwHKuR7Jc8Z4S"
STOPPED_VAULT = "3Kat5BE3pc2Gg1bwmRRtK3HfL6FP3ZqfUzxm1ki4vA1x"

SETTINGS = {
    ACTIVE_WALLET: {
        "riskProfile": "Balanced",
        "maxDrawdownLimit": 15,
        "positionSizePercent": 5,
        "investmentAmount": 1000,
    },
    STOPPED_WALLET: {
        "riskProfile": "Conservative",
        "maxDrawdownLimit": 10,
        "positionSizePercent": 3,
        "stopLossEnabled": True,
        "takeProfitEnabled": False,
        "investmentAmount": 500,
    },
}

# One completed scoring run with three traders.
TRADERS = [
    {
        "wallet_address": "GThUX1Atko4tqhN2NaiTazWSeFWMuiUvfFnyJyUghFMJ",
        "xorj_trust_score": 87.5,
        "metrics": {"total_trades": 142, "win_rate": 0.68, "avg_profit": 0.042},
    },
    {
        "wallet_address": "HN7cABqLq46Es1jh92dQQisAq662SmxELLLsHHe4YWrH",
        "xorj_trust_score": 74.25,
        "metrics": {"total_trades": 98, "win_rate": 0.61, "avg_profit": 0.031},
    },
    {
        "wallet_address": "DRpbCBMxVnDK7maPM5tGv6MvB3v1sRMC86PZ8okm21hy",
        "xorj_trust_score": 61.0,
        "metrics": {"total_trades": 57, "win_rate": 0.55, "avg_profit": 0.018},
    },
]


@dataclass
class SeedReport:
    lines: list[str] = field(default_factory=list)


SAMPLE_ACTOR = "seed:sample-data"


def user_claims(wallet: str) -> dict[str, str]:
    """The claims of a user token of `wallet`, as the API passes them to the database."""
    return {"wallet_address": wallet, "role": "user"}


def load_sample_data(url: str) -> SeedReport:
    report = SeedReport()
    with ExitStack() as stack:
        # Each user acts for its own wallet: the claims of a token of that wallet.
        user = SyncDatabase(url, SAMPLE_ACTOR, role="xorj_api")
        stack.callback(user.close)
        active, stopped = user_claims(ACTIVE_WALLET), user_claims(STOPPED_WALLET)
        user.run(bots.enable(ACTIVE_VAULT), active)
        user.run(bots.enable(STOPPED_VAULT), stopped)
        user.run(bots.disable(), stopped)
        report.lines.append(f"bot states: {ACTIVE_WALLET} enabled, {STOPPED_WALLET} disabled")

        for wallet, patch in SETTINGS.items():
            claims = user_claims(wallet)
            if user.run(settings.get(), claims) is None:
                user.run(settings.update(patch), claims)
        report.lines.append(f"user settings: {len(SETTINGS)} wallets")

        ranked = any(
            row[1] == TRADERS[0]["wallet_address"]
            for row in user.run(scoring.ranked_traders(len(TRADERS), 0))
        )
        if ranked:
            report.lines.append("scoring run: the sample run is already there (the latest one)")
            return report
        engine = SyncDatabase(url, SAMPLE_ACTOR, role="xorj_engine")
        stack.callback(engine.close)
        run = engine.run(scoring.create_run())
        engine.run(scoring.start_run(run["id"]))
        engine.run(scoring.complete_run(run["id"], TRADERS))
        report.lines.append(f"scoring run {run['id']}: COMPLETED with {len(TRADERS)} trader scores")
    return report


# --- volume, for benchmarks: `xorj db seed --traders N --trades M` -----------------------
# Through the api functions, one call per trade. With the owner's URL the command takes
# the COPY path of app/seed_bulk.py instead, which shares these names.

VOLUME_ACTOR = "seed:volume"
# Real mints of common Solana tokens (the planner's USDC and targets, then others), then
# generated ones: 32 tokens, 992 ordered pairs.
REAL_MINTS = (
    USDC.mint,
    *(token.mint for token in TARGETS),
    "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB",  # USDT
    "7dHbWXmci3dT8UFYWYZweBLXgycu7Y3iL6trKn1Y7ARj",  # stSOL
    "orcaEKTdK7LKz57vaAYr9QeNsVEPfiu6QeMU1kektZE",  # ORCA
    "HZ1JovNiVvGrGNiiYvEozEVgZ58xaU3RKwX8eACQBCt3",  # PYTH
    "7vfCXTUXx5WJV5JADk17DUJ4ksgau7utNKj4b963voxs",  # WETH (Wormhole)
    "3NZ9JMVBmGAqocybic2c7LQCJScmgsAZ6vQqTDzcqmJh",  # WBTC (Wormhole)
    "rndrizKT3MK1iimdxRdWabcF7Zg7AR5T4nud4EkHBof",  # RNDR
    "EKpQGSJtjMFqKZ9KQanSqYXRcF8fBopzLHYxdM65zcjm",  # WIF
    "bSo13r4TkiE4KumL71LsHTPpL2euBYLFx6h9HP3piy1",  # bSOL
)
VOLUME_MINTS = REAL_MINTS + tuple(
    base58.encode(hashlib.sha256(f"xorj-volume-mint-{i}".encode()).digest())
    for i in range(32 - len(REAL_MINTS))
)
VOLUME_PAIRS = tuple(
    (a, b) for a in range(len(VOLUME_MINTS)) for b in range(len(VOLUME_MINTS)) if a != b
)
TRADES_PER_JOB = 25_000
TRADE_BATCH = 2_000
SCORE_CHUNK = 10_000
# Final statuses of the trades one call makes (in flight: PENDING and SUBMITTED).
SHARE_FAILED = 0.10
SHARE_SUBMITTED = 0.03
SHARE_PENDING = 0.02
_FAILURES_BEFORE_SUBMIT = (
    "simulation failed: slippage tolerance exceeded",
    "quote expired before signing",
    "insufficient funds in vault for amount_in",
)
_FAILURES_AFTER_SUBMIT = (
    "transaction expired: blockhash not found",
    "transaction failed on chain: custom program error 0x1771",
    "confirmation timed out after 60 s",
)


# The last block height given to the SUBMITTED trades: far above any real chain's, so a
# bot run on a seeded database sees them as still landable (and expires them, as any
# broadcast trade, once the chain passes it).
SUBMITTED_LAST_VALID_BLOCK_HEIGHT = 10**9


def check_volume(traders: int, trades: int) -> None:
    """ValueError unless both counts are 0 or more."""
    if traders < 0 or trades < 0:
        raise ValueError("--traders and --trades must be 0 or more")


def _volume_scores(db: SyncDatabase, traders: int, rng: random.Random, progress: bool) -> str:
    """A COMPLETED scoring run of `traders` new wallets, through create, start,
    add_scoring_scores (chunks, one transaction with the completion) and complete."""
    from app.workers.engine import Progress

    bar = Progress("seeding traders", unit="traders", total=traders, enabled=progress)
    with db.transaction() as t:
        run = t.run(scoring.create_run())
        t.run(scoring.start_run(run["id"]))
    with db.transaction() as t:
        done = 0
        while done < traders:
            size = min(SCORE_CHUNK, traders - done)
            chunk = []
            for _ in range(size):
                total = rng.randint(5, 2_000)
                chunk.append(
                    {
                        "wallet_address": base58.encode(rng.randbytes(32)),
                        "xorj_trust_score": round(100 * rng.betavariate(2, 5), 4),
                        "metrics": {
                            "total_trades": total,
                            "win_rate": round(rng.uniform(0.3, 0.8), 3),
                            "avg_profit": round(rng.gauss(0.01, 0.03), 4),
                            "max_drawdown": round(rng.uniform(0.02, 0.6), 3),
                        },
                    }
                )
            t.run(scoring.add_scores(run["id"], chunk, done))
            done += size
            bar.update(done)
        t.run(scoring.complete_run(run["id"]))
    bar.close(done)
    return str(run["id"])


@dataclass
class _Trade:
    job: str
    vault: str
    client_order_id: str
    from_token: str
    to_token: str
    amount_in: int
    expected_out: int
    final: str  # PENDING, SUBMITTED, CONFIRMED or FAILED
    submit: bool  # FAILED after SUBMITTED (else before)


def _trade_batch(db: SyncDatabase, batch: list[_Trade], rng: random.Random) -> None:
    """Create the batch's trades (distinct vault and pair each), then move them to their
    final statuses, a few statements of many api calls each, in one transaction."""
    with db.transaction() as t:
        rows = t.run(
            batches.create_trades(
                [x.job for x in batch],
                [x.vault for x in batch],
                [x.client_order_id for x in batch],
                [x.from_token for x in batch],
                [x.to_token for x in batch],
                [x.amount_in for x in batch],
                [x.expected_out for x in batch],
            )
        )
        if len(rows) != len(batch) or any(replay for replay, _ in rows):
            raise RuntimeError("volume seed: a trade was not created anew")
        ids = [trade_id for _, trade_id in rows]
        submitted = [
            (i, base58.encode(b"\x01" + rng.randbytes(63)))
            for i, x in enumerate(batch)
            if x.final in ("SUBMITTED", "CONFIRMED") or (x.final == "FAILED" and x.submit)
        ]
        if submitted:
            t.run(
                batches.mark_submitted(
                    [ids[i] for i, _ in submitted],
                    [sig for _, sig in submitted],
                    SUBMITTED_LAST_VALID_BLOCK_HEIGHT,
                )
            )
        confirmed = [i for i, x in enumerate(batch) if x.final == "CONFIRMED"]
        if confirmed:
            slippage = [round(rng.uniform(-0.3, 1.5), 3) for _ in confirmed]
            actual = [
                max(1, int(batch[i].expected_out * (1 - s / 100)))
                for i, s in zip(confirmed, slippage, strict=True)
            ]
            t.run(
                batches.mark_confirmed(
                    [ids[i] for i in confirmed],
                    actual,
                    slippage,
                    [rng.randint(5_000, 25_000) for _ in confirmed],
                )
            )
        failed = [i for i, x in enumerate(batch) if x.final == "FAILED"]
        if failed:
            t.run(
                batches.mark_failed(
                    [ids[i] for i in failed],
                    [
                        rng.choice(
                            _FAILURES_AFTER_SUBMIT if batch[i].submit else _FAILURES_BEFORE_SUBMIT
                        )
                        for i in failed
                    ],
                    [rng.randint(5_000, 25_000) if batch[i].submit else None for i in failed],
                )
            )


def generate_volume(url: str, traders: int, trades: int, progress: bool) -> list[str]:
    """Benchmark volume, through the api functions so every rule holds; each call adds:

    * `traders` > 0: a new COMPLETED scoring run of that many new wallets (chunks of
      10,000 through api.add_scoring_scores, completed in the same transaction);
    * `trades` > 0: new users (3 or more, enough vault and token pairs for the trades in
      flight) with their bots enabled for new vaults and saved settings; execution jobs
      (one per 25,000 trades, all COMPLETED but the last, which stays RUNNING); and the
      trades, spread over the vaults and 992 token pairs, with varied amounts (never the
      same vault, pair and amount twice, so the recent-repeat rule never refuses one):
      about 85% CONFIRMED, 10% FAILED (half before, half after submission), 3% SUBMITTED
      and 2% PENDING (at most one in flight per vault and pair, as the rule requires).
      Created in batches of 2,000 (a few statements each, one transaction per batch).

    Signatures and addresses are random base58 (distinct); nothing depends on earlier
    calls, so a second call adds as much again. SUBMITTED trades carry a last valid block
    height (SUBMITTED_LAST_VALID_BLOCK_HEIGHT), as the bot records one. Each role's calls
    go through the door (app/dbapi/sync.py), named seed:volume. `progress` draws a
    progress line on stderr (pass sys.stderr.isatty()). Returns the report's lines.
    ValueError (before anything is written) when a count is negative."""
    check_volume(traders, trades)
    from app.workers.engine import Progress

    rng = random.Random(secrets.randbits(64))
    nonce = secrets.token_hex(4)
    lines: list[str] = []
    with ExitStack() as stack:

        def door(role: str) -> SyncDatabase:
            db = SyncDatabase(url, VOLUME_ACTOR, role=role, statement_timeout=3600)
            stack.callback(db.close)
            return db

        if traders:
            started = time.perf_counter()
            run_id = _volume_scores(door("xorj_engine"), traders, rng, progress)
            lines.append(
                f"scoring run {run_id}: COMPLETED with {traders:,} trader scores "
                f"in {time.perf_counter() - started:.1f} s"
            )
        if not trades:
            return lines

        user, bot = door("xorj_api"), door("xorj_bot")
        started = time.perf_counter()
        in_flight = round(trades * (SHARE_SUBMITTED + SHARE_PENDING))
        users = max(3, math.ceil(in_flight / len(VOLUME_PAIRS)))
        vaults: list[str] = []
        profiles = ("Conservative", "Balanced", "Aggressive")
        for _ in range(users):
            wallet, vault = base58.encode(rng.randbytes(32)), base58.encode(rng.randbytes(32))
            patch = {
                "riskProfile": rng.choice(profiles),
                "maxDrawdownLimit": rng.randint(5, 30),
                "positionSizePercent": rng.randint(1, 10),
                "investmentAmount": rng.choice([250, 500, 1000, 5000]),
            }
            with user.transaction(claims=user_claims(wallet)) as t:
                t.run(bots.enable(vault))
                t.run(settings.update(patch))
            vaults.append(vault)

        job_ids: list[str] = []
        for k in range(max(1, math.ceil(trades / TRADES_PER_JOB))):
            with bot.transaction() as t:
                job = t.run(jobs.create("SCHEDULED_RUN", {"seed": nonce, "part": k}))
                t.run(jobs.start(job["id"], f"seed-worker-{k}"))
            job_ids.append(str(job["id"]))

        combos = len(vaults) * len(VOLUME_PAIRS)
        in_flight = min(in_flight, combos)
        pending = round(in_flight * SHARE_PENDING / (SHARE_SUBMITTED + SHARE_PENDING))
        terminal = trades - in_flight
        failed = min(terminal, round(trades * SHARE_FAILED))
        finals = ["FAILED"] * failed + ["CONFIRMED"] * (terminal - failed)
        rng.shuffle(finals)
        finals += ["PENDING"] * pending + ["SUBMITTED"] * (in_flight - pending)

        used: dict[int, set[int]] = {}
        counts: dict[str, int] = dict.fromkeys(("CONFIRMED", "FAILED", "SUBMITTED", "PENDING"), 0)
        bar = Progress("seeding trades", unit="trades", total=trades, enabled=progress)
        done = 0
        in_flight_combos = iter(rng.sample(range(combos), in_flight))
        while done < trades:
            # Batches of terminal trades first, then of the trades left in flight, never
            # both in one batch. Terminal trades: distinct combos within the batch (each
            # is PENDING until the batch moves it on); trades left in flight: combos
            # never used by another trade in flight (all taken from one sample).
            end = terminal if done < terminal else trades
            size = min(TRADE_BATCH, combos, end - done)
            batch_finals = finals[done : done + size]
            free = iter(rng.sample(range(combos), size))
            batch: list[_Trade] = []
            for offset, final in enumerate(batch_finals):
                combo = next(in_flight_combos) if final in ("PENDING", "SUBMITTED") else next(free)
                vault = vaults[combo // len(VOLUME_PAIRS)]
                a, b = VOLUME_PAIRS[combo % len(VOLUME_PAIRS)]
                amounts = used.setdefault(combo, set())
                amount = rng.randint(10**5, 10**11)
                while amount in amounts:
                    amount = rng.randint(10**5, 10**11)
                amounts.add(amount)
                seq = done + offset
                batch.append(
                    _Trade(
                        job=job_ids[min(seq // TRADES_PER_JOB, len(job_ids) - 1)],
                        vault=vault,
                        client_order_id=f"vol-{nonce}-{seq}",
                        from_token=VOLUME_MINTS[a],
                        to_token=VOLUME_MINTS[b],
                        amount_in=amount,
                        expected_out=max(1, int(amount * rng.uniform(0.001, 1000))),
                        final=final,
                        submit=rng.random() < 0.5,
                    )
                )
                counts[final] += 1
            _trade_batch(bot, batch, rng)
            done += size
            bar.update(done)
        bar.close(done)

        for k, job_id in enumerate(job_ids[:-1]):
            bot.run(jobs.complete(job_id, f"seed-worker-{k}"))
        elapsed = time.perf_counter() - started
        lines.append(
            f"users: {users} with bots enabled for new vaults; jobs: {len(job_ids)} "
            f"({len(job_ids) - 1} COMPLETED, 1 RUNNING)"
        )
        lines.append(
            f"trades: {trades:,} in {elapsed:.1f} s ({trades / elapsed:,.0f}/s): "
            + ", ".join(f"{status} {n:,}" for status, n in counts.items())
        )
    return lines
