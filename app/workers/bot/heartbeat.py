"""The bot's second thread: it owns the second connection, reads the feed of bot state
changes (LISTEN on a direct connection wakes it at once), and renews the claims and the
job's heartbeat while the main thread makes progress."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg

from app.dbapi import bots, jobs, trades
from app.dbapi.core import CONFLICT, REFUSED, one_line, sqlstate
from app.dbapi.sync import Stopped, SyncDatabase
from app.workers.bot.base import CHANNEL, LISTEN_POLL_SECONDS, BotOptions, JsonLog


class Heartbeat(threading.Thread):
    """Owns the second (autocommit) connection. It reads the feed of bot state changes
    (api.bot_state_changes, from a cursor: nothing is missed, whatever the commit order
    or a reconnect) every `state_poll_seconds`, and at once when a notification arrives
    if it LISTENs on xorj_bot_state (only on a direct connection: behind a transaction
    pooler notifications never arrive). Every lease/3 seconds it renews this worker's
    trade claims and heartbeats its current job, as long as the main thread has made
    progress within the last lease. The thread closes its connection when it ends;
    close() closes it only if it never started."""

    def __init__(
        self, db: SyncDatabase, options: BotOptions, log: JsonLog, listen: bool = False
    ) -> None:
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
        feed = self.db.run(bots.changes(self._cursor))
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
            renewed = self.db.run(trades.renew_claims(worker, lease))
        job = self.current_job()
        if job is None:
            return
        try:
            self.db.run(jobs.heartbeat(job, worker))
        except psycopg.Error as exc:
            if sqlstate(exc) not in (REFUSED, CONFLICT):
                raise
            if self.current_job() == job:  # not just completed by the main thread
                self.log("job_heartbeat_refused", job_id=job, error=one_line(exc))
            return
        if renewed:
            self.log("heartbeat", job_id=job, claims_renewed=renewed)
