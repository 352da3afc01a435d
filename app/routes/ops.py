"""Operations endpoints, without a token: liveness, readiness, metrics."""

from __future__ import annotations

import msgspec
from litestar import Request, Response, get

from app.errors import ApiError
from app.metrics import CONTENT_TYPE, domain_rows


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
    ok, detail = await request.app.state.database.ready(expected)
    body = Readiness("ready" if ok else "unavailable", detail, expected)
    return Response(
        body, status_code=200 if ok else 503, headers={} if ok else {"Retry-After": "2"}
    )


@get("/metrics", summary="Prometheus metrics: the app's processes, and domain figures")
async def metrics(request: Request) -> Response[bytes]:
    try:
        rows = await request.app.state.database.call(
            "readonly", "SELECT name, labels, value FROM api.metrics()"
        )
        domain = domain_rows(rows)
    except ApiError:
        domain = None  # the database cannot be read: xorj_db_metrics_up 0
    return Response(request.app.state.metrics.render(domain), media_type=CONTENT_TYPE)


handlers = [healthz, readyz, metrics]
