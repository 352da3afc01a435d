"""A small synchronous door to the database for the workers (psycopg 3, one connection).

Every call runs in its own transaction, after `SET LOCAL ROLE <role>` and with the actor
of the audit trails set (`set_config('xorj.actor', actor, true)`), exactly as the HTTP
adapter does (app/db.py), so a worker reaches only what its role was granted. The
connection is in autocommit mode outside those transactions, which LISTEN needs.

A refusal of the database is a psycopg.Error carrying the documented SQLSTATE
(README, "Errors"); `sqlstate` and `conflict_rule` read it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import psycopg
from psycopg import sql

CONFLICT = "XJ409"
REFUSED = "XJ423"
NOT_FOUND = "XJ404"
INVALID = "XJ422"


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error, or None for anything else."""
    return exc.sqlstate if isinstance(exc, psycopg.Error) else None


def conflict_rule(exc: BaseException) -> str | None:
    """The rule an XJ409 conflict names (its CONSTRAINT field), else None."""
    if isinstance(exc, psycopg.Error) and exc.sqlstate == CONFLICT:
        return exc.diag.constraint_name
    return None


def one_line(exc: BaseException, primary: bool = False) -> str:
    """An exception as one short line (for logs and error columns). `primary`: of a
    database error, its primary message only (without DETAIL, HINT and CONTEXT), as the
    command line prints a refusal."""
    text = str(exc)
    if primary and isinstance(exc, psycopg.Error) and exc.diag.message_primary:
        text = exc.diag.message_primary
    text = " ".join(text.split()) or type(exc).__name__
    return text[:2000]


class BotDb:
    """One autocommit connection; `tx()` gives a transaction as `role` named `actor`."""

    def __init__(
        self, url: str, actor: str, role: str = "xorj_bot", connect_timeout: int = 10
    ) -> None:
        self.url = url
        self.actor = actor[:200]
        self.role = role
        self.connect_timeout = connect_timeout
        self._prelude = sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role))
        self.conn = self._connect()

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url, autocommit=True, connect_timeout=self.connect_timeout)

    def ensure_open(self) -> bool:
        """Reconnect when the connection is closed or broken; True when it reconnected."""
        if self.conn.closed or self.conn.broken:
            self.close()
            self.conn = self._connect()
            return True
        return False

    @contextmanager
    def tx(self, read_only: bool = False) -> Iterator[psycopg.Connection[Any]]:
        """A transaction as the role, with the actor set; commits when the block ends.
        `read_only`: a READ ONLY transaction (set before anything else runs in it)."""
        self.ensure_open()
        with self.conn.transaction():
            if read_only:
                self.conn.execute("SET TRANSACTION READ ONLY")
            self.conn.execute(self._prelude)
            self.conn.execute("SELECT set_config('xorj.actor', %s, true)", (self.actor,))
            yield self.conn

    def rows(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement in its own transaction; its rows (none for a command)."""
        with self.tx() as conn:
            cur = conn.execute(query, params)
            return list(cur.fetchall()) if cur.description else []

    def one(self, query: str, params: Sequence[Any] = ()) -> tuple[Any, ...]:
        """Run one statement that returns exactly one row; that row."""
        rows = self.rows(query, params)
        if len(rows) != 1:
            raise RuntimeError(f"expected one row, got {len(rows)}: {query}")
        return rows[0]

    def value(self, query: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the one row of `query`."""
        return self.one(query, params)[0]

    def close(self) -> None:
        with suppress(psycopg.Error):
            self.conn.close()
