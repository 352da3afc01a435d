"""Duplicate prevention under real concurrency: many connections call api.create_trade
at the same instant (a barrier releases them together), each in its own transaction as
the bot role (the application login, xorj_app, with set_config('role', 'xorj_bot')).
The database alone must keep the trade unique. Tables are set up and read as the owner."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import psycopg

from app.dbapi.core import facts
from tests.solana import address, signature

VAULT = address(200)
WALLET = address(100)
FROM, TO = address(1), address(2)


def _setup(url: str, enabled: bool = True) -> str:
    """A user whose bot is enabled for VAULT, and a RUNNING job; returns the job id."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO xorj.bot_states (user_id, enabled, vault_address) VALUES (%s, %s, %s)",
            (WALLET, enabled, VAULT),
        )
        (job,) = conn.execute(
            "INSERT INTO xorj.execution_jobs (trigger_reason) VALUES ('SCHEDULED_RUN') RETURNING id"
        ).fetchone()
        conn.execute(
            "UPDATE xorj.execution_jobs SET status = 'RUNNING', worker_id = 'w', "
            "started_at = clock_timestamp(), heartbeat_at = clock_timestamp() WHERE id = %s",
            (job,),
        )
    return str(job)


def _as_bot(conn: psycopg.Connection) -> None:
    """In the current transaction of a connection as the application login: xorj_bot."""
    conn.execute("SELECT set_config('role', 'xorj_bot', true)")


def _create(conn: psycopg.Connection, job: str, key: str, amount: int) -> tuple[bool, dict]:
    with conn.transaction():
        _as_bot(conn)
        row = conn.execute(
            "SELECT replay, trade FROM api.create_trade(%s, %s, %s, %s, %s, %s, %s)",
            (job, VAULT, key, FROM, TO, amount, amount - 10),
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def _run_together(
    url: str | Callable[[int], str], n: int, call: Callable[[psycopg.Connection, int], object]
) -> list:
    """Open n connections (to `url`, or to url(i) for the i-th), then run call(conn, i) on
    all of them at once."""
    conns = [psycopg.connect(url(i) if callable(url) else url) for i in range(n)]
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def work(i: int) -> None:
        barrier.wait()
        try:
            results[i] = call(conns[i], i)
        except psycopg.Error as exc:
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        for c in conns:
            c.close()
    return results


def _trade_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM xorj.trades").fetchone()[0]


def test_100_identical_creates_give_one_trade_and_99_replays(db_url: str, app_url: str) -> None:
    job = _setup(db_url)
    results = _run_together(app_url, 100, lambda c, i: _create(c, job, "intent-1", 5000))
    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []
    replays = Counter(replay for replay, _ in results)
    assert replays == {False: 1, True: 99}
    assert len({trade["id"] for _, trade in results}) == 1
    assert _trade_count(db_url) == 1


def test_100_creates_for_one_pair_leave_one_in_flight(db_url: str, app_url: str) -> None:
    job = _setup(db_url)
    results = _run_together(app_url, 100, lambda c, i: _create(c, job, f"intent-{i}", 5000 + i))
    created = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(created) == 1 and created[0][0] is False
    assert len(refused) == 99
    assert {e.sqlstate for e in refused} == {"XJ409"}
    assert {e.diag.constraint_name for e in refused} == {"trade_in_flight"}
    winner = created[0][1]["id"]
    assert all(facts(e)["conflicting_trade_id"] == winner for e in refused)
    assert _trade_count(db_url) == 1


def test_a_signature_is_recorded_for_one_trade_only(db_url: str, app_url: str) -> None:
    job = _setup(db_url)
    ids = []
    with psycopg.connect(db_url) as conn:
        for i in range(20):
            conn.execute(
                "SELECT api.create_trade(%s, %s, %s, %s, %s, 10, 9)",
                (job, VAULT, f"k{i}", address(1000 + i), address(2000 + i)),
            )
        ids = [r[0] for r in conn.execute("SELECT id FROM xorj.trades")]

    def submit(conn: psycopg.Connection, i: int) -> bool:
        with conn.transaction():
            _as_bot(conn)
            return conn.execute(
                "SELECT changed FROM api.mark_trade_submitted(%s, %s)", (ids[i], signature(7))
            ).fetchone()[0]

    results = _run_together(app_url, 20, submit)
    assert sum(1 for r in results if r is True) == 1
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 19
    assert {e.diag.constraint_name for e in refused} == {"signature_in_use"}


def test_a_committed_disable_stops_every_later_trade(db_url: str, app_url: str) -> None:
    job = _setup(db_url)
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE xorj.bot_states SET enabled = false WHERE user_id = %s", (WALLET,))
    results = _run_together(
        app_url, 20, lambda c, i: _create(c, job, f"after-disable-{i}", 100 + i)
    )
    assert all(isinstance(r, psycopg.Error) for r in results)
    assert {r.diag.constraint_name for r in results} == {"bot_not_enabled"}
    assert _trade_count(db_url) == 0


def test_disable_racing_creates_never_lets_a_trade_in_after_it(db_url: str, app_url: str) -> None:
    """Creates for 20 pairs race one disable; every trade that exists was created before
    the disable committed (its creation event precedes the disable's commit). The disable
    is written to the table by the owner; the creates are the bot's."""
    job = _setup(db_url)

    def call(conn: psycopg.Connection, i: int) -> object:
        if i == 0:
            with conn.transaction():
                conn.execute(
                    "UPDATE xorj.bot_states SET enabled = false WHERE user_id = %s", (WALLET,)
                )
            return conn.execute("SELECT clock_timestamp()").fetchone()[0]
        with conn.transaction():
            _as_bot(conn)
            return conn.execute(
                "SELECT replay FROM api.create_trade(%s, %s, %s, %s, %s, 10, 9)",
                (job, VAULT, f"race-{i}", address(3000 + i), address(4000 + i)),
            ).fetchone()[0]

    results = _run_together(lambda i: db_url if i == 0 else app_url, 21, call)
    disabled_after = results[0]
    with psycopg.connect(db_url) as conn:
        created_at = [r[0] for r in conn.execute("SELECT created_at FROM xorj.trades")]
    assert all(t < disabled_after for t in created_at)
    refusals = [r for r in results[1:] if isinstance(r, psycopg.Error)]
    assert all(r.diag.constraint_name == "bot_not_enabled" for r in refusals)
    assert len(created_at) + len(refusals) == 20
