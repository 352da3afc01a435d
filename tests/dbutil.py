"""Databases for the test suites: a superuser connection, and databases made from it.

The suites need a server where they may create databases and the pgTAP extension: the
project's own cluster (superuser `postgres`) by default, or XORJ_TEST_ADMIN_URL (else
DATABASE_URL) when set. Migrations run as the cluster's owner role (`xorj_owner`), never
as the superuser, as they would on a managed server.
"""

from __future__ import annotations

import os

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from app import devdb
from app.config import external_database_url, url_from_params


def admin_url() -> str:
    url = os.environ.get("XORJ_TEST_ADMIN_URL") or external_database_url()
    if url:
        return url
    cluster = devdb.locate()
    if not devdb.is_running(cluster):
        raise RuntimeError("the project's PostgreSQL is not running: run `make db` first")
    return cluster.url(devdb.SUPERUSER, "postgres")


def owner_role() -> str:
    """The role that owns test databases and runs their migrations."""
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname = %s", (devdb.OWNER,)
        ).fetchone()
        if row:
            return row[0]
        return conn.execute("SELECT current_user").fetchone()[0]


def url_for(database: str, user: str | None = None) -> str:
    """A conninfo for `database` on the admin's server, as `user` (default: the admin)."""
    params: dict[str, object] = conninfo_to_dict(admin_url())
    params["dbname"] = database
    if user:
        params["user"] = user
    return url_from_params(params)


def libpq_env(conninfo: str) -> dict[str, str]:
    """PG* environment variables naming the same connection, for psql and pg_prove."""
    names = {
        "host": "PGHOST",
        "port": "PGPORT",
        "user": "PGUSER",
        "password": "PGPASSWORD",
        "dbname": "PGDATABASE",
        "sslmode": "PGSSLMODE",
    }
    return {names[k]: str(v) for k, v in conninfo_to_dict(conninfo).items() if k in names}


def create_database(name: str, owner: str, template: str | None = None) -> None:
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        query = sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(name), sql.Identifier(owner)
        )
        if template:
            query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        conn.execute(query)


def drop_database(name: str) -> None:
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
