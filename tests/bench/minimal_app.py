"""The HTTP benchmark's baseline: the least a Litestar app does to serve the same two
endpoints with the same SQL. Per request: verify the bearer token (HS256, JWT_SECRET),
take a connection of a psycopg pool (prepare_threshold=None; DATABASE_MAX_CONNECTIONS,
default 5, as the real app), run one transaction as a plain psycopg app does: BEGIN,
app.dbapi's prelude (role, claims, actor, statement timeout), the same api.* call,
COMMIT (four round trips); and return the call's JSON.

With XORJ_MINIMAL_ONE_TRIP=1 it sends the prelude and the call as app/dbapi/aio.py does
(app.dbapi.core.one_trip: one query string, one round trip), to compare the apps' own
Python work alone.

    JWT_SECRET=... DATABASE_URL=... uvicorn tests.bench.minimal_app:create_app --factory
"""

from __future__ import annotations

import json
import os
from contextlib import asynccontextmanager
from typing import Any

import jwt
from litestar import Litestar, Request, Response, get, post
from litestar.exceptions import NotAuthorizedException
from psycopg import AsyncClientCursor
from psycopg_pool import AsyncConnectionPool

from app.dbapi import bots, trades
from app.dbapi.core import PRELUDE, Call, one_trip

ROLES = {"user": "xorj_api", "bot": "xorj_bot"}
ONE_TRIP = os.environ.get("XORJ_MINIMAL_ONE_TRIP") == "1"
FIELDS = ("job_id", "user_vault_address", "client_order_id", "from_token_address")
FIELDS += ("to_token_address", "amount_in", "expected_amount_out")


async def _rows(request: Request, kind: str, call: Call) -> list[tuple[Any, ...]]:
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    try:
        claims = jwt.decode(token, request.app.state.secret, algorithms=["HS256"])
    except jwt.PyJWTError as exc:
        raise NotAuthorizedException() from exc
    if claims.get("role", "user") != kind:
        raise NotAuthorizedException()
    actor = f"{'api' if kind == 'user' else kind}:{claims.get('sub')}"
    prelude = (ROLES[kind], json.dumps(claims, separators=(",", ":")), actor, "30000")
    pool = request.app.state.pool
    trip = one_trip(call.sql, call.params, prelude) if ONE_TRIP else None
    if trip is not None:
        async with pool.connection() as conn:
            cur = AsyncClientCursor(conn)
            await cur.execute(*trip)
            cur.nextset()
            return await cur.fetchall()
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(PRELUDE, prelude)
        return await (await conn.execute(call.sql, call.params)).fetchall()


@get("/api/bot/status")
async def bot_status(request: Request) -> Any:
    return (await _rows(request, "user", bots.status()))[0][0]


@post("/internal/trades")
async def create_trade(request: Request, data: dict[str, Any]) -> Response[Any]:
    call = trades.create(*(data[f] for f in FIELDS), venue=data.get("venue"))
    [(replay, trade)] = await _rows(request, "bot", call)
    return Response({"replay": replay, "trade": trade}, status_code=200 if replay else 201)


def create_app() -> Litestar:
    size = int(os.environ.get("DATABASE_MAX_CONNECTIONS", "5"))
    kwargs = {"autocommit": True, "prepare_threshold": None}
    pool = AsyncConnectionPool(
        os.environ["DATABASE_URL"], min_size=1, max_size=size, open=False, kwargs=kwargs
    )

    @asynccontextmanager
    async def lifespan(app: Litestar):
        async with pool:
            yield

    app = Litestar([bot_status, create_trade], lifespan=[lifespan], debug=False)
    app.state.pool, app.state.secret = pool, os.environ["JWT_SECRET"]
    return app
