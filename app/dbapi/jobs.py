"""The Trade Execution Bot's execution jobs (procedures/jobs.sql); role xorj_bot."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from app.dbapi.core import COLUMN, Call, api, typed


def create(trigger_reason: str, parameters: dict[str, Any] | None = None) -> Call:
    """A new job, PENDING: the job as JSON."""
    return api(
        "create_execution_job", trigger_reason=trigger_reason, parameters=Jsonb(parameters or {})
    )


def start(job_id: UUID | str, worker_id: str) -> Call:
    return api("start_execution_job", job_id=job_id, worker_id=worker_id)


def heartbeat(job_id: UUID | str, worker_id: str) -> Call:
    return api("heartbeat_execution_job", job_id=job_id, worker_id=worker_id)


def complete(job_id: UUID | str, worker_id: str) -> Call:
    return api("complete_execution_job", job_id=job_id, worker_id=worker_id)


def fail(job_id: UUID | str, error: str, worker_id: str | None = None) -> Call:
    return api("fail_execution_job", job_id=job_id, error=error, worker_id=worker_id)


def reap(stale_after: timedelta) -> Call:
    """RUNNING jobs whose heartbeat is older, failed: the list of them as JSON."""
    return api("reap_execution_jobs", shape=COLUMN, stale_after=stale_after)


def listing(status: str | None = None, limit: int = 100, offset: int = 0) -> Call:
    """Jobs, newest first: the list as JSON."""
    return api(
        "list_execution_jobs",
        shape=COLUMN,
        status=status,
        limit=typed(limit, "integer"),
        offset=typed(offset, "integer"),
    )
