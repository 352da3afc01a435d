"""Configuration from the environment.

The database is named either by DATABASE_URL or by the original system's five variables
(DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USER, DATABASE_PASSWORD, with
DATABASE_SSL). When none is set, the project's own cluster (app.devdb) is used.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import quote, urlencode

SEED_VARIABLES = (
    "DATABASE_HOST",
    "DATABASE_PORT",
    "DATABASE_NAME",
    "DATABASE_USER",
    "DATABASE_PASSWORD",
)

_TRUE = {"1", "true", "yes", "on", "require"}
_FALSE = {"0", "false", "no", "off", "disable", ""}


class ConfigError(ValueError):
    """A configuration variable has a value that cannot be used."""


def external_database_url(env: Mapping[str, str] | None = None) -> str | None:
    """The URL of a database named by the environment, or None if none is named."""
    env = os.environ if env is None else env
    url = env.get("DATABASE_URL", "").strip()
    if url:
        if not url.startswith(("postgresql://", "postgres://")):
            raise ConfigError("DATABASE_URL must start with postgresql:// or postgres://")
        return url
    if not any(env.get(name, "").strip() for name in SEED_VARIABLES):
        return None
    host = env.get("DATABASE_HOST", "").strip() or "localhost"
    port = env.get("DATABASE_PORT", "").strip() or "5432"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"DATABASE_PORT must be a port number, got {port!r}")
    name = env.get("DATABASE_NAME", "").strip() or "xorj_bot_state"
    user = env.get("DATABASE_USER", "").strip()
    password = env.get("DATABASE_PASSWORD", "")
    ssl = env.get("DATABASE_SSL", "").strip().lower()
    if ssl not in _TRUE | _FALSE:
        raise ConfigError(f"DATABASE_SSL must be true or false, got {ssl!r}")
    params = {
        "host": host,
        "port": port,
        "dbname": name,
        "user": user,
        "password": password,
        "sslmode": "require" if ssl in _TRUE else ("disable" if ssl else "prefer"),
    }
    return url_from_params(params)


def url_from_params(params: Mapping[str, object]) -> str:
    """A postgresql:// URL from libpq connection parameters (host may be a socket dir)."""
    rest = {k: str(v) for k, v in params.items() if v not in (None, "")}
    auth = ""
    user = rest.pop("user", None)
    password = rest.pop("password", None)
    if user:
        auth = quote(user, safe="")
        if password:
            auth += ":" + quote(password, safe="")
        auth += "@"
    dbname = quote(rest.pop("dbname", ""), safe="")
    query = urlencode(rest, safe="/", quote_via=quote)
    return f"postgresql://{auth}/{dbname}" + (f"?{query}" if query else "")


def max_connections(env: Mapping[str, str] | None = None) -> int:
    """DATABASE_MAX_CONNECTIONS: the size of a process's connection pool (default 20)."""
    env = os.environ if env is None else env
    raw = env.get("DATABASE_MAX_CONNECTIONS", "").strip() or "20"
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise ConfigError(f"DATABASE_MAX_CONNECTIONS must be 1..1000, got {raw!r}")
    return int(raw)


def yoyo_url(url: str) -> str:
    """The same database as yoyo names it (yoyo's psycopg 3 backend)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ConfigError(f"not a PostgreSQL URL: {url.split('://')[0]}://...")
