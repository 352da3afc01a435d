"""What every route module shares: the database door bound to the caller (`Door`,
injected as `db` by `DEPENDENCIES`), the guards, the metrics and request id of a request,
and the query parameters several controllers take (pages, seconds)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency, Provide
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Parameter

from app.auth import Principal
from app.dbapi.aio import Database
from app.dbapi.core import Call
from app.errors import ApiError
from app.metrics import Metrics

# --- the door, bound to the caller -----------------------------------------------------


@dataclass(frozen=True)
class Door:
    """The database as one caller sees it: each Call runs in one transaction as the role
    of `kind`, with the caller's verified claims and actor (app/dbapi/aio.py)."""

    database: Database
    kind: str  # 'user', 'engine', 'bot' or 'readonly'
    actor: str = ""
    claims: Mapping[str, Any] | str | None = None  # a mapping, or its JSON text

    async def run(self, call: Call) -> Any:
        """The answer of one api function (its shape is the Call's: see its docstring)."""
        return await self.database.run(call, self.kind, self.actor, self.claims)


def database(request: Request) -> Database:
    return request.app.state.database


def principal(request: Request) -> Principal:
    return request.user


def door(request: Request) -> Door:
    """The door for the authenticated caller of `request` (its token's role and claims)."""
    who = principal(request)
    return Door(database(request), who.kind, who.actor, who.claims_json or who.claims)


def readonly_door(request: Request) -> Door:
    """The door for the endpoints without a token (readiness, metrics): xorj_readonly."""
    return Door(database(request), "readonly")


def metrics(request: Request) -> Metrics:
    return request.app.state.metrics


def request_id(request: Request) -> str | None:
    return request.scope.get("state", {}).get("request_id")


# What the controllers of authenticated callers inject, by name: `db: Db` (the Door of the
# caller) and `counters: Counters` (the app's metrics).
DEPENDENCIES = {
    "db": Provide(door, sync_to_thread=False),
    "counters": Provide(metrics, sync_to_thread=False),
}
Db = NamedDependency[Door]
Counters = NamedDependency[Metrics]

# --- guards ----------------------------------------------------------------------------
# Litestar runs a controller's guards for the OPTIONS handler it adds to each of its paths
# too (litestar#2314). That request carries no token (the JWT middleware lets OPTIONS
# through) and its answer (204 with Allow) tells nothing: the guards let it pass, as they
# did when they were set per handler.


# The guards are coroutines: Litestar runs a plain function guard on a worker thread,
# a hand-off per request that cost more than the check itself.
def _options(connection: ASGIConnection) -> bool:
    return connection.scope.get("method") == "OPTIONS"


async def user_only(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if not _options(connection) and connection.user.kind != "user":
        raise ApiError(
            403,
            "forbidden",
            "this endpoint is for user tokens",
            hint="Service tokens use the /internal endpoints.",
        )


async def engine_only(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if not _options(connection) and connection.user.kind != "engine":
        raise ApiError(403, "forbidden", "this endpoint is for the quant engine's service token")


async def bot_only(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if not _options(connection) and connection.user.kind != "bot":
        raise ApiError(403, "forbidden", "this endpoint is for the execution bot's service token")


async def service_only(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if not _options(connection) and connection.user.kind not in ("engine", "bot"):
        raise ApiError(403, "forbidden", "this endpoint is for service tokens (engine or bot)")


# --- query parameters ------------------------------------------------------------------

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
# Seconds become an interval through a Python timedelta, which holds up to 999,999,999
# days either way; a number beyond is refused as a type error (400). (make_interval() is
# not used: it turned 10^30 seconds into a negative interval instead of refusing it.)
MAX_SECONDS = 999_999_999 * 86_400 + 86_399
MIN_SECONDS = -999_999_999 * 86_400

# Query parameters the database takes as `integer`: a value outside int32 is a type
# error here (400); the range the function accepts (e.g. 1..1000) is its own check.
Limit = Annotated[int, Parameter(ge=INT32_MIN, le=INT32_MAX, description="Page size")]
Offset = Annotated[int, Parameter(ge=INT32_MIN, le=INT32_MAX, description="Rows to skip")]
