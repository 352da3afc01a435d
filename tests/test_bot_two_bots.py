"""Two bots on one database and one simulated chain: they share the work without ever
working one trade both, nothing is broadcast twice, and when one dies (SIGKILL) holding
claims, the other takes its trades over once the lease has run out, and reaps its job."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import psycopg

from tests.conftest import report_figures
from tests.test_bot_worker import (
    FINAL,
    BotProcess,
    EnvFactory,
    assert_broadcast_at_most_once,
    jobs,
    setup_bots,
    sim_args,
    trade_actors,
    trades,
    wait_for,
)
from tests.test_trade_leases_hot import updates_by_table

LEASE = 2.0


def _unfinished_claims(db_url: str, worker: str) -> dict[str, datetime]:
    """trade id -> claim expiry of the unfinished trades `worker` holds."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT t.id::text, c.claim_expires_at FROM xorj.trades t "
            "JOIN xorj.trade_claims c ON c.trade_id = t.id WHERE c.claimed_by = %s "
            "AND t.status IN ('PENDING', 'SUBMITTED') ORDER BY t.id",
            (worker,),
        ).fetchall()
    return dict(rows)


def test_two_bots_share_the_work_and_one_recovers_the_other(
    db_url: str, tmp_path: Path, cli_env: EnvFactory
) -> None:
    setup_bots(db_url, count=3, profile="Aggressive", duplicate_window="200 ms")
    state = tmp_path / "chain.json"
    common = [
        "run",
        "--ticks",
        "10000",
        "--tick-seconds",
        "0.1",
        "--poll-seconds",
        "0.05",
        "--monitor-timeout-seconds",
        "1",
        "--lease-seconds",
        str(LEASE),
        *sim_args(state, validity=12, drop_rate=0.3),
    ]
    a = BotProcess(cli_env, db_url, [*common, "--worker-id", "bot-a"], tmp_path, "a")
    b = BotProcess(cli_env, db_url, [*common, "--worker-id", "bot-b"], tmp_path, "b")
    try:
        # Both bots work for a while.
        wait_for(lambda: len(trades(db_url)) >= 40, 30, "40 trades", every=0.1)
        time.sleep(2)
        assert a.proc.poll() is None and b.proc.poll() is None

        # Freeze bot A until it holds claims on unfinished trades, then kill it there.
        deadline = time.monotonic() + 20
        held: dict[str, datetime] = {}
        while not held:
            assert time.monotonic() < deadline, "bot A never held a claim"
            a.signal(signal.SIGSTOP)
            held = _unfinished_claims(db_url, "bot-a")
            if not held:
                a.signal(signal.SIGCONT)
                time.sleep(0.03)
        os.kill(a.proc.pid, signal.SIGKILL)
        assert a.wait(10) == -signal.SIGKILL

        # B takes A's trades over after the lease and reaps A's job.
        def taken_over() -> bool:
            by_id = {t["id"]: t for t in trades(db_url)}
            a_running = [
                j for j in jobs(db_url) if j["worker_id"] == "bot-a" and j["status"] == "RUNNING"
            ]
            return all(by_id[i]["status"] in FINAL for i in held) and not a_running

        wait_for(taken_over, 30, "bot B to finish bot A's trades and reap its job", every=0.1)
        b.signal(signal.SIGTERM)
        assert b.wait(20) == 0, b.stderr()[-3000:]
    finally:
        a.kill()
        b.kill()

    all_trades = trades(db_url)
    actors = trade_actors(db_url)
    created_by = Counter(actors[t["id"]][0] for t in all_trades)
    assert created_by["bot:bot-a"] > 0 and created_by["bot:bot-b"] > 0, created_by
    # Nothing broadcast twice.
    assert_broadcast_at_most_once(state)
    # No trade worked by both, except the ones B took over from the dead A.
    for trade in all_trades:
        if trade["id"] in held:
            continue
        assert len(set(actors[trade["id"]])) == 1, (trade["id"], actors[trade["id"]])
    by_id = {t["id"]: t for t in all_trades}
    for trade_id, lease_end in held.items():
        assert actors[trade_id][0] == "bot:bot-a"
        assert actors[trade_id][-1] == "bot:bot-b"
        assert by_id[trade_id]["completed_at"] > lease_end  # not before A's lease ran out
    claimed = {e["trade_id"] for e in b.events("trade_claimed") if e["source"] == "claim"}
    assert set(held) <= claimed
    # Every job is COMPLETED or FAILED; A's last one was reaped as stalled.
    all_jobs = jobs(db_url)
    assert {j["status"] for j in all_jobs} <= {"COMPLETED", "FAILED"}
    a_failed = [j for j in all_jobs if j["worker_id"] == "bot-a" and j["status"] == "FAILED"]
    assert a_failed and a_failed[-1]["error_message"].startswith("stalled: no heartbeat")
    # B held nothing at the end (SIGTERM released its claims).
    assert not [t for t in all_trades if t["claimed_by"] == "bot-b"]
    updates = updates_by_table(db_url)
    report_figures(
        "two-bot run, updates (HOT of all)",
        trades=len(all_trades),
        trade_updates=f"{updates['trades'][1]}/{updates['trades'][0]}",
        lease_updates=f"{updates['trade_claims'][1]}/{updates['trade_claims'][0]}",
    )
