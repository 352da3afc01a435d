"""Internal endpoints for the quant engine and the execution bot (service tokens).

Each handler calls one function of the `api` schema as the token's role (xorj_engine or
xorj_bot, see common.call); every rule (status moves, duplicates, ranges) is the
database's. Python only checks JSON types: a u64 amount is a JSON integer or a string of
ASCII digits (JavaScript cannot send integers above 2^53 exactly), passed on as a
Decimal; whether it fits 0..2^64-1 is the database's to say (XJ422 naming the field).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body, Parameter

from app.errors import ApiError
from app.routes.common import bot_only, call, engine_only, metrics, one, service_only

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
# Seconds become an interval through a Python timedelta, which holds up to 999,999,999
# days either way; a number beyond is refused as a type error (400). (make_interval() is
# not used: it turned 10^30 seconds into a negative interval instead of refusing it.)
MAX_SECONDS = 999_999_999 * 86_400 + 86_399
MIN_SECONDS = -999_999_999 * 86_400
CONFLICTING_TRADE = re.compile(r"conflicting_trade_id=([0-9a-fA-F-]{36})")

# Query parameters the database takes as `integer`: a value outside int32 is a type
# error here (400); the range the function accepts (e.g. 1..1000) is its own check.
Limit = Annotated[int, Parameter(ge=INT32_MIN, le=INT32_MAX, description="Page size")]
Offset = Annotated[int, Parameter(ge=INT32_MIN, le=INT32_MAX, description="Rows to skip")]

RunId = Annotated[UUID, Parameter(description="The scoring run's id")]
JobId = Annotated[UUID, Parameter(description="The execution job's id")]
TradeId = Annotated[UUID, Parameter(description="The trade's id")]

Amount = Annotated[
    int | Annotated[str, msgspec.Meta(pattern=r"^[0-9]+$")],
    msgspec.Meta(
        description="A u64 amount in base units: a JSON integer, or a string of digits "
        "(for values above 2^53). The database refuses values outside 0..2^64-1.",
        examples=["18446744073709551615"],
    ),
]


# --- responses -------------------------------------------------------------------------


class ScoringRun(msgspec.Struct):
    id: UUID
    status: str
    started_at: datetime | None
    completed_at: datetime | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime


class CompletedScoringRun(ScoringRun):
    scores_inserted: int


class Trader(msgspec.Struct):
    rank: int
    wallet_address: str
    xorj_trust_score: float
    metrics: dict[str, Any]


class RankedTraders(msgspec.Struct):
    run_id: UUID | None
    completed_at: datetime | None
    traders: list[Trader]
    limit: int
    offset: int


class RunScores(msgspec.Struct):
    run_id: RunId
    traders: list[Trader]
    limit: int
    offset: int


class ExecutionJob(msgspec.Struct):
    id: UUID
    status: str
    trigger_reason: str
    parameters: dict[str, Any]
    worker_id: str | None
    started_at: datetime | None
    heartbeat_at: datetime | None
    completed_at: datetime | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime


class ReapedJobs(msgspec.Struct):
    reaped: list[ExecutionJob]


class Trade(msgspec.Struct):
    """A trade; u64 amounts are strings (exact above 2^53)."""

    id: UUID
    job_id: UUID
    user_vault_address: str
    client_order_id: str
    status: str
    from_token_address: str
    to_token_address: str
    amount_in: str
    expected_amount_out: str
    actual_amount_out: str | None
    transaction_signature: str | None
    slippage_realized: float | None
    gas_fee: str | None
    error_message: str | None
    submitted_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    last_valid_block_height: int | None = None
    claimed_by: str | None = None
    claim_expires_at: datetime | None = None


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


class TradeConflict(msgspec.Struct):
    """The body of a 409 refusing a trade creation (with the error fields)."""

    success: bool
    error: str
    code: str
    rule: str
    conflicting_trade_id: str | None = None


# --- request bodies --------------------------------------------------------------------


class CompleteRunBody(msgspec.Struct, forbid_unknown_fields=True):
    scores: Annotated[
        list[Any],
        msgspec.Meta(
            description='[{"wallet_address": str, "xorj_trust_score": number >= 0, '
            '"metrics": {...} (optional)}, ...], up to 100,000. The elements are checked '
            "by the database: the first invalid one rejects the batch (422 naming "
            "scores[i].field)."
        ),
    ]
    allow_empty: Annotated[
        bool,
        msgspec.Meta(
            description="true to complete a run with no score at all (it becomes the latest "
            "run and nobody is ranked); else such a completion is refused (422 on scores)."
        ),
    ] = False


class FailRunBody(msgspec.Struct, forbid_unknown_fields=True):
    error: str


class CreateJobBody(msgspec.Struct, forbid_unknown_fields=True):
    trigger_reason: Annotated[
        str, msgspec.Meta(description="SCHEDULED_RUN, MANUAL_TRIGGER or RECOVERY_RUN")
    ]
    parameters: dict[str, Any] | None = None


class WorkerBody(msgspec.Struct, forbid_unknown_fields=True):
    worker_id: str


class FailJobBody(msgspec.Struct, forbid_unknown_fields=True):
    error: str
    worker_id: str | None = None


class ReapBody(msgspec.Struct, forbid_unknown_fields=True):
    stale_after_seconds: Annotated[int, msgspec.Meta(gt=0, le=MAX_SECONDS)]


class CreateTradeBody(msgspec.Struct, forbid_unknown_fields=True):
    job_id: UUID
    user_vault_address: str
    client_order_id: str
    from_token_address: str
    to_token_address: str
    amount_in: Amount
    expected_amount_out: Amount


class SubmittedBody(msgspec.Struct, forbid_unknown_fields=True):
    transaction_signature: str
    # The last block height at which the signed transaction can land; a recovering bot
    # fails the trade as expired once the chain has passed it.
    last_valid_block_height: int | None = None
    # The bot that holds the trade's claim; when given, the database refuses (409
    # claim_lost) if another bot holds it.
    worker_id: str | None = None


class ConfirmedBody(msgspec.Struct, forbid_unknown_fields=True):
    actual_amount_out: Amount
    slippage_realized: float | None = None
    gas_fee: Amount | None = None


class FailedBody(msgspec.Struct, forbid_unknown_fields=True):
    error_message: str
    gas_fee: Amount | None = None


# --- helpers ---------------------------------------------------------------------------


def _amount(field: str, value: int | str | None) -> Decimal | None:
    """A u64 amount for the database: a JSON integer as it is, a string only of ASCII
    digits (the schema's pattern ends in $, which lets a trailing newline through)."""
    if value is None:
        return None
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ApiError(
            400,
            "bad_request",
            f"{field} must be a whole number: a JSON integer or a string of digits",
            field=field,
        )
    return Decimal(value)


def _decimal(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(repr(value))


def _run(value: dict[str, Any]) -> ScoringRun:
    return msgspec.convert(value, ScoringRun, strict=False)


def _job(value: dict[str, Any]) -> ExecutionJob:
    return msgspec.convert(value, ExecutionJob, strict=False)


def _trade(value: dict[str, Any]) -> Trade:
    return msgspec.convert(value, Trade, strict=False)


def _traders(rows: list[tuple[Any, ...]]) -> list[Trader]:
    return [Trader(int(r[0]), r[1], float(r[2]), r[3]) for r in rows]


async def _worker_job(request: Request, query: str, job_id: UUID, data: WorkerBody) -> ExecutionJob:
    """A job moved by the worker holding it: query takes (job_id, worker_id)."""
    return _job(await one(request, query, job_id, data.worker_id))


async def _change(request: Request, query: str, *params: Any) -> TradeChange:
    """A trade transition: (changed, trade), counted by its new status when it moved."""
    rows = await call(request, query, *params)
    changed, trade = rows[0]
    if changed:
        metrics(request).transitions.labels(trade["status"]).inc()
    return TradeChange(changed, _trade(trade))


# --- quant engine: scoring runs --------------------------------------------------------


@post(
    "/internal/scoring-runs",
    guards=[engine_only],
    status_code=201,
    summary="Create a scoring run (PENDING)",
)
async def create_scoring_run(request: Request) -> ScoringRun:
    return _run(await one(request, "SELECT api.create_scoring_run()"))


@post(
    "/internal/scoring-runs/{run_id:uuid}/start",
    guards=[engine_only],
    status_code=200,
    summary="Start a scoring run (PENDING -> RUNNING)",
)
async def start_scoring_run(request: Request, run_id: RunId) -> ScoringRun:
    return _run(await one(request, "SELECT api.start_scoring_run(%s)", run_id))


@post(
    "/internal/scoring-runs/{run_id:uuid}/complete",
    guards=[engine_only],
    status_code=200,
    summary="Complete a RUNNING run with all its scores, in one transaction",
)
async def complete_scoring_run(
    request: Request, run_id: RunId, data: Annotated[CompleteRunBody, Body()]
) -> CompletedScoringRun:
    scores = msgspec.json.encode(data.scores).decode()
    result = await one(
        request,
        "SELECT api.complete_scoring_run(%s, %s::jsonb, %s)",
        run_id,
        scores,
        data.allow_empty,
    )
    return msgspec.convert(result, CompletedScoringRun, strict=False)


@post(
    "/internal/scoring-runs/{run_id:uuid}/fail",
    guards=[engine_only],
    status_code=200,
    summary="Fail a PENDING or RUNNING run with the reason",
)
async def fail_scoring_run(
    request: Request, run_id: RunId, data: Annotated[FailRunBody, Body()]
) -> ScoringRun:
    return _run(await one(request, "SELECT api.fail_scoring_run(%s, %s)", run_id, data.error))


@get(
    "/internal/scoring-runs/{run_id:uuid}/scores",
    guards=[service_only],
    summary="The ranked scores of one run, best first",
)
async def run_scores(
    request: Request, run_id: RunId, limit: Limit = 100, offset: Offset = 0
) -> RunScores:
    rows = await call(
        request,
        "SELECT rank, wallet_address, xorj_trust_score, metrics "
        "FROM api.run_scores(%s, %s::integer, %s::integer)",
        run_id,
        limit,
        offset,
    )
    return RunScores(run_id, _traders(rows), limit, offset)


@get(
    "/internal/ranked-traders",
    guards=[service_only],
    summary="The ranked traders of the latest completed run, best first (FR-1.2)",
)
async def ranked_traders(request: Request, limit: Limit = 100, offset: Offset = 0) -> RankedTraders:
    rows = await call(
        request,
        "SELECT rank, wallet_address, xorj_trust_score, metrics, run_id, completed_at "
        "FROM api.ranked_traders(%s::integer, %s::integer)",
        limit,
        offset,
    )
    run_id, completed_at = (rows[0][4], rows[0][5]) if rows else (None, None)
    return RankedTraders(run_id, completed_at, _traders(rows), limit, offset)


# --- execution bot: jobs ---------------------------------------------------------------


@post(
    "/internal/execution-jobs",
    guards=[bot_only],
    status_code=201,
    summary="Create an execution job (PENDING)",
)
async def create_execution_job(
    request: Request, data: Annotated[CreateJobBody, Body()]
) -> ExecutionJob:
    parameters = msgspec.json.encode(data.parameters if data.parameters is not None else {})
    return _job(
        await one(
            request,
            "SELECT api.create_execution_job(%s, %s::jsonb)",
            data.trigger_reason,
            parameters.decode(),
        )
    )


@post(
    "/internal/execution-jobs/reap",
    guards=[bot_only],
    status_code=200,
    summary="Fail the RUNNING jobs whose heartbeat is older than stale_after_seconds",
)
async def reap_execution_jobs(request: Request, data: Annotated[ReapBody, Body()]) -> ReapedJobs:
    rows = await call(
        request,
        "SELECT api.reap_execution_jobs(%s)",
        timedelta(seconds=data.stale_after_seconds),
    )
    return ReapedJobs([_job(r[0]) for r in rows])


@post(
    "/internal/execution-jobs/{job_id:uuid}/start",
    guards=[bot_only],
    status_code=200,
    summary="Start a job (PENDING -> RUNNING), held by worker_id",
)
async def start_execution_job(
    request: Request, job_id: JobId, data: Annotated[WorkerBody, Body()]
) -> ExecutionJob:
    return await _worker_job(request, "SELECT api.start_execution_job(%s, %s)", job_id, data)


@post(
    "/internal/execution-jobs/{job_id:uuid}/heartbeat",
    guards=[bot_only],
    status_code=200,
    summary="The worker holding a RUNNING job is alive",
)
async def heartbeat_execution_job(
    request: Request, job_id: JobId, data: Annotated[WorkerBody, Body()]
) -> ExecutionJob:
    return await _worker_job(request, "SELECT api.heartbeat_execution_job(%s, %s)", job_id, data)


@post(
    "/internal/execution-jobs/{job_id:uuid}/complete",
    guards=[bot_only],
    status_code=200,
    summary="Complete a RUNNING job (by the worker holding it)",
)
async def complete_execution_job(
    request: Request, job_id: JobId, data: Annotated[WorkerBody, Body()]
) -> ExecutionJob:
    return await _worker_job(request, "SELECT api.complete_execution_job(%s, %s)", job_id, data)


@post(
    "/internal/execution-jobs/{job_id:uuid}/fail",
    guards=[bot_only],
    status_code=200,
    summary="Fail a PENDING or RUNNING job with the reason",
)
async def fail_execution_job(
    request: Request, job_id: JobId, data: Annotated[FailJobBody, Body()]
) -> ExecutionJob:
    return _job(
        await one(
            request,
            "SELECT api.fail_execution_job(%s, %s, %s)",
            job_id,
            data.error,
            data.worker_id,
        )
    )


# --- execution bot: trades -------------------------------------------------------------


@post(
    "/internal/trades",
    guards=[bot_only],
    status_code=201,
    summary="Create a trade (PENDING): 201 new, 200 idempotent replay, 409 duplicate",
    responses={
        200: ResponseSpec(TradeCreated, description="An idempotent replay: the existing trade"),
        409: ResponseSpec(
            TradeConflict,
            description="Refused: rule trade_in_flight, recent_repeat, idempotency_key_reused, "
            "bot_not_enabled or job_not_running; conflicting_trade_id names the trade in the way",
        ),
    },
)
async def create_trade(
    request: Request, data: Annotated[CreateTradeBody, Body()]
) -> Response[TradeCreated]:
    counters = metrics(request)
    try:
        rows = await call(
            request,
            "SELECT replay, trade FROM api.create_trade(%s, %s, %s, %s, %s, %s, %s)",
            data.job_id,
            data.user_vault_address,
            data.client_order_id,
            data.from_token_address,
            data.to_token_address,
            _amount("amount_in", data.amount_in),
            _amount("expected_amount_out", data.expected_amount_out),
        )
    except ApiError as err:
        if err.status == 409:
            counters.duplicates_refused.labels(err.rule or err.code).inc()
            found = CONFLICTING_TRADE.search(err.detail or "")
            err.extra["conflicting_trade_id"] = found.group(1) if found else None
        raise
    replay, trade = rows[0]
    if replay:
        counters.trade_replays.inc()
    else:
        counters.trades_created.inc()
    return Response(TradeCreated(replay, _trade(trade)), status_code=200 if replay else 201)


@get(
    "/internal/trades",
    guards=[bot_only],
    summary="Trades by status and/or vault, newest first",
)
async def list_trades(
    request: Request,
    status: Annotated[
        str | None, Parameter(description="PENDING, SUBMITTED, CONFIRMED or FAILED")
    ] = None,
    vault: Annotated[str | None, Parameter(description="A user vault address")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> TradeList:
    rows = await call(
        request,
        "SELECT api.list_trades(%s, %s, %s::integer, %s::integer)",
        status,
        vault,
        limit,
        offset,
    )
    return TradeList([_trade(r[0]) for r in rows])


@get(
    "/internal/trades/recover",
    guards=[bot_only],
    summary="What a restarting bot must resolve: SUBMITTED trades, then old PENDING ones",
)
async def trades_to_recover(
    request: Request,
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
    rows = await call(
        request,
        "SELECT api.trades_to_recover(%s, %s::integer)",
        timedelta(seconds=pending_older_than_seconds),
        limit,
    )
    metrics(request).recoveries.inc(len(rows))
    return TradeList([_trade(r[0]) for r in rows])


@get("/internal/trades/{trade_id:uuid}", guards=[bot_only], summary="One trade")
async def get_trade(request: Request, trade_id: TradeId) -> Trade:
    return _trade(await one(request, "SELECT api.get_trade(%s)", trade_id))


@get(
    "/internal/trades/{trade_id:uuid}/events",
    guards=[bot_only],
    summary="The audit trail of a trade, oldest first",
)
async def trade_events(request: Request, trade_id: TradeId) -> TradeEvents:
    rows = await call(request, "SELECT api.trade_events(%s)", trade_id)
    return TradeEvents([msgspec.convert(r[0], TradeEvent, strict=False) for r in rows])


@post(
    "/internal/trades/{trade_id:uuid}/submitted",
    guards=[bot_only],
    status_code=200,
    summary="PENDING -> SUBMITTED with the transaction signature",
)
async def trade_submitted(
    request: Request, trade_id: TradeId, data: Annotated[SubmittedBody, Body()]
) -> TradeChange:
    return await _change(
        request,
        "SELECT changed, trade FROM api.mark_trade_submitted(%s, %s, %s::bigint, %s)",
        trade_id,
        data.transaction_signature,
        data.last_valid_block_height,
        data.worker_id,
    )


@post(
    "/internal/trades/{trade_id:uuid}/confirmed",
    guards=[bot_only],
    status_code=200,
    summary="SUBMITTED -> CONFIRMED with what landed on chain",
)
async def trade_confirmed(
    request: Request, trade_id: TradeId, data: Annotated[ConfirmedBody, Body()]
) -> TradeChange:
    return await _change(
        request,
        "SELECT changed, trade FROM api.mark_trade_confirmed(%s, %s, %s, %s)",
        trade_id,
        _amount("actual_amount_out", data.actual_amount_out),
        _decimal(data.slippage_realized),
        _amount("gas_fee", data.gas_fee),
    )


@post(
    "/internal/trades/{trade_id:uuid}/failed",
    guards=[bot_only],
    status_code=200,
    summary="PENDING or SUBMITTED -> FAILED with the reason",
)
async def trade_failed(
    request: Request, trade_id: TradeId, data: Annotated[FailedBody, Body()]
) -> TradeChange:
    return await _change(
        request,
        "SELECT changed, trade FROM api.mark_trade_failed(%s, %s, %s)",
        trade_id,
        data.error_message,
        _amount("gas_fee", data.gas_fee),
    )


handlers = [
    create_scoring_run,
    start_scoring_run,
    complete_scoring_run,
    fail_scoring_run,
    run_scores,
    ranked_traders,
    create_execution_job,
    reap_execution_jobs,
    start_execution_job,
    heartbeat_execution_job,
    complete_execution_job,
    fail_execution_job,
    create_trade,
    list_trades,
    trades_to_recover,
    get_trade,
    trade_events,
    trade_submitted,
    trade_confirmed,
    trade_failed,
]
