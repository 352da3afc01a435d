"""`xorj bot recover` says what it knows, and the bot says where it trades: the exit status
of a recovery pass (0 resolved, 3 still pending on chain, 4 the chain could not be asked,
1 stopped, 2 usage), its summary of the trades other bots hold and when the first of their
leases ends, the explicit --chain (and --venue with rpc) of `bot run` and `bot recover`,
and the venue the bot records on its trades. Real subprocesses on a real database and
the simulated chain on a state file, as tests/test_bot_worker.py (whose helpers these are).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from app.chain.base import ChainUnavailable, SignatureStatus
from app.seed import user_claims
from app.workers.bot.cli import _close
from app.workers.bot.recovery import RecoveryReport
from tests.conftest import app_url_of
from tests.test_bot_worker import (
    BOT,
    ROOT,
    BotProcess,
    EnvFactory,
    _create,
    _running_job,
    _sign_and_submit,
    as_role,
    in_process_bot,
    jobs,
    run_bot,
    setup_bots,
    sim_args,
    sim_chain,
    trades,
    wait_for,
)

TABLE_ROW = re.compile(r"^(\w+)\s+(\d+)\s*$", re.MULTILINE)


def table(stdout: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in TABLE_ROW.finditer(stdout)}


def notes(stdout: str) -> list[str]:
    """The lines after the table: what the pass could not resolve, and why."""
    return [line for line in stdout.splitlines() if line.startswith("(")]


def _left_by_a_dead_bot(db_url: str, state: Path, validity: int) -> tuple[dict, dict]:
    """A PENDING trade (never broadcast) and a SUBMITTED one signed with a blockhash valid
    for `validity` blocks and never sent, both unclaimed, their job finished."""
    (user,) = setup_bots(db_url, count=1)
    chain = sim_chain(state, blockhash_validity=validity)
    with psycopg.connect(db_url, autocommit=True) as conn:
        job = _running_job(conn)
        pending = _create(conn, job, user.vault, 0)
        submitted = _create(conn, job, user.vault, 1)
        _sign_and_submit(conn, chain, submitted)
        as_role(conn, "xorj_bot", "SELECT api.complete_execution_job(%s, 'setup')", (job,))
    return pending, submitted


def test_recover_exit_4_when_the_chain_cannot_be_asked_then_3_then_0(
    db_url: str, tmp_path: Path, cli_env: EnvFactory
) -> None:
    """The chain unavailable: the PENDING trade is still resolved (no chain needed), the
    SUBMITTED one is unknown (4, not "pending", not "not found": left SUBMITTED). The chain
    back, the transaction not found and still valid: 3. Its blockhash expired: 0."""
    state = tmp_path / "chain.json"
    pending, submitted = _left_by_a_dead_bot(db_url, state, validity=50)
    args = ["recover", "--worker-id", "recoverer"]

    down = run_bot(
        cli_env, db_url, [*args, *sim_args(state, unavailable_rate=1.0)], tmp_path, "down"
    )
    assert down.proc.returncode == 4, down.stderr()
    assert table(down.stdout()) == {
        "confirmed": 0,
        "failed_on_chain": 0,
        "expired": 0,
        "never_broadcast": 1,
        "not_found_on_chain": 0,
        "still_pending_on_chain": 0,
        "chain_unavailable": 1,
        "total": 2,
    }, down.stdout()
    assert notes(down.stdout()) == [
        "(1 SUBMITTED trade(s) unknown: the chain could not be asked; left as they are, "
        "run it again when the chain answers)"
    ]
    assert [e["during"] for e in down.events("chain_unavailable")] == ["poll"]
    (summary,) = down.events("recovery_summary")
    assert (summary["chain_unavailable"], summary["still_pending_on_chain"]) == (1, 0)
    by_id = {t["id"]: t for t in trades(db_url)}
    assert by_id[pending["id"]]["status"] == "FAILED"
    assert (by_id[submitted["id"]]["status"], by_id[submitted["id"]]["claimed_by"]) == (
        "SUBMITTED",
        None,
    )

    pending_run = run_bot(cli_env, db_url, [*args, *sim_args(state)], tmp_path, "pending")
    assert pending_run.proc.returncode == 3, pending_run.stderr()
    assert table(pending_run.stdout())["still_pending_on_chain"] == 1
    assert table(pending_run.stdout())["chain_unavailable"] == 0
    assert notes(pending_run.stdout()) == [
        "(1 trade(s) still pending on chain: not final and not expired yet; run it again later)"
    ]

    sim_chain(state).advance(60)  # past the transaction's last valid block height
    resolved = run_bot(cli_env, db_url, [*args, *sim_args(state)], tmp_path, "resolved")
    assert resolved.proc.returncode == 0, resolved.stderr()
    assert table(resolved.stdout())["expired"] == 1
    assert notes(resolved.stdout()) == []
    assert {t["status"] for t in trades(db_url)} == {"FAILED"}
    assert not any(sim_chain(state).broadcasts.values())  # recovery never broadcasts


def test_recover_says_how_many_trades_other_bots_hold_and_when_the_first_lease_ends(
    db_url: str, tmp_path: Path, cli_env: EnvFactory
) -> None:
    """Trades another live bot holds are left alone and do not change the exit status
    (0: everything this pass could take is resolved); the summary gives their number and
    the earliest end of their leases (UTC, to the second, and how far away)."""
    (user,) = setup_bots(db_url, count=1)
    with psycopg.connect(db_url, autocommit=True) as conn:
        job = _running_job(conn)
        _create(conn, job, user.vault, 0)  # nobody's: resolved
        held = [
            _create(conn, job, user.vault, 1, worker="other-bot", lease="10 minutes"),
            _create(conn, job, user.vault, 2, worker="other-bot", lease="5 minutes"),
        ]
        (first_end,) = conn.execute(
            "SELECT min(claim_expires_at) FROM xorj.trade_claims WHERE claimed_by = 'other-bot'"
        ).fetchone()
    state = tmp_path / "chain.json"
    bot = run_bot(
        cli_env, db_url, ["recover", "--worker-id", "me", *sim_args(state)], tmp_path, "recover"
    )
    assert bot.proc.returncode == 0, bot.stderr()
    assert table(bot.stdout())["never_broadcast"] == 1
    (line,) = notes(bot.stdout())
    match = re.fullmatch(
        r"\(2 unfinished trade\(s\) held by other live bots: left alone; "
        r"the first lease ends at (\S+) \(in (\d+) s\)\)",
        line,
    )
    assert match, line
    assert datetime.fromisoformat(match.group(1)) == first_end.astimezone(UTC).replace(
        microsecond=0
    )
    assert 200 <= int(match.group(2)) <= 300
    by_id = {t["id"]: t for t in trades(db_url)}
    assert [(by_id[t["id"]]["status"], by_id[t["id"]]["claimed_by"]) for t in held] == [
        ("PENDING", "other-bot")
    ] * 2


def test_a_signal_during_the_pass_exits_1_with_a_partial_summary(
    db_url: str, tmp_path: Path, cli_env: EnvFactory
) -> None:
    """SIGTERM while the pass polls (a slow chain): it stops after the look, fails its
    recovery job, prints what it has, and exits 1: nothing is known of the rest."""
    state = tmp_path / "chain.json"
    _left_by_a_dead_bot(db_url, state, validity=100_000)
    bot = BotProcess(
        cli_env,
        db_url,
        ["recover", "--worker-id", "slow", *sim_args(state, latency=1.0)],
        tmp_path,
        "recover",
    )
    try:
        wait_for(
            lambda: any(e["status"] == "SUBMITTED" for e in bot.events("trade_claimed")),
            30,
            "the SUBMITTED trade claimed",
        )
        bot.signal(signal.SIGTERM)
        assert bot.wait(30) == 1, bot.stderr()
    finally:
        bot.kill()
    assert "(stopped by SIGTERM before the pass ended: the counts are partial)" in notes(
        bot.stdout()
    ), bot.stdout()
    assert not bot.events("stop_grace_exceeded")  # it stopped, the watchdog did not end it
    (recovery,) = [j for j in jobs(db_url) if j["trigger_reason"] == "RECOVERY_RUN"]
    assert (recovery["status"], recovery["error_message"]) == ("FAILED", "stopped by SIGTERM")
    assert not [t for t in trades(db_url) if t["claimed_by"] is not None]


def test_exit_code_precedence() -> None:
    def report(stopped: str | None = None, **counts: int) -> RecoveryReport:
        return RecoveryReport(Counter(counts), 0, None, stopped)

    assert report(confirmed=3, never_broadcast=1).exit_code() == 0
    assert report(still_pending_on_chain=1).exit_code() == 3
    assert report(still_pending_on_chain=1, chain_unavailable=1).exit_code() == 4
    assert report("SIGTERM", chain_unavailable=1).exit_code() == 1
    assert report("SIGINT").exit_code() == 1


class UnavailableDeliveryChain:
    """Both signatures landed and confirmed without an amount; the delivery of `down`
    cannot be asked, the other's is not found yet."""

    def __init__(self, down: str) -> None:
        self.down = down

    def get_block_height(self) -> int:
        return 1_000

    def get_signature_statuses(self, signatures: list[str]) -> dict[str, SignatureStatus]:
        return {s: SignatureStatus(found=True, confirmed=True, slot=5) for s in signatures}

    def get_delivery(self, signature: str, owner: str, mint: str) -> SignatureStatus:
        if signature == self.down:
            raise ChainUnavailable("getTransaction: down")
        return SignatureStatus(found=False)


def test_the_pass_counts_per_trade_which_the_chain_could_not_answer(
    db_url: str, tmp_path: Path
) -> None:
    """A look at the chain that answers for one trade and not for another: only the
    unanswered one is chain_unavailable; the other is still pending."""
    (user,) = setup_bots(db_url, count=1)
    chain = sim_chain(tmp_path / "chain.json", blockhash_validity=100_000)
    with psycopg.connect(db_url, autocommit=True) as conn:
        job = _running_job(conn)
        signed = [
            _sign_and_submit(conn, chain, _create(conn, job, user.vault, target))[0]
            for target in range(2)
        ]
        as_role(conn, "xorj_bot", "SELECT api.complete_execution_job(%s, 'setup')", (job,))
    fake = UnavailableDeliveryChain(down=signed[0])
    bot, _ = in_process_bot(db_url, fake)
    try:
        counts = bot.claim_pass(0.0, "recovery")
        assert bot.chain is fake  # the watch is gone after the look
    finally:
        _close(bot)
    assert counts == Counter({"chain_unavailable": 1, "still_pending_on_chain": 1})


# --- the command line: --chain and --venue --------------------------------------------------


def _bot(cli_env: EnvFactory, db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BOT, *args],
        cwd=ROOT,
        env=cli_env({"DATABASE_URL": app_url_of(db_url)}),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_chain_is_never_assumed_and_rpc_needs_its_venue(
    db_url: str, cli_env: EnvFactory
) -> None:
    """No --chain: a usage error (2), nothing done; --chain rpc without --venue too (a
    local validator must not be taken for the live chain); --venue is for rpc only."""
    rpc = ["--chain", "rpc", "--rpc-url", "http://127.0.0.1:9"]
    cases: list[tuple[list[str], str]] = [
        (["run", "--ticks", "1"], "the following arguments are required: --chain"),
        (["recover"], "the following arguments are required: --chain"),
        (["run", *rpc], "xorj bot run: --chain rpc needs --venue live|localnet"),
        (["recover", *rpc], "xorj bot recover: --chain rpc needs --venue live|localnet"),
        (["run", *rpc, "--venue", "mainnet"], "argument --venue: invalid choice: 'mainnet'"),
        (
            ["recover", "--chain", "sim", "--venue", "live"],
            "--venue live is for --chain rpc; --chain sim is simulated",
        ),
    ]
    for args, message in cases:
        proc = _bot(cli_env, db_url, *args)
        assert proc.returncode == 2, (args, proc.returncode, proc.stderr)
        assert message in proc.stderr, (args, proc.stderr)
    assert jobs(db_url) == [] and trades(db_url) == []


def test_recover_help_lists_the_exit_codes(db_url: str, cli_env: EnvFactory) -> None:
    proc = _bot(cli_env, db_url, "recover", "--help")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "exit status:" in text
    codes = re.findall(r"^  (\d)  ", text.split("exit status:")[1], flags=re.MULTILINE)
    assert codes == ["0", "1", "2", "3", "4"], text
    assert "--venue" in text and "required, no default" in text


def test_the_simulated_chain_records_simulated_trades_that_never_count(
    db_url: str, tmp_path: Path, cli_env: EnvFactory
) -> None:
    """`bot run --chain sim`: every trade it creates is venue simulated, and the user's
    status counts none of them (performance zero, no last execution), though its history
    lists them."""
    (user,) = setup_bots(db_url, count=1)
    bot = run_bot(
        cli_env,
        db_url,
        [
            "run",
            "--ticks",
            "1",
            "--tick-seconds",
            "0",
            "--poll-seconds",
            "0.02",
            "--worker-id",
            "sim-bot",
            *sim_args(tmp_path / "chain.json", validity=1_000),
        ],
        tmp_path,
        "bot",
    )
    assert bot.proc.returncode == 0, bot.stderr()
    assert [e["venue"] for e in bot.events("bot_started")] == ["simulated"]
    with psycopg.connect(db_url) as conn:
        venues = conn.execute("SELECT venue, status::text FROM xorj.trades").fetchall()
    assert venues and {v for v, _ in venues} == {"simulated"}
    assert "CONFIRMED" in {s for _, s in venues}
    claims = user_claims(user.wallet)
    with psycopg.connect(app_url_of(db_url), autocommit=True) as app:
        (status,) = as_role(app, "xorj_api", "SELECT api.bot_status()", (), claims)
        (history,) = as_role(
            app, "xorj_api", "SELECT array_agg(t) FROM api.my_trades(NULL, NULL, 200) t", (), claims
        )
    assert status["performance"]["total_trades"] == 0
    assert status["performance"]["total_volume"] == "0"
    assert status["last_execution"] is None
    assert status["circuit_breakers"]["in_flight_trades"] == 0
    assert len(history) == len(venues) and {t["venue"] for t in history} == {"simulated"}
