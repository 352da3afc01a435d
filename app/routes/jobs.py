"""The execution bot's jobs (/internal/execution-jobs...): `ExecutionJobController`, with
its bodies and answers, for the bot's token only. Each handler runs one Call of
app/dbapi/jobs.py; the rules (status moves, the worker holding a job) are the database's.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, post
from litestar.params import Body as BodyParam
from litestar.params import Parameter

from app.dbapi import jobs
from app.routes.common import DEPENDENCIES, MAX_SECONDS, Db, bot_only
from app.routes.inputs import Body
from app.routes.openapi import errors

JobId = Annotated[UUID, Parameter(description="The execution job's id")]


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


class CreateJobBody(Body):
    trigger_reason: Annotated[
        str, msgspec.Meta(description="SCHEDULED_RUN, MANUAL_TRIGGER or RECOVERY_RUN")
    ]
    parameters: dict[str, Any] | None = None


class WorkerBody(Body):
    worker_id: str


class FailJobBody(Body):
    error: str
    worker_id: str | None = None


class ReapBody(Body):
    stale_after_seconds: Annotated[int, msgspec.Meta(gt=0, le=MAX_SECONDS)]


def _job(value: dict[str, Any]) -> ExecutionJob:
    return msgspec.convert(value, ExecutionJob, strict=False)


class ExecutionJobController(Controller):
    path = "/internal/execution-jobs"
    guards = (bot_only,)
    dependencies = DEPENDENCIES
    tags = ("jobs",)

    @post("/", status_code=201, summary="Create an execution job (PENDING)")
    async def create_execution_job(
        self, db: Db, data: Annotated[CreateJobBody, BodyParam()]
    ) -> ExecutionJob:
        """A new execution job, PENDING, with its trigger reason and parameters (any JSON
        object, nested at most 32 levels)."""
        return _job(await db.run(jobs.create(data.trigger_reason, data.parameters)))

    @post(
        "/reap",
        status_code=200,
        summary="Fail the RUNNING jobs whose heartbeat is older than stale_after_seconds",
    )
    async def reap_execution_jobs(
        self, db: Db, data: Annotated[ReapBody, BodyParam()]
    ) -> ReapedJobs:
        """Fail every RUNNING job whose heartbeat is older than stale_after_seconds (its
        worker is gone); the jobs failed are returned."""
        reaped = await db.run(jobs.reap(timedelta(seconds=data.stale_after_seconds)))
        return ReapedJobs([_job(job) for job in reaped])

    @post(
        "/{job_id:uuid}/start",
        status_code=200,
        summary="Start a job (PENDING -> RUNNING), held by worker_id",
        responses=errors(409),
    )
    async def start_execution_job(
        self, db: Db, job_id: JobId, data: Annotated[WorkerBody, BodyParam()]
    ) -> ExecutionJob:
        """PENDING -> RUNNING, held by worker_id (409 if the job is in another state)."""
        return _job(await db.run(jobs.start(job_id, data.worker_id)))

    @post(
        "/{job_id:uuid}/heartbeat",
        status_code=200,
        summary="The worker holding a RUNNING job is alive",
        responses=errors(409),
    )
    async def heartbeat_execution_job(
        self, db: Db, job_id: JobId, data: Annotated[WorkerBody, BodyParam()]
    ) -> ExecutionJob:
        """The worker holding the RUNNING job is alive (409 if another worker holds it or
        the job is not RUNNING)."""
        return _job(await db.run(jobs.heartbeat(job_id, data.worker_id)))

    @post(
        "/{job_id:uuid}/complete",
        status_code=200,
        summary="Complete a RUNNING job (by the worker holding it)",
        responses=errors(409),
    )
    async def complete_execution_job(
        self, db: Db, job_id: JobId, data: Annotated[WorkerBody, BodyParam()]
    ) -> ExecutionJob:
        """RUNNING -> COMPLETED by the worker holding it (409 otherwise)."""
        return _job(await db.run(jobs.complete(job_id, data.worker_id)))

    @post(
        "/{job_id:uuid}/fail",
        status_code=200,
        summary="Fail a PENDING or RUNNING job with the reason",
        responses=errors(409),
    )
    async def fail_execution_job(
        self, db: Db, job_id: JobId, data: Annotated[FailJobBody, BodyParam()]
    ) -> ExecutionJob:
        """PENDING or RUNNING -> FAILED with the reason (409 from another state, or when
        worker_id is given and another worker holds the job)."""
        return _job(await db.run(jobs.fail(job_id, data.error, data.worker_id)))
