"""The synchronous face of the door, for the workers, the seed and the command line: one
connection.

Every call runs in its own transaction that starts with the same prelude as the HTTP
adapter's (app/dbapi/core.py: role, claims, actor and statement_timeout, each for that
transaction only), so a worker reaches only what its role was granted and runs the same
way directly or behind a transaction pooler. The connection is in autocommit mode
outside those transactions, which LISTEN needs, and never prepares statements.

`db.run(call)` runs one Call of the noun modules in its own transaction, in one round
trip where it can (core.one_trip, as the HTTP adapter does): the prelude and the call go
as one query string, which PostgreSQL runs as one implicit transaction. A call with a
large or structured parameter, or on a connection that has something to read before
anything is sent (the server closed it, or a notification of a LISTEN waits), goes the
extended way: BEGIN, prelude, call, COMMIT, where a connection found dead before the
commit is replaced and the call run once more. Once a one-trip call is sent, a lost
connection is not retried (its implicit commit may have happened): the error is
raised, as for a connection lost while its COMMIT was on the way.
`with db.transaction() as t: t.run(a); t.run(b)` runs several in one transaction.

Connecting waits for the database: when it is down, starting up or full (too many
connections), the connection is tried again with a backoff (0.5 s doubling to 10 s),
each failure reported to `on_retry`, until it succeeds, `max_wait` seconds have passed,
or `should_stop()` says to stop (checked every 0.1 s: SIGTERM stops a waiting bot at
once). A login that cannot work (no such role or database, a bad password, a refused
certificate) fails at once; a privileged login (the owner, a superuser) is refused
(app.db.PrivilegedLogin).

A refusal of the database is a psycopg.Error carrying the documented SQLSTATE
(README, "Errors"); `sqlstate` and `conflict_rule` read it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import psycopg

from app.dbapi.core import (
    CONNECT_KWARGS,
    LOGIN_QUERY,
    PRELUDE,
    Call,
    PrivilegedLogin,
    connection_lost,
    has_input,
    login_problem,
    one_trip,
    prelude_params,
)

FIRST_DELAY = 0.5
MAX_DELAY = 10.0
# Connection failures that waiting does not cure (libpq gives them no SQLSTATE).
_PERMANENT = (
    "does not exist",
    "authentication failed",
    "no pg_hba.conf entry",
    "certificate",
    "invalid connection option",
    "invalid sslmode",
    "could not translate host name",
)


class Stopped(Exception):
    """should_stop() said to stop while waiting for the database."""


def connect_failure_is_permanent(exc: BaseException) -> bool:
    """Whether a failure to connect is one that retrying will not cure."""
    text = str(exc).lower()
    return any(marker in text for marker in _PERMANENT)


class SyncDatabase:
    """One autocommit connection; `tx()` gives a transaction as `role` named `actor`."""

    def __init__(
        self,
        url: str,
        actor: str,
        role: str = "xorj_bot",
        connect_timeout: int = 5,
        statement_timeout: float = 30.0,
        should_stop: Callable[[], bool] | None = None,
        on_retry: Callable[[int, float, BaseException], None] | None = None,
        max_wait: float | None = 0.0,
    ) -> None:
        """`max_wait`: seconds to keep trying to connect (None: until should_stop();
        0: one attempt)."""
        self.url = url
        self.actor = actor[:200]
        self.role = role
        self.connect_timeout = connect_timeout
        self.timeout_ms = int(statement_timeout * 1000)
        self.should_stop = should_stop or (lambda: False)
        self.on_retry = on_retry
        self.max_wait = max_wait
        self.reconnects = 0
        self.conn = self._connect()

    def _connect_once(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self.url, **CONNECT_KWARGS, connect_timeout=self.connect_timeout)
        problem = login_problem(conn.execute(LOGIN_QUERY).fetchone())
        if problem:
            conn.close()
            raise PrivilegedLogin(problem)
        return conn

    def _connect(self) -> psycopg.Connection[Any]:
        deadline = None if self.max_wait is None else time.monotonic() + self.max_wait
        delay = FIRST_DELAY
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._connect_once()
            except psycopg.OperationalError as exc:
                if connect_failure_is_permanent(exc):
                    raise
                wait = delay
                if deadline is not None:
                    wait = min(wait, deadline - time.monotonic())
                    if wait <= 0:
                        raise
                if self.on_retry is not None:
                    self.on_retry(attempt, wait, exc)
                self._sleep(wait)
                delay = min(delay * 2, MAX_DELAY)

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while True:
            if self.should_stop():
                raise Stopped("stopped while waiting for the database")
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.1, left))

    def ensure_open(self) -> bool:
        """Reconnect when the connection is closed or broken; True when it reconnected."""
        if self.conn.closed or self.conn.broken:
            self.close()
            self.conn = self._connect()
            self.reconnects += 1
            return True
        return False

    @contextmanager
    def tx(
        self, read_only: bool = False, claims: Mapping[str, Any] | None = None
    ) -> Iterator[psycopg.Connection[Any]]:
        """A transaction as the role, with the actor (and `claims`) set; commits when the
        block ends. `read_only`: a READ ONLY transaction (set before anything else runs)."""
        self.ensure_open()
        with self.conn.transaction():
            if read_only:
                self.conn.execute("SET TRANSACTION READ ONLY")
            self.conn.execute(
                PRELUDE, prelude_params(self.role, claims, self.actor, self.timeout_ms)
            )
            yield self.conn

    def rows(
        self,
        query: str,
        params: Sequence[Any] | Mapping[str, Any] = (),
        claims: Mapping[str, Any] | None = None,
    ) -> list[tuple[Any, ...]]:
        """Run one statement in its own transaction; its rows (none for a command). In one
        round trip when it can (see the module's text); else a connection found dead
        before the commit is replaced and the statement run once more (nothing of it can
        have been committed)."""
        prelude = prelude_params(self.role, claims, self.actor, self.timeout_ms)
        trip = one_trip(query, params, prelude)
        if trip is not None:
            self.ensure_open()
            if not has_input(self.conn):
                cur = psycopg.ClientCursor(self.conn)
                cur.execute(*trip)
                cur.nextset()
                return list(cur.fetchall()) if cur.description else []
        for attempt in (1, 2):
            committing = False
            try:
                with self.tx(claims=claims) as conn:
                    cur = conn.execute(query, params)
                    rows = list(cur.fetchall()) if cur.description else []
                    committing = True
                return rows
            except psycopg.Error as exc:
                if committing or attempt == 2 or not connection_lost(exc, self.conn):
                    raise
        raise AssertionError("unreachable")

    def one(
        self,
        query: str,
        params: Sequence[Any] | Mapping[str, Any] = (),
        claims: Mapping[str, Any] | None = None,
    ) -> tuple[Any, ...]:
        """Run one statement that returns exactly one row; that row."""
        rows = self.rows(query, params, claims)
        if len(rows) != 1:
            raise RuntimeError(f"expected one row, got {len(rows)}: {query}")
        return rows[0]

    def value(
        self,
        query: str,
        params: Sequence[Any] | Mapping[str, Any] = (),
        claims: Mapping[str, Any] | None = None,
    ) -> Any:
        """The first column of the one row of `query`."""
        return self.one(query, params, claims)[0]

    def run(self, call: Call, claims: Mapping[str, Any] | None = None) -> Any:
        """Run a Call of the noun modules in its own transaction; its answer."""
        return call.answer(self.rows(call.sql, call.params, claims))

    @contextmanager
    def transaction(
        self, claims: Mapping[str, Any] | None = None, read_only: bool = False
    ) -> Iterator[Transaction]:
        """Several Calls in one transaction: `with db.transaction() as t: t.run(call)`."""
        with self.tx(read_only=read_only, claims=claims) as conn:
            yield Transaction(conn)

    def close(self) -> None:
        with suppress(psycopg.Error):
            self.conn.close()


class Transaction:
    """The Calls of one transaction of a SyncDatabase."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def run(self, call: Call) -> Any:
        cur = self.conn.execute(call.sql, call.params)
        return call.answer(cur.fetchall() if cur.description else [])
