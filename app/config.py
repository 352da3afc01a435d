"""Configuration from the environment, decided here once.

Which database each process uses:

* the application login (`xorj_app`, migration 0006): the API, the execution bot, the
  engine loader and the operator commands. DATABASE_URL, or the original system's five
  variables (DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USER,
  DATABASE_PASSWORD) with DATABASE_SSL and DATABASE_SSL_ROOT_CERT. It may go through a
  transaction pooler (PgBouncer, a managed pooler).
* the owner, for migrations only: MIGRATION_DATABASE_URL, else the same as above (so a
  deployment with one DATABASE_URL keeps migrating; its processes then refuse to start
  as the owner and say which variable to set).
* a direct URL of the application login, not through a transaction pooler, where LISTEN
  works: DATABASE_DIRECT_URL (optional; without it the bot polls for bot state changes).

When none is set, `xorj` uses the project's own cluster: the command line (app/cli.py)
puts its three URLs into the environment before anything reads them (`use_private`), so
every process, uvicorn's workers included, decides from the environment alone.

A `.env` file, and the seed's `.env.local` (which wins over `.env`), in the current
directory are read at start by `xorj` (python-dotenv); a variable already in the
environment wins over both. XORJ_ENV_FILES=0 turns the files off.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

SEED_VARIABLES = (
    "DATABASE_HOST",
    "DATABASE_PORT",
    "DATABASE_NAME",
    "DATABASE_USER",
    "DATABASE_PASSWORD",
)
APP_LOGIN = "xorj_app"
ENV_FILES = (".env.local", ".env")  # the first found wins for a variable

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
DEFAULT_POOL_SIZE = 5
DEFAULT_IDLE_SECONDS = 10.0
DEFAULT_STATEMENT_TIMEOUT = 30.0


class ConfigError(ValueError):
    """A configuration variable has a value that cannot be used."""


def load_env_files(directory: Path | None = None) -> list[Path]:
    """Read `.env.local` and `.env` of `directory` (default: the current one) into the
    environment, never replacing a variable already set. Returns the files read."""
    if os.environ.get("XORJ_ENV_FILES", "").strip() == "0":
        return []
    from dotenv import load_dotenv

    base = Path.cwd() if directory is None else directory
    read = []
    for name in ENV_FILES:
        path = base / name
        if path.is_file():
            load_dotenv(path, override=False)
            read.append(path)
    return read


def _ssl_params(env: Mapping[str, str]) -> dict[str, str]:
    """sslmode and sslrootcert from DATABASE_SSL and DATABASE_SSL_ROOT_CERT (empty: unset)."""
    raw = env.get("DATABASE_SSL", "").strip().lower()
    out: dict[str, str] = {}
    if raw in _TRUE:
        out["sslmode"] = "require"
    elif raw in _FALSE:
        out["sslmode"] = "disable"
    elif raw in SSL_MODES:
        out["sslmode"] = raw
    elif raw:
        raise ConfigError(
            f"DATABASE_SSL must be true, false or an sslmode ({', '.join(SSL_MODES)}), got {raw!r}"
        )
    root = env.get("DATABASE_SSL_ROOT_CERT", "").strip()
    if root:
        if root != "system" and not Path(root).is_file():
            raise ConfigError(f"DATABASE_SSL_ROOT_CERT: no such file: {root}")
        out["sslrootcert"] = root
    if out.get("sslmode") in ("verify-ca", "verify-full") and "sslrootcert" not in out:
        default = Path.home() / ".postgresql" / "root.crt"
        if not default.is_file():
            raise ConfigError(
                f"DATABASE_SSL={out['sslmode']} needs the server's root certificate: set "
                "DATABASE_SSL_ROOT_CERT to its file (or 'system' for the system's CAs)"
            )
    return out


def _with_query(url: str, extra: Mapping[str, str]) -> str:
    """The URL with `extra` added to its query string, where the URL does not set them."""
    if not extra:
        return url
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {k for k, _ in query}
    query += [(k, v) for k, v in extra.items() if k not in present]
    return urlunsplit(parts._replace(query=urlencode(query, safe="/", quote_via=quote)))


def _checked_url(name: str, url: str, env: Mapping[str, str]) -> str:
    if not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(f"{name} must start with postgresql:// or postgres://")
    return _with_query(url, _ssl_params(env))


def external_database_url(env: Mapping[str, str] | None = None) -> str | None:
    """The application login's URL the environment names, or None if none is named."""
    env = os.environ if env is None else env
    url = env.get("DATABASE_URL", "").strip()
    if url:
        return _checked_url("DATABASE_URL", url, env)
    if not any(env.get(name, "").strip() for name in SEED_VARIABLES):
        return None
    host = env.get("DATABASE_HOST", "").strip() or "localhost"
    port = env.get("DATABASE_PORT", "").strip() or "5432"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"DATABASE_PORT must be a port number, got {port!r}")
    params: dict[str, object] = {
        "host": host,
        "port": port,
        "dbname": env.get("DATABASE_NAME", "").strip() or "xorj_bot_state",
        "user": env.get("DATABASE_USER", "").strip(),
        "password": env.get("DATABASE_PASSWORD", ""),
        "sslmode": "prefer",
    }
    params.update(_ssl_params(env))
    return url_from_params(params)


def migration_database_url(env: Mapping[str, str] | None = None) -> str | None:
    """The owner's URL for migrations: MIGRATION_DATABASE_URL, else the application URL."""
    env = os.environ if env is None else env
    url = env.get("MIGRATION_DATABASE_URL", "").strip()
    if url:
        return _checked_url("MIGRATION_DATABASE_URL", url, env)
    return external_database_url(env)


def direct_database_url(env: Mapping[str, str] | None = None) -> str | None:
    """DATABASE_DIRECT_URL: the application login without a transaction pooler, or None."""
    env = os.environ if env is None else env
    url = env.get("DATABASE_DIRECT_URL", "").strip()
    return _checked_url("DATABASE_DIRECT_URL", url, env) if url else None


@dataclass(frozen=True)
class DatabaseUrls:
    app: str  # the application login (may be a transaction pooler)
    migrations: str  # the owner
    direct: str | None  # the application login, direct (LISTEN); None: poll instead


def configured(env: Mapping[str, str] | None = None) -> bool:
    """Whether the environment names a database."""
    env = os.environ if env is None else env
    names = ("DATABASE_URL", "MIGRATION_DATABASE_URL", *SEED_VARIABLES)
    return any(env.get(name, "").strip() for name in names)


def use_private(app: str, migrations: str) -> None:
    """Name the project's own cluster in this process's environment (and so its
    children's): the application login's URL, direct, and the owner's for migrations."""
    os.environ["DATABASE_URL"] = app
    os.environ["DATABASE_DIRECT_URL"] = app
    os.environ["MIGRATION_DATABASE_URL"] = migrations


def database_urls(env: Mapping[str, str] | None = None) -> DatabaseUrls:
    """The three URLs (see the module's doc); ConfigError when none is configured."""
    env = os.environ if env is None else env
    app = external_database_url(env)
    migrations = migration_database_url(env)
    if app is None:
        if migrations is not None:
            raise ConfigError(
                "MIGRATION_DATABASE_URL is set but not DATABASE_URL: the processes need the "
                f"application login's URL ({APP_LOGIN}) in DATABASE_URL"
            )
        raise ConfigError(
            "no database: DATABASE_URL is not set and the project's own PostgreSQL is not "
            "running; start it with `xorj dev-db start` (or `make db`)"
        )
    return DatabaseUrls(app, migrations or app, direct_database_url(env))


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


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be {low:g}..{high:g}, got {raw!r}")
    return value


def max_connections(env: Mapping[str, str] | None = None) -> int:
    """DATABASE_MAX_CONNECTIONS: the size of a process's connection pool (default 5)."""
    env = os.environ if env is None else env
    raw = env.get("DATABASE_MAX_CONNECTIONS", "").strip() or str(DEFAULT_POOL_SIZE)
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise ConfigError(f"DATABASE_MAX_CONNECTIONS must be 1..1000, got {raw!r}")
    return int(raw)


def idle_seconds(env: Mapping[str, str] | None = None) -> float:
    """DATABASE_IDLE_SECONDS: an idle pooled connection is closed after about this long
    (default 10; the pool keeps one)."""
    env = os.environ if env is None else env
    return _number(env, "DATABASE_IDLE_SECONDS", DEFAULT_IDLE_SECONDS, 1, 86400)


def statement_timeout(env: Mapping[str, str] | None = None) -> float:
    """DATABASE_STATEMENT_TIMEOUT: seconds a request's statement may run (default 30),
    set in each transaction (SET LOCAL), never as a startup option."""
    env = os.environ if env is None else env
    return _number(env, "DATABASE_STATEMENT_TIMEOUT", DEFAULT_STATEMENT_TIMEOUT, 0.001, 86400)


def yoyo_url(url: str) -> str:
    """The same database as yoyo names it (yoyo's psycopg 3 backend)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ConfigError(f"not a PostgreSQL URL: {url.split('://')[0]}://...")
