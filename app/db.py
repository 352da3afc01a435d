"""The adapter's one door to the database: a pool, and `call` running one function in
one transaction as one role, with the caller's verified claims.

Every transaction starts with one statement that sets, for that transaction only
(set_config(..., true), never a session setting or a startup option, so that it holds
behind a transaction pooler):

    role                 xorj_api | xorj_engine | xorj_bot | xorj_readonly
    request.jwt.claims   the verified token's claims: the user functions read the wallet
                         from there (xorj.claimed_wallet()), never from a parameter
    xorj.actor           who is acting, for the audit trails
    statement_timeout    how long a statement may run

Connections are made with prepare_threshold=None: no server-side prepared statement, so
the same code runs directly or behind PgBouncer in transaction mode (measured: see the
README, "Deploying"). The process logs in as the application login (xorj_app), which
holds no right of its own; a login that is a superuser, or that can use the private
schema (the owner), is refused before any request is served (`check_login`).

Recovery: a connection found dead before the transaction could commit (the database
restarted, or was killed) is dropped and the call is run again on a new connection, so
the first request after the database is back succeeds; the pool does not back off.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from app.config import APP_LOGIN
from app.errors import ApiError, from_database

log = logging.getLogger("xorj.db")

ROLES = {
    "user": "xorj_api",
    "engine": "xorj_engine",
    "bot": "xorj_bot",
    "readonly": "xorj_readonly",
}

# The first statement of every transaction (see the module's doc).
PRELUDE = (
    "SELECT set_config('role', %s, true), set_config('request.jwt.claims', %s, true), "
    "set_config('xorj.actor', %s, true), set_config('statement_timeout', %s, true)"
)

# What the login may do, read once per new connection (see check_login).
LOGIN_QUERY = """
    SELECT r.rolname::text, r.rolsuper,
           coalesce(pg_has_role(current_user, n.nspowner, 'MEMBER'), false),
           coalesce(has_schema_privilege(current_user, n.oid, 'USAGE'), false)
    FROM pg_roles r LEFT JOIN pg_namespace n ON n.nspname = 'xorj'
    WHERE r.rolname = current_user
"""

CONNECT_KWARGS: dict[str, Any] = {"autocommit": True, "prepare_threshold": None}
WAIT_SLICE = 0.2  # seconds: see Database._connection


class PrivilegedLogin(RuntimeError):
    """The process logs in as a superuser or as the owner of the tables: refused."""


def login_problem(row: Sequence[Any] | None) -> str | None:
    """Why the login of a LOGIN_QUERY row may not run the application; None if it may."""
    if row is None:
        return None
    user, superuser, owner, usage = row
    if superuser:
        why = "is a superuser"
    elif owner:
        why = "owns the tables (it is the owner, or a member of it)"
    elif usage:
        why = "can use the private schema xorj directly"
    else:
        return None
    return (
        f"the database login {user} {why}: the application must log in as {APP_LOGIN}, "
        f"which holds no right of its own. Set DATABASE_URL to {APP_LOGIN}'s URL (the "
        "owner's URL goes in MIGRATION_DATABASE_URL, for `xorj db migrate` only); "
        "`xorj dev-db url --app` prints it for the project's own PostgreSQL"
    )


def prelude_params(
    role: str, claims: Mapping[str, Any] | None, actor: str, timeout_ms: int
) -> tuple[str, str, str, str]:
    return (
        role,
        json.dumps(claims, separators=(",", ":"), default=str) if claims else "",
        actor[:200],
        str(max(1, int(timeout_ms))),
    )


def connection_lost(exc: BaseException, conn: Any) -> bool:
    """Whether `exc` means the connection is gone (not a refusal of the database)."""
    return isinstance(exc, psycopg.OperationalError) and bool(conn.broken or conn.closed)


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
        params: Sequence[Any] = (),
        actor: str = "",
        claims: Mapping[str, Any] | None = None,
    ) -> list[tuple[Any, ...]]:
        """Run `query` as the role of `kind` ('user', 'engine', 'bot', 'readonly') in one
        transaction, with `claims` and `actor` set, and return its rows; a database
        refusal becomes an ApiError."""
        prelude = prelude_params(ROLES[kind], claims, actor, self.timeout_ms)
        # A connection found dead before the commit was sent is retried on another one:
        # nothing of the transaction can have been committed. Every idle connection may be
        # dead after a restart, so up to the pool's size of them are tried.
        for attempt in range(self.max_size + 1):
            committing = False
            try:
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
            except PoolTimeout as exc:
                raise self._unavailable(exc) from exc
            except psycopg.Error as exc:
                sqlstate = exc.sqlstate or "no_sqlstate"
                self._count(sqlstate)
                error = from_database(exc)
                if error.status >= 500:
                    log.error("database error %s: %s", sqlstate, exc)
                raise error from exc
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
            async with conn:
                yield conn
        finally:
            await self.pool.putconn(conn)

    async def ready(self, expected_version: str) -> tuple[bool, str]:
        """Whether the database answers and is migrated to `expected_version`."""
        try:
            rows = await self.call("readonly", "SELECT api.applied_migrations()")
        except ApiError as exc:
            if exc.status == 503:
                return False, self.login_refused or "database unreachable"
            return False, f"database not migrated: {exc.message}"
        applied = {row[0] for row in rows}
        if expected_version and expected_version not in applied:
            return False, f"database not migrated to {expected_version}"
        return True, "ok"

    def stats(self) -> dict[str, int]:
        return dict(self.pool.get_stats())
