"""The application login as a boundary, over real connections (pgTAP's superuser session
cannot stand in for a session logged in as xorj_app: tests/pgtap/logins_app.sql proves
the catalog side).

* Logged in as xorj_app: no right without a role; RESET ROLE leaves nothing; SET ROLE to
  the owner is refused; no table can be read or written, no trigger disabled, the
  append-only audit not rewritten, nothing created in public.
* The processes refuse to start as the owner or a superuser, and say what to set.
* Connection budgets: a bot and the engine loader whose login has no connection slot
  left wait with a backoff and go on when a slot frees; SIGTERM stops them while they
  wait.
* The feed of bot state changes misses nothing when transactions commit out of order.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from app.config import url_from_params
from app.dbapi.core import PRELUDE, prelude_params
from app.dbapi.sync import SyncDatabase
from tests.conftest import BIN, ROOT, cli_env, report_figures
from tests.solana import address
from tests.test_bot_worker import BOT


def refused(conn: psycopg.Connection[Any], statement: str) -> str:
    """The SQLSTATE of `statement`, run in a savepoint-free transaction of its own."""
    try:
        with conn.transaction():
            conn.execute(statement)
    except psycopg.Error as exc:
        return exc.sqlstate or "none"
    return "succeeded"


@pytest.fixture
def app_conn(app_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(app_url, autocommit=True, prepare_threshold=None) as conn:
        yield conn


def test_the_login_alone_can_do_nothing(app_conn: psycopg.Connection[Any]) -> None:
    assert app_conn.execute("SELECT current_user").fetchone() == ("xorj_app",)
    assert refused(app_conn, "SELECT * FROM xorj.trades") == "42501"
    assert refused(app_conn, "SELECT api.ranked_traders(1, 0)") == "42501"
    assert refused(app_conn, "SELECT * FROM api.pending_trades") == "42501"
    assert refused(app_conn, "SET ROLE xorj_owner") == "42501"
    assert refused(app_conn, "SELECT set_config('role', 'xorj_owner', true)") == "42501"
    assert refused(app_conn, "CREATE TABLE public.intruder (x int)") == "42501"
    assert refused(app_conn, "ALTER TABLE xorj.trades DISABLE TRIGGER ALL") == "42501"


@pytest.mark.parametrize("role", ["xorj_api", "xorj_engine", "xorj_bot", "xorj_readonly"])
def test_a_role_reaches_only_functions_and_reset_role_leaves_nothing(
    app_conn: psycopg.Connection[Any], role: str
) -> None:
    statements = {
        "UPDATE xorj.bot_states SET enabled = true": "42501",
        "UPDATE xorj.trade_events SET actor = 'x'": "42501",
        "DELETE FROM xorj.trade_events": "42501",
        "ALTER TABLE xorj.trades DISABLE TRIGGER ALL": "42501",
        "SET ROLE xorj_owner": "42501",
        "SELECT * FROM xorj.user_settings": "42501",
    }
    for statement, expected in statements.items():
        as_role = f"SET LOCAL ROLE {role}; {statement}"
        assert refused(app_conn, as_role) == expected, (role, statement)
        after_reset = f"SET LOCAL ROLE {role}; RESET ROLE; {statement}"
        assert refused(app_conn, after_reset) == expected, (role, "RESET", statement)
    # ...while the role does reach its own functions.
    own = {
        "xorj_api": "SELECT api.ranked_traders(1, 0)",
        "xorj_engine": "SELECT api.ranked_traders(1, 0)",
        "xorj_bot": "SELECT api.enabled_bots()",
        "xorj_readonly": "SELECT * FROM api.pending_trades",
    }[role]
    assert refused(app_conn, f"SET LOCAL ROLE {role}; {own}") == "succeeded"


def test_a_user_function_acts_only_for_the_claims_wallet(app_url: str) -> None:
    """Through the door, as the API calls it: A's claims reach A's state only, and the
    wallet cannot come from a parameter (the function takes none)."""
    a, b = address(1), address(2)
    with psycopg.connect(app_url, autocommit=True, prepare_threshold=None) as conn:
        for wallet, vault in ((a, address(11)), (b, address(12))):
            with conn.transaction():
                conn.execute(
                    PRELUDE, prelude_params("xorj_api", {"wallet_address": wallet}, "t", 5000)
                )
                conn.execute("SELECT api.enable_bot(%s)", (vault,))
        with conn.transaction():
            conn.execute(PRELUDE, prelude_params("xorj_api", {"wallet_address": a}, "t", 5000))
            (status,) = conn.execute("SELECT api.bot_status()").fetchone()
            assert (status["user_id"], status["vaultAddress"]) == (a, address(11))
            conn.execute("SELECT api.disable_bot()")
        assert refused(conn, f"SET LOCAL ROLE xorj_api; SELECT api.bot_status('{b}')") == "42883"
        with conn.transaction():
            conn.execute(PRELUDE, prelude_params("xorj_api", {"wallet_address": b}, "t", 5000))
            (status,) = conn.execute("SELECT api.bot_status()").fetchone()
        assert status["isBotActive"] is True  # B untouched by A's disable


# --- privileged logins are refused -----------------------------------------------------


def _superuser_url(db_url: str, admin_url: str) -> str:
    params: dict[str, Any] = conninfo_to_dict(admin_url)
    params["dbname"] = conninfo_to_dict(db_url)["dbname"]
    return url_from_params(params)


@pytest.mark.parametrize("who", ["owner", "superuser"])
def test_processes_refuse_the_owner_and_a_superuser(
    db_url: str, admin_url: str, who: str, tmp_path: Path
) -> None:
    url = db_url if who == "owner" else _superuser_url(db_url, admin_url)
    env = cli_env({"DATABASE_URL": url, "JWT_SECRET": "x" * 40})
    commands = {
        "serve": [str(BIN / "xorj"), "serve", "--port", "1"],
        "bot": [
            sys.executable,
            "-c",
            BOT,
            "run",
            "--chain",
            "sim",
            "--ticks",
            "1",
            "--sim-state",
            str(tmp_path / "chain.json"),
        ],
        "engine": [str(BIN / "xorj"), "engine", "load", os.devnull, "--allow-empty"],
        "trades": [str(BIN / "xorj"), "trades", "list"],
    }
    for name, argv in commands.items():
        proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1, (name, proc.returncode, proc.stderr[-2000:])
        assert "the application must log in as xorj_app" in proc.stderr, (name, proc.stderr)
        assert "MIGRATION_DATABASE_URL" in proc.stderr
    # Migrations, on the other hand, are the owner's.
    migrated = subprocess.run(
        [str(BIN / "xorj"), "db", "migrate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrated.returncode == 0, migrated.stderr


def test_the_app_refuses_to_start_as_the_owner(db_url: str, auth_config_for_tests: Any) -> None:
    from litestar.testing import TestClient

    from app.dbapi.core import PrivilegedLogin
    from app.server import create_app

    app = create_app(database_url=db_url, auth=auth_config_for_tests, pool_size=2)
    with pytest.raises(ExceptionGroup) as raised, TestClient(app):
        pass
    assert raised.group_contains(PrivilegedLogin, match="owns the tables", depth=None)


# --- connection budgets ------------------------------------------------------------------


@pytest.fixture
def limited_login(admin_url: str, db_url: str) -> Iterator[tuple[str, Callable[[int], None]]]:
    """A second application login (LOGIN NOINHERIT, the four roles) with CONNECTION LIMIT
    0, its URL for db_url's database, and a function that sets its limit."""
    name = f"xorj_app_limited_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN NOINHERIT CONNECTION LIMIT 0").format(
                sql.Identifier(name)
            )
        )
        conn.execute(
            sql.SQL("GRANT xorj_api, xorj_engine, xorj_bot, xorj_readonly TO {}").format(
                sql.Identifier(name)
            )
        )

    def set_limit(limit: int) -> None:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER ROLE {} CONNECTION LIMIT {}").format(
                    sql.Identifier(name), sql.Literal(limit)
                )
            )

    params: dict[str, Any] = conninfo_to_dict(db_url)
    params["user"] = name
    try:
        yield url_from_params(params), set_limit
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,)
            )
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def _events(path: Path, name: str) -> list[dict[str, Any]]:
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return [e for e in lines if e.get("event") == name]


def _wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_bot_waits_for_a_connection_slot_and_stops_on_sigterm_while_waiting(
    limited_login: tuple[str, Callable[[int], None]], tmp_path: Path
) -> None:
    url, set_limit = limited_login
    args = [
        sys.executable,
        "-c",
        BOT,
        "run",
        "--chain",
        "sim",
        "--ticks",
        "1000",
        "--tick-seconds",
        "0.2",
        "--sim-state",
        str(tmp_path / "chain.json"),
    ]
    env = cli_env({"DATABASE_URL": url})
    first_err, second_err = tmp_path / "first.err", tmp_path / "second.err"
    with open(first_err, "w") as err:
        first = subprocess.Popen(
            [*args, "--worker-id", "first"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        waits = _wait_for(lambda: _events(first_err, "database_unavailable"), 30, "a wait")
        assert "too many connections" in waits[0]["error"]
        assert first.poll() is None  # waiting, not exited
        set_limit(2)  # the bot's two connections
        _wait_for(lambda: _events(first_err, "job_completed"), 60, "the bot to run")

        with open(second_err, "w") as err:  # no slot left for a second bot
            second = subprocess.Popen(
                [*args, "--worker-id", "second"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        _wait_for(lambda: len(_events(second_err, "database_unavailable")) >= 2, 30, "backoff")
        delays = [e["retry_in"] for e in _events(second_err, "database_unavailable")]
        assert delays[1] > delays[0]  # backing off
        sent = time.monotonic()
        second.send_signal(signal.SIGTERM)
        assert second.wait(15) == 0
        stopped_in = time.monotonic() - sent
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0
    finally:
        for proc in (first, locals().get("second")):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    report_figures(
        "[budget] a bot waiting for a connection slot", seconds_to_stop=round(stopped_in, 2)
    )
    assert stopped_in < 5, stopped_in


def test_the_loader_waits_for_a_connection_slot(
    limited_login: tuple[str, Callable[[int], None]], tmp_path: Path
) -> None:
    url, set_limit = limited_login
    scores = tmp_path / "scores.jsonl"
    scores.write_text(
        "".join(
            json.dumps({"wallet_address": address(50 + i), "xorj_trust_score": i}) + "\n"
            for i in range(10)
        )
    )
    argv = [str(BIN / "xorj"), "engine", "load", str(scores), "--wait-for-database", "60"]
    env = cli_env({"DATABASE_URL": url})
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    time.sleep(2)
    assert proc.poll() is None
    set_limit(1)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "database not available" in err and "too many connections" in err
    assert "COMPLETED with 10 scores" in out

    set_limit(0)  # and SIGTERM while it waits: it stops at once
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    time.sleep(1.5)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 130, err
    assert time.monotonic() - sent < 5


# --- the feed of bot state changes -------------------------------------------------------


def test_the_feed_misses_no_change_when_transactions_commit_out_of_order(app_url: str) -> None:
    """T1 writes its event first (a smaller id) but commits after T2: a reader between the
    two commits sees T2's event, and T1's at its next read from the cursor it was given."""
    reader = SyncDatabase(app_url, "test:feed")
    t1 = psycopg.connect(app_url, autocommit=True, prepare_threshold=None)
    t2 = psycopg.connect(app_url, autocommit=True, prepare_threshold=None)
    try:
        cursor = reader.value("SELECT api.bot_state_changes(NULL)")["cursor"]
        t1.execute("BEGIN")
        t1.execute(PRELUDE, prelude_params("xorj_api", {"wallet_address": address(1)}, "t1", 5000))
        t1.execute("SELECT api.enable_bot()")
        with t2.transaction():
            t2.execute(
                PRELUDE, prelude_params("xorj_api", {"wallet_address": address(2)}, "t2", 5000)
            )
            t2.execute("SELECT api.enable_bot()")
        first = reader.value("SELECT api.bot_state_changes(%s)", (cursor,))
        assert [e["wallet"] for e in first["events"]] == [address(2)]
        t1.execute("COMMIT")
        second = reader.value("SELECT api.bot_state_changes(%s)", (first["cursor"],))
        wallets = [e["wallet"] for e in second["events"]]
        assert address(1) in wallets
        ids = {e["wallet"]: e["id"] for e in first["events"] + second["events"]}
        assert ids[address(1)] < ids[address(2)]  # an id cursor would have skipped it
    finally:
        reader.close()
        t1.close()
        t2.close()


def test_idle_connections_are_released_after_seconds(app_url: str, db_url: str) -> None:
    """An API worker's pool grows with concurrent requests and gives its idle connections
    back to the server after DATABASE_IDLE_SECONDS, keeping one."""
    import asyncio

    from app.dbapi.aio import Database

    def held() -> int:
        with psycopg.connect(db_url) as conn:
            (count,) = conn.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE usename = 'xorj_app' AND datname = current_database()"
            ).fetchone()
        return count

    async def scenario() -> tuple[int, int]:
        database = Database(app_url, max_size=5, idle_seconds=1.0)
        await database.open()
        try:
            await asyncio.gather(
                *(database.call("readonly", "SELECT pg_sleep(0.5)") for _ in range(5))
            )
            grown = held()
            deadline = time.monotonic() + 30
            while held() > 1 and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            return grown, held()
        finally:
            await database.close()

    grown, idle = asyncio.run(scenario())
    report_figures("[budget] idle release", grown_to=grown, after_idle=idle)
    assert grown == 5
    assert idle == 1
