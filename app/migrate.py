"""Migrations: yoyo's versioned migrations, then the code (procedures/, views/).

`migrate` is what `xorj db migrate` runs: under an advisory lock (so concurrent
migrates queue instead of racing), it applies the pending versioned migrations of
db/migrations with yoyo, then re-applies every file of procedures/ and views/ in one
transaction. Those files are CREATE OR REPLACE, so re-applying them is harmless.

A DBA can do the same with plain `yoyo apply --batch` (yoyo.ini at the top of the
repository): db/migrations/post-apply.py calls `apply_code` below. yoyo runs post-apply
steps only when some migration was pending, so after a change to procedures/ or views/
alone, `yoyo apply` does nothing: use `xorj db migrate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from app.config import yoyo_url

ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS_DIR = ROOT / "db" / "migrations"
CODE_DIRS = (ROOT / "procedures", ROOT / "views")
# pg_advisory_lock key shared by every `xorj db migrate` of a database: 'xorj' in ASCII.
MIGRATE_LOCK_KEY = 0x786F726A


@dataclass
class MigrateResult:
    applied: list[str] = field(default_factory=list)
    code_files: list[str] = field(default_factory=list)


def code_files() -> list[Path]:
    """procedures/*.sql then views/*.sql, each in name order."""
    files: list[Path] = []
    for directory in CODE_DIRS:
        files += sorted(directory.glob("*.sql"))
    return files


# The functions of the api schema with the version of their catalog row. CREATE OR
# REPLACE rewrites a function's pg_proc row (a new xmin), so a function whose row is the
# same before and after the code files ran is one no file defines any more. (Comparing
# with the transaction's own xid would not do: yoyo runs its steps in savepoints.)
_API_FUNCTIONS = """
    SELECT p.oid::regprocedure::text, p.xmin::text
    FROM pg_catalog.pg_proc p
    WHERE p.pronamespace = 'api'::regnamespace
"""


def apply_code(connection: Any) -> list[str]:
    """Run every code file on a DB-API connection, in its current transaction, then drop
    the api functions no file defines any more. The api schema is thus exactly what
    procedures/ and views/ say."""
    applied = []
    cursor = connection.cursor()
    cursor.execute("SELECT to_regnamespace('api') IS NOT NULL")
    before = set()
    if cursor.fetchone()[0]:
        cursor.execute(_API_FUNCTIONS)
        before = set(cursor.fetchall())
    for path in code_files():
        text = path.read_text()
        if text.strip():
            cursor.execute(text)  # no parameters: psycopg sends the whole file at once
        applied.append(str(path.relative_to(ROOT)))
    cursor.execute(_API_FUNCTIONS)
    for signature, _ in sorted(before & set(cursor.fetchall())):
        cursor.execute(f"DROP FUNCTION {signature} CASCADE")
    return applied


def _yoyo(url: str):
    from yoyo import get_backend, read_migrations

    return get_backend(yoyo_url(url)), read_migrations(str(MIGRATIONS_DIR))


class _AdvisoryLock:
    """A session advisory lock on a connection of its own, held for the whole migrate."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: psycopg.Connection | None = None

    def __enter__(self) -> _AdvisoryLock:
        self.conn = psycopg.connect(self.url, autocommit=True)
        self.conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK_KEY,))
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.conn is not None
        try:
            self.conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATE_LOCK_KEY,))
        finally:
            self.conn.close()


def migrate(url: str) -> MigrateResult:
    """Apply pending migrations, then the code. Idempotent."""
    result = MigrateResult()
    with _AdvisoryLock(url):
        backend, migrations = _yoyo(url)
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations_only(pending)
            result.applied = [m.id for m in pending]
        with psycopg.connect(url) as conn:  # one transaction: all the code or none
            result.code_files = apply_code(conn)
    return result


def rollback(url: str) -> str | None:
    """Roll back the last applied versioned migration. Returns its id, or None."""
    with _AdvisoryLock(url):
        backend, migrations = _yoyo(url)
        with backend.lock():
            applied = backend.to_rollback(migrations)
            if not applied:
                return None
            last = applied[:1]
            backend.rollback_migrations(last)
            return last[0].id


def status(url: str) -> list[tuple[str, bool]]:
    """Every versioned migration and whether it is applied, in order."""
    backend, migrations = _yoyo(url)
    applied = backend.get_applied_migration_hashes()
    return [(m.id, m.hash in applied) for m in migrations]


def expected_version() -> str:
    """The id of the last versioned migration in this checkout."""
    from yoyo import read_migrations

    ids = [m.id for m in read_migrations(str(MIGRATIONS_DIR))]
    return ids[-1] if ids else ""
