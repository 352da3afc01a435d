"""Shared fixtures: throw-away databases on the test server, and a schema snapshot.

Databases
    Every database a test gets is created by the superuser (tests/dbutil.py) and owned by
    the non-superuser owner role, which is also the user of the URL the test receives, as
    on a managed server. Migrations are applied once per session to a template database;
    each test that wants a migrated database gets a copy of it (CREATE DATABASE ...
    TEMPLATE: about 20 ms on an idle server, no slower than creating an empty database),
    and every database is dropped (WITH (FORCE)) when its test ends, whatever the test
    left connected.

    template_db        session: the name of the migrated template database
    db_url             a fresh copy of the template, as the owner's URL (for setting up
                       and reading tables directly, as a test may)
    app_url            the same database as db_url, as the application login xorj_app
                       (what the API and the workers log in as)
    app_url_of         app_url_of(url) -> the application login's URL of url's database
    empty_db_url       a fresh database without migrations, as the owner's URL
    make_database      a factory, for tests needing several: make_database() -> an empty
                       database's URL, make_database(template=...) -> a copy's URL
    admin_url          session: the superuser's URL (of the server's maintenance database)
    superuser_url      superuser_url(url) -> the superuser's URL of the same database
    owner_role         session: the owner role's name

Other helpers
    schema_snapshot    schema_snapshot(url) -> a deterministic text of the database's
                       schema, privileges and owners included, without yoyo's bookkeeping
                       tables: equal texts mean equal schemas
    xorj_cli           xorj_cli(*args, env={...}) runs the installed `xorj` command with
                       the database variables of the environment cleared, plus `env`
    cli_env            cli_env(env) -> that environment, for other commands (yoyo, Popen)

Names: the template is xorj_tpl_<pid>, the copies and empty databases test_<pid>_<n>, so
two runs on one server never collide. A run killed half way leaves its databases behind
(drop them by hand: SELECT datname FROM pg_database WHERE datname ~ '^(test|xorj_tpl)_');
create_database replaces a database of the same name, should a pid come round again.
"""

from __future__ import annotations

import gc
import itertools
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from app import devdb, migrate
from app.config import APP_LOGIN, SEED_VARIABLES, url_from_params
from tests import dbutil

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the virtualenv's bin: xorj and yoyo live there
_COUNTER = itertools.count(1)

# Variables that name a database: cleared for every `xorj` run of a test (see xorj_cli).
DATABASE_VARIABLES = (
    "DATABASE_URL",
    *SEED_VARIABLES,
    "DATABASE_SSL",
    "DATABASE_SSL_ROOT_CERT",
    "DATABASE_MAX_CONNECTIONS",
    "DATABASE_DIRECT_URL",
    "MIGRATION_DATABASE_URL",
    "XORJ_APP_PASSWORD",
    "YOYO_DATABASE_URL",
)


def database_name(url: str) -> str:
    """The database a URL names."""
    return conninfo_to_dict(url)["dbname"]


def _with_database(url: str, database: str) -> str:
    params: dict[str, object] = conninfo_to_dict(url)
    params["dbname"] = database
    return url_from_params(params)


# --- databases -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def admin_url() -> str:
    """The superuser's URL of the test server's maintenance database."""
    return dbutil.admin_url()


@pytest.fixture(scope="session")
def owner_role(admin_url: str) -> str:
    """The non-superuser role that owns the test databases and runs their migrations."""
    return dbutil.owner_role()


@pytest.fixture(scope="session")
def superuser_url(admin_url: str) -> Callable[[str], str]:
    """superuser_url(url): the superuser's URL of the database `url` names."""

    def convert(url: str) -> str:
        return _with_database(admin_url, database_name(url))

    return convert


@pytest.fixture(scope="session")
def template_db(admin_url: str, owner_role: str) -> Iterator[str]:
    """The name of a database migrated once per session, the template of `db_url`.

    Nothing may connect to it: CREATE DATABASE ... TEMPLATE refuses a template with
    sessions. After the migration, any session left on it is ended and connections to it
    are disallowed (ALLOW_CONNECTIONS false), which copies do not need.
    """
    name = f"xorj_tpl_{os.getpid()}"
    dbutil.create_database(name, owner_role)
    try:
        migrate.migrate(dbutil.url_for(name, owner_role))
        gc.collect()  # a connection yoyo's backend may still hold, if any
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            conn.execute(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(name))
            )
        yield name
    finally:
        dbutil.drop_database(name)


@pytest.fixture
def make_database(owner_role: str) -> Iterator[Callable[..., str]]:
    """make_database(template=None) -> the owner's URL of a new database (test_<pid>_<n>).

    Without a template the database is empty (no migrations). Every database made is
    dropped when the test ends.
    """
    made: list[str] = []

    def make(template: str | None = None) -> str:
        name = f"test_{os.getpid()}_{next(_COUNTER)}"
        made.append(name)
        dbutil.create_database(name, owner_role, template=template)
        return dbutil.url_for(name, owner_role)

    yield make
    for name in made:
        dbutil.drop_database(name)


@pytest.fixture
def db_url(template_db: str, make_database: Callable[..., str]) -> str:
    """The owner's URL of a fresh, fully migrated database (a copy of `template_db`)."""
    return make_database(template=template_db)


def app_url_of(url: str) -> str:
    """The application login's (xorj_app) URL of the database `url` names."""
    params: dict[str, object] = conninfo_to_dict(url)
    params["user"] = APP_LOGIN
    params.pop("password", None)
    return url_from_params(params)


@pytest.fixture(name="app_url_of", scope="session")
def app_url_of_fixture() -> Callable[[str], str]:
    return app_url_of


@pytest.fixture
def app_url(db_url: str) -> str:
    """The application login's URL of the fresh database of db_url."""
    return app_url_of(db_url)


@pytest.fixture
def empty_db_url(make_database: Callable[..., str]) -> str:
    """The owner's URL of a fresh database without any migration, owned by the owner."""
    return make_database()


# --- schema snapshot -------------------------------------------------------------------

# pg_dump's entries (one per object) of yoyo's bookkeeping tables, which differ with the
# history of a database (timestamps, hostnames) but are no part of its schema.
_YOYO_NAME = re.compile(r"^-- Name: (\S+ )?_?yoyo_\w*[ ;]")
_NOISE = (
    "--",  # comments, including the entry headers
    "SET ",
    "SELECT pg_catalog.set_config(",
    "\\restrict",  # pg_dump 15.14+ / 17.6+: a random key, different on every run
    "\\unrestrict",
)


def _pg_dump_binary() -> Path | None:
    try:
        candidate = devdb.find_bindir() / "pg_dump"
    except devdb.DevDbError:
        found = shutil.which("pg_dump")
        return Path(found) if found else None
    return candidate if candidate.exists() else None


def pg_dump_snapshot(url: str, pg_dump: Path) -> str | None:
    """pg_dump --schema-only of the database without comments, SET lines and yoyo's
    tables; None when this pg_dump is older than the server (it refuses to dump)."""
    proc = subprocess.run(
        [str(pg_dump), "--schema-only", "--dbname", url],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        if "server version mismatch" in proc.stderr:
            return None
        raise RuntimeError(f"pg_dump failed: {proc.stderr.strip()}")
    kept: list[str] = []
    skipping = False
    for line in proc.stdout.splitlines():
        if line.startswith("-- Name: "):
            skipping = bool(_YOYO_NAME.match(line))
        if skipping or not line.strip() or line.startswith(_NOISE):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept) + "\n"


# One query per kind of object of the schemas xorj and api; each row is one line of text.
# Ordered by names only (never OIDs), so two databases with the same schema give the same
# text whatever the order their objects were created in. A NULL ACL means the default
# privileges: it is shown as acldefault(), so that granting then revoking is no change.
_CATALOG_QUERIES = {
    "schema": """
        SELECT n.nspname, pg_get_userbyid(n.nspowner),
               coalesce(n.nspacl, acldefault('n', n.nspowner))::text,
               obj_description(n.oid, 'pg_namespace')
        FROM pg_namespace n WHERE n.nspname IN ('xorj', 'api') ORDER BY 1""",
    "relation": """
        SELECT n.nspname || '.' || c.relname, c.relkind, c.relpersistence,
               pg_get_userbyid(c.relowner),
               coalesce(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char",
                                             c.relowner))::text,
               c.reloptions::text,
               c.relrowsecurity, c.relforcerowsecurity, obj_description(c.oid, 'pg_class')
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('xorj', 'api') ORDER BY 1""",
    "column": """
        SELECT n.nspname || '.' || c.relname,
               row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum), a.attname,
               format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated,
               nullif(a.attacl, '{}')::text, col_description(c.oid, a.attnum)
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname IN ('xorj', 'api') AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY 1, 2""",
    "constraint": """
        SELECT n.nspname || '.' || coalesce(c.relname, t.typname), k.conname,
               pg_get_constraintdef(k.oid), k.condeferrable, k.condeferred
        FROM pg_constraint k
        JOIN pg_namespace n ON n.oid = k.connamespace
        LEFT JOIN pg_class c ON c.oid = k.conrelid
        LEFT JOIN pg_type t ON t.oid = k.contypid
        WHERE n.nspname IN ('xorj', 'api') ORDER BY 1, 2""",
    "index": """
        SELECT n.nspname || '.' || c.relname, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        JOIN pg_class c ON c.oid = i.indexrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('xorj', 'api') ORDER BY 1""",
    "trigger": """
        SELECT n.nspname || '.' || c.relname, g.tgname, pg_get_triggerdef(g.oid), g.tgenabled
        FROM pg_trigger g
        JOIN pg_class c ON c.oid = g.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('xorj', 'api') AND NOT g.tgisinternal ORDER BY 1, 2""",
    "view": """
        SELECT n.nspname || '.' || c.relname, pg_get_viewdef(c.oid)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('xorj', 'api') AND c.relkind IN ('v', 'm') ORDER BY 1""",
    "sequence": """
        SELECT s.seqrelid::regclass::text, format_type(s.seqtypid, NULL), s.seqstart,
               s.seqincrement, s.seqmax, s.seqmin, s.seqcache, s.seqcycle
        FROM pg_sequence s
        JOIN pg_class c ON c.oid = s.seqrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('xorj', 'api') ORDER BY 1""",
    "policy": """
        SELECT n.nspname || '.' || c.relname, p.polname, p.polcmd, p.polpermissive,
               p.polroles::regrole[]::text, pg_get_expr(p.polqual, p.polrelid),
               pg_get_expr(p.polwithcheck, p.polrelid)
        FROM pg_policy p
        JOIN pg_class c ON c.oid = p.polrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('xorj', 'api') ORDER BY 1, 2""",
    "function": """
        SELECT p.oid::regprocedure::text, p.prokind, pg_get_userbyid(p.proowner),
               coalesce(p.proacl, acldefault('f', p.proowner))::text,
               obj_description(p.oid, 'pg_proc'),
               CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid) END
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname IN ('xorj', 'api') ORDER BY 1""",
    "type": """
        SELECT n.nspname || '.' || t.typname, t.typtype, pg_get_userbyid(t.typowner),
               coalesce(t.typacl, acldefault('T', t.typowner))::text,
               format_type(t.typbasetype, t.typtypmod), t.typnotnull,
               t.typdefault, obj_description(t.oid, 'pg_type'),
               (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                FROM pg_enum e WHERE e.enumtypid = t.oid)
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname IN ('xorj', 'api') ORDER BY 1""",
    "default privileges": """
        SELECT pg_get_userbyid(d.defaclrole), coalesce(n.nspname, '(all schemas)'),
               d.defaclobjtype, d.defaclacl::text
        FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
        ORDER BY 1, 2, 3""",
}


def catalog_snapshot(url: str) -> str:
    """The schemas xorj and api (and the database's default privileges) from the catalogs:
    the snapshot when no usable pg_dump is installed."""
    lines: list[str] = []
    with psycopg.connect(url) as conn:
        for kind, query in _CATALOG_QUERIES.items():
            for row in conn.execute(query):
                lines.append(kind + ": " + " | ".join("" if v is None else str(v) for v in row))
    return "\n".join(lines) + "\n"


def take_schema_snapshot(url: str) -> str:
    """A deterministic text of a database's schema: the server's own pg_dump (privileges
    and owners included, yoyo's tables and pg_dump's noise left out) when available,
    else a catalog query over the schemas xorj and api."""
    pg_dump = _pg_dump_binary()
    if pg_dump is not None:
        text = pg_dump_snapshot(url, pg_dump)
        if text is not None:
            return text
    return catalog_snapshot(url)


@pytest.fixture(scope="session")
def schema_snapshot() -> Callable[[str], str]:
    """schema_snapshot(url) -> a deterministic text of the database's schema."""
    return take_schema_snapshot


# --- the command line ------------------------------------------------------------------


def cli_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ without the variables naming a database, plus `env`; no .env file of
    the checkout is read (XORJ_ENV_FILES=0) unless `env` says otherwise."""
    base = {k: v for k, v in os.environ.items() if k not in DATABASE_VARIABLES}
    return {**base, "XORJ_ENV_FILES": "0", **(env or {})}


@pytest.fixture(scope="session", name="cli_env")
def cli_env_fixture() -> Callable[..., dict[str, str]]:
    """cli_env(env=None): the environment for a command run by a test (see cli_env)."""
    return cli_env


@pytest.fixture(scope="session")
def xorj_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """xorj_cli(*args, env=None, timeout=60): run `xorj args...` from the checkout."""

    def run(
        *args: str, env: Mapping[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "xorj"), *args],
            cwd=ROOT,
            env=cli_env(env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


# --- the HTTP API ----------------------------------------------------------------------

TEST_JWT_SECRET = "test-secret-of-at-least-32-bytes-0123456789"


@pytest.fixture
def auth_config_for_tests():
    """The HS256 configuration the test apps use (JWT_SECRET = TEST_JWT_SECRET)."""
    from app.auth import auth_config

    return auth_config({"JWT_SECRET": TEST_JWT_SECRET})


@pytest.fixture
def make_token(auth_config_for_tests):
    """make_token(wallet=None, role=None, ttl=3600) -> a signed token the test app accepts."""
    from app.auth import issue

    def make(wallet: str | None = None, role: str | None = None, ttl: int = 3600) -> str:
        return issue(auth_config_for_tests, wallet=wallet, role=role, ttl=ttl)

    return make


@pytest.fixture
def api_client(db_url: str, auth_config_for_tests):
    """Litestar's TestClient on the real app, against a fresh migrated database; its
    pool is opened by the app's lifespan and closed when the test ends."""
    from litestar.testing import TestClient

    from app.server import create_app

    app = create_app(database_url=app_url_of(db_url), auth=auth_config_for_tests, pool_size=5)
    with TestClient(app) as client:
        yield client


# --- figures -----------------------------------------------------------------------------

FIGURES: list[str] = []


def report_figures(title: str, **figures: object) -> None:
    """Keep one line of figures measured by a test (requests, errors by class, seconds);
    pytest prints them all at the end of the run, in a section of their own."""
    FIGURES.append(f"{title}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("figures measured by the tests")
        for line in FIGURES:
            terminalreporter.write_line(line)
