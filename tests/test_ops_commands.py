"""`xorj trades list` and `xorj jobs list` (app.workers.ops): fixed-width tables through
api.list_trades and api.list_execution_jobs, filters, and the database's refusals on one
line; and the volume seed (app.seed.generate_volume) the listings are tried on.

The commands run in-process through register_cli and an argparse parser of the test's
own, as `xorj` will once they are wired.

The 100,000-trade seed measurement is not part of the suite; run it by hand:

    .venv/bin/python -m tests.test_ops_commands --traders 100000 --trades 100000
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from app import seed
from app.workers import ops
from tests.conftest import app_url_of
from tests.solana import address, signature

Runner = Callable[..., tuple[int, str, str]]

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
BONK = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263"
VAULT_A = address(1001)
VAULT_B = address(1002)


@pytest.fixture
def run_cli(
    app_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Runner:
    """run_cli(*args) -> (exit code, stdout, stderr) of `xorj args...` against the test's
    database, as the application login."""
    monkeypatch.setenv("DATABASE_URL", app_url)

    def run(*args: str) -> tuple[int, str, str]:
        parser = argparse.ArgumentParser(prog="xorj")
        ops.register_cli(parser.add_subparsers(dest="command", required=True))
        parsed = parser.parse_args(list(args))
        capsys.readouterr()
        code = parsed.func(parsed)
        out, err = capsys.readouterr()
        return code, out, err

    return run


class Api:
    """api function calls as a role, one transaction each, on a connection as the
    application login; `wallet`: the claims of that user's token (user functions)."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)

    def __call__(self, role: str, query: str, *params: Any, wallet: str | None = None) -> Any:
        claims = json.dumps({"wallet_address": wallet}) if wallet else ""
        with self.conn.transaction():
            self.conn.execute(
                "SELECT set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
                (role, claims),
            )
            row = self.conn.execute(query, params).fetchone()
        return row[0] if row and len(row) == 1 else row


@pytest.fixture
def api(app_url: str) -> Iterator[Api]:
    calls = Api(app_url)
    yield calls
    calls.conn.close()


@pytest.fixture
def trades(api: Api) -> dict[str, str]:
    """Five trades over two vaults, one per status (two CONFIRMED), oldest first:
    name -> id."""
    api("xorj_api", "SELECT api.enable_bot(%s)", VAULT_A, wallet=address(1))
    api("xorj_api", "SELECT api.enable_bot(%s)", VAULT_B, wallet=address(2))
    job = api("xorj_bot", "SELECT api.create_execution_job('SCHEDULED_RUN')")["id"]
    api("xorj_bot", "SELECT api.start_execution_job(%s, 'worker-1')", job)

    def create(vault: str, key: str, a: str, b: str, amount: int) -> str:
        return api(
            "xorj_bot",
            "SELECT (trade->>'id') FROM api.create_trade(%s, %s, %s, %s, %s, %s, %s)",
            job,
            vault,
            key,
            a,
            b,
            amount,
            min(amount * 2, 2**64 - 1),
        )

    ids = {}
    ids["confirmed_a"] = create(VAULT_A, "k1", SOL, USDC, 1_000_000_000)
    api(
        "xorj_bot",
        "SELECT 1 FROM api.mark_trade_submitted(%s, %s)",
        ids["confirmed_a"],
        signature(1),
    )
    api("xorj_bot", "SELECT 1 FROM api.mark_trade_confirmed(%s, 1999)", ids["confirmed_a"])
    ids["failed_a"] = create(VAULT_A, "k2", USDC, BONK, 5)
    api(
        "xorj_bot",
        "SELECT 1 FROM api.mark_trade_failed(%s, 'quote expired', "
        "p_failure_basis => 'never_broadcast')",
        ids["failed_a"],
    )
    ids["confirmed_b"] = create(VAULT_B, "k3", SOL, USDC, 18_446_744_073_709_551_615)
    api(
        "xorj_bot",
        "SELECT 1 FROM api.mark_trade_submitted(%s, %s)",
        ids["confirmed_b"],
        signature(3),
    )
    api("xorj_bot", "SELECT 1 FROM api.mark_trade_confirmed(%s, 7)", ids["confirmed_b"])
    ids["submitted_b"] = create(VAULT_B, "k4", USDC, SOL, 42)
    api(
        "xorj_bot",
        "SELECT 1 FROM api.mark_trade_submitted(%s, %s)",
        ids["submitted_b"],
        signature(4),
    )
    ids["pending_a"] = create(VAULT_A, "k5", BONK, SOL, 77)
    return ids


def rows_of(out: str) -> list[str]:
    """The table's data lines (without the header and any note)."""
    lines = out.splitlines()
    assert lines[0].startswith("ID ")
    return [line for line in lines[1:] if not line.startswith("(")]


def test_trades_list_shows_every_trade_newest_first_in_fixed_columns(
    run_cli: Runner, trades: dict[str, str]
) -> None:
    code, out, err = run_cli("trades", "list")
    assert (code, err) == (0, "")
    header, *lines = out.splitlines()
    assert header.split() == [
        "ID",
        "STATUS",
        "VAULT",
        "PAIR",
        "AMOUNT_IN",
        "CREATED_AT",
        "SIGNATURE",
    ]
    names = ["pending_a", "submitted_b", "confirmed_b", "failed_a", "confirmed_a"]
    assert [line[:36] for line in lines] == [trades[n] for n in names]
    assert [line.split()[1] for line in lines] == [
        "PENDING",
        "SUBMITTED",
        "CONFIRMED",
        "FAILED",
        "CONFIRMED",
    ]
    # Fixed widths: every column starts where its header does.
    starts = [header.index(h) for h in ("STATUS", "VAULT", "PAIR", "CREATED_AT", "SIGNATURE")]
    for line in lines:
        assert all(line[s - 2 : s] == "  " and line[s] != " " for s in starts[:4]), line
    by_id = {line[:36]: line for line in lines}
    first = by_id[trades["confirmed_a"]]
    assert VAULT_A in first
    assert "So11..1112->EPjF..Dt1v" in first
    assert re.search(r"\s1000000000  \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ  ", first)
    assert first.endswith(signature(1)[:8] + ".." + signature(1)[-4:])
    assert "18446744073709551615" in by_id[trades["confirmed_b"]]  # u64 max, exact
    assert by_id[trades["pending_a"]].endswith("Z  -")  # no signature yet
    # The amount column is right-aligned: the amounts end in the same column.
    ends = {line.index("Z  ") - 20 - 2 for line in lines}
    assert len(ends) == 1
    assert all(not line.endswith(" ") for line in out.splitlines())


def test_trades_list_filters(run_cli: Runner, trades: dict[str, str]) -> None:
    code, out, _ = run_cli("trades", "list", "--status", "CONFIRMED")
    assert code == 0
    assert [line[:36] for line in rows_of(out)] == [trades["confirmed_b"], trades["confirmed_a"]]

    code, out, _ = run_cli("trades", "list", "--vault", VAULT_B)
    assert code == 0
    assert [line[:36] for line in rows_of(out)] == [trades["submitted_b"], trades["confirmed_b"]]

    code, out, _ = run_cli("trades", "list", "--vault", VAULT_A, "--status", "FAILED")
    assert [line[:36] for line in rows_of(out)] == [trades["failed_a"]]

    code, out, _ = run_cli("trades", "list", "--vault", VAULT_B, "--status", "PENDING")
    assert (code, out) == (0, "no trades\n")

    code, out, _ = run_cli("trades", "list", "--limit", "2")
    assert [line[:36] for line in rows_of(out)] == [trades["pending_a"], trades["submitted_b"]]
    assert out.splitlines()[-1] == "(the first 2: --offset 2 for the next, or filter)"
    code, out, _ = run_cli("trades", "list", "--limit", "2", "--offset", "2")
    assert [line[:36] for line in rows_of(out)] == [trades["confirmed_b"], trades["failed_a"]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--status", "DONE"],
            "xorj: invalid status: DONE is not one of PENDING, SUBMITTED, CONFIRMED, FAILED",
        ),
        (["--vault", "not-a-vault"], "xorj: invalid vault: is not a Solana address"),
        (["--limit", "0"], "xorj: invalid limit: must be 1..1000"),
        (["--limit", "1001"], "xorj: invalid limit: must be 1..1000"),
        (["--offset", "-1"], "xorj: invalid offset: must be 0 or more"),
    ],
)
def test_trades_list_refusals_are_the_databases_on_one_line(
    run_cli: Runner, args: list[str], message: str
) -> None:
    code, out, err = run_cli("trades", "list", *args)
    assert code == 1
    assert out == ""
    assert err == message + "\n"


def test_no_trades_at_all(run_cli: Runner) -> None:
    assert run_cli("trades", "list") == (0, "no trades\n", "")


@pytest.fixture
def jobs(api: Api) -> dict[str, str]:
    """Four jobs, one per status, oldest first: status -> id."""
    ids = {}
    ids["PENDING"] = api("xorj_bot", "SELECT api.create_execution_job('MANUAL_TRIGGER')")["id"]
    ids["RUNNING"] = api("xorj_bot", "SELECT api.create_execution_job('SCHEDULED_RUN')")["id"]
    api("xorj_bot", "SELECT api.start_execution_job(%s, 'bot-host-1:4242')", ids["RUNNING"])
    api("xorj_bot", "SELECT api.heartbeat_execution_job(%s, 'bot-host-1:4242')", ids["RUNNING"])
    ids["COMPLETED"] = api("xorj_bot", "SELECT api.create_execution_job('SCHEDULED_RUN')")["id"]
    api("xorj_bot", "SELECT api.start_execution_job(%s, 'w2')", ids["COMPLETED"])
    api("xorj_bot", "SELECT api.complete_execution_job(%s, 'w2')", ids["COMPLETED"])
    ids["FAILED"] = api(
        "xorj_bot", "SELECT api.create_execution_job('RECOVERY_RUN', %s)", Jsonb({"from": "cli"})
    )["id"]
    api(
        "xorj_bot",
        "SELECT api.fail_execution_job(%s, %s)",
        ids["FAILED"],
        "RPC node unreachable:\n  connection refused after 3 attempts to the primary and backup",
    )
    return ids


def test_jobs_list_shows_every_job_newest_first(run_cli: Runner, jobs: dict[str, str]) -> None:
    code, out, err = run_cli("jobs", "list")
    assert (code, err) == (0, "")
    header, *lines = out.splitlines()
    assert header.split() == [
        "ID",
        "STATUS",
        "TRIGGER",
        "WORKER",
        "STARTED",
        "HEARTBEAT",
        "COMPLETED",
        "ERROR",
    ]
    order = ["FAILED", "COMPLETED", "RUNNING", "PENDING"]
    assert [line[:36] for line in lines] == [jobs[s] for s in order]
    assert [line.split()[1] for line in lines] == order
    by_status = dict(zip(order, lines, strict=True))
    error_at = header.index("ERROR")
    failed = by_status["FAILED"]
    assert "RECOVERY_RUN" in failed
    # The error on one line, cut to 40 characters with "...".
    assert failed[error_at:] == "RPC node unreachable: connection refu..."
    running = by_status["RUNNING"]
    assert "bot-host-1:4242" in running and "SCHEDULED_RUN" in running
    assert len(re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", running)) == 2  # started, beat
    assert running.split()[-2:] == ["-", "-"]  # not completed, no error
    pending = by_status["PENDING"]
    assert pending.split()[2:] == ["MANUAL_TRIGGER", "-", "-", "-", "-", "-"]
    completed_at = header.index("COMPLETED")
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", by_status["COMPLETED"][completed_at:])
    assert all(not line.endswith(" ") for line in out.splitlines())


def test_jobs_list_filters_and_refusals(run_cli: Runner, jobs: dict[str, str]) -> None:
    code, out, _ = run_cli("jobs", "list", "--status", "FAILED")
    assert code == 0
    assert [line[:36] for line in rows_of(out)] == [jobs["FAILED"]]
    code, out, _ = run_cli("jobs", "list", "--limit", "1", "--offset", "1")
    assert [line[:36] for line in rows_of(out)] == [jobs["COMPLETED"]]
    code, out, err = run_cli("jobs", "list", "--status", "failed")
    assert (code, out) == (1, "")
    assert err == (
        "xorj: invalid status: failed is not one of PENDING, RUNNING, COMPLETED, FAILED\n"
    )
    code, _, err = run_cli("jobs", "list", "--limit", "5000")
    assert (code, err) == (1, "xorj: invalid limit: must be 1..1000\n")


def test_no_jobs_at_all(run_cli: Runner) -> None:
    assert run_cli("jobs", "list") == (0, "no jobs\n", "")


def test_the_installed_commands(app_url: str, xorj_cli: Any, jobs: dict[str, str]) -> None:
    """`xorj jobs list` and `xorj trades list` as wired into app.cli."""
    listed = xorj_cli("jobs", "list", "--status", "RUNNING", env={"DATABASE_URL": app_url})
    assert listed.returncode == 0, listed.stderr
    assert [line[:36] for line in rows_of(listed.stdout)] == [jobs["RUNNING"]]
    refused = xorj_cli("trades", "list", "--status", "LOST", env={"DATABASE_URL": app_url})
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert refused.stderr == (
        "xorj: invalid status: LOST is not one of PENDING, SUBMITTED, CONFIRMED, FAILED\n"
    )


def test_abbreviations() -> None:
    assert ops.middle(SOL) == "So11..1112"
    assert ops.middle("short") == "short"
    assert ops.middle(None) == "-"
    assert ops.clip("a\n b  c", 40) == "a b c"
    assert ops.clip("x" * 50, 10) == "xxxxxxx..."
    assert ops.when("2025-01-31T13:00:00.123+01:00") == "2025-01-31 12:00:00Z"
    assert ops.when(None) == "-"


# --- the volume seed ---------------------------------------------------------------------


def _trade_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return dict(
            conn.execute("SELECT status::text, count(*) FROM xorj.trades GROUP BY 1").fetchall()
        )


def test_volume_seed_through_the_api_twice(db_url: str, app_url: str, run_cli: Runner) -> None:
    lines = seed.generate_volume(app_url, traders=250, trades=600, progress=False)
    assert lines[0].startswith("scoring run ") and "COMPLETED with 250 trader scores" in lines[0]
    assert "users: 3" in lines[1] and "jobs: 1 (0 COMPLETED, 1 RUNNING)" in lines[1]
    # 5% in flight (40% of them PENDING), 10% FAILED, the rest CONFIRMED
    expected = {"CONFIRMED": 510, "FAILED": 60, "SUBMITTED": 18, "PENDING": 12}
    assert _trade_counts(db_url) == expected
    assert "CONFIRMED 510, FAILED 60, SUBMITTED 18, PENDING 12" in lines[2]

    with psycopg.connect(db_url) as conn:
        (ranked,) = conn.execute("SELECT count(*) FROM api.ranked_traders(1000, 0)").fetchone()
        assert ranked == 250
        checks = conn.execute(
            """SELECT
                 (SELECT count(DISTINCT transaction_signature) FROM xorj.trades),
                 (SELECT count(*) FROM xorj.trades WHERE transaction_signature IS NOT NULL),
                 (SELECT count(*) FROM xorj.trade_events),
                 (SELECT count(*) FROM xorj.trade_events WHERE actor <> 'seed:volume'),
                 (SELECT count(*) FROM xorj.bot_states WHERE enabled),
                 (SELECT count(DISTINCT user_vault_address) FROM xorj.trades),
                 (SELECT count(*) FROM xorj.trades WHERE status = 'FAILED'
                                                     AND transaction_signature IS NOT NULL),
                 (SELECT count(*) FROM xorj.trades WHERE status = 'CONFIRMED'
                                                     AND actual_amount_out IS NULL)"""
        ).fetchone()
    distinct_sigs, with_sig, events, foreign, enabled, vaults, failed_late, unconfirmed = checks
    assert distinct_sigs == with_sig == 510 + 18 + failed_late
    assert 0 < failed_late < 60  # failures before and after submission
    # an event per creation and per transition
    assert events == 600 + with_sig + 510 + 60
    assert foreign == 0
    assert enabled == vaults == 3
    assert unconfirmed == 0

    # A second call adds as much again, on new users.
    again = seed.generate_volume(app_url, traders=250, trades=600, progress=False)
    assert len(again) == 3
    assert _trade_counts(db_url) == {k: 2 * v for k, v in expected.items()}

    code, out, _ = run_cli("trades", "list", "--status", "PENDING", "--limit", "1000")
    assert code == 0 and len(rows_of(out)) == 24
    code, out, _ = run_cli("jobs", "list", "--status", "RUNNING")
    assert len(rows_of(out)) == 2


def test_volume_seed_of_nothing(db_url: str, app_url: str) -> None:
    assert seed.generate_volume(app_url, 0, 0, False) == []
    assert _trade_counts(db_url) == {}
    with pytest.raises(ValueError):
        seed.generate_volume(app_url, -1, 0, False)


def test_volume_tokens_are_addresses() -> None:
    assert len(set(seed.VOLUME_MINTS)) == 32
    assert all(re.fullmatch(r"[1-9A-HJ-NP-Za-km-z]{32,44}", m) for m in seed.VOLUME_MINTS)
    assert len(seed.VOLUME_PAIRS) == 32 * 31


# --- the 100,000-trade measurement (not collected by pytest) ----------------------------


def _bench(traders: int, trades: int, calls: int) -> None:
    from app import migrate
    from tests import dbutil

    owner = dbutil.owner_role()
    name = f"xorj_bench_seed_{os.getpid()}"
    dbutil.create_database(name, owner)
    try:
        url = dbutil.url_for(name, owner)
        migrate.migrate(url)
        for n in range(1, calls + 1):
            started = time.perf_counter()
            for line in seed.generate_volume(app_url_of(url), traders, trades, progress=True):
                print(f"  {line}")
            print(f"call {n}: {time.perf_counter() - started:.1f} s")
    finally:
        dbutil.drop_database(name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="measure xorj db seed --traders --trades")
    parser.add_argument("--traders", type=int, default=100_000)
    parser.add_argument("--trades", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=1, help="seed this many times")
    options = parser.parse_args()
    _bench(options.traders, options.trades, options.calls)
