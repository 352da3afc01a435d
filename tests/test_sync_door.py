"""The bot's door (app/dbapi/sync.py) in one round trip, on a real PostgreSQL: what the
shortcut must not change.

* A call is one simple-protocol Query message on the wire (the prelude and the call as
  one query string), runs as the role with the actor and statement_timeout of the
  prelude, and leaves none of them, and no open transaction, on the connection: after
  an answer and after a refusal.
* A call with a large parameter goes the extended way (BEGIN, prelude, call, COMMIT:
  two simple queries and two extended ones).
* A connection the server closed while it sat idle is replaced before anything is sent,
  and the call succeeds on the new one.
* A notification that waits on a LISTENing connection (the bot's heartbeat) is not taken
  for a closed connection: the call goes the extended way on the same connection, and
  the notification is delivered.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import pq

from app.dbapi.core import ONE_TRIP_MAX_TEXT, VALUE, Call, has_input
from app.dbapi.sync import SyncDatabase

WHO = Call(
    "SELECT json_build_object('user', current_user::text,"
    " 'actor', current_setting('xorj.actor', true),"
    " 'timeout', current_setting('statement_timeout'),"
    " 'pid', pg_backend_pid(), 'echo', length(%(echo)s::text))",
    {"echo": "x"},
    VALUE,
)


@pytest.fixture
def door(app_url: str) -> Iterator[SyncDatabase]:
    db = SyncDatabase(app_url, "bot:door-test", role="xorj_bot", statement_timeout=7.0)
    try:
        yield db
    finally:
        db.close()


def _session(conn: psycopg.Connection[Any]) -> tuple[Any, ...]:
    """What the connection holds between calls."""
    return conn.execute(
        "SELECT current_user::text, coalesce(current_setting('xorj.actor', true), ''),"
        " current_setting('statement_timeout')"
    ).fetchone()


def _frontend_messages(db: SyncDatabase, work: Callable[[], Any]) -> list[str]:
    """The message types the client sent while `work` ran (libpq's protocol trace)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace"
        with open(path, "w") as out:
            db.conn.pgconn.trace(out.fileno())
            db.conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
            try:
                work()
            finally:
                db.conn.pgconn.untrace()
        lines = path.read_text().splitlines()
    return [line.split()[2] for line in lines if line.split()[:1] == ["F"]]


def _wait_for_input(conn: psycopg.Connection[Any]) -> None:
    deadline = time.monotonic() + 10
    while not has_input(conn):
        assert time.monotonic() < deadline, "the server sent nothing to the idle connection"
        time.sleep(0.02)


def test_a_call_is_one_query_message_and_leaves_nothing_behind(door: SyncDatabase) -> None:
    before = _session(door.conn)
    answers: list[Any] = []
    sent = _frontend_messages(door, lambda: answers.append(door.run(WHO)))
    assert sent == ["Query"], sent
    who = answers[0]
    assert (who["user"], who["actor"], who["timeout"], who["echo"]) == (
        "xorj_bot",
        "bot:door-test",
        "7s",
        1,
    )
    assert _session(door.conn) == before
    assert before[0] != "xorj_bot" and before[1] == ""
    assert door.conn.info.transaction_status == pq.TransactionStatus.IDLE


def test_a_refusal_in_one_trip_leaves_nothing_behind(door: SyncDatabase) -> None:
    before = _session(door.conn)
    with pytest.raises(psycopg.errors.InvalidTextRepresentation):
        door.run(Call("SELECT %(n)s::int", {"n": "not a number"}, VALUE))
    assert door.conn.info.transaction_status == pq.TransactionStatus.IDLE
    assert _session(door.conn) == before
    assert door.run(WHO)["actor"] == "bot:door-test"


def test_a_large_parameter_goes_the_extended_way(door: SyncDatabase) -> None:
    big = Call(WHO.sql, {"echo": "y" * (ONE_TRIP_MAX_TEXT + 1)}, VALUE)
    answers: list[Any] = []
    sent = _frontend_messages(door, lambda: answers.append(door.run(big)))
    # BEGIN and COMMIT (simple queries), the prelude and the call (extended)
    assert (sent.count("Query"), sent.count("Parse")) == (2, 2), sent
    assert answers[0]["echo"] == ONE_TRIP_MAX_TEXT + 1
    assert answers[0]["actor"] == "bot:door-test"
    assert door.conn.info.transaction_status == pq.TransactionStatus.IDLE


def test_a_connection_the_server_closed_is_replaced_before_the_call(
    door: SyncDatabase, db_url: str, superuser_url: Callable[[str], str]
) -> None:
    first = door.run(WHO)["pid"]
    with psycopg.connect(superuser_url(db_url), autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (first,)).fetchone() == (True,)
    _wait_for_input(door.conn)
    who = door.run(WHO)
    assert who["pid"] != first and who["actor"] == "bot:door-test"
    assert door.reconnects == 1


def test_a_waiting_notification_is_delivered_not_taken_for_a_closed_connection(
    door: SyncDatabase, app_url: str
) -> None:
    received: list[str] = []
    door.conn.add_notify_handler(lambda n: received.append(n.payload))
    door.conn.execute("LISTEN xorj_door_test")
    pid = door.run(WHO)["pid"]
    with psycopg.connect(app_url, autocommit=True) as other:
        other.execute("NOTIFY xorj_door_test, 'wake'")
    _wait_for_input(door.conn)
    answers: list[Any] = []
    sent = _frontend_messages(door, lambda: answers.append(door.run(WHO)))
    assert (sent.count("Query"), sent.count("Parse")) == (2, 2), sent  # the extended way
    assert answers[0]["pid"] == pid and door.reconnects == 0
    assert received == ["wake"]
