"""What every route module shares: the caller, the database call, guards."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from app.auth import Principal
from app.db import Database
from app.errors import ApiError
from app.metrics import Metrics


def principal(request: Request) -> Principal:
    return request.user


def database(request: Request) -> Database:
    return request.app.state.database


def metrics(request: Request) -> Metrics:
    return request.app.state.metrics


def request_id(request: Request) -> str | None:
    return request.scope.get("state", {}).get("request_id")


async def call(request: Request, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """One database function as the caller's role, in one transaction."""
    who = principal(request)
    return await database(request).call(who.kind, query, params, who.actor, who.claims)


async def one(request: Request, query: str, *params: Any) -> Any:
    rows = await call(request, query, *params)
    return rows[0][0] if rows else None


def user_only(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if connection.user.kind != "user":
        raise ApiError(
            403,
            "forbidden",
            "this endpoint is for user tokens",
            hint="Service tokens use the /internal endpoints.",
        )


def engine_only(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if connection.user.kind != "engine":
        raise ApiError(403, "forbidden", "this endpoint is for the quant engine's service token")


def bot_only(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if connection.user.kind != "bot":
        raise ApiError(403, "forbidden", "this endpoint is for the execution bot's service token")


def service_only(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if connection.user.kind not in ("engine", "bot"):
        raise ApiError(403, "forbidden", "this endpoint is for service tokens (engine or bot)")
