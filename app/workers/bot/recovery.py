"""Recovery: claim the unfinished trades nobody holds and resolve each (the startup pass
of FR-2.5, and each tick's claim pass). A mixin of app.workers.bot.protocol.Bot."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import psycopg

from app.dbapi import jobs, trades
from app.dbapi.core import CONFLICT, REFUSED, one_line, sqlstate
from app.workers.bot.base import NEVER_BROADCAST, RESOLUTIONS, InFlight


class Recovery:
    def fail_abandoned_jobs(self, job_ids: set[str], recovery_job: str) -> None:
        """The jobs of the trades the startup pass claimed, other than its own recovery job
        (the only job this process has started by then), are a previous run's: fail those
        still RUNNING under this worker id (worker ids are unique among live bots). The
        database refuses (XJ409 job_worker_mismatch, XJ423) any other job, which is then
        left alone."""
        for job_id in sorted(job_ids - {recovery_job}):
            try:
                reason = (
                    f"abandoned: worker {self.worker} restarted; its trades were "
                    f"recovered by job {recovery_job}"
                )
                self.db.run(jobs.fail(job_id, reason, self.worker))
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
                batch = self.db.run(
                    trades.claim(
                        self.worker,
                        self.options.lease,
                        timedelta(seconds=pending_older_than),
                        limit,
                        exclude or None,
                    )
                )
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
        return int(self.db.run(trades.held_by_others(self.worker)))

    def fail_never_broadcast(
        self, trade_id: str, reason: str, source: str
    ) -> dict[str, Any] | None:
        """PENDING -> FAILED (only if still PENDING). None when failed; else the trade as it
        is now (another bot moved it on)."""
        try:
            self.db.run(trades.mark_failed(trade_id, reason[:10000], None, "PENDING"))
        except psycopg.Error as exc:
            if sqlstate(exc) != REFUSED:
                raise
            trade = self.db.run(trades.get(trade_id))
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
