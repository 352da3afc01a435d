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

# Exact SQLSTATEs first, then classes (the first two characters).
SQLSTATE_STATUS: dict[str, int] = {
    INVALID: 422,  # invalid input
    NOT_FOUND: 404,  # not found
    CONFLICT: 409,  # conflict
    STALE: 412,  # stale version
    REFUSED: 409,  # refused state change
    "23505": 409,  # unique_violation
    "23503": 409,  # foreign_key_violation
    "23514": 422,  # check_violation
    "23502": 422,  # not_null_violation
    "22P02": 422,  # invalid_text_representation
    "22003": 422,  # numeric_value_out_of_range
    "22023": 422,  # invalid_parameter_value
    "22007": 422,  # invalid_datetime_format
    "22008": 422,  # datetime_field_overflow
    "22001": 422,  # string_data_right_truncation
    "42501": 403,  # insufficient_privilege
    "40001": 503,  # serialization_failure: retry
    "40P01": 503,  # deadlock_detected: retry
    "57014": 503,  # query_canceled (statement timeout)
}
SQLSTATE_CLASS_STATUS: dict[str, int] = {
    "08": 503,  # connection exception
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
    # A connection lost mid-request carries no SQLSTATE: the database is unreachable.
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
