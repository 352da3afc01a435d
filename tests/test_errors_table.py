"""The error table (app/errors.py) has a row for every SQLSTATE of class 22 and 23, the
README's "Errors" names each of them, and real errors of the server come out with their
documented status, never 500."""

from __future__ import annotations

import re

import psycopg
import psycopg.errors
import pytest

from app.errors import SQLSTATE_STATUS, from_database, status_for
from tests.conftest import ROOT


def _known_codes() -> list[str]:
    """Every class 22 and 23 SQLSTATE psycopg knows (it follows PostgreSQL's list)."""
    found = set()
    for name in dir(psycopg.errors):
        cls = getattr(psycopg.errors, name)
        code = getattr(cls, "sqlstate", None)
        if isinstance(code, str) and code[:2] in ("22", "23"):
            found.add(code)
    return sorted(found)


def test_every_class_22_and_23_code_has_its_row_and_its_line_in_the_readme() -> None:
    codes = _known_codes()
    assert len(codes) >= 70, codes  # PostgreSQL 16 defines 75
    readme = (ROOT / "README.md").read_text()
    errors_section = readme[readme.index("## Errors") :]
    documented = set(re.findall(r"`(2[23][0-9A-Z]{3})`", errors_section))
    missing_row = [c for c in codes if c not in SQLSTATE_STATUS]
    missing_doc = [c for c in codes if c not in documented]
    assert missing_row == [], f"no row in app/errors.py for {missing_row}"
    assert missing_doc == [], f"README 'Errors' does not name {missing_doc}"
    for code in codes:
        expected = 409 if code in ("23000", "23001", "23503", "23505", "23P01") else 422
        assert status_for(code) == expected, code
    # A code newer than the table still gets its class's status.
    assert status_for("22ZZZ") == 422
    assert status_for("23ZZZ") == 409


@pytest.mark.parametrize(
    ("statement", "sqlstate", "status"),
    [
        ("SELECT '\"\\u0000\"'::jsonb", "22P05", 422),  # NUL in JSON text
        ("SELECT 1 / 0", "22012", 422),
        ("SELECT 'x'::uuid", "22P02", 422),
        ("SELECT 99999999999::integer", "22003", 422),
    ],
)
def test_real_server_errors_get_their_status(
    app_url: str, statement: str, sqlstate: str, status: int
) -> None:
    with (
        psycopg.connect(app_url, autocommit=True) as conn,
        pytest.raises(psycopg.Error) as caught,
    ):
        conn.execute(statement)
    assert caught.value.sqlstate == sqlstate
    error = from_database(caught.value)
    assert error.status == status
    assert error.code == sqlstate


def test_text_the_driver_cannot_send_is_422_not_500(app_url: str) -> None:
    with (
        psycopg.connect(app_url, autocommit=True) as conn,
        pytest.raises(psycopg.DataError) as caught,
    ):
        conn.execute("SELECT %s::text", ["a\x00b"])
    assert caught.value.sqlstate is None  # refused by the driver, before the server
    error = from_database(caught.value)
    assert (error.status, error.code) == (422, "22021")
