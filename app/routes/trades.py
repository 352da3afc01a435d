"""The execution bot's trades (/internal/trades...): `TradeController`, with its bodies and
answers, for the bot's token only. Each handler runs one Call of app/dbapi/trades.py; every
rule (status moves, duplicates, ranges) is the database's, and the trade counters of
app/metrics.py are counted here (created, replayed, refused as duplicates, moved,
handed out for recovery).

Python only checks the form of an amount (a JSON integer or a string of ASCII digits,
never a number with a fraction or an exponent: app/routes/amounts.py), passed on exactly
as a Decimal; whether it fits 0..2^64-1 is the database's to say (XJ422 naming the field).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body as BodyParam
from litestar.params import Parameter

from app.dbapi import trades
from app.errors import ApiError
from app.metrics import Metrics
from app.routes.amounts import AmountInput, AmountString, amount, decimal
from app.routes.common import (
    DEPENDENCIES,
    INT32_MAX,
    INT32_MIN,
    MAX_SECONDS,
    MIN_SECONDS,
    Counters,
    Db,
    Limit,
    Offset,
    bot_only,
)
from app.routes.inputs import Body
from app.routes.openapi import errors

TradeId = Annotated[UUID, Parameter(description="The trade's id")]


class UserTrade(msgspec.Struct):
    """A trade as its user sees it (GET /api/bot/trades); u64 amounts are strings (exact
    above 2^53)."""

    id: UUID
    client_order_id: str
    status: str
    from_token_address: str
    to_token_address: str
    amount_in: AmountString
    expected_amount_out: AmountString
    actual_amount_out: AmountString | None
    transaction_signature: str | None
    slippage_realized: float | None
    gas_fee: AmountString | None
    error_message: str | None
    created_at: datetime
    submitted_at: datetime | None
    completed_at: datetime | None
    updated_at: datetime
    venue: str = "live"


class Trade(UserTrade, kw_only=True):
    """A trade as the bot sees it: the user's view, and the job, the vault, the block
    height its transaction is valid until and the claim."""

    job_id: UUID
    user_vault_address: str
    last_valid_block_height: int | None = None
    claimed_by: str | None = None
    claim_expires_at: datetime | None = None
    # Seed order (0013): the block height after which no transaction of this PENDING
    # trade can land, once recovery looked for it; why a PENDING trade was failed.
    search_until_height: int | None = None
    failure_basis: str | None = None


class TradeCreated(msgspec.Struct):
    replay: bool
    trade: Trade


class TradeChange(msgspec.Struct):
    changed: bool
    trade: Trade


class TradeList(msgspec.Struct):
    trades: list[Trade]


class TradeEvent(msgspec.Struct):
    id: int
    trade_id: UUID
    from_status: str | None
    to_status: str
    at: datetime
    actor: str
    detail: dict[str, Any]


class TradeEvents(msgspec.Struct):
    events: list[TradeEvent]


class CreateTradeBody(Body):
    job_id: UUID
    user_vault_address: str
    client_order_id: str
    from_token_address: str
    to_token_address: str
    amount_in: AmountInput
    expected_amount_out: AmountInput
    venue: Annotated[
        str | None,
        msgspec.Meta(
            description="Where the trade is executed: live (the real Solana chain; the only "
            "trades that count in a user's performance), localnet (a local validator) or "
            "simulated (the simulated chain); live when absent. Part of the idempotent "
            "content: a retry must send the same venue"
        ),
    ] = None


class SubmittedBody(Body):
    transaction_signature: str
    # The last block height at which the signed transaction can land; a recovering bot
    # fails the trade as expired once the chain has passed it.
    last_valid_block_height: int | None = None
    # The bot that holds the trade's claim; when given, the database refuses (409
    # claim_lost) if another bot holds it.
    worker_id: str | None = None


class ConfirmedBody(Body):
    actual_amount_out: AmountInput
    slippage_realized: Annotated[
        float | None,
        msgspec.Meta(
            description="The realized slippage in percent; computed by the database from "
            "the expected and actual amounts when absent"
        ),
    ] = None
    gas_fee: AmountInput | None = None


class FailedBody(Body):
    error_message: str
    gas_fee: AmountInput | None = None
    # What the failure of a PENDING trade rests on (the database requires one): over
    # HTTP, the client states it never broadcast the transaction. A client that broadcast
    # records the signature (/submitted) instead; a trade whose client crashed between its
    # broadcast and /submitted is found on chain by the bot's recovery, by its memo.
    failure_basis: Annotated[
        Literal["never_broadcast"],
        msgspec.Meta(
            description=(
                "For a PENDING trade: the client never broadcast its transaction (the "
                "default). Not recorded for a SUBMITTED trade, whose signature decides."
            )
        ),
    ] = "never_broadcast"


def _trade(value: dict[str, Any]) -> Trade:
    return msgspec.convert(value, Trade, strict=False)


def _change(counters: Metrics, answer: tuple[bool, dict[str, Any]]) -> TradeChange:
    """A transition's (changed, trade), counted by its new status when it moved."""
    changed, trade = answer
    if changed:
        counters.transitions.labels(trade["status"]).inc()
    return TradeChange(changed, _trade(trade))


class TradeController(Controller):
    path = "/internal/trades"
    guards = (bot_only,)
    dependencies = DEPENDENCIES
    tags = ("trades",)

    @post(
        "/",
        status_code=201,
        summary="Create a trade (PENDING): 201 new, 200 idempotent replay, 409 duplicate",
        responses={
            200: ResponseSpec(TradeCreated, description="An idempotent replay: the existing trade"),
            **errors(404, 409),
        },
    )
    async def create_trade(
        self, db: Db, counters: Counters, data: Annotated[CreateTradeBody, BodyParam()]
    ) -> Response[TradeCreated]:
        """Create a trade, PENDING, for a RUNNING job and an enabled vault. The same
        (vault, client_order_id) again with the same content is an idempotent replay (200,
        the existing trade); with other content, or a trade of the same pair already in
        flight, or the same pair and amount within the repeat window, it is refused (409
        with rule and conflicting_trade_id). 404: no such job."""
        call = trades.create(
            job_id=data.job_id,
            vault=data.user_vault_address,
            client_order_id=data.client_order_id,
            from_token=data.from_token_address,
            to_token=data.to_token_address,
            amount_in=amount("amount_in", data.amount_in),
            expected_amount_out=amount("expected_amount_out", data.expected_amount_out),
            venue=data.venue,
        )
        try:
            replay, trade = await db.run(call)
        except ApiError as err:
            if err.status == 409:
                counters.duplicates_refused.labels(err.rule or err.code).inc()
                err.extra["conflicting_trade_id"] = err.facts.get("conflicting_trade_id")
            raise
        if replay:
            counters.trade_replays.inc()
        else:
            counters.trades_created.inc()
        return Response(TradeCreated(replay, _trade(trade)), status_code=200 if replay else 201)

    @get("/", summary="Trades by status and/or vault, newest first")
    async def list_trades(
        self,
        db: Db,
        status: Annotated[
            str | None, Parameter(description="PENDING, SUBMITTED, CONFIRMED or FAILED")
        ] = None,
        vault: Annotated[str | None, Parameter(description="A user vault address")] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> TradeList:
        """Trades filtered by status and/or vault, newest first, paged by limit and
        offset (for operators and the bot)."""
        found = await db.run(trades.listing(status, vault, limit, offset))
        return TradeList([_trade(trade) for trade in found])

    @get(
        "/recover",
        summary="What a restarting bot must resolve: SUBMITTED trades, then old PENDING ones",
    )
    async def trades_to_recover(
        self,
        db: Db,
        counters: Counters,
        pending_older_than_seconds: Annotated[
            int,
            Parameter(
                ge=MIN_SECONDS,
                le=MAX_SECONDS,
                description="Age after which a PENDING trade is handed out",
            ),
        ] = 0,
        limit: Annotated[int, Parameter(ge=INT32_MIN, le=INT32_MAX)] = 1000,
    ) -> TradeList:
        """What a restarting bot resolves (FR-2.5): every SUBMITTED trade, oldest first,
        then the PENDING trades older than pending_older_than_seconds."""
        older = timedelta(seconds=pending_older_than_seconds)
        found = await db.run(trades.to_recover(older, limit))
        counters.recoveries.inc(len(found))
        return TradeList([_trade(trade) for trade in found])

    @get("/{trade_id:uuid}", summary="One trade")
    async def get_trade(self, db: Db, trade_id: TradeId) -> Trade:
        """One trade by id (404 if there is none)."""
        return _trade(await db.run(trades.get(trade_id)))

    @get("/{trade_id:uuid}/events", summary="The audit trail of a trade, oldest first")
    async def trade_events(self, db: Db, trade_id: TradeId) -> TradeEvents:
        """Every status change of a trade, oldest first, with who made it (404 if there
        is no such trade)."""
        found = await db.run(trades.events(trade_id))
        return TradeEvents([msgspec.convert(e, TradeEvent, strict=False) for e in found])

    @post(
        "/{trade_id:uuid}/submitted",
        status_code=200,
        summary="PENDING -> SUBMITTED with the signature: record it before broadcasting",
        responses=errors(409),
    )
    async def trade_submitted(
        self,
        db: Db,
        counters: Counters,
        trade_id: TradeId,
        data: Annotated[SubmittedBody, BodyParam()],
    ) -> TradeChange:
        """Record the signed transaction's signature and last valid block height:
        PENDING -> SUBMITTED. Record them BEFORE broadcasting the transaction (the safe
        order): a crash after the broadcast then leaves a trade whose signature is known,
        resolved at once by recovery. The seed's order (broadcast, then this call) is
        accepted too: a trade whose client crashed in between stays PENDING, and the
        bot's recovery finds its transaction on chain by its memo ("xorj:<trade id>"),
        or fails it as not_found_on_chain once every blockhash it could use has expired;
        it waits 30 s after the trade's creation before it starts to search. The same
        signature again is a no-op (changed false); another one, or another state, 409."""
        call = trades.mark_submitted(
            trade_id, data.transaction_signature, data.last_valid_block_height, data.worker_id
        )
        return _change(counters, await db.run(call))

    @post(
        "/{trade_id:uuid}/confirmed",
        status_code=200,
        summary="SUBMITTED -> CONFIRMED with what landed on chain",
        responses=errors(409),
    )
    async def trade_confirmed(
        self,
        db: Db,
        counters: Counters,
        trade_id: TradeId,
        data: Annotated[ConfirmedBody, BodyParam()],
    ) -> TradeChange:
        """SUBMITTED -> CONFIRMED with the amount delivered, the fee and (or else the
        database computes it) the realized slippage. Amounts: JSON integers or strings
        of digits, 0..2^64-1. Again with the same values: a no-op; a trade in another
        state: 409."""
        call = trades.mark_confirmed(
            trade_id,
            amount("actual_amount_out", data.actual_amount_out),
            decimal(data.slippage_realized),
            amount("gas_fee", data.gas_fee),
        )
        return _change(counters, await db.run(call))

    @post(
        "/{trade_id:uuid}/failed",
        status_code=200,
        summary="PENDING or SUBMITTED -> FAILED with the reason",
        responses=errors(409),
    )
    async def trade_failed(
        self,
        db: Db,
        counters: Counters,
        trade_id: TradeId,
        data: Annotated[FailedBody, BodyParam()],
    ) -> TradeChange:
        """PENDING or SUBMITTED -> FAILED with the reason (and the fee paid, if any). A
        CONFIRMED trade is never failed (409). A PENDING trade is failed as
        never_broadcast: call this only for a transaction that was never sent; one that
        was sent is recorded with /submitted, and the chain decides."""
        call = trades.mark_failed(
            trade_id,
            data.error_message,
            amount("gas_fee", data.gas_fee),
            failure_basis=data.failure_basis,
        )
        return _change(counters, await db.run(call))
