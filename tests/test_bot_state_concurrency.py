"""Bot state and user settings under real concurrency, and the bot-state NOTIFY.

Every call runs on its own connection as the application login (xorj_app) to a fresh
migrated database, in its own transaction, as the API role with the claims of the
wallet's token (set_config('role', 'xorj_api') and 'request.jwt.claims'), as the API
would. Tables are read on the owner's connections. Where a race must be exercised
deterministically, one transaction holds its lock while another is shown to wait on it
(pg_stat_activity, watched by the application login, which sees its own sessions), then
the first commits.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from app.dbapi.core import facts

WALLET = "So11111111111111111111111111111111111111112"
WALLET_2 = "11111111111111111111111111111111"
VAULT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
VAULT_2 = "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB"
CHANNEL = "xorj_bot_state"


def _as_user(conn: psycopg.Connection, wallet: str) -> None:
    """In the current transaction: the role xorj_api, with the claims of `wallet`'s token."""
    conn.execute(
        "SELECT set_config('role', 'xorj_api', true), set_config('request.jwt.claims', %s, true)",
        (json.dumps({"wallet_address": wallet}),),
    )


def _call(conn: psycopg.Connection, wallet: str, query: str, params: tuple = ()) -> Any:
    """One API call of `wallet` in its own committed transaction, as xorj_api; its single
    value."""
    with conn.transaction():
        _as_user(conn, wallet)
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def _enable(conn: psycopg.Connection, wallet: str = WALLET, vault: str | None = None) -> dict:
    return _call(conn, wallet, "SELECT api.enable_bot(%s)", (vault,))


def _disable(conn: psycopg.Connection, wallet: str = WALLET) -> dict:
    return _call(conn, wallet, "SELECT api.disable_bot()")


def _update(
    conn: psycopg.Connection, wallet: str, patch: dict, expected: int | None = None
) -> dict:
    return _call(
        conn,
        wallet,
        "SELECT api.update_user_settings(%s::jsonb, %s)",
        (json.dumps(patch), expected),
    )


def _run_together(url: str, n: int, call: Callable[[psycopg.Connection, int], Any]) -> list:
    """Open n connections, then run call(conn, i) on all of them at once (a barrier
    releases them together). Each result is the call's value or the psycopg.Error."""
    conns = [psycopg.connect(url, autocommit=True) for _ in range(n)]
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
        assert not any(t.is_alive() for t in threads), "a call did not finish within 60 s"
    finally:
        for c in conns:
            c.close()
    return results


def _wait_until_blocked(observer: psycopg.Connection, pid: int, timeout: float = 10) -> None:
    """Wait until backend `pid` waits on a lock (held by another transaction)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = observer.execute(
            "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)
        ).fetchone()
        if row and row[0] == "Lock":
            return
        time.sleep(0.02)
    pytest.fail(f"backend {pid} never waited on a lock")


class _Background:
    """Run fn() in a thread; .result() returns its value or raises its exception."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,))
        self._thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self._value = fn()
        except BaseException as exc:
            self._error = exc

    def result(self, timeout: float = 30) -> Any:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the background call did not finish"
        if self._error is not None:
            raise self._error
        return self._value


# --- bot state --------------------------------------------------------------------------


def test_50_concurrent_enable_disable_leave_one_row_matching_the_last_event(
    db_url: str, app_url: str
) -> None:
    def call(conn: psycopg.Connection, i: int) -> dict:
        return _enable(conn, WALLET, VAULT) if i % 2 == 0 else _disable(conn)

    results = _run_together(app_url, 50, call)

    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == [], f"calls failed: {errors[:3]}"
    changed = sum(1 for r in results if r["changed"])

    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT enabled, vault_address FROM xorj.bot_states WHERE user_id = %s", (WALLET,)
        ).fetchall()
        events = conn.execute(
            "SELECT enabled, vault_address FROM xorj.bot_state_events "
            "WHERE user_id = %s ORDER BY id",
            (WALLET,),
        ).fetchall()
        total_rows = conn.execute("SELECT count(*) FROM xorj.bot_states").fetchone()[0]

    assert total_rows == 1
    assert len(rows) == 1
    enabled, vault = rows[0]
    assert vault == VAULT
    # 25 enables: at least one committed, so at least one change was recorded.
    assert events, "no audit row"
    assert len(events) == changed, "one audit row per call that reported a change"
    # The row's state is the state written by the last committed change.
    assert events[-1][0] == enabled
    # Every change flips the state (the vault never changes here), starting from the
    # default (disabled): the audit trail alternates true, false, true, ...
    assert [e[0] for e in events] == [i % 2 == 0 for i in range(len(events))]
    # And each call's returned status agrees with what it did.
    for i, r in enumerate(results):
        assert r["status"]["isBotActive"] is (i % 2 == 0)


def test_two_wallets_racing_for_one_vault_get_vault_in_use(db_url: str, app_url: str) -> None:
    """Both pass the "vault free?" check; the loser meets the unique index and must get
    XJ409 vault_in_use, not a bare unique violation."""
    holder = psycopg.connect(app_url, autocommit=True)
    racer = psycopg.connect(app_url, autocommit=True)
    watcher = psycopg.connect(app_url, autocommit=True)
    observer = psycopg.connect(db_url, autocommit=True)
    try:
        racer_pid = racer.info.backend_pid
        with holder.transaction():
            _as_user(holder, WALLET)
            holder.execute("SELECT api.enable_bot(%s)", (VAULT,))
            # The racer does not see the uncommitted registration: it waits on the index.
            background = _Background(lambda: _enable(racer, WALLET_2, VAULT))
            _wait_until_blocked(watcher, racer_pid)
        with pytest.raises(psycopg.Error) as caught:
            background.result()
        assert caught.value.sqlstate == "XJ409"
        assert caught.value.diag.constraint_name == "vault_in_use"

        rows = observer.execute(
            "SELECT user_id, vault_address FROM xorj.bot_states ORDER BY user_id"
        ).fetchall()
        assert rows == [(WALLET, VAULT)]
    finally:
        for c in (holder, racer, watcher, observer):
            c.close()


def test_two_first_enables_of_one_wallet_with_its_vault_both_succeed(
    db_url: str, app_url: str
) -> None:
    """The second first enable waits for the first, then succeeds as "no change"."""
    holder = psycopg.connect(app_url, autocommit=True)
    racer = psycopg.connect(app_url, autocommit=True)
    watcher = psycopg.connect(app_url, autocommit=True)
    observer = psycopg.connect(db_url, autocommit=True)
    try:
        with holder.transaction():
            _as_user(holder, WALLET)
            holder.execute("SELECT api.enable_bot(%s)", (VAULT,))
            background = _Background(lambda: _enable(racer, WALLET, VAULT))
            _wait_until_blocked(watcher, racer.info.backend_pid)
        result = background.result()
        assert result["changed"] is False
        assert result["status"]["isBotActive"] is True
        assert result["status"]["vaultAddress"] == VAULT
        assert observer.execute("SELECT count(*) FROM xorj.bot_states").fetchone()[0] == 1
        assert observer.execute("SELECT count(*) FROM xorj.bot_state_events").fetchone()[0] == 1
    finally:
        for c in (holder, racer, watcher, observer):
            c.close()


def _address(prefix: str, n: int) -> str:
    """A valid 44-character base58 address, distinct for each (prefix, n)."""
    return (prefix + str(n).replace("0", "z")).ljust(44, "x")


def test_simultaneous_first_enables_of_one_wallet_and_vault_all_succeed(
    db_url: str, app_url: str
) -> None:
    """Simultaneous first enables of one wallet with one vault. A loser that passed the
    user_id check before the winner inserted meets the winner on the vault's unique
    index, which ON CONFLICT (user_id) does not cover: it must retry and succeed, never
    fail with vault_in_use or a unique violation. Many rounds, to hit that window."""
    for round_ in range(30):
        wallet, vault = _address("W", round_), _address("V", round_)
        results = _run_together(app_url, 6, lambda conn, i, w=wallet, v=vault: _enable(conn, w, v))
        errors = [r for r in results if isinstance(r, Exception)]
        assert errors == [], f"round {round_}: {errors[:2]}"
        assert sum(r["changed"] for r in results) == 1, f"round {round_}"
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM xorj.bot_states").fetchone()[0] == 30
        assert conn.execute("SELECT count(*) FROM xorj.bot_state_events").fetchone()[0] == 30


def test_concurrent_registrations_of_one_vault_one_wins(db_url: str, app_url: str) -> None:
    wallets = [WALLET, WALLET_2, VAULT_2, "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"]
    results = _run_together(app_url, len(wallets), lambda conn, i: _enable(conn, wallets[i], VAULT))

    won = [r for r in results if isinstance(r, dict)]
    lost = [r for r in results if isinstance(r, Exception)]
    assert len(won) == 1
    assert len(lost) == len(wallets) - 1
    assert {(e.sqlstate, e.diag.constraint_name) for e in lost} == {("XJ409", "vault_in_use")}
    with psycopg.connect(db_url) as conn:
        assert (
            conn.execute(
                "SELECT count(*) FROM xorj.bot_states WHERE vault_address = %s", (VAULT,)
            ).fetchone()[0]
            == 1
        )


# --- NOTIFY -----------------------------------------------------------------------------


def _notifications(
    listener: psycopg.Connection, timeout: float, expect: int | None = None
) -> list[dict]:
    """The notifications on CHANNEL that arrive within `timeout` seconds (returning as
    soon as `expect` have arrived, then waiting briefly for any extra one)."""
    received = []
    for note in listener.notifies(timeout=timeout, stop_after=expect):
        assert note.channel == CHANNEL
        received.append(json.loads(note.payload))
    if expect is not None and len(received) == expect:
        received += _notifications(listener, 0.3)
    return received


def test_notify_after_commit_and_only_for_changes(app_url: str) -> None:
    listener = psycopg.connect(app_url, autocommit=True)
    caller = psycopg.connect(app_url, autocommit=True)
    try:
        listener.execute(f"LISTEN {CHANNEL}")

        # Enable: nothing before the commit, the payload after it.
        with caller.transaction():
            _as_user(caller, WALLET)
            caller.execute("SELECT api.enable_bot(%s)", (VAULT,))
            assert _notifications(listener, 0.5) == [], "notified before commit"
        assert _notifications(listener, 5, expect=1) == [
            {"wallet": WALLET, "enabled": True, "vault_address": VAULT}
        ]

        # Enabling again changes nothing: no notification.
        assert _enable(caller, WALLET)["changed"] is False
        assert _enable(caller, WALLET, VAULT)["changed"] is False
        assert _notifications(listener, 1) == []

        # A change that rolls back is never announced.
        with caller.transaction(force_rollback=True):
            _as_user(caller, WALLET)
            caller.execute("SELECT api.disable_bot()")
        assert _notifications(listener, 1) == []

        # Disable, then a disable of a wallet never seen (no change): one notification.
        assert _disable(caller)["changed"] is True
        assert _disable(caller, WALLET_2)["changed"] is False
        assert _notifications(listener, 5, expect=1) == [
            {"wallet": WALLET, "enabled": False, "vault_address": VAULT}
        ]

        # Enabling without a vault: vault_address is JSON null.
        assert _enable(caller, WALLET_2)["changed"] is True
        assert _notifications(listener, 5, expect=1) == [
            {"wallet": WALLET_2, "enabled": True, "vault_address": None}
        ]
    finally:
        listener.close()
        caller.close()


# --- user settings ----------------------------------------------------------------------


def test_20_concurrent_first_saves_give_one_row_at_version_20(db_url: str, app_url: str) -> None:
    # Each save sets a different maxDrawdownLimit, so each one is a change (a save that
    # changes nothing keeps the version).
    results = _run_together(
        app_url, 20, lambda conn, i: _update(conn, WALLET, {"maxDrawdownLimit": i + 1})
    )

    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == [], f"saves failed: {errors[:3]}"
    assert sorted(r["version"] for r in results) == list(range(1, 21))
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT version, max_drawdown_limit FROM xorj.user_settings WHERE wallet_address = %s",
            (WALLET,),
        ).fetchall()
    assert len(rows) == 1
    version, limit = rows[0]
    assert version == 20
    # The stored value is the one of the save that got the last version.
    last = next(r for r in results if r["version"] == 20)
    assert limit == last["maxDrawdownLimit"]


def test_two_updates_on_the_same_version_one_wins(app_url: str) -> None:
    with psycopg.connect(app_url, autocommit=True) as conn:
        assert _update(conn, WALLET, {"riskProfile": "Conservative"})["version"] == 1

    for round_ in range(10):
        version = 1 + round_
        # Values never stored before, so each patch is a change (a save that changes
        # nothing keeps the version and would not conflict).
        patches = [{"maxDrawdownLimit": 20 + round_}, {"positionSizePercent": 10 + round_}]
        results = _run_together(
            app_url, 2, lambda conn, i, p=patches, v=version: _update(conn, WALLET, p[i], v)
        )
        won = [r for r in results if isinstance(r, dict)]
        lost = [r for r in results if isinstance(r, Exception)]
        assert len(won) == 1, f"round {round_}: {results}"
        assert won[0]["version"] == version + 1
        assert len(lost) == 1
        assert lost[0].sqlstate == "XJ412"
        assert facts(lost[0])["text"] == f"current_version={version + 1}"
        assert facts(lost[0])["current_version"] == version + 1


def test_an_update_waits_for_a_concurrent_one_on_the_same_version_then_gets_xj412(
    db_url: str, app_url: str
) -> None:
    """Deterministic: the second update reads its version only after the first commits."""
    holder = psycopg.connect(app_url, autocommit=True)
    racer = psycopg.connect(app_url, autocommit=True)
    watcher = psycopg.connect(app_url, autocommit=True)
    observer = psycopg.connect(db_url, autocommit=True)
    try:
        assert _update(holder, WALLET, {"riskProfile": "Aggressive"})["version"] == 1
        with holder.transaction():
            _as_user(holder, WALLET)
            holder.execute(
                "SELECT api.update_user_settings(%s::jsonb, 1)",
                (json.dumps({"maxDrawdownLimit": 40}),),
            )
            background = _Background(lambda: _update(racer, WALLET, {"positionSizePercent": 20}, 1))
            _wait_until_blocked(watcher, racer.info.backend_pid)
        with pytest.raises(psycopg.Error) as caught:
            background.result()
        assert caught.value.sqlstate == "XJ412"
        assert facts(caught.value)["text"] == "current_version=2"

        row = observer.execute(
            "SELECT version, max_drawdown_limit, position_size_percent FROM xorj.user_settings"
        ).fetchone()
        assert row == (2, 40, 5)
    finally:
        for c in (holder, racer, watcher, observer):
            c.close()


def test_two_first_saves_expecting_version_0_one_wins(db_url: str, app_url: str) -> None:
    """The loser of the insert race waits for the winner, then sees version 1: XJ412,
    never a unique violation."""
    holder = psycopg.connect(app_url, autocommit=True)
    racer = psycopg.connect(app_url, autocommit=True)
    watcher = psycopg.connect(app_url, autocommit=True)
    observer = psycopg.connect(db_url, autocommit=True)
    try:
        with holder.transaction():
            _as_user(holder, WALLET)
            holder.execute(
                "SELECT api.update_user_settings(%s::jsonb, 0)",
                (json.dumps({"maxDrawdownLimit": 40}),),
            )
            background = _Background(lambda: _update(racer, WALLET, {"maxDrawdownLimit": 45}, 0))
            _wait_until_blocked(watcher, racer.info.backend_pid)
        with pytest.raises(psycopg.Error) as caught:
            background.result()
        assert caught.value.sqlstate == "XJ412"
        assert facts(caught.value)["text"] == "current_version=1"
        assert observer.execute("SELECT count(*) FROM xorj.user_settings").fetchone()[0] == 1
    finally:
        for c in (holder, racer, watcher, observer):
            c.close()


def test_concurrent_first_saves_without_version_mixed_with_reads(app_url: str) -> None:
    """Reads during first saves see either nothing (NULL) or a whole row, never an error."""

    def call(conn: psycopg.Connection, i: int) -> Any:
        if i % 2:
            return _call(conn, WALLET_2, "SELECT api.get_user_settings()")
        return _update(conn, WALLET_2, {"positionSizePercent": 1 + i})

    results = _run_together(app_url, 20, call)
    assert not [r for r in results if isinstance(r, Exception)]
    reads = [results[i] for i in range(1, 20, 2)]
    assert all(r is None or r["walletAddress"] == WALLET_2 for r in reads)
    assert Counter(r["version"] for r in results[0::2]) == Counter(range(1, 11))
