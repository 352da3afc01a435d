"""The Trade Execution Bot: `xorj bot run` and `xorj bot recover`.

Every rule lives in the database (procedures/trades.sql, jobs.sql, bot_states.sql); this
worker only sequences calls so that each trade intent reaches the chain at most once,
and a crash at any instant leaves a state a later run resolves without a second
broadcast. It connects with DATABASE_URL (the owner), and every call is its own
transaction after `SET LOCAL ROLE xorj_bot` with xorj.actor = 'bot:<worker id>'
(app/workers/dbsync.py): one connection for the calls (main thread), one autocommit
connection that LISTENs on xorj_bot_state and sends the heartbeats (a second thread).

The exactly-once protocol, for each intent of the planner (app/workers/planner.py)::

    intent (vault, from, to, amount_in, expected_amount_out)
      |  api.create_trade(job, vault, client_order_id, ..., p_worker, p_lease)
      |    client_order_id = "xorj-" + sha256(job_id, vault, from, to)[:48]: a retry in
      |    the same job replays the same trade; XJ409 trade_in_flight / recent_repeat /
      |    bot_not_enabled: expected, skipped with a log line
      v
    PENDING, claimed by this worker ------ blockhash or signing fails ------> FAILED
      |  get_latest_blockhash; sign locally: the signature and        "never broadcast: ..."
      |  last_valid_block_height are known, nothing has left the process
      |  api.mark_trade_submitted(trade, signature, lvbh, worker): the database checks
      |  the trade is still claimed by this worker; XJ423 (failed meanwhile) or XJ409
      |  claim_lost: nothing recorded, and the transaction is NEVER broadcast
      v
    SUBMITTED ---- only now: send_transaction, once (never repeated, even on an error:
      |            an error of the send is "ask the status", never "failed")
      |  poll: block height h first, then the signature's status
      +-- confirmed ---------------------------> CONFIRMED (actual amount, fee, slippage)
      +-- landed with an error ----------------> FAILED "failed on chain: <err>" (fee)
      +-- not found and h > lvbh --------------> FAILED "expired: blockhash expired at
      |                                           height <lvbh> before the transaction landed"
      +-- not found, no lvbh recorded (made through the HTTP API or the seed), and
      |   submitted more than --max-unknown-age-seconds ago --> FAILED "expired: no last
      |                                           valid block height recorded and not
      |                                           found <N> s after submission"
      +-- confirmed, but the chain did not say what the swap delivered (amount_out
      |   unknown: app/chain/rpc.py has no getTransaction yet) --> left SUBMITTED, logged
      |                                           once (amount_out_unknown): no value is
      |                                           ever made up for an immutable record
      +-- not found and h <= lvbh, still processing, or the chain unavailable
                                                 (ChainUnavailable is never "not found"):
                                                 ask again at the next poll

    Recovery (at startup: api.claim_trades(worker, lease, pending_older_than => 0); at
    every tick: pending_older_than => lease), for each claimed trade:
      PENDING   -> FAILED "never broadcast: the bot stopped before submitting (recovered)"
                   with p_expected_status 'PENDING'
      SUBMITTED -> the poll above; recovery never broadcasts

Why a PENDING trade can be failed: the protocol records SUBMITTED (with the signature)
before anything is sent, so a trade still PENDING was never broadcast, and failing it
cannot lose a transaction that may land. p_expected_status 'PENDING' makes the database
refuse (XJ423) if another bot recorded it SUBMITTED meanwhile; the bot then re-reads the
trade and polls it as SUBMITTED. A SUBMITTED trade whose transaction was never sent (a
crash between the record and the send) is not found on chain and is FAILED as expired
once the block height passes its last valid one: it can never land later. Failing the
intent's trade frees its pair (FAILED trades do not count as recent repeats), so the
planner's next tick places it again, as a new trade with a new signature.

Heights are read before statuses: "not found" at a height past lvbh then proves the
transaction never landed (a landed one is visible at any later height).

Several bots on one database:
* each trade is created with a claim (a lease of --lease-seconds); the heartbeat thread
  renews every claim of its worker (api.renew_trade_claims) and heartbeats the current
  job every lease/3 seconds, but only while the main thread makes progress: the main
  thread records the time of each step (a claimed trade, an intent, a poll, a slice of a
  wait), and once that is older than the lease the heartbeat stops renewing, so a bot
  whose main thread is stuck loses its claims and its job like a dead one. Every
  statement of both connections has a statement_timeout of one lease. Before the send,
  the SUBMITTED record checks the claim is still this worker's, so a bot that stalled
  past its lease and lost a trade to another never broadcasts it.
* the jobs carry the worker id (api.start_execution_job); every tick reaps RUNNING jobs
  whose heartbeat is older than 3 heartbeat intervals (= the lease), so a dead bot's job
  ends FAILED.
* each tick also runs a claim pass with pending_older_than = lease: it takes SUBMITTED
  trades whose lease ran out (their bot died or stopped) and PENDING ones older than a
  lease whose claim ran out too. A live bot keeps a trade PENDING only for the
  milliseconds between create and submit, and its claim is renewed, so its fresh
  trades are never taken; the age condition also spares PENDING trades made without a
  claim (e.g. through the HTTP API) by a client that is still working on them. At
  startup the pass uses pending_older_than => 0 as FR-2.5 says: every unclaimed or
  expired PENDING trade is abandoned by then.
* a claim pass takes --claim-batch trades at a time and passes the ids it already
  works as p_exclude, so it goes through every claimable trade, however many.
* a claim held by this same worker id is taken at once (claim_trades returns the
  caller's own), so a bot restarted with the same --worker-id recovers its previous
  run's trades immediately, and fails its previous run's RUNNING jobs (as
  'abandoned: ...'); worker ids must therefore be unique among live bots (the default,
  hostname-pid, is).

Disable: LISTEN xorj_bot_state; on {"enabled": false, "vault_address": V} V is dropped
from the current tick's remaining intents at once (and api.create_trade refuses its new
trades anyway: bot_not_enabled). api.enabled_bots() is the authority for planning: each
tick plans from it, and forgets the disable marks received before it was read.

Stopping: SIGTERM (or SIGINT) only records the request (the handler takes no lock and
writes no log: it runs between two bytecodes of the main thread, which may hold the log's
lock); the main thread logs it and stops at its next check, within 0.1 s of any wait. It
lets the current step finish (an intent's create -> send
sequence, one poll, one recovered trade), then the bot releases its claims (another bot,
or the next run, takes the trades over at once), fails the current job with 'stopped by
SIGTERM' unless it had just completed, and exits 0.

Test hook (never set it in production): XORJ_BOT_CRASH_AT = after_create | after_sign |
after_submitted | after_broadcast | after_confirm makes the process SIGKILL itself right
after that step of the first trade the process creates (once per process, not per tick;
after_confirm: right after that trade's final status, CONFIRMED or FAILED, is recorded).

Logs: one JSON object per line on stderr: {"ts", "event", "worker", ...}.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import signal
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, TextIO

import psycopg
from psycopg.types.json import Jsonb

from app.chain.base import (
    Blockhash,
    Chain,
    ChainError,
    ChainUnavailable,
    Intent,
    SignatureStatus,
    Signer,
)
from app.config import ConfigError, database_urls
from app.db import PrivilegedLogin
from app.workers.dbsync import (
    CONFLICT,
    INVALID,
    REFUSED,
    BotDb,
    Stopped,
    conflict_rule,
    one_line,
    sqlstate,
)
from app.workers.planner import BotConfig, PlannedTrade, Planner, Trader

CRASH_ENV = "XORJ_BOT_CRASH_AT"
CRASH_POINTS = ("after_create", "after_sign", "after_submitted", "after_broadcast", "after_confirm")
NEVER_BROADCAST = "never broadcast: the bot stopped before submitting (recovered)"
RESOLUTIONS = (
    "confirmed",
    "failed_on_chain",
    "expired",
    "never_broadcast",
    "still_pending_on_chain",
)
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
        )


class JobLost(Exception):
    """The tick's job is no longer RUNNING (reaped while this bot stalled): the tick
    creates no more trades and leaves the job alone (the reaper already failed it)."""


def client_order_id(job_id: str, intent: PlannedTrade) -> str:
    """The idempotency key of an intent within a job (deterministic)."""
    key = "\n".join((str(job_id), intent.vault, intent.from_token, intent.to_token))
    return "xorj-" + hashlib.sha256(key.encode()).hexdigest()[:48]


def slippage_percent(expected: int, actual: int) -> Decimal | None:
    """(expected - actual) / expected * 100, rounded half-even to 4 places (the precision
    the bot records), never clamped: a better fill than quoted is negative, and the
    database, not this function, decides what it accepts."""
    if expected <= 0:
        return None
    return (Decimal(expected - actual) * 100 / Decimal(expected)).quantize(
        Decimal("0.0001"), rounding=ROUND_HALF_EVEN
    )


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


def load_bots(db: BotDb) -> list[BotConfig]:
    """api.enabled_bots(): the planner's bots."""
    rows = db.rows(
        "SELECT user_id, vault_address, risk_profile, investment_amount, "
        "position_size_percent FROM api.enabled_bots()"
    )
    return [BotConfig(*row) for row in rows]


def load_traders(db: BotDb, limit: int = TRADERS_READ) -> list[Trader]:
    """api.ranked_traders(): the latest completed run's traders, best first."""
    rows = db.rows(
        "SELECT rank, wallet_address, xorj_trust_score, metrics FROM api.ranked_traders(%s, 0)",
        (limit,),
    )
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


# --- the heartbeat and LISTEN thread ---------------------------------------------------


class Heartbeat(threading.Thread):
    """Owns the second (autocommit) connection. It reads the feed of bot state changes
    (api.bot_state_changes, from a cursor: nothing is missed, whatever the commit order
    or a reconnect) every `state_poll_seconds`, and at once when a notification arrives
    if it LISTENs on xorj_bot_state (only on a direct connection: behind a transaction
    pooler notifications never arrive). Every lease/3 seconds it renews this worker's
    trade claims and heartbeats its current job, as long as the main thread has made
    progress within the last lease. The thread closes its connection when it ends;
    close() closes it only if it never started."""

    def __init__(self, db: BotDb, options: BotOptions, log: JsonLog, listen: bool = False) -> None:
        super().__init__(name="bot-heartbeat", daemon=True)
        self.db = db
        self.options = options
        self.log = log
        self.listening = listen
        self.feed_seconds = LISTEN_POLL_SECONDS if listen else options.state_poll_seconds
        self._cursor: str | None = None
        self._seen: dict[int, int] = {}  # event id -> its transaction id (xid8)
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._job: str | None = None
        # Vaults disabled by a notification -> the notification's number (see plan()).
        self._disabled: dict[str, int] = {}
        self._notifications = 0
        self._withheld = False
        # The main thread's last step (time.monotonic()); one float, written by one thread.
        self.last_progress = time.monotonic()
        # Held around api.renew_trade_claims here and api.claim_trades in the main thread:
        # a renewal locks this worker's rows, and the claim (FOR UPDATE SKIP LOCKED) would
        # skip them, e.g. a previous run's trades at startup with the same worker id.
        self.claims_lock = threading.Lock()

    # main thread side

    def listen(self) -> None:
        """Before the thread starts: LISTEN (when direct) and take the feed's cursor, so
        that every change committed from now on is seen."""
        if self.listening:
            self.db.conn.execute(f"LISTEN {CHANNEL}")
        self.read_feed()

    def progress(self) -> None:
        """The main thread made a step: the leases may be renewed for another lease."""
        self.last_progress = time.monotonic()

    def set_job(self, job_id: str | None) -> None:
        with self._lock:
            self._job = job_id

    def current_job(self) -> str | None:
        with self._lock:
            return self._job

    def is_disabled(self, vault: str) -> bool:
        with self._lock:
            return vault in self._disabled

    def notification_mark(self) -> int:
        """The number of notifications received so far: read it before api.enabled_bots()."""
        with self._lock:
            return self._notifications

    def forget_disabled_before(self, mark: int) -> None:
        """Drop the disable marks of notifications received before `mark`: an
        api.enabled_bots() read after it already reflects them (it lists a vault enabled
        again, and leaves out a disabled one)."""
        with self._lock:
            self._disabled = {v: n for v, n in self._disabled.items() if n > mark}

    def halt(self) -> None:
        """Stop the thread and wait for it to end; a thread still in a call (bounded by the
        statement_timeout) is left to end and close its connection on its own."""
        self._halt.set()
        if self.is_alive():
            self.join(timeout=self.options.lease_seconds + 5)
            if self.is_alive():
                self.log("heartbeat_still_running")

    def close(self) -> None:
        if self.ident is None:  # never started: the connection is ours to close
            self.db.close()

    # thread side

    def run(self) -> None:
        try:
            self._loop()
        finally:
            self.db.close()

    def _loop(self) -> None:
        next_beat = time.monotonic()
        next_feed = time.monotonic() + self.feed_seconds
        while not self._halt.is_set():
            try:
                wait = max(
                    0.0, min(0.2, next_beat - time.monotonic(), next_feed - time.monotonic())
                )
                notified = False
                if self.listening:
                    # stop_after=1: read the feed as soon as a notification arrives, not
                    # when the wait is over (a disable must take effect at once).
                    for _ in self.db.conn.notifies(timeout=wait, stop_after=1):
                        notified = True
                else:
                    self._halt.wait(wait)
                if self._halt.is_set():
                    return
                if notified or time.monotonic() >= next_feed:
                    self.read_feed()
                    next_feed = time.monotonic() + self.feed_seconds
                if time.monotonic() >= next_beat:
                    self.beat()
                    next_beat = time.monotonic() + self.options.heartbeat_seconds
            except Stopped:
                return
            except Exception as exc:  # never let the thread die: log, reconnect, go on
                self.log("heartbeat_error", error=one_line(exc), error_type=type(exc).__name__)
                if self._halt.wait(0.5):
                    return
                self._reconnect()

    def _reconnect(self) -> None:
        try:
            if self.db.ensure_open():
                # The feed's cursor is kept: the changes made meanwhile are read next.
                if self.listening:
                    self.db.conn.execute(f"LISTEN {CHANNEL}")
                self.log("heartbeat_reconnected", listening=self.listening)
        except psycopg.Error as exc:
            self.log("heartbeat_reconnect_failed", error=one_line(exc))

    def read_feed(self) -> None:
        """Read the changes since the cursor (api.bot_state_changes) and apply each once."""
        feed = self.db.value("SELECT api.bot_state_changes(%s)", (self._cursor,))
        for event in feed["events"]:
            if event["id"] in self._seen:
                continue
            self._seen[event["id"]] = int(event["txid"])
            self._on_event(event)
        self._cursor = str(feed["cursor"])
        # An event comes again only while its transaction is at or after the cursor.
        cursor = int(self._cursor)
        self._seen = {k: v for k, v in self._seen.items() if v >= cursor}

    def _on_event(self, data: dict[str, Any]) -> None:
        vault = data.get("vault_address")
        enabled = bool(data.get("enabled"))
        with self._lock:
            self._notifications += 1
            if vault and enabled:
                self._disabled.pop(str(vault), None)
            elif vault:
                self._disabled[str(vault)] = self._notifications
        self.log(
            "vault_enabled" if enabled else "vault_disabled",
            wallet=data.get("wallet"),
            vault=vault,
        )

    def beat(self) -> None:
        idle = time.monotonic() - self.last_progress
        if idle > self.options.lease_seconds:
            # The main thread is stuck: let the claims and the job's heartbeat run out, so
            # other bots take the trades over and the job is reaped, as for a dead bot.
            if not self._withheld:
                self._withheld = True
                self.log("heartbeat_withheld", main_thread_idle_seconds=round(idle, 1))
            return
        if self._withheld:
            self._withheld = False
            self.log("heartbeat_resumed")
        worker, lease = self.options.worker_id, self.options.lease
        with self.claims_lock:
            renewed = self.db.value("SELECT api.renew_trade_claims(%s, %s)", (worker, lease))
        job = self.current_job()
        if job is None:
            return
        try:
            self.db.rows("SELECT api.heartbeat_execution_job(%s, %s)", (job, worker))
        except psycopg.Error as exc:
            if sqlstate(exc) not in (REFUSED, CONFLICT):
                raise
            if self.current_job() == job:  # not just completed by the main thread
                self.log("job_heartbeat_refused", job_id=job, error=one_line(exc))
            return
        if renewed:
            self.log("heartbeat", job_id=job, claims_renewed=renewed)


# --- the bot ---------------------------------------------------------------------------


class Bot:
    def __init__(
        self,
        db: BotDb,
        heartbeat: Heartbeat,
        chain: Chain,
        signer: Signer | None,
        planner: Planner,
        options: BotOptions,
        log: JsonLog,
        crash_at: str | None = None,
        stop_flag: StopFlag | None = None,
    ) -> None:
        self.db = db
        self.heartbeat = heartbeat
        self.chain = chain
        self.signer = signer
        self.planner = planner
        self.options = options
        self.log = log
        self.crash_at = crash_at
        self.inflight: dict[str, InFlight] = {}
        self.totals: Counter[str] = Counter()
        self._stop = threading.Event()
        self.stop_reason = "SIGTERM"
        self.flag = stop_flag or StopFlag()  # written by the signal handler, nothing else
        self._first_trade: str | None = None
        self._amount_unknown: set[str] = set()  # trades logged amount_out_unknown

    @property
    def worker(self) -> str:
        return self.options.worker_id

    # -- stopping ----------------------------------------------------------------------

    def request_stop(self, reason: str = "SIGTERM") -> None:
        """Stop at the next check (main thread, or any thread but a signal handler)."""
        if not self._stop.is_set():
            self.stop_reason = reason
            self._stop.set()

    def on_signal(self, name: str) -> None:
        """The signal handler's whole work: one attribute write, no lock, no log."""
        self.flag.name = name

    @property
    def stopping(self) -> bool:
        signal_name = self.flag.name
        if signal_name is not None and not self._stop.is_set():
            self.log("signal", signal=signal_name)  # the main thread logs it, not the handler
            self.request_stop(signal_name)
        return self._stop.is_set()

    def _wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, in slices that notice a stop request (and count as the
        main thread's progress); True when stopping."""
        deadline = time.monotonic() + seconds
        while not self.stopping:
            self.heartbeat.progress()
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._stop.wait(min(WAIT_SLICE, left))
        return True

    # -- the commands ------------------------------------------------------------------

    def run(self) -> int:
        """`bot run`: startup recovery, then the ticks; 0 when done or stopped."""
        self.log(
            "bot_started",
            lease_seconds=self.options.lease_seconds,
            ticks=self.options.ticks,
            tick_seconds=self.options.tick_seconds,
        )
        try:
            self.reap()  # FR-2.5: before anything else
            self.heartbeat.listen()
            self.heartbeat.progress()
            self.heartbeat.start()
            self.recover()
            tick = 0
            while not self.stopping:
                tick += 1
                self.heartbeat.progress()
                try:
                    self.tick(tick)
                except Stopped:
                    break
                except Exception as exc:  # e.g. the database unreachable: next tick
                    self.log(
                        "tick_error", tick=tick, error=one_line(exc), error_type=type(exc).__name__
                    )
                if self.options.ticks is not None and tick >= self.options.ticks:
                    break
                self._wait(self.options.tick_seconds)
        finally:
            self.shutdown()
        self.log(
            "bot_stopped",
            reason=self.stop_reason if self.stopping else "done",
            totals=dict(self.totals),
        )
        return 0

    def recover_once(self) -> tuple[Counter[str], int]:
        """`bot recover`: the startup pass alone; (counts, unfinished trades that other
        live workers hold)."""
        try:
            self.reap()
            self.heartbeat.listen()
            self.heartbeat.progress()
            self.heartbeat.start()
            counts = self.recover()
            others = self.held_by_others()
        finally:
            self.shutdown()
        return counts, others

    # -- jobs --------------------------------------------------------------------------

    def reap(self) -> None:
        rows = self.db.rows("SELECT api.reap_execution_jobs(%s)", (self.options.stale_after,))
        for (job,) in rows:
            self.log(
                "job_reaped",
                job_id=job["id"],
                job_worker=job.get("worker_id"),
                error=job.get("error_message"),
            )

    def start_job(self, reason: str, parameters: dict[str, Any]) -> str:
        with self.db.tx() as conn:
            row = conn.execute(
                "SELECT api.create_execution_job(%s, %s)", (reason, Jsonb(parameters))
            ).fetchone()
            assert row is not None
            job_id = str(row[0]["id"])
            conn.execute("SELECT api.start_execution_job(%s, %s)", (job_id, self.worker))
        self.heartbeat.set_job(job_id)
        self.log("job_started", job_id=job_id, trigger_reason=reason)
        return job_id

    def finish_job(self, job_id: str, error: str | None) -> None:
        self.heartbeat.set_job(None)
        try:
            if error is None:
                self.db.rows("SELECT api.complete_execution_job(%s, %s)", (job_id, self.worker))
                self.log("job_completed", job_id=job_id)
            else:
                self.db.rows(
                    "SELECT api.fail_execution_job(%s, %s, %s)",
                    (job_id, error[:10000], self.worker),
                )
                self.log("job_failed", job_id=job_id, error=error)
        except (psycopg.Error, Stopped) as exc:
            self.log("job_finish_refused", job_id=job_id, error=one_line(exc))

    def fail_abandoned_jobs(self, job_ids: set[str], recovery_job: str) -> None:
        """The jobs of the trades the startup pass claimed, other than its own recovery job
        (the only job this process has started by then), are a previous run's: fail those
        still RUNNING under this worker id (worker ids are unique among live bots). The
        database refuses (XJ409 job_worker_mismatch, XJ423) any other job, which is then
        left alone."""
        for job_id in sorted(job_ids - {recovery_job}):
            try:
                self.db.rows(
                    "SELECT api.fail_execution_job(%s, %s, %s)",
                    (
                        job_id,
                        f"abandoned: worker {self.worker} restarted; its trades were "
                        f"recovered by job {recovery_job}",
                        self.worker,
                    ),
                )
            except psycopg.Error as exc:
                if sqlstate(exc) not in (CONFLICT, REFUSED):
                    raise
                continue
            self.log("job_abandoned", job_id=job_id)

    # -- recovery ----------------------------------------------------------------------

    def recover(self) -> Counter[str]:
        """The startup pass (FR-2.5) in a RECOVERY_RUN job."""
        job = self.start_job(
            "RECOVERY_RUN", {"worker_id": self.worker, "pending_older_than_seconds": 0}
        )
        counts: Counter[str] = Counter({name: 0 for name in RESOLUTIONS})
        error: str | None = None
        try:
            counts.update(self.claim_pass(0.0, "recovery", recovery_job=job))
            if self.stopping:
                error = f"stopped by {self.stop_reason}"
        except Exception as exc:
            error = one_line(exc)
            self.log("recovery_failed", job_id=job, error=error)
            self.finish_job(job, error)
            raise
        self.finish_job(job, error)
        self.log("recovery_summary", job_id=job, **{k: counts[k] for k in RESOLUTIONS})
        return counts

    def claim_pass(
        self, pending_older_than: float, source: str, recovery_job: str | None = None
    ) -> Counter[str]:
        """Claim the unfinished trades nobody else holds and resolve each one: PENDING ->
        FAILED never broadcast; SUBMITTED -> one poll, then monitored if undecided."""
        counts: Counter[str] = Counter()
        seen: set[str] = set()
        jobs: set[str] = set()
        limit = self.options.claim_batch
        while not self.stopping:
            self.heartbeat.progress()
            # Skip what this pass claimed already and what this bot monitors: the function
            # returns the caller's own claims too, so without it a pass would stop at the
            # first batch whose trades are all still undecided.
            exclude = sorted(seen | set(self.inflight))
            with self.heartbeat.claims_lock:
                rows = self.db.rows(
                    "SELECT api.claim_trades(%s, %s, %s, %s, %s::uuid[])",
                    (
                        self.worker,
                        self.options.lease,
                        timedelta(seconds=pending_older_than),
                        limit,
                        exclude or None,
                    ),
                )
            batch = [row[0] for row in rows]
            new = [t for t in batch if t["id"] not in seen and t["id"] not in self.inflight]
            seen.update(t["id"] for t in batch)
            if not new:
                break
            submitted: list[InFlight] = []
            for trade in new:
                if self.stopping:
                    break
                self.heartbeat.progress()
                jobs.add(str(trade["job_id"]))
                self.log(
                    "trade_claimed",
                    trade_id=trade["id"],
                    status=trade["status"],
                    source=source,
                    job_id=trade["job_id"],
                )
                if trade["status"] == "PENDING":
                    moved = self.fail_never_broadcast(trade["id"], NEVER_BROADCAST, source)
                    if moved is None:
                        counts["never_broadcast"] += 1
                    elif moved.get("status") == "SUBMITTED":
                        submitted.append(InFlight.from_trade(moved, source))
                elif trade["status"] == "SUBMITTED":
                    submitted.append(InFlight.from_trade(trade, source))
            if submitted and not self.stopping:
                results = self.poll(submitted)
                for item in submitted:
                    result = results.get(item.trade_id)
                    counts[result or "still_pending_on_chain"] += 1
            if len(batch) < limit:
                break
        if recovery_job is not None and jobs:
            self.fail_abandoned_jobs(jobs, recovery_job)
        if source != "recovery" and counts:
            self.log("claim_pass", **counts)
        return counts

    def held_by_others(self) -> int:
        """Unfinished trades (SUBMITTED, or PENDING) that other workers hold with a live
        lease: not touched by this pass."""
        return int(
            self.db.value(
                "SELECT count(*) FROM api.trades_to_recover(interval '0', 10000) t "
                "WHERE t->>'claimed_by' IS DISTINCT FROM %s "
                "AND (t->>'claim_expires_at')::timestamptz > clock_timestamp()",
                (self.worker,),
            )
        )

    def fail_never_broadcast(
        self, trade_id: str, reason: str, source: str
    ) -> dict[str, Any] | None:
        """PENDING -> FAILED (only if still PENDING). None when failed; else the trade as it
        is now (another bot moved it on)."""
        try:
            self.db.rows(
                "SELECT changed FROM api.mark_trade_failed(%s, %s, NULL, 'PENDING')",
                (trade_id, reason[:10000]),
            )
        except psycopg.Error as exc:
            if sqlstate(exc) != REFUSED:
                raise
            trade = self.db.value("SELECT api.get_trade(%s)", (trade_id,))
            self.log("trade_moved_on", trade_id=trade_id, status=trade["status"], source=source)
            return dict(trade)
        self.count("never_broadcast")
        self.log(
            "trade_resolved",
            trade_id=trade_id,
            resolution="never_broadcast",
            source=source,
            error=reason,
        )
        self._crash_point("after_confirm", trade_id)
        return None

    def count(self, resolution: str) -> None:
        self.totals[resolution] += 1

    # -- a tick ------------------------------------------------------------------------

    def tick(self, number: int) -> None:
        self.reap()
        job = self.start_job("SCHEDULED_RUN", {"worker_id": self.worker, "tick": number})
        error: str | None = None
        lost = False
        try:
            self.claim_pass(self.options.lease_seconds, "claim")
            if not self.stopping:
                lost = self.execute_all(job, self.plan())
            if not self.stopping:
                self.monitor(time.monotonic() + self.options.monitor_timeout_seconds)
            if self.stopping:
                error = f"stopped by {self.stop_reason}"
        except Exception as exc:
            error = one_line(exc)
            self.log("tick_failed", job_id=job, error=error, error_type=type(exc).__name__)
        if lost:  # reaped meanwhile: FAILED already, nothing to finish
            self.heartbeat.set_job(None)
        else:
            self.finish_job(job, error)

    def execute_all(self, job: str, intents: Sequence[PlannedTrade]) -> bool:
        """Work the tick's intents in order; True when the job was lost on the way."""
        for intent in intents:
            if self.stopping:
                break
            self.heartbeat.progress()
            if self.heartbeat.is_disabled(intent.vault):
                self.log("intent_dropped", vault=intent.vault, reason="bot disabled")
                continue
            try:
                self.execute(job, intent)
            except JobLost as exc:
                self.log("job_lost", job_id=job, error=str(exc))
                return True
        return False

    def plan(self) -> list[PlannedTrade]:
        # api.enabled_bots() is the authority; the disable marks received before it is
        # read are reflected in it and forgotten, later ones drop intents in the tick.
        mark = self.heartbeat.notification_mark()
        bots = load_bots(self.db)
        self.heartbeat.forget_disabled_before(mark)
        traders = load_traders(self.db)
        intents = list(self.planner.plan(bots, traders))
        self.log("planned", bots=len(bots), traders=len(traders), intents=len(intents))
        return intents

    # -- the protocol ------------------------------------------------------------------

    def execute(self, job_id: str, intent: PlannedTrade) -> None:
        """create PENDING -> blockhash -> sign -> record SUBMITTED -> broadcast (once)."""
        if self.signer is None:
            raise RuntimeError("no transaction signer is configured")
        key = client_order_id(job_id, intent)
        try:
            replay, trade = self.db.one(
                "SELECT replay, trade FROM api.create_trade(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    job_id,
                    intent.vault,
                    key,
                    intent.from_token,
                    intent.to_token,
                    intent.amount_in,
                    intent.expected_amount_out,
                    self.worker,
                    self.options.lease,
                ),
            )
        except psycopg.Error as exc:
            rule = conflict_rule(exc)
            if rule in EXPECTED_CONFLICTS:
                self.log(
                    "trade_skipped",
                    rule=rule,
                    vault=intent.vault,
                    to_token=intent.to_token,
                    detail=exc.diag.message_detail,
                )
                return
            if rule == "job_not_running":
                raise JobLost(one_line(exc)) from exc
            if rule is not None or sqlstate(exc) == INVALID:
                self.log("intent_refused", rule=rule, vault=intent.vault, error=one_line(exc))
                return
            raise
        trade_id = str(trade["id"])
        if replay and (trade["status"] != "PENDING" or trade.get("claimed_by") != self.worker):
            self.log("trade_replayed", trade_id=trade_id, status=trade["status"])
            return
        if self._first_trade is None:
            self._first_trade = trade_id
        self.log(
            "trade_created",
            trade_id=trade_id,
            job_id=job_id,
            vault=intent.vault,
            from_token=intent.from_token,
            to_token=intent.to_token,
            amount_in=intent.amount_in,
            client_order_id=key,
            reason=intent.reason,
        )
        self._crash_point("after_create", trade_id)

        try:
            blockhash = self._latest_blockhash()
            tx = self.signer.sign(
                Intent(
                    trade_id=trade_id,
                    vault=intent.vault,
                    from_token=intent.from_token,
                    to_token=intent.to_token,
                    amount_in=intent.amount_in,
                    expected_amount_out=intent.expected_amount_out,
                ),
                blockhash,
            )
        except (ChainError, ValueError) as exc:
            self.fail_never_broadcast(
                trade_id, f"never broadcast: could not sign: {one_line(exc)}", "tick"
            )
            return
        self._crash_point("after_sign", trade_id)

        try:
            with self.db.tx() as conn:
                conn.execute(
                    "SELECT trade FROM api.mark_trade_submitted(%s, %s, %s, %s)",
                    (trade_id, tx.signature, tx.last_valid_block_height, self.worker),
                )
        except psycopg.Error as exc:
            if conflict_rule(exc) == "claim_lost":  # another bot took it over
                self.log("submit_abandoned", trade_id=trade_id, reason=one_line(exc))
                return
            if sqlstate(exc) == REFUSED:  # failed meanwhile (another bot's recovery)
                self.log("submit_refused", trade_id=trade_id, error=one_line(exc))
                return
            if conflict_rule(exc) == "signature_in_use":
                self.fail_never_broadcast(trade_id, f"never broadcast: {one_line(exc)}", "tick")
                return
            raise
        item = InFlight(
            trade_id=trade_id,
            signature=tx.signature,
            last_valid_block_height=tx.last_valid_block_height,
            expected_amount_out=intent.expected_amount_out,
            source="tick",
        )
        self.inflight[trade_id] = item
        self.log(
            "trade_submitted",
            trade_id=trade_id,
            signature=tx.signature,
            last_valid_block_height=tx.last_valid_block_height,
        )
        self._crash_point("after_submitted", trade_id)

        try:
            self.chain.send_transaction(tx)
            self.log("trade_broadcast", trade_id=trade_id, signature=tx.signature)
        except ChainError as exc:
            # Sent or not, it is never sent again: the poll finds it, or it expires.
            self.log(
                "broadcast_uncertain",
                trade_id=trade_id,
                signature=tx.signature,
                error=one_line(exc),
                unavailable=isinstance(exc, ChainUnavailable),
            )
        self._crash_point("after_broadcast", trade_id)

    def _latest_blockhash(self) -> Blockhash:
        for attempt in range(BLOCKHASH_ATTEMPTS):
            try:
                return self.chain.get_latest_blockhash()
            except ChainUnavailable as exc:
                self.log("chain_unavailable", during="get_latest_blockhash", error=one_line(exc))
                if attempt == BLOCKHASH_ATTEMPTS - 1:
                    raise
                time.sleep(0.1 * 2**attempt)
        raise AssertionError("unreachable")

    # -- monitoring --------------------------------------------------------------------

    def monitor(self, deadline: float) -> None:
        """Poll the in-flight trades until each is final, the deadline, or a stop."""
        first = True
        while self.inflight and not self.stopping:
            if not first:
                if time.monotonic() >= deadline:
                    self.log("monitor_timeout", still_in_flight=len(self.inflight))
                    return
                if self._wait(self.options.poll_seconds):
                    return
            first = False
            self.heartbeat.progress()
            self.poll(list(self.inflight.values()))

    def poll(self, items: Sequence[InFlight]) -> dict[str, str | None]:
        """One look at the chain for SUBMITTED trades: the block height, then their
        statuses. Returns trade id -> resolution (None: still undecided, kept in flight)."""
        results: dict[str, str | None] = {item.trade_id: None for item in items}
        for item in items:
            self.inflight[item.trade_id] = item
        try:
            height = self.chain.get_block_height()
            statuses = self.chain.get_signature_statuses([i.signature for i in items])
        except ChainError as exc:  # ChainUnavailable included: ask again, never "not found"
            self.log(
                "chain_unavailable" if isinstance(exc, ChainUnavailable) else "chain_error",
                during="poll",
                trades=len(items),
                error=one_line(exc),
            )
            return results
        for item in items:
            status = statuses.get(item.signature)
            if status is None:  # no answer for it: unknown, not "not found"
                continue
            self.heartbeat.progress()
            try:
                results[item.trade_id] = self._decide(item, status, height)
            except psycopg.Error as exc:  # one trade's refusal must not stop the others
                self.log(
                    "trade_poll_error",
                    trade_id=item.trade_id,
                    error=one_line(exc),
                    sqlstate=sqlstate(exc),
                )
        return results

    def _decide(self, item: InFlight, status: SignatureStatus, height: int) -> str | None:
        if status.found and status.err is not None:
            return self._settle_failed(
                item, f"failed on chain: {status.err}", status.fee, "failed_on_chain"
            )
        if status.found and status.confirmed:
            return self._settle_confirmed(item, status)
        if status.found:
            return None  # processed, not final yet
        lvbh = item.last_valid_block_height
        if lvbh is not None:
            if height > lvbh:
                return self._settle_failed(item, expired_message(lvbh), None, "expired")
            return None
        # No last valid block height recorded (a trade marked SUBMITTED through the HTTP
        # API or the seed): the height cannot prove it expired, its age does.
        if item.submitted_at is not None:
            age = (datetime.now(UTC) - item.submitted_at).total_seconds()
            if age > self.options.max_unknown_age_seconds:
                return self._settle_failed(item, unknown_age_message(age), None, "expired")
        return None

    def _settle_confirmed(self, item: InFlight, status: SignatureStatus) -> str | None:
        actual = status.amount_out
        if actual is None:
            # The chain did not say what the swap delivered (app/chain/rpc.py has no
            # getTransaction yet): a CONFIRMED record is immutable, so never make the
            # amount up; leave the trade SUBMITTED (still pending) and say so once.
            if item.trade_id not in self._amount_unknown:
                self._amount_unknown.add(item.trade_id)
                self.log("amount_out_unknown", trade_id=item.trade_id, signature=item.signature)
            return None
        slippage = slippage_percent(item.expected_amount_out, actual)
        try:
            self.db.rows(
                "SELECT changed FROM api.mark_trade_confirmed(%s, %s, %s, %s)",
                (item.trade_id, actual, slippage, status.fee),
            )
        except psycopg.Error as exc:
            return self._moved_on(item, exc)
        return self._settled(
            item, "confirmed", actual_amount_out=actual, slippage=slippage, gas_fee=status.fee
        )

    def _settle_failed(
        self, item: InFlight, reason: str, fee: int | None, resolution: str
    ) -> str | None:
        try:
            self.db.rows(
                "SELECT changed FROM api.mark_trade_failed(%s, %s, %s, 'SUBMITTED')",
                (item.trade_id, reason, fee),
            )
        except psycopg.Error as exc:
            return self._moved_on(item, exc)
        return self._settled(item, resolution, error=reason, gas_fee=fee)

    def _settled(self, item: InFlight, resolution: str, **fields: Any) -> str:
        self._forget(item.trade_id)
        self.count(resolution)
        self.log(
            "trade_resolved",
            trade_id=item.trade_id,
            resolution=resolution,
            source=item.source,
            signature=item.signature,
            **fields,
        )
        self._crash_point("after_confirm", item.trade_id)
        return resolution

    def _moved_on(self, item: InFlight, exc: psycopg.Error) -> str:
        if sqlstate(exc) != REFUSED:
            raise exc
        self._forget(item.trade_id)
        trade = self.db.value("SELECT api.get_trade(%s)", (item.trade_id,))
        self.log(
            "trade_moved_on",
            trade_id=item.trade_id,
            status=trade["status"],
            error=one_line(exc),
        )
        return "moved_on"

    def _forget(self, trade_id: str) -> None:
        self.inflight.pop(trade_id, None)
        self._amount_unknown.discard(trade_id)

    # -- the end -----------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop the heartbeat and give back every claim (the trades are taken over at once
        by another bot or the next run)."""
        self.heartbeat.halt()
        job = self.heartbeat.current_job()
        if job is not None:  # a job left running by an exception: fail it
            self.finish_job(
                job,
                f"stopped by {self.stop_reason}"
                if self.stopping
                else "the bot stopped unexpectedly",
            )
        try:
            released = self.db.value("SELECT api.release_trade_claims(%s, NULL)", (self.worker,))
            self.log("claims_released", count=released, in_flight=len(self.inflight))
        except (psycopg.Error, Stopped) as exc:
            # The claims run out by themselves after a lease.
            self.log("release_failed", error=one_line(exc))

    # -- the test hook -----------------------------------------------------------------

    def _crash_point(self, step: str, trade_id: str) -> None:
        if self.crash_at == step and trade_id == self._first_trade:
            self.log("crash_hook", at=step, trade_id=trade_id)
            os.kill(os.getpid(), signal.SIGKILL)


# --- the command line ------------------------------------------------------------------


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _positive(kind: type[float] | type[int]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
        return value

    return parse


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be within 0..1, got {text}")
    return value


def _lease(text: str) -> float:
    value = float(text)
    if not 1.0 <= value <= 3600.0:
        raise argparse.ArgumentTypeError(f"must be 1..3600 seconds, got {text}")
    return value


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--chain", choices=["sim", "rpc"], default="sim", help="default: sim")
    p.add_argument("--rpc-url", help="the Solana JSON-RPC endpoint (--chain rpc)")
    p.add_argument("--sim-seed", type=int, default=0, help="simulated chain seed (default 0)")
    p.add_argument(
        "--sim-state",
        metavar="FILE",
        help="the simulated chain's state file, shared by restarts and other processes",
    )
    p.add_argument(
        "--sim-drop-rate", type=_rate, default=0.0, help="share of sends that never land"
    )
    p.add_argument(
        "--sim-failure-rate", type=_rate, default=0.0, help="share of landed ones that fail"
    )
    p.add_argument(
        "--sim-unavailable-rate",
        type=_rate,
        default=0.0,
        help="share of chain calls that raise ChainUnavailable",
    )
    p.add_argument("--sim-latency", type=float, default=0.0, help="seconds per chain call")
    p.add_argument(
        "--sim-blocks-per-call",
        type=int,
        default=1,
        help="blocks that pass at each look at the height or blockhash (default 1)",
    )
    p.add_argument(
        "--sim-blockhash-validity", type=int, default=150, help="in blocks (default 150)"
    )
    p.add_argument("--worker-id", help="unique among live bots (default: hostname-pid)")
    p.add_argument(
        "--lease-seconds", type=_lease, default=30.0, help="trade claim lease (default 30)"
    )
    p.add_argument(
        "--poll-seconds",
        type=_positive(float),
        default=0.5,
        help="seconds between two looks at in-flight trades (default 0.5)",
    )
    p.add_argument(
        "--claim-batch",
        type=_positive(int),
        default=CLAIM_BATCH,
        help=f"trades taken per api.claim_trades call of a claim pass (default {CLAIM_BATCH})",
    )
    p.add_argument(
        "--state-poll-seconds",
        type=_positive(float),
        default=STATE_POLL_SECONDS,
        help="how often bot state changes (a disable) are read when LISTEN is not available "
        f"(no DATABASE_DIRECT_URL: behind a transaction pooler); default {STATE_POLL_SECONDS:g}",
    )
    p.add_argument(
        "--stop-grace-seconds",
        type=_positive(float),
        default=STOP_GRACE_SECONDS,
        help="after SIGTERM, end the process if it has not stopped this long after "
        f"(default {STOP_GRACE_SECONDS:g})",
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        help="serve Prometheus metrics on this port (default: none)",
    )
    p.add_argument(
        "--metrics-host", default="127.0.0.1", help="address of --metrics-port (default 127.0.0.1)"
    )
    p.add_argument(
        "--max-unknown-age-seconds",
        type=_positive(float),
        default=MAX_UNKNOWN_AGE_SECONDS,
        help="a SUBMITTED trade without a recorded last valid block height that is still "
        "not found this long after its submission is FAILED as expired (default "
        f"{MAX_UNKNOWN_AGE_SECONDS:g})",
    )


def register_cli(subparsers: Any) -> None:
    """Add `bot run` and `bot recover` to the `xorj` command's subparsers."""
    bot = subparsers.add_parser("bot", help="the trade execution bot")
    sub = bot.add_subparsers(dest="bot_command", required=True)

    run = sub.add_parser("run", help="recover, then plan, submit and monitor trades each tick")
    _add_common(run)
    run.add_argument("--ticks", type=_positive(int), help="stop after N ticks (default: never)")
    run.add_argument(
        "--tick-seconds", type=float, default=30.0, help="pause between ticks (default 30)"
    )
    run.add_argument(
        "--monitor-timeout-seconds",
        type=_positive(float),
        default=60.0,
        help="how long a tick waits for its trades to be final (default 60); the rest is "
        "carried over to the next tick",
    )
    run.add_argument(
        "--planner",
        default=DEFAULT_PLANNER,
        metavar="MODULE:NAME",
        help=f"the strategy (default {DEFAULT_PLANNER})",
    )
    run.set_defaults(func=cmd_run)

    recover = sub.add_parser(
        "recover", help="resolve the unfinished trades once (startup pass), print a summary"
    )
    _add_common(recover)
    recover.set_defaults(func=cmd_recover)


def _build_chain(args: argparse.Namespace, need_signer: bool) -> tuple[Chain, Signer | None]:
    if args.chain == "sim":
        from app.chain.sim import SimulatedChain, SimulatedSigner

        chain = SimulatedChain(
            seed=args.sim_seed,
            latency=args.sim_latency,
            drop_rate=args.sim_drop_rate,
            failure_rate=args.sim_failure_rate,
            blocks_per_call=args.sim_blocks_per_call,
            blockhash_validity=args.sim_blockhash_validity,
            state_file=args.sim_state,
            unavailable_rate=args.sim_unavailable_rate,
        )
        return chain, SimulatedSigner()
    if not args.rpc_url:
        raise ValueError("--chain rpc needs --rpc-url")
    if need_signer:
        raise ValueError(
            "bot run --chain rpc: no transaction signer for a real chain is available yet "
            "(a Solana keypair and a swap builder, see app/chain/rpc.py); "
            "`bot recover --chain rpc` works"
        )
    from app.chain.rpc import SolanaRpcChain

    return SolanaRpcChain(args.rpc_url), None


def _make_bot(args: argparse.Namespace, need_signer: bool, flag: StopFlag) -> Bot:
    worker = args.worker_id or default_worker_id()
    options = BotOptions(
        worker_id=worker,
        lease_seconds=args.lease_seconds,
        monitor_timeout_seconds=getattr(args, "monitor_timeout_seconds", 60.0),
        poll_seconds=args.poll_seconds,
        tick_seconds=getattr(args, "tick_seconds", 30.0),
        ticks=getattr(args, "ticks", None),
        claim_batch=args.claim_batch,
        max_unknown_age_seconds=args.max_unknown_age_seconds,
        state_poll_seconds=args.state_poll_seconds,
    )
    log = JsonLog(worker)
    chain, signer = _build_chain(args, need_signer)
    planner = load_planner(getattr(args, "planner", DEFAULT_PLANNER))
    crash_at = os.environ.get(CRASH_ENV) or None
    if crash_at is not None and crash_at not in CRASH_POINTS:
        raise ValueError(f"{CRASH_ENV} must be one of {', '.join(CRASH_POINTS)}")
    urls = database_urls()
    db = connect(urls.app, worker, options, log, flag.is_set)
    try:
        # LISTEN needs a connection of its own to PostgreSQL itself: the direct URL when
        # one is configured; behind a transaction pooler the feed is polled instead.
        heartbeat_db = connect(urls.direct or urls.app, worker, options, log, flag.is_set)
    except BaseException:
        db.close()
        raise
    heartbeat = Heartbeat(heartbeat_db, options, log, listen=urls.direct is not None)
    bot = Bot(db, heartbeat, chain, signer, planner, options, log, crash_at, flag)
    if getattr(args, "metrics_port", None):
        serve_metrics(bot, args.metrics_host, args.metrics_port)
    return bot


def connect(
    url: str,
    worker: str,
    options: BotOptions,
    log: JsonLog,
    should_stop: Callable[[], bool],
) -> BotDb:
    """The bot's database door: as xorj_bot, named bot:<worker>, every statement limited to
    one lease (SET LOCAL statement_timeout: no startup option, so it holds behind a
    pooler), waiting with a backoff while the database is down or full, until a stop."""

    def report(attempt: int, delay: float, exc: BaseException) -> None:
        log("database_unavailable", attempt=attempt, retry_in=round(delay, 2), error=one_line(exc))

    return BotDb(
        url,
        f"bot:{worker}",
        statement_timeout=options.lease_seconds,
        should_stop=should_stop,
        on_retry=report,
        max_wait=None,
    )


def serve_metrics(bot: Bot, host: str, port: int) -> None:
    """Prometheus metrics of this bot on http://HOST:PORT/metrics (a daemon thread):
    xorj_bot_events_total{event} (every log event: trades created, resolved, skipped,
    chain and database unavailability...), xorj_bot_resolutions_total{resolution},
    xorj_bot_in_flight, xorj_bot_main_thread_idle_seconds."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    from prometheus_client.registry import Collector

    class BotCollector(Collector):
        def collect(self) -> Any:
            events = CounterMetricFamily(
                "xorj_bot_events", "Events the bot logged, by event", labels=["event"]
            )
            # dict(...) copies in one step: the main thread keeps counting meanwhile
            for name, count in sorted(dict(bot.log.counts).items()):
                events.add_metric([name], count)
            yield events
            resolutions = CounterMetricFamily(
                "xorj_bot_resolutions",
                "Trades the bot resolved, by resolution",
                labels=["resolution"],
            )
            totals = dict(bot.totals)
            for name in RESOLUTIONS:
                resolutions.add_metric([name], totals.get(name, 0))
            yield resolutions
            in_flight = GaugeMetricFamily("xorj_bot_in_flight", "SUBMITTED trades the bot polls")
            in_flight.add_metric([], len(bot.inflight))
            yield in_flight
            idle = GaugeMetricFamily(
                "xorj_bot_main_thread_idle_seconds", "Seconds since the main thread's last step"
            )
            idle.add_metric([], time.monotonic() - bot.heartbeat.last_progress)
            yield idle

    registry = CollectorRegistry()
    registry.register(BotCollector())
    start_http_server(port, addr=host, registry=registry)
    bot.log("metrics_serving", host=host, port=port)


def _install_signals(flag: StopFlag, grace: float) -> None:
    """SIGTERM and SIGINT set the flag (nothing else); a watchdog thread ends the process
    if it has not stopped `grace` seconds later (a wait the flag cannot reach, such as a
    query stuck behind an exhausted pooler). Ending it there is as safe as a crash: the
    protocol survives SIGKILL at any point."""

    def handler(signum: int, _frame: object) -> None:
        flag.name = signal.Signals(signum).name

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)

    def watchdog() -> None:
        while not flag.is_set():
            time.sleep(0.2)
        time.sleep(grace)
        line = json.dumps(
            {
                "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "event": "stop_grace_exceeded",
                "grace_seconds": grace,
            }
        )
        os.write(2, (line + "\n").encode())
        os._exit(1)

    threading.Thread(target=watchdog, name="bot-stop-watchdog", daemon=True).start()


def _close(bot: Bot) -> None:
    bot.db.close()
    bot.heartbeat.close()
    close = getattr(bot.chain, "close", None)
    if callable(close):
        close()


def cmd_run(args: argparse.Namespace) -> int:
    flag = StopFlag()
    _install_signals(flag, args.stop_grace_seconds)  # before connecting: a wait is stoppable
    try:
        bot = _make_bot(args, need_signer=True, flag=flag)
    except (ValueError, ImportError, AttributeError) as exc:
        print(f"xorj bot run: {exc}", file=sys.stderr)
        return 2
    except Stopped:
        return 0
    try:
        return bot.run()
    finally:
        _close(bot)


def format_summary(counts: Counter[str], held_by_others: int) -> str:
    width = max(len(name) for name in RESOLUTIONS)
    lines = [f"{'resolution':<{width}}  count"]
    lines += [f"{name:<{width}}  {counts.get(name, 0):>5}" for name in RESOLUTIONS]
    lines.append(f"{'total':<{width}}  {sum(counts.get(n, 0) for n in RESOLUTIONS):>5}")
    if held_by_others:
        lines.append(f"({held_by_others} unfinished trade(s) held by other live bots: left alone)")
    return "\n".join(lines)


def cmd_recover(args: argparse.Namespace) -> int:
    flag = StopFlag()
    _install_signals(flag, args.stop_grace_seconds)
    try:
        bot = _make_bot(args, need_signer=False, flag=flag)
    except (ValueError, ImportError, AttributeError) as exc:
        print(f"xorj bot recover: {exc}", file=sys.stderr)
        return 2
    except Stopped:
        return 0
    try:
        counts, others = bot.recover_once()
    finally:
        _close(bot)
    print(format_summary(counts, others))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`bot run ...` / `bot recover ...` (the leading `bot` may be left out)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or args_list[0] != "bot":
        args_list = ["bot", *args_list]
    parser = argparse.ArgumentParser(prog="xorj")
    register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(args_list)
    try:
        return int(args.func(args))
    except psycopg.OperationalError as exc:
        print(f"xorj: cannot reach the database: {one_line(exc)}", file=sys.stderr)
        return 1
    except (ConfigError, PrivilegedLogin) as exc:
        print(f"xorj: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
