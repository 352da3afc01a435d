"""The execution bot on the real Solana runtime: `xorj localnet serve` (LiteSVM behind
JSON-RPC, in its own process, so the chain outlives every bot) and `xorj bot run --chain
rpc` signing real transactions with the vault authority's key (a delegate of each vault's
token accounts) and the maker's (MakerSwap: the two-party exchange that stands in for an
aggregator).

What is proven, each against the chain's own records (its token balances, its fees, its
count of executions per signature) rather than the bot's word:

- end to end: every planned intent ends CONFIRMED with venue 'localnet', its
  actual_amount_out equal to the vault's balance change in the target mint, its gas_fee
  equal to the transaction's fee;
- a bot SIGKILLed at each step of the protocol and restarted: every trade ends CONFIRMED
  or FAILED with its reason, no transaction is executed twice, each intent is placed once;
- two bots on one database and one chain: each intent is placed once;
- a swap the vault cannot pay (insufficient funds) ends FAILED with the chain's error and
  the fee it paid;
- transactions that never land (the chain drops them) expire: `bot recover` after their
  blockhash has passed its last valid height fails them as expired; a chain that cannot
  be asked makes `bot recover` exit 4, not 0.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.chain.spl import associated_token_address
from app.workers.bot.base import CRASH_POINTS, NEVER_BROADCAST
from app.workers.planner import USDC
from tests.conftest import report_figures
from tests.test_bot_worker import (
    FINAL,
    BotProcess,
    EnvFactory,
    planned_intents,
    run_bot,
    setup_bots,
    trades,
)
from tests.test_localnet import Localnet, localnet

SLIPPAGE_BPS = 50
VALIDITY = 40  # blocks: 2 s at 50 ms a slot


@pytest.fixture(scope="module")
def chain() -> Iterator[Localnet]:
    with localnet("--slot-ms", "50", "--blockhash-validity", str(VALIDITY)) as server:
        yield server


def fund(chain: Localnet, vaults: list[str], usdc: int = 10**12) -> None:
    for vault in vaults:
        chain.result("xorjFundVault", {"vault": vault, "usdc": usdc})


def bot_args(chain: Localnet, worker: str, *extra: str) -> list[str]:
    state = chain.state_dir
    return [
        "--chain",
        "rpc",
        "--rpc-url",
        chain.url,
        "--venue",
        "localnet",
        "--keypair",
        str(state / "authority.json"),
        "--swap",
        "maker",
        "--maker-keypair",
        str(state / "maker.json"),
        "--maker-slippage-bps",
        str(SLIPPAGE_BPS),
        "--worker-id",
        worker,
        "--poll-seconds",
        "0.05",
        *extra,
    ]


def run_args(chain: Localnet, worker: str, *extra: str, monitor: float = 20) -> list[str]:
    """One tick of `bot run`, waiting up to `monitor` seconds for its trades to settle."""
    return [
        "run",
        "--ticks",
        "1",
        "--tick-seconds",
        "0",
        "--monitor-timeout-seconds",
        str(monitor),
        *bot_args(chain, worker, *extra),
    ]


def executions(chain: Localnet, signatures: list[str]) -> dict[str, dict[str, Any] | None]:
    """What the chain recorded of each signature: its getTransaction (confirmed), or None."""
    found = {}
    for signature in signatures:
        found[signature] = chain.result(
            "getTransaction",
            signature,
            {"encoding": "base64", "commitment": "confirmed", "maxSupportedTransactionVersion": 0},
        )
    return found


def delivered(tx: dict[str, Any], owner: str, mint: str) -> int:
    def total(key: str) -> int:
        return sum(
            int(b["uiTokenAmount"]["amount"])
            for b in tx["meta"][key]
            if b["owner"] == owner and b["mint"] == mint
        )

    return total("postTokenBalances") - total("preTokenBalances")


def assert_settled_by_the_chain(chain: Localnet, final: list[dict[str, Any]]) -> None:
    """Every trade is final; a CONFIRMED one's amounts and fee are the chain's."""
    signed = [t["signature"] for t in final if t["signature"]]
    assert len(signed) == len(set(signed))
    seen = executions(chain, signed)
    for trade in final:
        assert trade["status"] in FINAL, trade
        if trade["status"] == "FAILED":
            assert trade["error_message"], trade
            continue
        tx = seen[trade["signature"]]
        assert tx is not None and tx["meta"]["err"] is None, trade
        assert int(trade["actual_amount_out"]) == delivered(tx, trade["vault"], trade["to_token"])
        assert int(trade["actual_amount_out"]) == (
            int(trade["expected_amount_out"]) * (10_000 - SLIPPAGE_BPS) // 10_000
        )
        assert int(trade["gas_fee"]) == tx["meta"]["fee"]
        assert delivered(tx, trade["vault"], trade["from_token"]) == -int(trade["amount_in"])


def one_confirmed_per_intent(final: list[dict[str, Any]], intents: list[Any]) -> None:
    confirmed = Counter(
        (t["vault"], t["from_token"], t["to_token"], int(t["amount_in"]))
        for t in final
        if t["status"] == "CONFIRMED"
    )
    assert confirmed == Counter((i.vault, i.from_token, i.to_token, i.amount_in) for i in intents)


def venues(db_url: str) -> Counter[str]:
    import psycopg

    with psycopg.connect(db_url) as conn:
        return Counter(v for (v,) in conn.execute("SELECT venue FROM xorj.trades"))


def test_end_to_end_on_the_real_runtime(
    chain: Localnet, db_url: str, tmp_path: Path, cli_env: EnvFactory
) -> None:
    users = setup_bots(db_url, count=10)
    fund(chain, [u.vault for u in users])
    intents = planned_intents(db_url)
    assert len(intents) == 20
    before = chain.stats()
    started = time.monotonic()
    bot = run_bot(cli_env, db_url, run_args(chain, "localnet-bot"), tmp_path, "bot")
    seconds = time.monotonic() - started
    assert bot.proc.returncode == 0, bot.stderr()[-3000:]
    final = trades(db_url)
    assert [t["status"] for t in final] == ["CONFIRMED"] * 20, final
    assert venues(db_url) == Counter({"localnet": 20})
    assert_settled_by_the_chain(chain, final)
    one_confirmed_per_intent(final, intents)
    after = chain.stats()
    assert after["executed"] - before["executed"] == 20
    # The vault's USDC account holds what the chain says: the swaps took amount_in each.
    vault = users[0].vault
    usdc = str(associated_token_address(_pk(vault), _pk(USDC.mint)))
    spent = sum(int(t["amount_in"]) for t in final if t["vault"] == vault)
    assert chain.token_balance(usdc) == 10**12 - spent

    # The protocol's pace: from the first trade created to the last broadcast (each one
    # create, blockhash, sign, record SUBMITTED, send), and to the last confirmation.
    def at(event: dict[str, Any]) -> float:
        from datetime import datetime

        return datetime.fromisoformat(event["ts"]).timestamp()

    created = [at(e) for e in bot.events("trade_created")]
    sent = [at(e) for e in bot.events("trade_broadcast")]
    settled = [at(e) for e in bot.events("trade_resolved")] or sent
    send_span = max(sent) - min(created)
    report_figures(
        "bot on the local validator",
        trades=len(final),
        confirmed=len(final),
        signed_and_sent_per_second=round(len(sent) / send_span, 1),
        ms_per_trade_to_broadcast=round(1000 * send_span / len(sent), 1),
        all_confirmed_seconds_after_first_create=round(max(settled) - min(created), 2),
        bot_process_seconds=round(seconds, 2),
    )


def _pk(value: str) -> Any:
    from solders.pubkey import Pubkey

    return Pubkey.from_string(value)


ROUNDS: Counter[str] = Counter()


@pytest.mark.parametrize("crash_at", CRASH_POINTS)
def test_crash_at_each_step_then_restart_on_the_real_runtime(
    crash_at: str, chain: Localnet, db_url: str, tmp_path: Path, cli_env: EnvFactory
) -> None:
    users = setup_bots(db_url, count=2)
    fund(chain, [u.vault for u in users])
    intents = planned_intents(db_url)
    args = run_args(chain, "crash-bot")
    crashed = run_bot(
        cli_env, db_url, args, tmp_path, "crashed", env={"XORJ_BOT_CRASH_AT": crash_at}
    )
    assert crashed.proc.returncode == -signal.SIGKILL, crashed.stderr()[-3000:]
    (hook,) = crashed.events("crash_hook")
    left = {t["id"]: t for t in trades(db_url)}
    first = left[hook["trade_id"]]

    chain.advance(VALIDITY + 2)  # time passes: what was signed and never sent expires
    restarted = run_bot(cli_env, db_url, args, tmp_path, "restarted")
    assert restarted.proc.returncode == 0, restarted.stderr()[-3000:]
    final = trades(db_url)
    assert_settled_by_the_chain(chain, final)
    one_confirmed_per_intent(final, intents)
    end = next(t for t in final if t["id"] == first["id"])
    if crash_at in ("after_create", "after_sign"):
        assert (end["status"], end["error_message"]) == ("FAILED", NEVER_BROADCAST)
    elif crash_at == "after_submitted":
        assert end["status"] == "FAILED" and end["error_message"].startswith("expired"), end
        assert executions(chain, [end["signature"]])[end["signature"]] is None
    else:
        assert end["status"] == "CONFIRMED", end
    ROUNDS[end["status"]] += 1
    report_figures(
        "bot crash rounds on the local validator",
        **{crash_at: end["status"]},
        rounds_so_far=sum(ROUNDS.values()),
    )


def test_two_bots_place_each_intent_once(
    chain: Localnet, db_url: str, tmp_path: Path, cli_env: EnvFactory
) -> None:
    users = setup_bots(db_url, count=3)
    fund(chain, [u.vault for u in users])
    intents = planned_intents(db_url)
    bots = [
        BotProcess(cli_env, db_url, run_args(chain, f"twin-{n}"), tmp_path, f"twin-{n}")
        for n in (1, 2)
    ]
    for bot in bots:
        assert bot.wait(90) == 0, bot.stderr()[-3000:]
    final = trades(db_url)
    assert_settled_by_the_chain(chain, final)
    one_confirmed_per_intent(final, intents)


@pytest.fixture
def fresh_chain() -> Iterator[Localnet]:
    """A chain of the test's own (its vaults start empty)."""
    with localnet("--slot-ms", "50", "--blockhash-validity", str(VALIDITY)) as server:
        yield server


@pytest.fixture
def stopped_chain() -> Iterator[Localnet]:
    """A chain whose clock moves only when the test advances it."""
    with localnet("--slot-ms", "3600000", "--blockhash-validity", str(VALIDITY)) as server:
        yield server


def test_a_swap_the_vault_cannot_pay_fails_with_the_chains_error(
    fresh_chain: Localnet, db_url: str, tmp_path: Path, cli_env: EnvFactory
) -> None:
    chain = fresh_chain
    users = setup_bots(db_url, count=1)
    poor = users[0].vault
    usdc = str(associated_token_address(_pk(poor), _pk(USDC.mint)))
    fund(chain, [poor], usdc=1)
    balance = chain.token_balance(usdc)
    intents = planned_intents(db_url)
    assert intents and all(i.amount_in > balance for i in intents)
    bot = run_bot(cli_env, db_url, run_args(chain, "poor-bot"), tmp_path, "poor")
    assert bot.proc.returncode == 0, bot.stderr()[-3000:]
    final = trades(db_url)
    assert final and all(t["status"] == "FAILED" for t in final), final
    seen = executions(chain, [t["signature"] for t in final])
    for trade in final:
        tx = seen[trade["signature"]]
        assert tx is not None and tx["meta"]["err"] is not None  # it landed, and failed
        assert "InstructionError" in trade["error_message"], trade
        assert int(trade["gas_fee"]) == tx["meta"]["fee"] > 0
    assert chain.token_balance(usdc) == balance  # nothing moved


def test_dropped_transactions_expire_and_recover_reports_what_it_knows(
    stopped_chain: Localnet, db_url: str, tmp_path: Path, cli_env: EnvFactory
) -> None:
    chain = stopped_chain
    users = setup_bots(db_url, count=1)
    fund(chain, [u.vault for u in users])
    chain.result("xorjSetFaults", {"drop_rate": 1.0})
    try:
        bot = run_bot(cli_env, db_url, run_args(chain, "drop-bot", monitor=1), tmp_path, "dropped")
    finally:
        chain.result("xorjSetFaults", {"drop_rate": 0.0})
    assert bot.proc.returncode == 0, bot.stderr()[-3000:]
    pending = trades(db_url)
    assert pending and {t["status"] for t in pending} == {"SUBMITTED"}, pending

    # The chain cannot be asked: recover says so (exit 4), and changes nothing.
    chain.result("xorjSetFaults", {"unavailable_seconds": 30})
    try:
        blind = run_bot(
            cli_env, db_url, ["recover", *bot_args(chain, "drop-bot")], tmp_path, "blind"
        )
    finally:
        chain.result("xorjSetFaults", {"unavailable_seconds": 0})
    assert blind.proc.returncode == 4, blind.stdout() + blind.stderr()[-2000:]
    assert {t["status"] for t in trades(db_url)} == {"SUBMITTED"}

    # Before the blockhash expires they are still pending (exit 3) ...
    waiting = run_bot(
        cli_env, db_url, ["recover", *bot_args(chain, "drop-bot")], tmp_path, "waiting"
    )
    assert waiting.proc.returncode == 3, waiting.stdout() + waiting.stderr()[-2000:]
    # ... after it, they can never land: FAILED as expired (exit 0).
    chain.advance(VALIDITY + 2)
    done = run_bot(cli_env, db_url, ["recover", *bot_args(chain, "drop-bot")], tmp_path, "done")
    assert done.proc.returncode == 0, done.stdout() + done.stderr()[-2000:]
    final = trades(db_url)
    assert {t["status"] for t in final} == {"FAILED"}
    for trade in final:
        assert trade["error_message"].startswith("expired"), trade
    assert all(v is None for v in executions(chain, [t["signature"] for t in final]).values())


def test_keys_are_refused_unless_private_and_never_printed(
    chain: Localnet, db_url: str, tmp_path: Path, cli_env: EnvFactory
) -> None:
    setup_bots(db_url, count=1)
    exposed = tmp_path / "authority.json"
    exposed.write_text((chain.state_dir / "authority.json").read_text())
    exposed.chmod(0o644)
    args = run_args(chain, "key-bot")
    args[args.index("--keypair") + 1] = str(exposed)
    bot = run_bot(cli_env, db_url, args, tmp_path, "exposed")
    assert bot.proc.returncode != 0
    output = bot.stdout() + bot.stderr()
    assert "chmod 600" in output, output[-2000:]
    secret = json.loads(exposed.read_text())
    assert str(secret) not in output and ",".join(map(str, secret[:8])) not in output
    assert trades(db_url) == []


def test_a_test_chain_is_never_taken_for_the_live_one(
    chain: Localnet, db_url: str, tmp_path: Path, cli_env: EnvFactory
) -> None:
    """--venue live asks the endpoint which chain it serves (getGenesisHash): anything but
    mainnet-beta is refused before a trade is created or claimed."""
    users = setup_bots(db_url, count=1)
    fund(chain, [u.vault for u in users])
    args = run_args(chain, "live-bot")
    args[args.index("--venue") + 1] = "live"
    bot = run_bot(cli_env, db_url, args, tmp_path, "live")
    assert bot.proc.returncode == 2, bot.stderr()[-2000:]
    assert "--venue live needs mainnet-beta" in bot.stderr()
    assert trades(db_url) == []
