"""What both faces of the door share: the call, the prelude, the login check, the
SQLSTATE names and the reading of a refusal.

A `Call` is one api function called with named arguments and the shape of its answer;
the functions of the noun modules (app/dbapi/trades.py, ...) build them, and either face
runs them: `await database.run(call, ...)` (app/dbapi/aio.py) or `db.run(call)`
(app/dbapi/sync.py).

Every transaction starts with one statement (PRELUDE) that sets, for that transaction
only (set_config(..., true): never a session setting or a startup option, so that it
holds behind a transaction pooler): the role (xorj_api, xorj_engine, xorj_bot or
xorj_readonly), the verified token's claims (request.jwt.claims: the user functions take
the wallet from there), the actor of the audit trails and the statement_timeout.

The HTTP door sends the prelude and the call in one round trip where it can
(`one_trip`): one query string of two statements, which PostgreSQL runs as one implicit
transaction (see ONE_TRIP_PRELUDE).
"""

from __future__ import annotations

import json
import select
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg

from app.config import APP_LOGIN

# --- SQLSTATEs of the database's refusals (README, "Errors") ---------------------------

INVALID = "XJ422"
NOT_FOUND = "XJ404"
CONFLICT = "XJ409"
STALE = "XJ412"
REFUSED = "XJ423"
INSUFFICIENT_PRIVILEGE = "42501"

ROLES = {
    "user": "xorj_api",
    "engine": "xorj_engine",
    "bot": "xorj_bot",
    "readonly": "xorj_readonly",
}

# --- the call --------------------------------------------------------------------------

VALUE = "value"  # the first column of the one row (None without a row)
ROW = "row"  # the one row, a tuple (None without a row)
ROWS = "rows"  # every row, tuples
COLUMN = "column"  # the first column of every row


@dataclass(frozen=True)
class Call:
    """One statement with named parameters, and the shape of its answer."""

    sql: str
    params: Mapping[str, Any] = field(default_factory=dict)
    shape: str = VALUE

    def answer(self, rows: Sequence[tuple[Any, ...]]) -> Any:
        if self.shape == ROWS:
            return list(rows)
        if self.shape == COLUMN:
            return [row[0] for row in rows]
        if len(rows) > 1:
            raise RuntimeError(f"expected at most one row, got {len(rows)}: {self.sql}")
        if not rows:
            return None
        return rows[0][0] if self.shape == VALUE else rows[0]


def as_text(call: Call) -> Call:
    """The same call with its one column as text: a jsonb answer as its JSON text, to be
    passed on as it is (no decoding into Python objects and encoding again)."""
    return Call(f"SELECT q.v::text FROM ({call.sql}) AS q(v)", call.params, call.shape)


@dataclass(frozen=True)
class Typed:
    """A parameter with its SQL type written out (`%(name)s::<type>`): Python ints adapt
    as smallint, integer or bigint by value, and a function parameter `integer` accepts
    no bigint."""

    value: Any
    type: str


def typed(value: Any, sql_type: str) -> Typed:
    return Typed(value, sql_type)


def api(function: str, select: str = "", shape: str = VALUE, **args: Any) -> Call:
    """`SELECT <select> FROM api.<function>(p_<name> => %(name)s, ...)`: every argument
    named, `p_` and the keyword's name; a `typed(value, "integer")` value is cast.
    Without `select`: `SELECT api.<function>(...)`."""
    named = []
    params: dict[str, Any] = {}
    for name, value in args.items():
        if isinstance(value, Typed):
            params[name] = value.value
            named.append(f"p_{name} => %({name})s::{value.type}")
        else:
            params[name] = value
            named.append(f"p_{name} => %({name})s")
    invocation = f"api.{function}({', '.join(named)})"
    sql = f"SELECT {select} FROM {invocation}" if select else f"SELECT {invocation}"
    return Call(sql, params, shape)


# --- the prelude and the login ---------------------------------------------------------

PRELUDE = (
    "SELECT set_config('role', %s, true), set_config('request.jwt.claims', %s, true), "
    "set_config('xorj.actor', %s, true), set_config('statement_timeout', %s, true)"
)

# No server-side prepared statement (PgBouncer in transaction mode cannot keep them).
CONNECT_KWARGS: dict[str, Any] = {"autocommit": True, "prepare_threshold": None}

# What the login may do, read once per new connection (see login_problem).
LOGIN_QUERY = """
    SELECT r.rolname::text, r.rolsuper,
           coalesce(pg_has_role(current_user, n.nspowner, 'MEMBER'), false),
           coalesce(has_schema_privilege(current_user, n.oid, 'USAGE'), false)
    FROM pg_roles r LEFT JOIN pg_namespace n ON n.nspname = 'xorj'
    WHERE r.rolname = current_user
"""


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
    role: str, claims: Mapping[str, Any] | str | None, actor: str, timeout_ms: int
) -> tuple[str, str, str, str]:
    """The prelude's parameters; `claims` a mapping, or its JSON text already made (an
    HTTP principal's, serialized once per token: app.auth)."""
    if claims and not isinstance(claims, str):
        claims = json.dumps(claims, separators=(",", ":"), default=str)
    return (role, claims or "", actor[:200], str(max(1, int(timeout_ms))))


# --- one round trip ---------------------------------------------------------------------
# The prelude and the call as one query string, sent with the simple query protocol and
# its parameters bound by the client (psycopg's client-side cursor quotes them):
# PostgreSQL runs the statements of one query string in one implicit transaction, so the
# settings of the first (set_config(..., true)) hold for the second and end with it
# (reset at its commit, also behind a transaction pooler); an error in either rolls both
# back, and each statement gets the statement_timeout the prelude set. One round trip
# instead of four (BEGIN, prelude, call, COMMIT): one statement could not do it, the
# role must be set before the call's EXECUTE right is checked, when it is planned.
#
# Text quoted by the client costs more in Python than a parameter of the extended
# protocol (about 20 ms a megabyte), and a structured value (Jsonb, a list) would be
# serialized twice: a call with such a parameter, or more than ONE_TRIP_MAX_TEXT
# characters of text, is sent the extended way (`one_trip` gives None).

ONE_TRIP_PRELUDE = (
    "SELECT set_config('role', %(xorj_role)s, true), "
    "set_config('request.jwt.claims', %(xorj_claims)s, true), "
    "set_config('xorj.actor', %(xorj_actor)s, true), "
    "set_config('statement_timeout', %(xorj_timeout)s, true);\n"
)
PRELUDE_NAMES = ("xorj_role", "xorj_claims", "xorj_actor", "xorj_timeout")
ONE_TRIP_MAX_TEXT = 64 * 1024
_SCALARS = frozenset({type(None), bool, int, float, Decimal, UUID, datetime, date, timedelta})
_one_trip_sql: dict[str, str] = {}


def one_trip(
    sql: str, params: Sequence[Any] | Mapping[str, Any], prelude: Sequence[str]
) -> tuple[str, dict[str, Any]] | None:
    """The query string and parameters that run `prelude` (prelude_params) and then `sql`
    in one round trip, or None when the call must go the extended way (see above)."""
    if not isinstance(params, Mapping):
        return None
    text = 0
    for value in params.values():
        kind = type(value)
        if kind is str:
            text += len(value)
        elif kind not in _SCALARS:
            return None
    if text > ONE_TRIP_MAX_TEXT:
        return None
    combined = _one_trip_sql.get(sql)
    if combined is None:
        if len(_one_trip_sql) >= 1024:  # calls are a few dozen shapes: a bound, no more
            _one_trip_sql.clear()
        combined = _one_trip_sql[sql] = ONE_TRIP_PRELUDE + sql
    merged = dict(zip(PRELUDE_NAMES, prelude, strict=True))
    merged.update(params)
    if len(merged) != len(params) + len(PRELUDE_NAMES):
        return None  # a parameter named like the prelude's: never silently overwritten
    return combined, merged


_POLL_READ = select.POLLIN | select.POLLERR | select.POLLHUP


def has_input(conn: Any) -> bool:
    """Whether an idle connection has something to read (or an end of file), seen with
    one poll(2) of its socket and no wait: a connection the server has closed, or a
    notification of a LISTEN. No round trip."""
    poller = select.poll()
    poller.register(conn.pgconn.socket, _POLL_READ)
    return bool(poller.poll(0))


def connection_lost(exc: BaseException, conn: Any) -> bool:
    """Whether `exc` means the connection is gone (not a refusal of the database)."""
    return isinstance(exc, psycopg.OperationalError) and bool(conn.broken or conn.closed)


# --- refusals --------------------------------------------------------------------------


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error, or None for anything else."""
    return exc.sqlstate if isinstance(exc, psycopg.Error) else None


def facts(exc: BaseException) -> dict[str, Any]:
    """The machine-readable facts of a refusal: its DETAIL, a JSON object with the human
    text under "text" (procedures/00_common.sql); {"text": DETAIL} for another error."""
    if not isinstance(exc, psycopg.Error):
        return {}
    detail = exc.diag.message_detail
    if not detail:
        return {}
    if detail.startswith("{"):
        try:
            parsed = json.loads(detail)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    return {"text": detail}


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
    if isinstance(exc, psycopg.Error):
        if primary and exc.diag.message_primary:
            text = exc.diag.message_primary
        detail = exc.diag.message_detail
        human = facts(exc).get("text")
        if detail and isinstance(human, str) and human != detail:
            text = text.replace(detail, human)  # the JSON of a refusal, as its text
    text = " ".join(text.split()) or type(exc).__name__
    return text[:2000]
