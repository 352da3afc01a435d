"""Operations endpoints, without a token (plain handlers, in `handlers`): liveness,
readiness (the database reachable and migrated) and the Prometheus metrics, whose domain
figures are read through the door as xorj_readonly (app/dbapi/ops.py)."""

from __future__ import annotations

import msgspec
from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec

from app.dbapi import ops
from app.errors import ApiError
from app.metrics import CONTENT_TYPE, domain_rows
from app.routes import common

# Litestar adds the charset of a text answer itself.
TEXT_FORMAT = CONTENT_TYPE.removesuffix("; charset=utf-8")


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct):
    status: str
    detail: str
    expected_migration: str


@get("/healthz", sync_to_thread=False, summary="The process is alive", tags=["ops"])
def healthz() -> Health:
    """Liveness: the process answers (no database access, no token)."""
    return Health("ok")


@get(
    "/readyz",
    summary="The database is reachable and migrated to the expected version",
    tags=["ops"],
    responses={
        503: ResponseSpec(
            Readiness,
            description="Not ready: the database is unreachable or not at the expected "
            "migration (status unavailable, with the reason in detail); retry after "
            "Retry-After seconds",
            generate_examples=False,
        )
    },
)
async def readyz(request: Request) -> Response[Readiness]:
    """Readiness: the database answers and is migrated to the version this code expects
    (no token)."""
    expected = request.app.state.expected
    ok, detail = await common.database(request).ready(expected)
    body = Readiness("ready" if ok else "unavailable", detail, expected)
    return Response(
        body, status_code=200 if ok else 503, headers={} if ok else {"Retry-After": "2"}
    )


@get(
    "/metrics",
    summary="Prometheus metrics: the app's processes, and domain figures",
    tags=["ops"],
    media_type=TEXT_FORMAT,
    response_description="The Prometheus text exposition format",
)
async def metrics(request: Request) -> Response[str]:
    """The Prometheus text format (no token): requests, pool and database errors of
    every worker, and figures read from the database at scrape time
    (xorj_db_metrics_up 0 when it cannot be read)."""
    try:
        domain = domain_rows(await common.readonly_door(request).run(ops.metrics()))
    except ApiError:
        domain = None  # the database cannot be read: xorj_db_metrics_up 0
    text = common.metrics(request).render(domain)
    return Response(text.decode(), media_type=TEXT_FORMAT)


handlers = [healthz, readyz, metrics]
