"""A bot killed (SIGKILL) at each step of the exactly-once protocol, then restarted: every
trade ends CONFIRMED or FAILED with a reason, no signature is broadcast twice, and no
intent is lost (each intent of the planner ends with exactly one CONFIRMED trade).

The crash comes from the bot's test hook XORJ_BOT_CRASH_AT: the process SIGKILLs itself
right after that step of the first trade it works. Before the restart the test lets the
simulated chain move past the blockhash validity (as time passes during a real restart),
so a transaction that was signed and recorded but never sent has expired.
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from app.workers.bot.base import CRASH_POINTS, NEVER_BROADCAST
from tests.test_bot_worker import (
    FINAL,
    EnvFactory,
    assert_broadcast_at_most_once,
    jobs,
    planned_intents,
    run_bot,
    setup_bots,
    sim_args,
    sim_chain,
    trades,
)

VALIDITY = 20
WORKER = "crash-bot"

# What the crashed run leaves of its first trade: (status, signature recorded, broadcasts).
LEFT_BY_CRASH = {
    "after_create": ("PENDING", False, 0),
    "after_sign": ("PENDING", False, 0),
    "after_submitted": ("SUBMITTED", True, 0),
    "after_broadcast": ("SUBMITTED", True, 1),
    "after_confirm": ("CONFIRMED", True, 1),
}


@pytest.mark.parametrize("crash_at", CRASH_POINTS)
def test_crash_then_restart_loses_no_intent_and_broadcasts_nothing_twice(
    crash_at: str, db_url: str, tmp_path: Path, cli_env: EnvFactory
) -> None:
    setup_bots(db_url, count=2)
    intents = planned_intents(db_url)
    assert len(intents) == 4
    state = tmp_path / "chain.json"
    args = [
        "run",
        "--ticks",
        "1",
        "--tick-seconds",
        "0",
        "--worker-id",
        WORKER,  # the restart is the same bot: it takes its own claims back at once
        "--poll-seconds",
        "0.02",
        "--monitor-timeout-seconds",
        "15",
        *sim_args(state, validity=VALIDITY),
    ]

    crashed = run_bot(
        cli_env, db_url, args, tmp_path, "crashed", env={"XORJ_BOT_CRASH_AT": crash_at}
    )
    assert crashed.proc.returncode == -signal.SIGKILL, crashed.stderr()
    (hook,) = crashed.events("crash_hook")
    assert hook["at"] == crash_at
    first_id = hook["trade_id"]
    left = {t["id"]: t for t in trades(db_url)}
    first = left[first_id]
    status, signed, sent = LEFT_BY_CRASH[crash_at]
    assert first["status"] == status
    assert (first["signature"] is not None) == signed
    if signed:
        assert sim_chain(state).broadcast_count(first["signature"]) == sent
    if crash_at in ("after_create", "after_sign", "after_submitted"):
        assert len(left) == 1  # it died working its first intent

    sim_chain(state).advance(VALIDITY + 1)  # time passes: unsent transactions expire
    restarted = run_bot(cli_env, db_url, args, tmp_path, "restarted")
    assert restarted.proc.returncode == 0, restarted.stderr()

    final = {t["id"]: t for t in trades(db_url)}
    # Every trade is final, with its reason.
    for trade in final.values():
        assert trade["status"] in FINAL, trade
        if trade["status"] == "FAILED":
            assert trade["error_message"], trade
        else:
            assert trade["actual_amount_out"] is not None and trade["gas_fee"] is not None
    broadcasts = assert_broadcast_at_most_once(state)
    # Each trade the crashed run left is resolved as the protocol says.
    end = final[first_id]
    if crash_at in ("after_create", "after_sign"):
        assert (end["status"], end["error_message"]) == ("FAILED", NEVER_BROADCAST)
        assert end["signature"] is None
    elif crash_at == "after_submitted":
        assert end["status"] == "FAILED"
        lvbh = end["last_valid_block_height"]
        assert end["error_message"] == (
            f"expired: blockhash expired at height {lvbh} before the transaction landed"
        )
        assert broadcasts[end["signature"]] == 0
    else:
        assert end["status"] == "CONFIRMED"
        assert broadcasts[end["signature"]] == 1
    for trade_id, before in left.items():
        if before["signature"] is not None:
            assert broadcasts[before["signature"]] == (1 if trade_id != first_id else sent)
    # No intent lost, none placed twice: exactly one CONFIRMED trade per intent.
    confirmed = Counter(
        (t["vault"], t["from_token"], t["to_token"], t["amount_in"])
        for t in final.values()
        if t["status"] == "CONFIRMED"
    )
    assert confirmed == Counter(
        (i.vault, i.from_token, i.to_token, i.amount_in) for i in intents
    ), (crash_at, restarted.stderr()[-3000:])
    # The restart resolved the crashed run's unfinished trades in its recovery job, and
    # failed the crashed run's job (same worker id: its previous run).
    (summary,) = restarted.events("recovery_summary")
    unfinished = [t for t in left.values() if t["status"] not in FINAL]
    assert sum(summary[k] for k in ("confirmed", "expired", "never_broadcast")) == len(unfinished)
    assert summary["still_pending_on_chain"] == 0
    all_jobs = {j["id"]: j for j in jobs(db_url)}
    assert {j["status"] for j in all_jobs.values()} <= {"COMPLETED", "FAILED"}, all_jobs
    crashed_job = all_jobs[first["job_id"]]
    assert crashed_job["status"] == "FAILED"
    assert crashed_job["error_message"].startswith(f"abandoned: worker {WORKER} restarted")
