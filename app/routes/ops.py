"""Operations endpoints, without a token: liveness, readiness, metrics."""

from __future__ import annotations

import msgspec
from litestar import Request, Response, get

from app.metrics import CONTENT_TYPE


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


@get("/metrics", sync_to_thread=False, summary="Prometheus metrics of this process")
def metrics(request: Request) -> Response[bytes]:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)


handlers = [healthz, readyz, metrics]
