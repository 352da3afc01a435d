"""Operations endpoints, without a token (plain handlers, in `handlers`): liveness,
readiness (the database reachable and migrated) and the Prometheus metrics, whose domain
figures are read through the door as xorj_readonly (app/dbapi/ops.py)."""

from __future__ import annotations

import msgspec
from litestar import Request, Response, get

from app.dbapi import ops
from app.errors import ApiError
from app.metrics import CONTENT_TYPE, domain_rows
from app.routes import common


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct):
    status: str
    detail: str
    expected_migration: str


@get("/healthz", sync_to_thread=False, summary="The process is alive")
def healthz() -> Health:
    return Health("ok")


@get("/readyz", summary="The database is reachable and migrated to the expected version")
async def readyz(request: Request) -> Response[Readiness]:
    expected = request.app.state.expected
    ok, detail = await common.database(request).ready(expected)
    body = Readiness("ready" if ok else "unavailable", detail, expected)
    return Response(
        body, status_code=200 if ok else 503, headers={} if ok else {"Retry-After": "2"}
    )


@get("/metrics", summary="Prometheus metrics: the app's processes, and domain figures")
async def metrics(request: Request) -> Response[bytes]:
    try:
        domain = domain_rows(await common.readonly_door(request).run(ops.metrics()))
    except ApiError:
        domain = None  # the database cannot be read: xorj_db_metrics_up 0
    return Response(common.metrics(request).render(domain), media_type=CONTENT_TYPE)


handlers = [healthz, readyz, metrics]
