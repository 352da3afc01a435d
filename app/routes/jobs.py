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
from litestar.params import Body, Parameter

from app.dbapi import jobs
from app.routes.common import DEPENDENCIES, MAX_SECONDS, Db, bot_only

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


def _job(value: dict[str, Any]) -> ExecutionJob:
    return msgspec.convert(value, ExecutionJob, strict=False)


class ExecutionJobController(Controller):
    path = "/internal/execution-jobs"
    guards = (bot_only,)
    dependencies = DEPENDENCIES

    @post("/", status_code=201, summary="Create an execution job (PENDING)")
    async def create_execution_job(
        self, db: Db, data: Annotated[CreateJobBody, Body()]
    ) -> ExecutionJob:
        return _job(await db.run(jobs.create(data.trigger_reason, data.parameters)))

    @post(
        "/reap",
        status_code=200,
        summary="Fail the RUNNING jobs whose heartbeat is older than stale_after_seconds",
    )
    async def reap_execution_jobs(self, db: Db, data: Annotated[ReapBody, Body()]) -> ReapedJobs:
        reaped = await db.run(jobs.reap(timedelta(seconds=data.stale_after_seconds)))
        return ReapedJobs([_job(job) for job in reaped])

    @post(
        "/{job_id:uuid}/start",
        status_code=200,
        summary="Start a job (PENDING -> RUNNING), held by worker_id",
    )
    async def start_execution_job(
        self, db: Db, job_id: JobId, data: Annotated[WorkerBody, Body()]
    ) -> ExecutionJob:
        return _job(await db.run(jobs.start(job_id, data.worker_id)))

    @post(
        "/{job_id:uuid}/heartbeat",
        status_code=200,
        summary="The worker holding a RUNNING job is alive",
    )
    async def heartbeat_execution_job(
        self, db: Db, job_id: JobId, data: Annotated[WorkerBody, Body()]
    ) -> ExecutionJob:
        return _job(await db.run(jobs.heartbeat(job_id, data.worker_id)))

    @post(
        "/{job_id:uuid}/complete",
        status_code=200,
        summary="Complete a RUNNING job (by the worker holding it)",
    )
    async def complete_execution_job(
        self, db: Db, job_id: JobId, data: Annotated[WorkerBody, Body()]
    ) -> ExecutionJob:
        return _job(await db.run(jobs.complete(job_id, data.worker_id)))

    @post(
        "/{job_id:uuid}/fail",
        status_code=200,
        summary="Fail a PENDING or RUNNING job with the reason",
    )
    async def fail_execution_job(
        self, db: Db, job_id: JobId, data: Annotated[FailJobBody, Body()]
    ) -> ExecutionJob:
        return _job(await db.run(jobs.fail(job_id, data.error, data.worker_id)))
