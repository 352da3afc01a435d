"""The adapter's one door to the database: a pool, and `call` running one function in
one transaction as one role.

Every request runs `SET LOCAL ROLE <role>` first (xorj_api, xorj_engine or xorj_bot), so a
handler can reach only what that role was granted, and names the actor for the audit
trails. The pool checks a connection before lending it, so when the database comes back
after an outage the app recovers by itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from app.errors import ApiError, from_database

log = logging.getLogger("xorj.db")

ROLES = {"user": "xorj_api", "engine": "xorj_engine", "bot": "xorj_bot"}
_SET_ROLE = {kind: f"SET LOCAL ROLE {role}" for kind, role in ROLES.items()}


class Database:
    def __init__(self, url: str, max_size: int = 20, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self.pool = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            open=False,
            timeout=timeout,
            # After an outage, retry connecting every few seconds rather than backing
            # off for minutes: the app answers again soon after the database is back.
            reconnect_timeout=max(10.0, 2 * timeout),
            check=AsyncConnectionPool.check_connection,
            kwargs={"autocommit": True, "connect_timeout": max(1, int(timeout))},
            name="xorj",
        )
        self.errors_by_sqlstate: dict[str, int] = {}

    async def open(self) -> None:
        # wait=False: the app starts (and answers /healthz) even while the database is down.
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    def _count(self, sqlstate: str) -> None:
        self.errors_by_sqlstate[sqlstate] = self.errors_by_sqlstate.get(sqlstate, 0) + 1

    async def call(
        self, kind: str, query: str, params: Sequence[Any] = (), actor: str = ""
    ) -> list[tuple[Any, ...]]:
        """Run `query` as the role of `kind` ('user', 'engine', 'bot') in one transaction
        and return its rows; a database refusal becomes an ApiError."""
        try:
            async with self.pool.connection() as conn, conn.transaction():
                await conn.execute(_SET_ROLE[kind])
                if actor:
                    await conn.execute("SELECT set_config('xorj.actor', %s, true)", (actor[:200],))
                cur = await conn.execute(query, params)
                return await cur.fetchall() if cur.description else []
        except PoolTimeout as exc:
            self._count("pool_timeout")
            log.warning("database unavailable: %s", exc)
            raise ApiError(
                503,
                "unavailable",
                "the database is unavailable; retry shortly",
                hint="Retry after the number of seconds in Retry-After.",
                headers={"Retry-After": "2"},
            ) from exc
        except psycopg.Error as exc:
            sqlstate = exc.sqlstate or "no_sqlstate"
            self._count(sqlstate)
            error = from_database(exc)
            if error.status >= 500:
                log.error("database error %s: %s", sqlstate, exc)
            raise error from exc

    async def ready(self, expected_version: str) -> tuple[bool, str]:
        """Whether the database answers and is migrated to `expected_version`."""
        try:
            async with self.pool.connection(timeout=2) as conn:
                cur = await conn.execute("SELECT migration_id FROM _yoyo_migration")
                applied = {row[0] for row in await cur.fetchall()}
        except (PoolTimeout, psycopg.Error) as exc:
            return False, f"database unreachable: {type(exc).__name__}"
        if expected_version and expected_version not in applied:
            return False, f"database not migrated to {expected_version}"
        return True, "ok"

    def stats(self) -> dict[str, int]:
        return dict(self.pool.get_stats())
