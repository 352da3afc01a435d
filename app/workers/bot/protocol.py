"""The Trade Execution Bot's protocol: startup recovery, ticks of plan -> create ->
sign -> record SUBMITTED -> broadcast once, monitoring, and a clean stop. The protocol's
diagram, and why each crash point is safe, are in the README ("The execution bot")."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import psycopg

from app.chain.base import Blockhash, Chain, ChainError, ChainUnavailable, Intent, Signer
from app.dbapi import jobs, trades
from app.dbapi.core import INVALID, REFUSED, conflict_rule, one_line, sqlstate
from app.dbapi.sync import Stopped, SyncDatabase
from app.workers.bot.base import (
    BLOCKHASH_ATTEMPTS,
    EXPECTED_CONFLICTS,
    WAIT_SLICE,
    BotOptions,
    InFlight,
    JobLost,
    JsonLog,
    StopFlag,
    client_order_id,
    load_bots,
    load_traders,
)
from app.workers.bot.heartbeat import Heartbeat
from app.workers.bot.monitor import Monitoring
from app.workers.bot.recovery import Recovery, RecoveryReport
from app.workers.planner import PlannedTrade, Planner


class Bot(Recovery, Monitoring):
    def __init__(
        self,
        db: SyncDatabase,
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
            venue=self.options.venue,
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

    def recover_once(self) -> RecoveryReport:
        """`bot recover`: the startup pass alone; what it resolved, what it could not, and
        what other live workers hold."""
        try:
            self.reap()
            self.heartbeat.listen()
            self.heartbeat.progress()
            self.heartbeat.start()
            counts = self.recover()
            stopped_by = self.stop_reason if self.stopping else None
            held, first_end = self.held_by_others()
        finally:
            self.shutdown()
        return RecoveryReport(counts, held, first_end, stopped_by)

    # -- jobs --------------------------------------------------------------------------

    def reap(self) -> None:
        for job in self.db.run(jobs.reap(self.options.stale_after)):
            self.log(
                "job_reaped",
                job_id=job["id"],
                job_worker=job.get("worker_id"),
                error=job.get("error_message"),
            )

    def start_job(self, reason: str, parameters: dict[str, Any]) -> str:
        with self.db.transaction() as t:
            job_id = str(t.run(jobs.create(reason, parameters))["id"])
            t.run(jobs.start(job_id, self.worker))
        self.heartbeat.set_job(job_id)
        self.log("job_started", job_id=job_id, trigger_reason=reason)
        return job_id

    def finish_job(self, job_id: str, error: str | None) -> None:
        self.heartbeat.set_job(None)
        try:
            if error is None:
                self.db.run(jobs.complete(job_id, self.worker))
                self.log("job_completed", job_id=job_id)
            else:
                self.db.run(jobs.fail(job_id, error[:10000], self.worker))
                self.log("job_failed", job_id=job_id, error=error)
        except (psycopg.Error, Stopped) as exc:
            self.log("job_finish_refused", job_id=job_id, error=one_line(exc))

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
            replay, trade = self.db.run(
                trades.create(
                    job_id,
                    intent.vault,
                    key,
                    intent.from_token,
                    intent.to_token,
                    intent.amount_in,
                    intent.expected_amount_out,
                    self.worker,
                    self.options.lease,
                    self.options.venue,
                )
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
                    client_order_id=key,
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
            self.db.run(
                trades.mark_submitted(
                    trade_id, tx.signature, tx.last_valid_block_height, self.worker
                )
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
            vault=intent.vault,
            to_token=intent.to_token,
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
            released = self.db.run(trades.release_claims(self.worker))
            self.log("claims_released", count=released, in_flight=len(self.inflight))
        except (psycopg.Error, Stopped) as exc:
            # The claims run out by themselves after a lease.
            self.log("release_failed", error=one_line(exc))

    # -- the test hook -----------------------------------------------------------------

    def _crash_point(self, step: str, trade_id: str) -> None:
        if self.crash_at == step and trade_id == self._first_trade:
            self.log("crash_hook", at=step, trade_id=trade_id)
            os.kill(os.getpid(), signal.SIGKILL)
