"""Monitoring: look at the chain for the SUBMITTED trades this bot holds and settle each
(CONFIRMED, FAILED on chain, or expired). A mixin of app.workers.bot.protocol.Bot."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg

from app.chain.base import ChainError, ChainUnavailable, SignatureStatus
from app.dbapi import trades
from app.dbapi.core import REFUSED, one_line, sqlstate
from app.workers.bot.base import InFlight, expired_message, unknown_age_message


class Monitoring:
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
            fee = status.fee if status.fee is not None else self._fee_paid(item)
            return self._settle_failed(
                item, f"failed on chain: {status.err}", fee, "failed_on_chain"
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
        if status.amount_out is None:
            # The status did not say what the swap delivered (getSignatureStatuses never
            # does): ask the landed transaction. A CONFIRMED record is immutable, so the
            # amount is never made up: without an answer the trade stays SUBMITTED (in
            # flight, asked again at the next poll).
            delivery = self._delivery(item)
            if delivery is None:
                return None
            status = SignatureStatus(
                found=True,
                confirmed=True,
                slot=status.slot if status.slot is not None else delivery.slot,
                amount_out=delivery.amount_out,
                fee=delivery.fee if delivery.fee is not None else status.fee,
            )
        actual = status.amount_out
        try:
            # The database computes the slippage from the trade's expected amount.
            _, trade = self.db.run(trades.mark_confirmed(item.trade_id, actual, None, status.fee))
        except psycopg.Error as exc:
            return self._moved_on(item, exc)
        return self._settled(
            item,
            "confirmed",
            actual_amount_out=actual,
            slippage=trade.get("slippage_realized"),
            gas_fee=status.fee,
        )

    def _fee_paid(self, item: InFlight) -> int | None:
        """The fee a transaction that failed on chain paid (getTransaction), or None when
        the chain cannot say now: the failure is final either way, the fee best effort."""
        if item.vault is None or item.to_token is None:
            return None
        try:
            delivery = self.chain.get_delivery(item.signature, item.vault, item.to_token)
        except ChainError as exc:
            self.log("fee_unknown", trade_id=item.trade_id, error=one_line(exc))
            return None
        return delivery.fee if delivery.found else None

    def _delivery(self, item: InFlight) -> SignatureStatus | None:
        """Chain.get_delivery for a trade confirmed without an amount: the confirmed status
        with amount_out set, or None (still unknown; logged)."""
        if item.vault is None or item.to_token is None:
            self._amount_out_unknown(item, "the trade's vault or target token is not known")
            return None
        try:
            delivery = self.chain.get_delivery(item.signature, item.vault, item.to_token)
        except ChainError as exc:  # ChainUnavailable included: ask again at the next poll
            self.log(
                "chain_unavailable" if isinstance(exc, ChainUnavailable) else "chain_error",
                during="get_delivery",
                trade_id=item.trade_id,
                error=one_line(exc),
            )
            return None
        if not delivery.found:
            # Confirmed but not yet served by getTransaction (a lagging node): next poll.
            self._amount_out_unknown(item, "the landed transaction is not found (yet)")
            return None
        if delivery.err is not None or not delivery.confirmed:
            # The same chain said confirmed without error: no verdict from a contradiction.
            self._amount_out_unknown(item, f"the transaction disagrees: err {delivery.err}")
            return None
        if delivery.amount_out is None or delivery.amount_out < 0:
            self._amount_out_unknown(item, f"delivered amount {delivery.amount_out}")
            return None
        return delivery

    def _amount_out_unknown(self, item: InFlight, reason: str) -> None:
        """Say once per trade that its delivered amount is not known (it stays SUBMITTED)."""
        if item.trade_id not in self._amount_unknown:
            self._amount_unknown.add(item.trade_id)
            self.log(
                "amount_out_unknown",
                trade_id=item.trade_id,
                signature=item.signature,
                reason=reason,
            )

    def _settle_failed(
        self, item: InFlight, reason: str, fee: int | None, resolution: str
    ) -> str | None:
        try:
            self.db.run(trades.mark_failed(item.trade_id, reason, fee, "SUBMITTED"))
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
        trade = self.db.run(trades.get(item.trade_id))
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
