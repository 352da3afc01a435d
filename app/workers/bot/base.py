"""The bot's small parts: constants, the stop flag, the JSON log, options, the in-flight
record, and the readers of the planner's input."""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from app.dbapi import bots, scoring
from app.dbapi.sync import SyncDatabase
from app.workers.planner import BotConfig, PlannedTrade, Planner, Trader

CRASH_ENV = "XORJ_BOT_CRASH_AT"
CRASH_POINTS = ("after_create", "after_sign", "after_submitted", "after_broadcast", "after_confirm")
NEVER_BROADCAST = "never broadcast: the bot stopped before submitting (recovered)"
# A PENDING trade of the seed's order (broadcast before recorded) searched for on chain
# over its whole window, and not found (recovery.search_pending).
NOT_FOUND_ON_CHAIN = "not_found_on_chain"
RESOLUTIONS = (
    "confirmed",
    "failed_on_chain",
    "expired",
    "never_broadcast",
    NOT_FOUND_ON_CHAIN,
    "still_pending_on_chain",
)
# A recovery pass's count of the SUBMITTED trades whose status it could not learn: the
# chain could not be asked (ChainUnavailable, or an error answer). Not a resolution: the
# trade is left as it was, like one still pending, but for a reason the pass cannot judge.
CHAIN_UNAVAILABLE = "chain_unavailable"
EXPECTED_CONFLICTS = frozenset({"trade_in_flight", "recent_repeat", "bot_not_enabled"})
CHANNEL = "xorj_bot_state"
TRADERS_READ = 50
CLAIM_BATCH = 500
BLOCKHASH_ATTEMPTS = 3
DEFAULT_PLANNER = "app.workers.planner:SimplePlanner"
MAX_UNKNOWN_AGE_SECONDS = 120.0  # a blockhash lives ~150 blocks, 60-90 s
WAIT_SLICE = 0.1  # seconds: how soon a wait notices a stop request
STATE_POLL_SECONDS = 1.0
LISTEN_POLL_SECONDS = 10.0  # with LISTEN, the feed is read at least this often anyway
STOP_GRACE_SECONDS = 10.0
# The venue a chain's trades are recorded with: --chain sim is always "simulated"; with
# --chain rpc, --venue says which real chain (a local validator is not the live one).
SIM_VENUE = "simulated"
RPC_VENUES = ("live", "localnet")


class StopFlag:
    """The stop request of SIGTERM or SIGINT: the signal handler writes `name` and nothing
    else (it takes no lock and writes no log: it runs between two bytecodes of the main
    thread, which may hold the log's lock). Read by the bot's waits and by the database
    door while it waits for a connection."""

    def __init__(self) -> None:
        self.name: str | None = None

    def is_set(self) -> bool:
        return self.name is not None


# --- logging ---------------------------------------------------------------------------


class JsonLog:
    """One JSON line per event on a stream (stderr), safe from several threads."""

    def __init__(self, worker_id: str, stream: TextIO | None = None) -> None:
        self.worker_id = worker_id
        self.stream = stream if stream is not None else sys.stderr
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()  # events logged, by name (the bot's metrics)

    def __call__(self, event: str, **fields: Any) -> None:
        self.counts[event] += 1
        record = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "event": event,
            "worker": self.worker_id,
            **fields,
        }
        line = json.dumps(record, default=str, separators=(",", ":"))
        with self._lock:
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass


# --- options and small values ----------------------------------------------------------


@dataclass(frozen=True)
class BotOptions:
    worker_id: str
    # Where the trades this bot creates are executed (api.create_trade's venue): live,
    # localnet or simulated. No default: only live trades count in a user's performance,
    # so the venue is always said, never assumed.
    venue: str
    lease_seconds: float = 30.0
    monitor_timeout_seconds: float = 60.0
    poll_seconds: float = 0.5
    tick_seconds: float = 30.0
    ticks: int | None = None  # None: forever
    claim_batch: int = CLAIM_BATCH
    max_unknown_age_seconds: float = MAX_UNKNOWN_AGE_SECONDS
    # How often the feed of bot state changes is read: when LISTEN cannot be used (no
    # direct URL: behind a transaction pooler), this bounds how late a disable is seen.
    state_poll_seconds: float = STATE_POLL_SECONDS

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.lease_seconds)

    @property
    def heartbeat_seconds(self) -> float:
        return self.lease_seconds / 3

    @property
    def stale_after(self) -> timedelta:
        """A job silent for 3 heartbeat intervals is stalled."""
        return timedelta(seconds=3 * self.heartbeat_seconds)


@dataclass
class InFlight:
    """A SUBMITTED trade this worker holds and polls."""

    trade_id: str
    signature: str
    last_valid_block_height: int | None
    expected_amount_out: int
    source: str  # "tick", "recovery" (startup) or "claim" (a tick's claim pass)
    submitted_at: datetime | None = None
    # Whose balance in which mint the swap credits: what Chain.get_delivery is asked when
    # a confirmed status does not carry the delivered amount (None: not known, not asked).
    vault: str | None = None
    to_token: str | None = None

    @classmethod
    def from_trade(cls, trade: dict[str, Any], source: str) -> InFlight:
        lvbh = trade.get("last_valid_block_height")
        submitted_at = trade.get("submitted_at")
        if isinstance(submitted_at, str):
            submitted_at = datetime.fromisoformat(submitted_at)
        return cls(
            trade_id=str(trade["id"]),
            signature=str(trade["transaction_signature"]),
            last_valid_block_height=None if lvbh is None else int(lvbh),
            expected_amount_out=int(trade["expected_amount_out"]),
            source=source,
            submitted_at=submitted_at if isinstance(submitted_at, datetime) else None,
            vault=_text(trade.get("user_vault_address")),
            to_token=_text(trade.get("to_token_address")),
        )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class JobLost(Exception):
    """The tick's job is no longer RUNNING (reaped while this bot stalled): the tick
    creates no more trades and leaves the job alone (the reaper already failed it)."""


def client_order_id(job_id: str, intent: PlannedTrade) -> str:
    """The idempotency key of an intent within a job (deterministic)."""
    key = "\n".join((str(job_id), intent.vault, intent.from_token, intent.to_token))
    return "xorj-" + hashlib.sha256(key.encode()).hexdigest()[:48]


def expired_message(last_valid_block_height: int) -> str:
    return (
        f"expired: blockhash expired at height {last_valid_block_height} "
        "before the transaction landed"
    )


def unknown_age_message(age_seconds: float) -> str:
    return (
        "expired: no last valid block height recorded and not found "
        f"{int(age_seconds)} s after submission"
    )


def load_bots(db: SyncDatabase) -> list[BotConfig]:
    """api.enabled_bots(): the planner's bots."""
    return [BotConfig(*row) for row in db.run(bots.enabled())]


def load_traders(db: SyncDatabase, limit: int = TRADERS_READ) -> list[Trader]:
    """api.ranked_traders(): the latest completed run's traders, best first."""
    rows = db.run(scoring.ranked_traders(limit, 0))
    return [Trader(int(r[0]), r[1], r[2], dict(r[3] or {})) for r in rows]


def load_planner(spec: str) -> Planner:
    """MODULE:NAME -> NAME() from MODULE: a Planner."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"--planner must be MODULE:NAME, got {spec!r}")
    factory = getattr(importlib.import_module(module_name), attr)
    planner = factory()
    if not callable(getattr(planner, "plan", None)):
        raise ValueError(f"{spec} did not give a planner (an object with plan(bots, traders))")
    return planner
