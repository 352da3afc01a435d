"""The quant engine's scoring runs (/internal/scoring-runs...) and the ranked traders the
engine and the bot read (/internal/ranked-traders): `ScoringController`, with its bodies
and answers. Each handler runs one Call of app/dbapi/scoring.py; the rules (status
moves, score checks, pages) are the database's.

The guards are per handler: the run's moves are the engine's, the rankings any service's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, get, post
from litestar.params import Body as BodyParam
from litestar.params import Parameter

from app.dbapi import scoring
from app.routes.common import DEPENDENCIES, Db, Limit, Offset, engine_only, service_only
from app.routes.inputs import Body, check_bulk
from app.routes.openapi import errors

RunId = Annotated[UUID, Parameter(description="The scoring run's id")]


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


class CompleteRunBody(Body):
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

    # Up to 100,000 scores: checked by check_bulk in the handler, on their JSON text,
    # rather than value by value here.
    __bulk__ = ("scores",)


class FailRunBody(Body):
    error: str


def _run(value: dict[str, Any]) -> ScoringRun:
    return msgspec.convert(value, ScoringRun, strict=False)


def _traders(rows: list[tuple[Any, ...]]) -> list[Trader]:
    """Rows of scoring.RANKED (rank, wallet_address, xorj_trust_score, metrics, ...)."""
    return [Trader(int(r[0]), r[1], float(r[2]), r[3]) for r in rows]


class ScoringController(Controller):
    path = "/internal"
    dependencies = DEPENDENCIES
    tags = ("scoring",)

    @post(
        "/scoring-runs",
        guards=[engine_only],
        status_code=201,
        summary="Create a scoring run (PENDING)",
    )
    async def create_scoring_run(self, db: Db) -> ScoringRun:
        """A new scoring run, PENDING."""
        return _run(await db.run(scoring.create_run()))

    @post(
        "/scoring-runs/{run_id:uuid}/start",
        guards=[engine_only],
        status_code=200,
        summary="Start a scoring run (PENDING -> RUNNING)",
        responses=errors(409),
    )
    async def start_scoring_run(self, db: Db, run_id: RunId) -> ScoringRun:
        """PENDING -> RUNNING (409 from another state)."""
        return _run(await db.run(scoring.start_run(run_id)))

    @post(
        "/scoring-runs/{run_id:uuid}/complete",
        guards=[engine_only],
        status_code=200,
        summary="Complete a RUNNING run with all its scores, in one transaction",
        responses=errors(409),
    )
    async def complete_scoring_run(
        self, db: Db, run_id: RunId, data: Annotated[CompleteRunBody, BodyParam()]
    ) -> CompletedScoringRun:
        """RUNNING -> COMPLETED with all its scores, in one transaction: the first invalid
        score refuses the whole batch (422 naming scores[i].field); a run in another state
        is refused (409)."""
        # The scores go as JSON text: the database checks each element.
        encoded = msgspec.json.encode(data.scores)
        check_bulk("scores", data.scores, encoded)
        scores = encoded.decode()
        result = await db.run(scoring.complete_run(run_id, scores, data.allow_empty))
        return msgspec.convert(result, CompletedScoringRun, strict=False)

    @post(
        "/scoring-runs/{run_id:uuid}/fail",
        guards=[engine_only],
        status_code=200,
        summary="Fail a PENDING or RUNNING run with the reason",
        responses=errors(409),
    )
    async def fail_scoring_run(
        self, db: Db, run_id: RunId, data: Annotated[FailRunBody, BodyParam()]
    ) -> ScoringRun:
        """PENDING or RUNNING -> FAILED with the reason (409 from another state)."""
        return _run(await db.run(scoring.fail_run(run_id, data.error)))

    @get(
        "/scoring-runs/{run_id:uuid}/scores",
        guards=[service_only],
        summary="The ranked scores of one run, best first",
    )
    async def run_scores(
        self, db: Db, run_id: RunId, limit: Limit = 100, offset: Offset = 0
    ) -> RunScores:
        """The scores of one run, best first, paged by limit and offset (404 if there is no
        such run)."""
        rows = await db.run(scoring.run_scores(run_id, limit, offset))
        return RunScores(run_id, _traders(rows), limit, offset)

    @get(
        "/ranked-traders",
        guards=[service_only],
        summary="The ranked traders of the latest completed run, best first (FR-1.2)",
    )
    async def ranked_traders(self, db: Db, limit: Limit = 100, offset: Offset = 0) -> RankedTraders:
        """The traders of the latest COMPLETED run, best first (FR-1.2); run_id null and
        no trader when no run has completed yet."""
        rows = await db.run(scoring.ranked_traders(limit, offset))
        run_id, completed_at = (rows[0][4], rows[0][5]) if rows else (None, None)
        return RankedTraders(run_id, completed_at, _traders(rows), limit, offset)
