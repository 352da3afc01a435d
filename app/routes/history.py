"""A user's own trade history (GET /api/bot/trades): `UserTradesController`, for user
tokens only, with its answer. The handler runs one Call of app/dbapi/trades.py
(`history`, api.my_trades), which acts for the wallet of the verified claims: the trades
of that wallet's registered vault, newest first, paged by a keyset cursor. Every rule
(which trades are the caller's, the status, the page size, whether a cursor is one of
the caller's trades) is the database's; Python only checks query types (a cursor that
is not a UUID, a limit outside int32: 400).
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, get
from litestar.params import Parameter

from app.dbapi import trades
from app.errors import now_iso
from app.routes.common import DEPENDENCIES, Db, Limit, request_id, user_only
from app.routes.trades import UserTrade


class TradeHistory(msgspec.Struct):
    """A page of the history; nextCursor is the id of its last trade when the page is
    full (pass it as `cursor` for the next page), else null."""

    success: bool
    trades: list[UserTrade]
    nextCursor: UUID | None
    timestamp: str
    requestId: str | None


def _trade(value: dict[str, Any]) -> UserTrade:
    return msgspec.convert(value, UserTrade, strict=False)


class UserTradesController(Controller):
    path = "/api/bot/trades"
    guards = (user_only,)
    dependencies = DEPENDENCIES
    tags = ("user",)

    @get("/", summary="The caller's trades, newest first, paged by a cursor")
    async def my_trades(
        self,
        request: Request,
        db: Db,
        status: Annotated[
            str | None,
            Parameter(
                description="Only trades of this status: PENDING, SUBMITTED, CONFIRMED or FAILED"
            ),
        ] = None,
        cursor: Annotated[
            UUID | None,
            Parameter(description="The nextCursor of the previous page; none for the first page"),
        ] = None,
        limit: Limit = 50,
    ) -> TradeHistory:
        """The trades of the vault the token's wallet has registered, newest first (by
        creation time, then id), `limit` (1..200, default 50) at a time. A page is stable
        under new trades: the next one starts strictly after `cursor`, the id of the last
        trade of the previous page, so trades created meanwhile never shift it (no
        duplicate, no gap). A wallet without a vault has no trades. 422 names the field:
        `status` not a trade status, `limit` out of range, `cursor` not one of the
        caller's trades."""
        found = [_trade(t) for t in await db.run(trades.history(status, cursor, limit))]
        next_cursor = found[-1].id if found and len(found) == limit else None
        return TradeHistory(True, found, next_cursor, now_iso(), request_id(request))
