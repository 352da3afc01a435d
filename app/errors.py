"""The one table from SQLSTATE to HTTP status, and the JSON error body.

Every refusal of the database is a documented SQLSTATE (README, "Errors"); this table is
exhaustive in the sense that anything it does not name is a 500 and is logged. The body
carries the seed's `error` (and `success: false`) beside the database's fields.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg

from app.dbapi.core import CONFLICT, INVALID, NOT_FOUND, REFUSED, STALE, facts

# Class 22 (data exception): every code PostgreSQL defines is a value the database could
# not take, 422. Reached only by direct SQL or a value no check of the app foresaw (the
# api functions refuse bad input with XJ422 first).
# fmt: off
DATA_EXCEPTIONS = (
    "22000", "22001", "22002", "22003", "22004", "22005", "22007", "22008", "22009",
    "2200B", "2200C", "2200D", "2200F", "2200G", "2200H", "2200L", "2200M", "2200N",
    "2200S", "2200T", "22010", "22011", "22012", "22013", "22014", "22015", "22016",
    "22018", "22019", "2201B", "2201E", "2201F", "2201G", "2201W", "2201X", "22021",
    "22022", "22023", "22024", "22025", "22026", "22027", "2202E", "2202G", "2202H",
    "22030", "22031", "22032", "22033", "22034", "22035", "22036", "22037", "22038",
    "22039", "2203A", "2203B", "2203C", "2203D", "2203E", "2203F", "2203G", "22P01",
    "22P02", "22P03", "22P04", "22P05", "22P06",
)
# fmt: on
# Class 23 (integrity constraint violation): a value that breaks a check or not-null
# rule is 422; one that collides with other rows (unique, foreign key, exclusion,
# restrict) is 409.
INTEGRITY_VIOLATIONS = {
    "23000": 409,  # integrity_constraint_violation
    "23001": 409,  # restrict_violation
    "23502": 422,  # not_null_violation
    "23503": 409,  # foreign_key_violation
    "23505": 409,  # unique_violation
    "23514": 422,  # check_violation
    "23P01": 409,  # exclusion_violation
}

# Exact SQLSTATEs first, then classes (the first two characters).
SQLSTATE_STATUS: dict[str, int] = {
    INVALID: 422,  # invalid input
    NOT_FOUND: 404,  # not found
    CONFLICT: 409,  # conflict
    STALE: 412,  # stale version
    REFUSED: 409,  # refused state change
    **dict.fromkeys(DATA_EXCEPTIONS, 422),
    **INTEGRITY_VIOLATIONS,
    "42501": 403,  # insufficient_privilege
    "40001": 503,  # serialization_failure: retry
    "40P01": 503,  # deadlock_detected: retry
    "57014": 503,  # query_canceled (statement timeout)
}
SQLSTATE_CLASS_STATUS: dict[str, int] = {
    "08": 503,  # connection exception
    "22": 422,  # data exception (a code newer than this table)
    "23": 409,  # integrity constraint violation (a code newer than this table)
    "53": 503,  # insufficient resources
    "57": 503,  # operator intervention (shutdown)
}
RETRYABLE = 503


def status_for(sqlstate: str | None) -> int:
    """The HTTP status of a database error; 500 for anything undocumented."""
    if not sqlstate:
        return 500
    if sqlstate in SQLSTATE_STATUS:
        return SQLSTATE_STATUS[sqlstate]
    return SQLSTATE_CLASS_STATUS.get(sqlstate[:2], 500)


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class ApiError(Exception):
    """A refusal to send as JSON: status, code and message, with optional details."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        detail: str | None = None,
        hint: str | None = None,
        field: str | None = None,
        rule: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        facts: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail
        self.hint = hint
        self.field = field
        self.rule = rule
        self.headers = headers or {}
        self.extra = extra or {}
        # The database's machine-readable facts of the refusal (not sent as such).
        self.facts = facts or {}

    def body(self, request_id: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "success": False,
            "error": self.message,
            "code": self.code,
            "message": self.message,
            "detail": self.detail,
            "hint": self.hint,
        }
        if self.field:
            body["field"] = self.field
        if self.rule:
            body["rule"] = self.rule
        body.update(self.extra)
        body["timestamp"] = now_iso()
        body["requestId"] = request_id
        return body


def from_database(exc: psycopg.Error) -> ApiError:
    """The ApiError of a database error (its SQLSTATE through the table)."""
    diag = exc.diag
    sqlstate = exc.sqlstate
    # A connection lost mid-request carries no SQLSTATE: the database is unreachable. A
    # value the driver itself cannot send (text with NUL) is 22021, as the server would say.
    if sqlstate is None and isinstance(exc, psycopg.DataError):
        sqlstate = "22021"
    status = (
        503
        if sqlstate is None and isinstance(exc, psycopg.OperationalError)
        else status_for(sqlstate)
    )
    if status == 500:
        return ApiError(500, sqlstate or "internal", "internal error", hint="The error was logged.")
    if status == RETRYABLE:
        return ApiError(
            503,
            sqlstate or "unavailable",
            "the database is unavailable or busy; retry shortly",
            hint="Retry after the number of seconds in Retry-After.",
            headers={"Retry-After": "1"},
        )
    found = facts(exc)
    return ApiError(
        status,
        sqlstate or "error",
        diag.message_primary or str(exc),
        detail=found.get("text"),
        hint=diag.message_hint,
        field=diag.column_name,
        rule=diag.constraint_name,
        facts=found,
    )
