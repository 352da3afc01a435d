"""The asynchronous face of the door, for the HTTP API: a psycopg pool, and `run` (or
`call`) executing one api function in one transaction as one role, with the caller's
verified claims and actor (the prelude of app/dbapi/core.py).

One round trip per call where it can (core.one_trip): the prelude and the call go as one
query string, run by PostgreSQL as one implicit transaction; a call with a large or
structured parameter is sent as BEGIN, prelude, call, COMMIT.

Connections are made with prepare_threshold=None and checked once for the login
(`PrivilegedLogin`: a superuser or the owner is refused); no connection is probed per
request. Recovery: a connection the server has closed (the database restarted, or was
killed) has something to read, or an end of file, while it sits idle in the pool; that
is seen without a round trip (`_closed_by_server`, one poll(2) of its socket) before
anything is sent on it, and it is dropped for another one. Once the one-trip statement
is sent, a lost connection is not retried (its implicit commit may have happened): 503,
as for any failure after a commit was sent. On the extended way, a connection found
dead before the commit was sent is retried on another one. The pool does not back off
between connection attempts, and a waiting request asks it again every WAIT_SLICE, so
the first request after the database is back succeeds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import AsyncClientCursor
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from app.dbapi.core import (
    CONNECT_KWARGS,
    LOGIN_QUERY,
    PRELUDE,
    ROLES,
    Call,
    PrivilegedLogin,
    connection_lost,
    has_input,
    login_problem,
    one_trip,
    prelude_params,
)
from app.errors import ApiError, from_database

log = logging.getLogger("xorj.db")

WAIT_SLICE = 0.2  # seconds: see Database._connection


class Database:
    def __init__(
        self,
        url: str,
        max_size: int = 5,
        timeout: float = 5.0,
        idle_seconds: float = 10.0,
        statement_timeout: float = 30.0,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.max_size = max_size
        self.timeout_ms = int(statement_timeout * 1000)
        self.login_refused: str | None = None
        self.pool = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            open=False,
            timeout=timeout,
            max_idle=idle_seconds,
            # No backoff between connection attempts: while the database is down each
            # request tries once (and gets 503), and the first one after it is back
            # connects. Dead connections are found by `call`, not by a check per request.
            reconnect_timeout=0,
            configure=self._configure,
            kwargs={**CONNECT_KWARGS, "connect_timeout": max(1, int(timeout))},
            name="xorj",
        )
        self.errors_by_sqlstate: dict[str, int] = {}
        self.error_counter: Any = None  # a prometheus Counter labelled by sqlstate

    async def _configure(self, conn: psycopg.AsyncConnection[Any]) -> None:
        cur = await conn.execute(LOGIN_QUERY)
        problem = login_problem(await cur.fetchone())
        if problem:
            if self.login_refused is None:
                log.error("refusing the database login: %s", problem)
            self.login_refused = problem
            await conn.close()
            raise PrivilegedLogin(problem)

    async def check_login(self) -> None:
        """At start: refuse a privileged login (PrivilegedLogin); a database that cannot be
        reached yet is not an error (the app starts and answers 503 until it can)."""
        try:
            conn = await psycopg.AsyncConnection.connect(
                self.url, **CONNECT_KWARGS, connect_timeout=max(1, int(self.timeout))
            )
        except psycopg.Error as exc:
            log.warning("database not reachable at start: %s", exc)
            return
        async with conn:
            await self._configure(conn)

    async def open(self) -> None:
        # wait=False: the app starts (and answers /healthz) even while the database is down.
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    def _count(self, sqlstate: str) -> None:
        self.errors_by_sqlstate[sqlstate] = self.errors_by_sqlstate.get(sqlstate, 0) + 1
        if self.error_counter is not None:
            self.error_counter.labels(sqlstate).inc()

    def _unavailable(self, exc: BaseException) -> ApiError:
        self._count("pool_timeout")
        log.warning("database unavailable: %s", self.login_refused or exc)
        return ApiError(
            503,
            "unavailable",
            "the database is unavailable; retry shortly",
            hint="Retry after the number of seconds in Retry-After.",
            headers={"Retry-After": "1"},
        )

    async def call(
        self,
        kind: str,
        query: str,
        params: Sequence[Any] | Mapping[str, Any] = (),
        actor: str = "",
        claims: Mapping[str, Any] | str | None = None,
    ) -> list[tuple[Any, ...]]:
        """Run `query` as the role of `kind` ('user', 'engine', 'bot', 'readonly') in one
        transaction, with `claims` and `actor` set, and return its rows; a database
        refusal becomes an ApiError."""
        prelude = prelude_params(ROLES[kind], claims, actor, self.timeout_ms)
        trip = one_trip(query, params, prelude)
        try:
            if trip is not None:
                return await self._one_trip(*trip)
            return await self._extended(query, params, prelude)
        except PoolTimeout as exc:
            raise self._unavailable(exc) from exc
        except psycopg.Error as exc:
            sqlstate = exc.sqlstate or "no_sqlstate"
            self._count(sqlstate)
            error = from_database(exc)
            if error.status >= 500:
                log.error("database error %s: %s", sqlstate, exc)
            raise error from exc

    async def _one_trip(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """The prelude and the call in one query string (core.one_trip): its second result.
        Connections the server closed while they were idle are dropped unused; up to the
        pool's size of them (every idle one may be dead after a restart)."""
        for _ in range(self.max_size + 1):
            async with self._connection() as conn:
                if _closed_by_server(conn):
                    log.info("dropping a pooled connection the server has closed")
                    await conn.close()
                    continue
                cur = AsyncClientCursor(conn)
                await cur.execute(sql, params)
                cur.nextset()
                return await cur.fetchall() if cur.description else []
        raise psycopg.OperationalError("every connection tried had been closed by the server")

    async def _extended(
        self, query: str, params: Sequence[Any] | Mapping[str, Any], prelude: Sequence[str]
    ) -> list[tuple[Any, ...]]:
        """BEGIN, prelude, call, COMMIT. A connection found dead before the commit was
        sent is retried on another one: nothing of the transaction can have been
        committed. Every idle connection may be dead after a restart, so up to the pool's
        size of them are tried."""
        for attempt in range(self.max_size + 1):
            committing = False
            async with self._connection() as conn:
                try:
                    async with conn.transaction():
                        await conn.execute(PRELUDE, prelude)
                        cur = await conn.execute(query, params)
                        rows = await cur.fetchall() if cur.description else []
                        committing = True
                    return rows
                except psycopg.Error as exc:
                    if committing or not connection_lost(exc, conn) or attempt == self.max_size:
                        raise
                    log.info("connection lost before the commit; retrying: %s", exc)
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A connection of the pool, waiting up to `timeout`, in slices of WAIT_SLICE
        that each ask the pool again. Every ask starts a new connection attempt when the
        pool has room, so after an outage the requests already waiting get a connection
        as soon as the database is back, rather than when their whole wait ends (the pool
        itself tries once per ask and never backs off: reconnect_timeout=0)."""
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            try:
                conn = await self.pool.getconn(timeout=max(0.001, min(WAIT_SLICE, left)))
                break
            except PoolTimeout:
                if time.monotonic() >= deadline:
                    raise
        try:
            yield conn
        finally:
            # The pool rolls back a transaction left open (an error on the extended way)
            # and replaces a closed connection.
            await self.pool.putconn(conn)

    async def run(
        self,
        call: Call,
        kind: str,
        actor: str = "",
        claims: Mapping[str, Any] | str | None = None,
    ) -> Any:
        """Run a Call of the noun modules as the role of `kind`; its answer."""
        return call.answer(await self.call(kind, call.sql, call.params, actor, claims))

    async def ready(self, expected_version: str) -> tuple[bool, str]:
        """Whether the database answers and is migrated to `expected_version`."""
        from app.dbapi import ops

        try:
            applied = set(await self.run(ops.applied_migrations(), "readonly"))
        except ApiError as exc:
            if exc.status == 503:
                return False, self.login_refused or "database unreachable"
            return False, f"database not migrated: {exc.message}"
        if expected_version and expected_version not in applied:
            return False, f"database not migrated to {expected_version}"
        return True, "ok"

    def stats(self) -> dict[str, int]:
        return dict(self.pool.get_stats())


def _closed_by_server(conn: psycopg.AsyncConnection[Any]) -> bool:
    """Whether an idle connection has anything to read: the server sends nothing
    unasked to an idle session of this pool (no LISTEN), except the error and end of
    file of a terminated one. No round trip: one poll(2) with no wait."""
    return conn.closed or conn.broken or has_input(conn)
