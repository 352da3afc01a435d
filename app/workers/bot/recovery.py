"""Recovery: claim the unfinished trades nobody holds and resolve each (the startup pass
of FR-2.5, and each tick's claim pass). A mixin of app.workers.bot.protocol.Bot."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from app.chain.base import ChainError, ChainUnavailable, TradeSearch
from app.dbapi import jobs, trades
from app.dbapi.core import CONFLICT, REFUSED, conflict_rule, one_line, sqlstate
from app.workers.bot.base import (
    CHAIN_UNAVAILABLE,
    NEVER_BROADCAST,
    NOT_FOUND_ON_CHAIN,
    RESOLUTIONS,
    InFlight,
)

STILL_PENDING = "still_pending_on_chain"
# A PENDING trade of the seed's order whose transaction recovery found on chain by its
# memo: recorded SUBMITTED with that signature, then resolved as any SUBMITTED trade (its
# resolution is counted too). Not a resolution itself.
FOUND_ON_CHAIN = "found_on_chain"
# A PENDING trade of the seed's order not found on chain yet: within its client's grace
# (xorj.send_first_grace()) or its search window. Like STILL_PENDING: run again later.
SEARCHING = "pending_search_window"
# The search window of a send-first trade ends this many blocks after the last valid
# block height of the newest blockhash when the search starts: a client asking for a
# blockhash at "processed" gets one a few slots newer than the bot's "confirmed" one.
SEARCH_MARGIN_BLOCKS = 32


class ChainWatch:
    """The bot's chain during one look of a claim pass, noting the questions it could not
    answer (ChainError, ChainUnavailable included; re-raised as they came): the height or
    the statuses (then no trade of the look got an answer), or one landed transaction
    (get_delivery: that trade's). Everything else goes to the chain itself."""

    def __init__(self, chain: Any) -> None:
        self.chain = chain
        self.all_unanswered = False
        self.unanswered: set[str] = set()  # signatures

    def __getattr__(self, name: str) -> Any:
        return getattr(self.chain, name)

    def get_block_height(self) -> Any:
        try:
            return self.chain.get_block_height()
        except ChainError:
            self.all_unanswered = True
            raise

    def get_signature_statuses(self, signatures: list[str]) -> Any:
        try:
            return self.chain.get_signature_statuses(signatures)
        except ChainError:
            self.all_unanswered = True
            raise

    def get_delivery(self, signature: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.chain.get_delivery(signature, *args, **kwargs)
        except ChainError:
            self.unanswered.add(signature)
            raise

    def answered(self, item: InFlight) -> bool:
        return not self.all_unanswered and item.signature not in self.unanswered


# `xorj bot recover`'s exit status (also in its --help and the README).
EXIT_RESOLVED = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_PENDING = 3
EXIT_CHAIN_UNAVAILABLE = 4
RECOVER_EXIT_CODES = (
    (
        EXIT_RESOLVED,
        "every unfinished trade it could take is resolved (CONFIRMED or FAILED); "
        "trades other live bots hold are left alone and do not count",
    ),
    (
        EXIT_ERROR,
        "an error (the database unreachable, a refused login...), or a signal "
        "stopped it before the pass ended: nothing is known of the rest",
    ),
    (EXIT_USAGE, "a usage error (options)"),
    (
        EXIT_PENDING,
        "some trades are still pending on chain: not final and not expired yet, or "
        "PENDING trades of clients that broadcast before recording not found yet, within "
        "their client's grace or search window (run it again later)",
    ),
    (
        EXIT_CHAIN_UNAVAILABLE,
        "the chain could not be asked about some trades (unavailable, "
        "or it answered with an error): their state is unknown, distinct from pending "
        "(run it again when the chain answers); takes precedence over 3",
    ),
)


@dataclass(frozen=True)
class RecoveryReport:
    """What `bot recover` knows after its pass: the counts by resolution (RESOLUTIONS and
    CHAIN_UNAVAILABLE), the unfinished trades other live bots hold (left alone) and the
    earliest end of their leases, and the signal that stopped the pass before it ended."""

    counts: Counter[str]
    held_by_others: int
    first_claim_expires_at: datetime | None
    stopped_by: str | None = None

    def summary(self) -> str:
        """The table of resolutions, then what the pass could not resolve, and why."""
        counts = self.counts
        rows = (*RESOLUTIONS, CHAIN_UNAVAILABLE)
        width = max(len(name) for name in rows)
        lines = [f"{'resolution':<{width}}  count"]
        lines += [f"{name:<{width}}  {counts.get(name, 0):>5}" for name in rows]
        lines.append(f"{'total':<{width}}  {sum(counts.get(n, 0) for n in rows):>5}")
        if self.stopped_by:
            lines.append(
                f"(stopped by {self.stopped_by} before the pass ended: the counts are partial)"
            )
        if counts.get(CHAIN_UNAVAILABLE):
            lines.append(
                f"({counts[CHAIN_UNAVAILABLE]} SUBMITTED trade(s) unknown: the chain could not "
                "be asked; left as they are, run it again when the chain answers)"
            )
        if counts.get(FOUND_ON_CHAIN):
            lines.append(
                f"({counts[FOUND_ON_CHAIN]} PENDING trade(s) found on chain by their memo: "
                "recorded with their signature, resolved above)"
            )
        if counts.get(SEARCHING):
            lines.append(
                f"({counts[SEARCHING]} PENDING trade(s) of clients that broadcast before "
                "recording: not found on chain yet, within their client's grace or their "
                "search window; run it again later)"
            )
        if counts.get(STILL_PENDING):
            lines.append(
                f"({counts[STILL_PENDING]} trade(s) still pending on chain: not final and not "
                "expired yet; run it again later)"
            )
        if self.held_by_others:
            first = self.first_claim_expires_at
            ends = f"; the first lease ends at {_when(first)}" if first is not None else ""
            lines.append(
                f"({self.held_by_others} unfinished trade(s) held by other live bots: left "
                f"alone{ends})"
            )
        return "\n".join(lines)

    def exit_code(self) -> int:
        """RECOVER_EXIT_CODES: stopped 1; any trade the chain could not be asked about 4;
        any still pending 3; else 0."""
        if self.stopped_by:
            return EXIT_ERROR
        if self.counts.get(CHAIN_UNAVAILABLE):
            return EXIT_CHAIN_UNAVAILABLE
        if self.counts.get(STILL_PENDING) or self.counts.get(SEARCHING):
            return EXIT_PENDING
        return EXIT_RESOLVED


def _when(at: datetime) -> str:
    """A moment as UTC to the second, and how far from now."""
    seconds = (at - datetime.now(UTC)).total_seconds()
    relative = f"in {seconds:.0f} s" if seconds >= 0 else f"{-seconds:.0f} s ago"
    return f"{at.astimezone(UTC).isoformat(timespec='seconds')} ({relative})"


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
        counts: Counter[str] = Counter({name: 0 for name in (*RESOLUTIONS, CHAIN_UNAVAILABLE)})
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
        self.log(
            "recovery_summary",
            job_id=job,
            **{k: counts[k] for k in (*RESOLUTIONS, CHAIN_UNAVAILABLE)},
        )
        return counts

    def claim_pass(
        self, pending_older_than: float, source: str, recovery_job: str | None = None
    ) -> Counter[str]:
        """Claim the unfinished trades nobody else holds and resolve each one: a PENDING
        trade of a signature-first client (the bot's own) -> FAILED never_broadcast, any
        other PENDING trade -> searched on chain (search_pending); SUBMITTED -> one poll,
        then monitored if undecided. The counts: by resolution; an undecided trade is
        still_pending_on_chain when the chain answered (not final, not expired yet),
        CHAIN_UNAVAILABLE when it could not be asked, pending_search_window (SEARCHING)
        for a PENDING one not found yet."""
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
                        # Only its own chain's trades: a signature is looked for where
                        # it was sent.
                        self.options.venue,
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
                    if trade.get("records_signature_first"):
                        moved = self.fail_never_broadcast(trade["id"], NEVER_BROADCAST, source)
                        result = "never_broadcast" if moved is None else None
                    else:
                        result, moved = self.search_pending(trade, source)
                    if result is not None:
                        counts[result] += 1
                    if moved is not None and moved.get("status") == "SUBMITTED":
                        submitted.append(InFlight.from_trade(moved, source))
                elif trade["status"] == "SUBMITTED":
                    submitted.append(InFlight.from_trade(trade, source))
            if submitted and not self.stopping:
                chain, watch = self.chain, ChainWatch(self.chain)
                self.chain = watch
                try:
                    results = self.poll(submitted)
                finally:
                    self.chain = chain
                for item in submitted:
                    result = results.get(item.trade_id)
                    if result is None:
                        answered = watch.answered(item)
                        result = STILL_PENDING if answered else CHAIN_UNAVAILABLE
                    counts[result] += 1
            if len(batch) < limit:
                break
        if recovery_job is not None and jobs:
            self.fail_abandoned_jobs(jobs, recovery_job)
        if source != "recovery" and counts:
            self.log("claim_pass", **counts)
        return counts

    def held_by_others(self) -> tuple[int, datetime | None]:
        """Unfinished trades (SUBMITTED, or PENDING) that other workers hold with a live
        lease, not touched by this pass: (how many, the earliest end of their leases)."""
        held, first_end = self.db.run(trades.held_by_others(self.worker, self.options.venue))
        return int(held), first_end

    def fail_never_broadcast(
        self, trade_id: str, reason: str, source: str
    ) -> dict[str, Any] | None:
        """PENDING -> FAILED as never_broadcast (only if still PENDING): the bot's own trade,
        whose signature it records before it broadcasts. None when failed; else the trade
        as it is now (another bot moved it on)."""
        try:
            self.db.run(
                trades.mark_failed(
                    trade_id, reason[:10000], None, "PENDING", trades.NEVER_BROADCAST
                )
            )
        except psycopg.Error as exc:
            if sqlstate(exc) != REFUSED:
                raise
            return self._trade_moved_on(trade_id, source)
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

    def _trade_moved_on(self, trade_id: str, source: str) -> dict[str, Any]:
        trade = self.db.run(trades.get(trade_id))
        self.log("trade_moved_on", trade_id=trade_id, status=trade["status"], source=source)
        return dict(trade)

    # -- PENDING trades of the seed's order: broadcast first, recorded after ----------------

    def search_pending(
        self, trade: dict[str, Any], source: str
    ) -> tuple[str | None, dict[str, Any] | None]:
        """A PENDING trade whose client may have broadcast it before recording (the seed's
        order): look for its transaction on chain by its memo. Found: recorded SUBMITTED
        with that signature and returned, to be resolved as any SUBMITTED trade. Not found:
        its search window is recorded (api.start_trade_search) on the first look; once the
        chain was past the window before a complete search, it is FAILED as
        not_found_on_chain. Returns (the resolution to count or None, the trade when it is
        SUBMITTED now)."""
        trade_id, vault = str(trade["id"]), str(trade["user_vault_address"])
        created = trade["created_at"]
        if isinstance(created, str):
            created = datetime.fromisoformat(created)
        try:
            height = self.chain.get_block_height()  # read first: see the end of the window
            search = self.chain.find_trade(vault, trade_id, created.timestamp())
        except ChainError as exc:
            self.log(
                "chain_unavailable" if isinstance(exc, ChainUnavailable) else "chain_error",
                during="find_trade",
                trade_id=trade_id,
                error=one_line(exc),
            )
            return CHAIN_UNAVAILABLE, None
        if search.found:
            return self._record_found(trade_id, search, source)
        until = trade.get("search_until_height")
        if until is None:
            try:
                last_valid = self.chain.get_latest_blockhash().last_valid_block_height
            except ChainError as exc:
                self.log("chain_unavailable", during="start_search", error=one_line(exc))
                return CHAIN_UNAVAILABLE, None
            try:
                started = self.db.run(
                    trades.start_search(trade_id, last_valid + SEARCH_MARGIN_BLOCKS)
                )
            except psycopg.Error as exc:
                rule = conflict_rule(exc)
                if rule == "client_window_open":  # its client may still be signing it
                    self.log("trade_search_waits", trade_id=trade_id, reason=rule)
                    return SEARCHING, None
                if sqlstate(exc) != REFUSED:
                    raise
                moved = self._trade_moved_on(trade_id, source)
                return None, moved
            until = int(started["search_until_height"])
            self.log("trade_search_started", trade_id=trade_id, until_height=until, height=height)
        if height <= int(until) or not search.complete:
            self.log(
                "trade_search_pending",
                trade_id=trade_id,
                until_height=until,
                height=height,
                scanned=search.scanned,
                complete=search.complete,
            )
            return SEARCHING, None
        reason = (
            f"not found on chain after its window: no transaction of vault {vault} names "
            f"trade {trade_id} in its memo among the {search.scanned} signature(s) back to "
            f"its creation; every blockhash it could use expired at block height {until} "
            f"(chain at {height})"
        )
        try:
            self.db.run(
                trades.mark_failed(
                    trade_id, reason, None, "PENDING", trades.NOT_FOUND_ON_CHAIN, height
                )
            )
        except psycopg.Error as exc:
            if sqlstate(exc) != REFUSED:
                raise
            return None, self._trade_moved_on(trade_id, source)
        self.count(NOT_FOUND_ON_CHAIN)
        self.log(
            "trade_resolved",
            trade_id=trade_id,
            resolution=NOT_FOUND_ON_CHAIN,
            source=source,
            error=reason,
        )
        return NOT_FOUND_ON_CHAIN, None

    def _record_found(
        self, trade_id: str, search: TradeSearch, source: str
    ) -> tuple[str | None, dict[str, Any] | None]:
        """Record the transaction found for a PENDING trade: the one that succeeded if any
        (two landed transactions of one trade are a client's double send, logged), else the
        newest. The signature is the trade's from now on."""
        chosen = next((f for f in search.found if f.err is None), search.found[0])
        if len(search.found) > 1:
            self.log(
                "trade_found_twice",
                trade_id=trade_id,
                signatures=[f.signature for f in search.found],
                recorded=chosen.signature,
            )
        try:
            _, moved = self.db.run(
                trades.mark_submitted(trade_id, chosen.signature, None, self.worker)
            )
        except psycopg.Error as exc:
            if sqlstate(exc) not in (REFUSED, CONFLICT):
                raise
            self.log("trade_found_refused", trade_id=trade_id, error=one_line(exc))
            moved = self._trade_moved_on(trade_id, source)
            return None, moved
        self.totals[FOUND_ON_CHAIN] += 1
        self.log(
            "trade_found_on_chain",
            trade_id=trade_id,
            signature=chosen.signature,
            slot=chosen.slot,
            source=source,
        )
        return FOUND_ON_CHAIN, dict(moved)
