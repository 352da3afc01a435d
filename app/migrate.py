"""Migrations: yoyo's versioned migrations, then the code (procedures/, views/).

`migrate` is what `xorj db migrate` runs, as the owner, in ONE transaction on one
connection: a transaction-level advisory lock first (so concurrent migrates queue instead
of racing, and the lock cannot outlive the transaction), then the pending versioned
migrations of db/migrations (yoyo, each in a savepoint), then every file of procedures/
and views/ (CREATE OR REPLACE, so re-applying them is harmless). Everything is applied or
nothing is, and no session state is used, so it is safe through a transaction pooler
(PgBouncer) as well as directly. (A migration that cannot run in a transaction, such as
CREATE INDEX CONCURRENTLY, would need a run of its own; there is none.)

A DBA can do the same with plain `yoyo apply --batch` (yoyo.ini at the top of the
repository): db/migrations/post-apply.py calls `apply_code` below. yoyo runs post-apply
steps only when some migration was pending, so after a change to procedures/ or views/
alone, `yoyo apply` does nothing: use `xorj db migrate`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

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


# How long a migrate waits for yoyo's own lock (a plain `yoyo apply` running meanwhile).
YOYO_LOCK_SECONDS = 300


def _yoyo(url: str):
    from yoyo import get_backend, read_migrations

    backend = get_backend(yoyo_url(url))
    # No server-side prepared statement: the connection may go through a pooler.
    backend.connection.prepare_threshold = None
    return backend, read_migrations(str(MIGRATIONS_DIR))


class _SameBackend:
    """yoyo runs each migration's steps on a copy of its backend (a second connection);
    here they run on the backend itself, inside the one transaction."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend

    def __enter__(self) -> Any:
        return self.backend

    def __exit__(self, *exc: object) -> None:
        return None


@contextmanager
def _one_transaction(url: str) -> Iterator[tuple[Any, Any]]:
    """yoyo's backend and migrations, in one transaction holding the migrate lock; commits
    when the block ends, rolls everything back on an error."""
    backend, migrations = _yoyo(url)
    try:
        backend.ensure_internal_schema_updated()  # yoyo's own tables, under yoyo's lock
        backend.copy = lambda: _SameBackend(backend)
        backend.begin()
        try:
            backend.execute("SELECT pg_advisory_xact_lock(:key)", {"key": MIGRATE_LOCK_KEY})
            with backend.lock(timeout=YOYO_LOCK_SECONDS):
                yield backend, migrations
        except BaseException:
            with suppress(Exception):  # the connection may be gone: the server rolls back
                backend.rollback()
            raise
        backend.commit()
    finally:
        backend.connection.close()


def migrate(url: str) -> MigrateResult:
    """Apply pending migrations, then the code, in one transaction. Idempotent."""
    result = MigrateResult()
    with _one_transaction(url) as (backend, migrations):
        pending = backend.to_apply(migrations)
        backend.apply_migrations_only(pending)
        result.applied = [m.id for m in pending]
        result.code_files = apply_code(backend.connection)
    return result


def rollback(url: str) -> str | None:
    """Roll back the last applied versioned migration. Returns its id, or None."""
    with _one_transaction(url) as (backend, migrations):
        applied = backend.to_rollback(migrations)
        if not applied:
            return None
        last = applied[:1]
        backend.rollback_migrations(last)
        return last[0].id


def status(url: str) -> list[tuple[str, bool]]:
    """Every versioned migration and whether it is applied, in order."""
    backend, migrations = _yoyo(url)
    try:
        applied = backend.get_applied_migration_hashes()
    finally:
        backend.connection.close()
    return [(m.id, m.hash in applied) for m in migrations]


def set_login_password(url: str, login: str, password: str) -> None:
    """Give the application login a password, as the owner (CREATEROLE). The password is
    hashed here (SCRAM-SHA-256, as libpq does) and never sent in clear text."""
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
        hashed = conn.pgconn.encrypt_password(password.encode(), login.encode(), b"scram-sha-256")
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(login), sql.Literal(hashed.decode())
            )
        )


def expected_version() -> str:
    """The id of the last versioned migration in this checkout."""
    from yoyo import read_migrations

    ids = [m.id for m in read_migrations(str(MIGRATIONS_DIR))]
    return ids[-1] if ids else ""
