"""Exactly-once for clients of the seed's order (issue 14), on the real runtime: the local
validator (`xorj localnet serve`, LiteSVM in its own process), `xorj serve` over real HTTP,
clients in processes of their own (tests/seed_order_client.py) that create their trade
over HTTP, sign it, broadcast it (or not), and are SIGKILLed before /submitted; then
`xorj bot recover` (real processes) and one tick of `xorj bot run`.

What is proven, against the chain's own records (getSignaturesForAddress of each vault,
getTransaction of each signature) rather than the bot's word:

- while a client may still be signing (younger than xorj.send_first_grace()), recovery
  fails nothing: every trade stays PENDING (exit 3);
- every trade whose transaction landed ends CONFIRMED with its true signature (found by
  its memo), and with the chain's amount;
- every trade whose transaction was never sent stays PENDING until its search window has
  closed, then ends FAILED with failure_basis not_found_on_chain (exit 0);
- after a bot tick, each intent has exactly one successful swap on chain: the landed ones
  are not placed again, the ones that never landed are placed once (no double placement).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from app.workers.bot.recovery import SEARCH_MARGIN_BLOCKS
from tests.conftest import report_figures
from tests.test_api_http import _token, serve
from tests.test_bot_localnet import VALIDITY, bot_args, executions, fund, run_args
from tests.test_bot_worker import (
    ROOT,
    EnvFactory,
    _running_job,
    planned_intents,
    run_bot,
    setup_bots,
    trades,
)
from tests.test_localnet import Localnet, localnet

GRACE_SECONDS = 30  # xorj.send_first_grace(): checked against the database below
USERS = 6


@pytest.fixture(scope="module")
def chain() -> Iterator[Localnet]:
    with localnet("--slot-ms", "50", "--blockhash-validity", str(VALIDITY)) as server:
        yield server


def _client(
    chain: Localnet, base: str, token: str, job: str, intent: Any, key: str, crash: str
) -> dict[str, Any]:
    """One client of the seed's order, killed at `crash`: what it printed before dying."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.seed_order_client",
            *("--base", base, "--rpc-url", chain.url, "--state-dir", str(chain.state_dir)),
            *("--job", job, "--vault", intent.vault, "--key", key, "--crash", crash),
            *("--from-token", intent.from_token, "--to-token", intent.to_token),
            *("--amount-in", str(intent.amount_in)),
            *("--expected-out", str(intent.expected_amount_out)),
        ],
        cwd=ROOT,
        env={**os.environ, "XORJ_TEST_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _landed_by_trade(chain: Localnet, vaults: set[str]) -> Counter[str]:
    """Successful transactions on chain per trade id (from each vault's history: the memo
    "xorj:<trade id>[:<key>]" of the project's signer)."""
    landed: Counter[str] = Counter()
    for vault in vaults:
        for entry in chain.result("getSignaturesForAddress", vault, {"commitment": "confirmed"}):
            memo = entry.get("memo") or ""
            if entry.get("err") is None and "xorj:" in memo:
                landed[memo.split("xorj:", 1)[1].split(":", 1)[0].split(";", 1)[0]] += 1
    return landed


def _basis(db_url: str) -> dict[str, str | None]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT id::text, failure_basis FROM xorj.trades").fetchall()
    return {r[0]: r[1] for r in rows}


def test_clients_killed_between_broadcast_and_submitted(
    chain: Localnet, db_url: str, app_url: str, tmp_path: Path, cli_env: EnvFactory
) -> None:
    with psycopg.connect(db_url) as conn:
        (grace,) = conn.execute("SELECT extract(epoch FROM xorj.send_first_grace())").fetchone()
    assert float(grace) == GRACE_SECONDS
    users = setup_bots(db_url, count=USERS)
    fund(chain, [u.vault for u in users])
    intents = planned_intents(db_url)
    assert len(intents) >= 4, intents
    with psycopg.connect(db_url, autocommit=True) as conn:
        job = _running_job(conn, "seed-client")

    # The clients: half broadcast then die, half die before broadcasting.
    truth: dict[str, dict[str, Any]] = {}
    with serve(app_url) as server:
        token = _token(role="bot")
        for n, intent in enumerate(intents):
            crash = "after_broadcast" if n % 2 == 0 else "before_broadcast"
            told = _client(chain, server.base, token, job, intent, f"seed-{n}", crash)
            truth[told["trade_id"]] = told
    created_by = time.monotonic()
    assert {t["status"] for t in trades(db_url)} == {"PENDING"}
    sent = {t for t, told in truth.items() if told["sent"]}
    unsent = set(truth) - sent

    # A bot restarts at once: the landed ones are found by their memo and confirmed with
    # their true signature; the others it does not fail, their clients may still be
    # signing them (exit 3).
    recover = ["recover", *bot_args(chain, "recover-bot")]
    early = run_bot(cli_env, db_url, recover, tmp_path, "early")
    assert early.proc.returncode == 3, early.stdout() + early.stderr()[-3000:]
    after_early = {t["id"]: t for t in trades(db_url)}
    for trade_id in sent:
        end = after_early[trade_id]
        assert end["status"] == "CONFIRMED", end
        assert end["signature"] == truth[trade_id]["signature"], end
    for trade_id in unsent:
        assert after_early[trade_id]["status"] == "PENDING", after_early[trade_id]
    assert len(early.events("trade_found_on_chain")) == len(sent)
    assert not early.events("trade_search_started")

    # After the grace, the others get their search window and stay PENDING while it is
    # open (exit 3).
    time.sleep(max(0.0, GRACE_SECONDS + 1 - (time.monotonic() - created_by)))
    waiting = run_bot(cli_env, db_url, recover, tmp_path, "waiting")
    assert waiting.proc.returncode == 3, waiting.stdout() + waiting.stderr()[-3000:]
    assert len(waiting.events("trade_search_started")) == len(unsent)
    assert {t["id"] for t in trades(db_url) if t["status"] == "PENDING"} == unsent

    # Every blockhash they could use expires: not found on chain, FAILED with that basis.
    chain.advance(VALIDITY + SEARCH_MARGIN_BLOCKS + 2)
    done = run_bot(cli_env, db_url, recover, tmp_path, "done")
    assert done.proc.returncode == 0, done.stdout() + done.stderr()[-3000:]
    final = {t["id"]: t for t in trades(db_url)}
    basis = _basis(db_url)
    for trade_id in unsent:
        end = final[trade_id]
        assert end["status"] == "FAILED", end
        assert end["error_message"].startswith("not found on chain after its window"), end
        assert basis[trade_id] == "not_found_on_chain"
    never = executions(chain, [truth[t]["signature"] for t in unsent])
    assert all(v is None for v in never.values()), never

    # One bot tick: the intents that never landed are placed once more, the landed ones
    # are not placed again.
    tick = run_bot(cli_env, db_url, run_args(chain, "tick-bot"), tmp_path, "tick", timeout=90)
    assert tick.proc.returncode == 0, tick.stderr()[-3000:]
    after_tick = trades(db_url)
    landed = _landed_by_trade(chain, {u.vault for u in users})
    per_intent: Counter[tuple[str, str, int]] = Counter()
    for trade in after_tick:
        key = (trade["vault"], trade["to_token"], int(trade["amount_in"]))
        per_intent[key] += landed.get(trade["id"], 0)
        if landed.get(trade["id"]):
            assert trade["status"] == "CONFIRMED", trade
    double = sum(1 for n in per_intent.values() if n > 1)
    missing = [i for i in intents if per_intent[(i.vault, i.to_token, i.amount_in)] != 1]
    report_figures(
        "seed-order clients killed around the broadcast (local validator)",
        rounds=len(truth),
        landed=len(sent),
        recovered=sum(1 for t in sent if final[t]["status"] == "CONFIRMED"),
        failed_not_found=sum(1 for t in unsent if final[t]["status"] == "FAILED"),
        placed_again_by_the_bot=sum(1 for t in after_tick if t["id"] not in truth),
        double_placements=double,
    )
    assert double == 0, per_intent
    assert not missing, (missing, per_intent)
