"""The execution bot as a process (`bot run`, `bot recover`) against a real database and
the simulated chain on a state file: the recovery summary, a disable taking effect at
once, SIGTERM, and chain unavailability never taken as "not found".

The helpers here are shared with tests/test_bot_crash.py and tests/test_bot_two_bots.py.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb

from app.chain.base import ChainUnavailable, Intent, SignatureStatus
from app.chain.sim import FAILED_ERR, FEE_LAMPORTS, SimulatedChain, SimulatedSigner
from app.config import APP_LOGIN
from app.dbapi.sync import SyncDatabase
from app.seed import user_claims
from app.workers.bot import (
    NEVER_BROADCAST,
    Bot,
    BotOptions,
    Heartbeat,
    InFlight,
    JsonLog,
    StopFlag,
    connect,
    expired_message,
    load_bots,
    load_traders,
    register_cli,
)
from app.workers.bot.cli import _close, _make_bot
from app.workers.planner import TARGETS, USDC, PlannedTrade, SimplePlanner
from tests.conftest import app_url_of
from tests.solana import address, signature

ROOT = Path(__file__).resolve().parents[1]
BOT = "import sys; from app.cli import main; sys.exit(main(['bot', *sys.argv[1:]]))"
SEED = 7
TRADERS = [
    {"wallet_address": address(900 + i), "xorj_trust_score": 90 - 10 * i, "metrics": {"i": i}}
    for i in range(4)
]
FINAL = ("CONFIRMED", "FAILED")

EnvFactory = Callable[..., dict[str, str]]


# --- setting the database up through the api functions ---------------------------------


def _call_as(
    conn: psycopg.Connection[Any],
    role: str,
    query: str,
    params: tuple,
    claims: Mapping[str, Any] | None,
) -> Any:
    with conn.transaction():
        conn.execute(
            "SELECT set_config('role', %s, true), set_config('request.jwt.claims', %s, true), "
            "set_config('xorj.actor', 'test', true)",
            (role, json.dumps(claims) if claims else ""),
        )
        return conn.execute(query, params).fetchone()


def as_role(
    conn: psycopg.Connection[Any],
    role: str,
    query: str,
    params: tuple = (),
    claims: Mapping[str, Any] | None = None,
) -> Any:
    """One api call as `role`, in its own committed transaction, actor 'test', with
    `claims` (a user token's: user_claims(wallet)); its first row. It runs as the
    application login (xorj_app) on `conn` itself when `conn` is one, else on a new
    connection of the application login to `conn`'s database (the owner is no member of
    the roles)."""
    if conn.info.user == APP_LOGIN:
        return _call_as(conn, role, query, params, claims)
    with psycopg.connect(app_url_of(conn.info.dsn), autocommit=True) as app:
        return _call_as(app, role, query, params, claims)


@dataclass(frozen=True)
class User:
    wallet: str
    vault: str


def setup_bots(
    db_url: str,
    count: int = 2,
    profile: str = "Balanced",
    investment: int = 1000,
    percent: int = 5,
    duplicate_window: str | None = None,
) -> list[User]:
    """`count` users whose bot is enabled with a vault and settings (xorj_api), and one
    completed scoring run of TRADERS (xorj_engine)."""
    users = [User(address(10 + i), address(200 + i)) for i in range(count)]
    with psycopg.connect(db_url, autocommit=True) as conn:
        for user in users:
            claims = user_claims(user.wallet)
            as_role(conn, "xorj_api", "SELECT api.enable_bot(%s)", (user.vault,), claims)
            patch = {
                "riskProfile": profile,
                "investmentAmount": investment,
                "positionSizePercent": percent,
            }
            as_role(
                conn, "xorj_api", "SELECT api.update_user_settings(%s)", (Jsonb(patch),), claims
            )
        (run,) = as_role(conn, "xorj_engine", "SELECT api.create_scoring_run()")
        as_role(conn, "xorj_engine", "SELECT api.start_scoring_run(%s)", (run["id"],))
        as_role(
            conn,
            "xorj_engine",
            "SELECT api.complete_scoring_run(%s, %s)",
            (run["id"], Jsonb(TRADERS)),
        )
        if duplicate_window is not None:
            conn.execute("UPDATE xorj.settings SET duplicate_window = %s", (duplicate_window,))
    return users


def planned_intents(db_url: str) -> list[PlannedTrade]:
    """What the built-in planner plans from the database as it is now (read as the bot
    reads it: the application login in the role xorj_bot)."""
    db = SyncDatabase(app_url_of(db_url), "test:planner")
    try:
        return SimplePlanner().plan(load_bots(db), load_traders(db))
    finally:
        db.close()


def trades(db_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(db_url) as conn:
        cur = conn.execute(
            "SELECT id::text, job_id::text, user_vault_address AS vault, status::text, "
            "from_token_address AS from_token, to_token_address AS to_token, amount_in, "
            "expected_amount_out, actual_amount_out, slippage_realized, gas_fee, "
            "transaction_signature AS signature, last_valid_block_height, error_message, "
            "c.claimed_by, c.claim_expires_at, created_at, completed_at FROM xorj.trades t "
            "LEFT JOIN xorj.trade_claims c ON c.trade_id = t.id "
            "ORDER BY created_at, id"
        )
        assert cur.description is not None
        names = [c.name for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def jobs(db_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT id::text, trigger_reason::text, status::text, worker_id, error_message "
            "FROM xorj.execution_jobs ORDER BY created_at, id"
        ).fetchall()
    keys = ("id", "trigger_reason", "status", "worker_id", "error_message")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def trade_actors(db_url: str) -> dict[str, list[str]]:
    """trade id -> the actors of its trade_events, in order."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT trade_id::text, actor FROM xorj.trade_events ORDER BY trade_id, id"
        ).fetchall()
    actors: dict[str, list[str]] = {}
    for trade_id, actor in rows:
        actors.setdefault(trade_id, []).append(actor)
    return actors


# --- the simulated chain and the bot process ---------------------------------------------


def sim_chain(state: Path, **kwargs: Any) -> SimulatedChain:
    return SimulatedChain(seed=SEED, state_file=state, **kwargs)


def sim_args(
    state: Path,
    validity: int = 20,
    drop_rate: float = 0.0,
    failure_rate: float = 0.0,
    unavailable_rate: float = 0.0,
    latency: float = 0.0,
    blocks_per_call: int = 1,
) -> list[str]:
    return [
        "--sim-blocks-per-call",
        str(blocks_per_call),
        "--chain",
        "sim",
        "--sim-seed",
        str(SEED),
        "--sim-state",
        str(state),
        "--sim-blockhash-validity",
        str(validity),
        "--sim-drop-rate",
        str(drop_rate),
        "--sim-failure-rate",
        str(failure_rate),
        "--sim-unavailable-rate",
        str(unavailable_rate),
        "--sim-latency",
        str(latency),
    ]


class BotProcess:
    """A `bot ...` subprocess on the database of `db_url` (any URL of it: the process logs
    in as the application login, DATABASE_URL, and LISTENs on the same direct connection,
    DATABASE_DIRECT_URL, unless `env` says otherwise); stdout and stderr go to files (a
    long run logs a lot)."""

    def __init__(
        self,
        cli_env: EnvFactory,
        db_url: str,
        args: Iterable[str],
        directory: Path,
        name: str,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.out_path = directory / f"{name}.out"
        self.err_path = directory / f"{name}.err"
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", BOT, *args],
                cwd=ROOT,
                env=cli_env(
                    {
                        "DATABASE_URL": app_url_of(db_url),
                        "DATABASE_DIRECT_URL": app_url_of(db_url),
                        **(env or {}),
                    }
                ),
                stdout=out,
                stderr=err,
                text=True,
            )

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            self.proc.kill()
            self.proc.wait()
            tail = self.stderr()[-3000:]
            raise AssertionError(f"the bot did not exit in {timeout} s:\n{tail}") from exc

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stdout(self) -> str:
        return self.out_path.read_text()

    def stderr(self) -> str:
        return self.err_path.read_text()

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The JSON log lines (every stderr line must be one)."""
        found = []
        for line in self.stderr().splitlines():
            if not line.strip():
                continue
            event = json.loads(line)  # a line that is not JSON fails the test
            if name is None or event["event"] == name:
                found.append(event)
        return found

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def run_bot(
    cli_env: EnvFactory,
    db_url: str,
    args: Iterable[str],
    directory: Path,
    name: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> BotProcess:
    bot = BotProcess(cli_env, db_url, args, directory, name, env)
    bot.wait(timeout)
    return bot


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def assert_broadcast_at_most_once(state: Path) -> Counter[str]:
    broadcasts = sim_chain(state).broadcasts
    twice = {sig: n for sig, n in broadcasts.items() if n > 1}
    assert not twice, f"signatures broadcast more than once: {twice}"
    return broadcasts


# --- tests -------------------------------------------------------------------------------


def _sign_and_submit(
    conn: psycopg.Connection[Any], chain: SimulatedChain, trade: dict[str, Any]
) -> tuple[str, int, Any]:
    """Sign the trade's transaction on `chain` and record it SUBMITTED (as the bot would)."""
    intent = Intent(
        trade_id=trade["id"],
        vault=trade["user_vault_address"],
        from_token=trade["from_token_address"],
        to_token=trade["to_token_address"],
        amount_in=int(trade["amount_in"]),
        expected_amount_out=int(trade["expected_amount_out"]),
    )
    tx = SimulatedSigner().sign(intent, chain.get_latest_blockhash())
    as_role(
        conn,
        "xorj_bot",
        "SELECT api.mark_trade_submitted(%s, %s, %s)",
        (trade["id"], tx.signature, tx.last_valid_block_height),
    )
    return tx.signature, tx.last_valid_block_height, tx


def test_recover_prints_a_summary_table_with_counts(
    db_url: str, tmp_path: Path, cli_env: EnvFactory
) -> None:
    """One trade of each kind, left as a dead bot would leave them, unclaimed: `bot recover`
    resolves each one, prints the table, and releases what is still undecided."""
    (user,) = setup_bots(db_url, count=1)
    state = tmp_path / "chain.json"
    chain = sim_chain(state, blockhash_validity=20)
    failing = sim_chain(state, blockhash_validity=20, failure_rate=1.0)
    long_lived = sim_chain(state, blockhash_validity=100_000)
    made: list[dict[str, Any]] = []
    with psycopg.connect(db_url, autocommit=True) as conn:
        (job,) = as_role(conn, "xorj_bot", "SELECT api.create_execution_job('MANUAL_TRIGGER')")
        as_role(conn, "xorj_bot", "SELECT api.start_execution_job(%s, 'setup')", (job["id"],))
        for i, target in enumerate(TARGETS[:5]):
            _, trade = as_role(
                conn,
                "xorj_bot",
                "SELECT * FROM api.create_trade(%s, %s, %s, %s, %s, %s, %s, "
                "'setup', '1 minute', p_venue => 'simulated')",
                (
                    job["id"],
                    user.vault,
                    f"setup-{i}",
                    USDC.mint,
                    target.mint,
                    1_000_000 + i,
                    5_000_000,
                ),
            )
            made.append(trade)
        as_role(conn, "xorj_bot", "SELECT api.release_trade_claims('setup')")  # a dead bot's
        pending, landing, unsent, failing_trade, undecided = made
        sig_landing, _, tx = _sign_and_submit(conn, chain, landing)
        chain.send_transaction(tx)
        sig_unsent, lvbh_unsent, _ = _sign_and_submit(conn, chain, unsent)
        sig_failing, _, tx = _sign_and_submit(conn, failing, failing_trade)
        failing.send_transaction(tx)
        sig_undecided, _, _ = _sign_and_submit(conn, long_lived, undecided)
        chain.advance(25)  # past the unsent transaction's last valid block height
        as_role(conn, "xorj_bot", "SELECT api.complete_execution_job(%s, 'setup')", (job["id"],))

    bot = run_bot(
        cli_env,
        db_url,
        ["recover", "--worker-id", "recoverer", *sim_args(state)],
        tmp_path,
        "recover",
    )
    assert bot.proc.returncode == 3, bot.stderr()  # one trade still pending on chain
    table = {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", bot.stdout(), flags=re.MULTILINE)
    }
    assert table == {
        "confirmed": 1,
        "failed_on_chain": 1,
        "expired": 1,
        "never_broadcast": 1,
        "not_found_on_chain": 0,
        "still_pending_on_chain": 1,
        "chain_unavailable": 0,
        "total": 5,
    }, bot.stdout()
    assert bot.stdout().splitlines()[0].split() == ["resolution", "count"]

    by_id = {t["id"]: t for t in trades(db_url)}
    assert by_id[pending["id"]]["status"] == "FAILED"
    assert by_id[pending["id"]]["error_message"] == NEVER_BROADCAST
    confirmed = by_id[landing["id"]]
    truth = sim_chain(state).get_signature_statuses([sig_landing])[sig_landing]
    assert confirmed["status"] == "CONFIRMED"
    assert confirmed["actual_amount_out"] == truth.amount_out
    assert confirmed["gas_fee"] == FEE_LAMPORTS
    expected_slippage = (Decimal(5_000_000 - truth.amount_out) * 100 / 5_000_000).quantize(
        Decimal("0.0001")
    )
    assert confirmed["slippage_realized"] == expected_slippage
    assert by_id[unsent["id"]]["status"] == "FAILED"
    assert by_id[unsent["id"]]["error_message"] == expired_message(lvbh_unsent)
    assert by_id[failing_trade["id"]]["status"] == "FAILED"
    assert by_id[failing_trade["id"]]["error_message"] == f"failed on chain: {FAILED_ERR}"
    assert by_id[failing_trade["id"]]["gas_fee"] == FEE_LAMPORTS
    still = by_id[undecided["id"]]
    assert (still["status"], still["claimed_by"]) == ("SUBMITTED", None)  # released

    broadcasts = assert_broadcast_at_most_once(state)
    assert broadcasts[sig_unsent] == 0 and broadcasts[sig_undecided] == 0  # never re-sent
    assert broadcasts[sig_landing] == 1 and broadcasts[sig_failing] == 1
    recovery = [j for j in jobs(db_url) if j["trigger_reason"] == "RECOVERY_RUN"]
    assert [(j["status"], j["worker_id"]) for j in recovery] == [("COMPLETED", "recoverer")]
    resolved = Counter(e["resolution"] for e in bot.events("trade_resolved"))
    assert resolved == Counter(
        {"confirmed": 1, "failed_on_chain": 1, "expired": 1, "never_broadcast": 1}
    )


def test_a_disable_stops_planning_for_that_vault_at_once(
    db_url: str, tmp_path: Path, cli_env: EnvFactory
) -> None:
    """Aggressive users get 3 intents each, worked in wallet order; the first user's bot
    is disabled as soon as its first trade exists, in the middle of the tick: its other
    intents of that tick are dropped (the notification, not the database, stops them),
    no trade of that vault is created after the disable commits, and the other vault
    goes on trading."""
    first, second = setup_bots(db_url, count=2, profile="Aggressive", duplicate_window="50 ms")
    state = tmp_path / "chain.json"
    bot = BotProcess(
        cli_env,
        db_url,
        [
            "run",
            "--ticks",
            "2",
            "--tick-seconds",
            "0.2",
            "--poll-seconds",
            "0.02",
            "--worker-id",
            "disable-bot",
            *sim_args(state, latency=0.05),
        ],
        tmp_path,
        "bot",
    )
    try:
        with (
            psycopg.connect(db_url, autocommit=True) as conn,
            psycopg.connect(app_url_of(db_url), autocommit=True) as app,
        ):

            def first_vault_traded() -> bool:
                (n,) = conn.execute(
                    "SELECT count(*) FROM xorj.trades WHERE user_vault_address = %s",
                    (first.vault,),
                ).fetchone()
                return n > 0

            wait_for(first_vault_traded, 30, "the first trade of the first vault", every=0.005)
            as_role(app, "xorj_api", "SELECT api.disable_bot()", (), user_claims(first.wallet))
            (committed_at,) = conn.execute("SELECT clock_timestamp()").fetchone()
        assert bot.wait(60) == 0, bot.stderr()
    finally:
        bot.kill()

    all_trades = trades(db_url)
    first_trades = [t for t in all_trades if t["vault"] == first.vault]
    assert len(first_trades) == 1, first_trades
    assert all(t["created_at"] < committed_at for t in first_trades)
    later = [t for t in all_trades if t["vault"] == second.vault and t["created_at"] > committed_at]
    assert later, "the other vault must go on trading"
    disabled = [e for e in bot.events("vault_disabled") if e["vault"] == first.vault]
    assert disabled, bot.stderr()
    dropped = [e for e in bot.events("intent_dropped") if e["vault"] == first.vault]
    assert dropped, "the tick's remaining intents for the vault must be dropped at once"
    refused = [
        e
        for e in bot.events("trade_skipped")
        if e["vault"] == first.vault and e["rule"] == "bot_not_enabled"
    ]
    assert len(refused) <= 1  # at most one create in flight when the notification came
    assert all(t["status"] in FINAL for t in all_trades)


def test_sigterm_exits_0_and_leaves_no_running_job_and_no_claim(
    db_url: str, tmp_path: Path, cli_env: EnvFactory
) -> None:
    """Every transaction is dropped and never expires here, so the bot holds SUBMITTED
    trades (claims) in a RUNNING job when SIGTERM comes."""
    setup_bots(db_url, count=1)
    state = tmp_path / "chain.json"
    bot = BotProcess(
        cli_env,
        db_url,
        [
            "run",
            "--worker-id",
            "term-bot",
            "--poll-seconds",
            "0.05",
            *sim_args(state, validity=1_000_000, drop_rate=1.0),
        ],
        tmp_path,
        "bot",
    )
    try:
        with psycopg.connect(db_url, autocommit=True) as conn:

            def holding() -> bool:
                (n,) = conn.execute(
                    "SELECT count(*) FROM xorj.trades t JOIN xorj.trade_claims c "
                    "ON c.trade_id = t.id WHERE c.claimed_by = 'term-bot' "
                    "AND t.status = 'SUBMITTED'"
                ).fetchone()
                (running,) = conn.execute(
                    "SELECT count(*) FROM xorj.execution_jobs WHERE status = 'RUNNING' "
                    "AND trigger_reason = 'SCHEDULED_RUN'"
                ).fetchone()
                return n >= 2 and running == 1

            wait_for(holding, 30, "the bot to hold its submitted trades")
        started = time.monotonic()
        bot.signal(signal.SIGTERM)
        assert bot.wait(20) == 0, bot.stderr()
        assert time.monotonic() - started < 10
    finally:
        bot.kill()

    all_jobs = jobs(db_url)
    assert not [j for j in all_jobs if j["status"] in ("RUNNING", "PENDING")], all_jobs
    scheduled = [j for j in all_jobs if j["trigger_reason"] == "SCHEDULED_RUN"]
    assert scheduled[-1]["status"] == "FAILED"
    assert scheduled[-1]["error_message"] == "stopped by SIGTERM"
    all_trades = trades(db_url)
    assert not [t for t in all_trades if t["claimed_by"] is not None]
    # Undecided trades are left SUBMITTED (never failed, never re-sent) for the next run.
    assert {t["status"] for t in all_trades} == {"SUBMITTED"}
    assert_broadcast_at_most_once(state)
    assert bot.events("claims_released")[-1]["count"] == len(all_trades)


def test_chain_unavailability_never_becomes_a_not_found_failure(
    db_url: str, tmp_path: Path, cli_env: EnvFactory
) -> None:
    """With 35% of chain calls failing (an unavailable send has sometimes gone out), every
    trade the bot records matches what the chain really did: CONFIRMED ones landed,
    FAILED-as-expired ones never landed, nothing was sent twice."""
    setup_bots(db_url, count=2, profile="Aggressive", duplicate_window="50 ms")
    state = tmp_path / "chain.json"
    bot = run_bot(
        cli_env,
        db_url,
        [
            "run",
            "--ticks",
            "3",
            "--tick-seconds",
            "0.05",
            "--poll-seconds",
            "0.02",
            "--monitor-timeout-seconds",
            "20",
            "--worker-id",
            "flaky-bot",
            # 8 blocks pass at each look at the height: a poll that fails can leave a
            # landed transaction's height behind its last valid one at the next look.
            *sim_args(state, validity=15, unavailable_rate=0.35, blocks_per_call=8),
        ],
        tmp_path,
        "bot",
    )
    assert bot.proc.returncode == 0, bot.stderr()
    unavailable = bot.events("chain_unavailable")
    assert any(e["during"] == "poll" for e in unavailable), "the test must hit unavailability"
    all_trades = trades(db_url)
    assert len(all_trades) >= 6
    chain = sim_chain(state)
    for trade in all_trades:
        assert trade["status"] in FINAL, trade
        outcome = chain.outcome(trade["signature"]) if trade["signature"] else None
        if trade["status"] == "CONFIRMED":
            assert outcome == "confirmed", trade
            status = chain.get_signature_statuses([trade["signature"]])[trade["signature"]]
            assert trade["actual_amount_out"] == status.amount_out
            continue
        error = trade["error_message"]
        assert "not found" not in error
        if error.startswith("expired:"):
            assert outcome in (None, "dropped", "expired"), (trade, outcome)
            assert error == expired_message(trade["last_valid_block_height"])
        else:
            assert error.startswith("never broadcast"), trade
            assert trade["signature"] is None
    assert_broadcast_at_most_once(state)


# --- the claim pass, old submissions, unknown amounts, refusals (findings of a review) -----


def _running_job(conn: psycopg.Connection[Any], worker: str = "setup") -> str:
    (job,) = as_role(conn, "xorj_bot", "SELECT api.create_execution_job('MANUAL_TRIGGER')")
    as_role(conn, "xorj_bot", "SELECT api.start_execution_job(%s, %s)", (job["id"], worker))
    return str(job["id"])


def _create(
    conn: psycopg.Connection[Any],
    job: str,
    vault: str,
    target: int,
    worker: str | None = None,
    lease: str | None = None,
) -> dict[str, Any]:
    """A trade created by a bot (records_signature_first), claimed by `worker` for
    `lease`; without a worker, by a bot that then gave its claim back (nobody's)."""
    if worker is None:
        trade = _create(conn, job, vault, target, "setup-bot", "1 minute")
        as_role(conn, "xorj_bot", "SELECT api.release_trade_claims('setup-bot')")
        return {**trade, "claimed_by": None, "claim_expires_at": None}
    _, trade = as_role(
        conn,
        "xorj_bot",
        # Simulated: a `bot ... --chain sim` claims only the trades of its venue.
        "SELECT * FROM api.create_trade(%s, %s, %s, %s, %s, %s, %s, %s, %s::interval, 'simulated')",
        (
            job,
            vault,
            f"setup-{vault[:8]}-{target}",
            USDC.mint,
            TARGETS[target].mint,
            1_000_000 + target,
            5_000_000,
            worker,
            lease,
        ),
    )
    return dict(trade)


def test_recovery_goes_past_the_first_claim_batch(
    db_url: str, tmp_path: Path, cli_env: EnvFactory
) -> None:
    """8 SUBMITTED trades still valid and not found, claimed 3 at a time: the pass does not
    stop when a batch would only give back its own undecided claims."""
    users = setup_bots(db_url, count=2)
    state = tmp_path / "chain.json"
    long_lived = sim_chain(state, blockhash_validity=100_000)
    with psycopg.connect(db_url, autocommit=True) as conn:
        job = _running_job(conn)
        for user in users:
            for target in range(4):
                _sign_and_submit(conn, long_lived, _create(conn, job, user.vault, target))
        as_role(conn, "xorj_bot", "SELECT api.complete_execution_job(%s, 'setup')", (job,))
    bot = run_bot(
        cli_env,
        db_url,
        ["recover", "--worker-id", "pager", "--claim-batch", "3", *sim_args(state)],
        tmp_path,
        "recover",
    )
    assert bot.proc.returncode == 3, bot.stderr()  # still pending on chain
    assert re.search(r"^still_pending_on_chain\s+8\s*$", bot.stdout(), re.MULTILINE), bot.stdout()
    claimed = bot.events("trade_claimed")
    assert len(claimed) == len({e["trade_id"] for e in claimed}) == 8
    assert {t["status"] for t in trades(db_url)} == {"SUBMITTED"}
    assert not any(sim_chain(state).broadcasts.values())


def test_submitted_without_last_valid_height_expires_by_age(
    db_url: str, tmp_path: Path, cli_env: EnvFactory
) -> None:
    """A SUBMITTED trade recorded without a last valid block height (HTTP API, seed) and
    not found on chain is FAILED once older than --max-unknown-age-seconds; a younger one
    is left SUBMITTED."""
    (user,) = setup_bots(db_url, count=1)
    state = tmp_path / "chain.json"
    chain = sim_chain(state)
    made = []
    with psycopg.connect(db_url, autocommit=True) as conn:
        job = _running_job(conn)
        for target in range(2):
            trade = _create(conn, job, user.vault, target)
            blockhash = chain.get_latest_blockhash()
            tx = SimulatedSigner().sign(
                Intent(trade["id"], user.vault, USDC.mint, TARGETS[target].mint, 1, 1), blockhash
            )
            as_role(  # no last valid block height, as the HTTP API may record it
                conn,
                "xorj_bot",
                "SELECT api.mark_trade_submitted(%s, %s, NULL)",
                (trade["id"], tx.signature),
            )
            made.append(trade)
            if target == 0:
                time.sleep(1.3)
    old, young = made
    bot = run_bot(
        cli_env,
        db_url,
        ["recover", "--worker-id", "ager", "--max-unknown-age-seconds", "1", *sim_args(state)],
        tmp_path,
        "recover",
    )
    assert bot.proc.returncode == 3, bot.stderr()  # the young one is still pending
    by_id = {t["id"]: t for t in trades(db_url)}
    assert by_id[old["id"]]["status"] == "FAILED"
    assert re.fullmatch(
        r"expired: no last valid block height recorded and not found \d+ s after submission",
        by_id[old["id"]]["error_message"],
    ), by_id[old["id"]]["error_message"]
    assert by_id[young["id"]]["status"] == "SUBMITTED"
    assert re.search(r"^expired\s+1\s*$", bot.stdout(), re.MULTILINE), bot.stdout()


class FakeChain:
    """Answers the statuses it is given; the height is fixed. get_delivery answers the
    next of `deliveries[signature]` (a SignatureStatus, or an exception to raise), then
    found=False, and records what it was asked."""

    def __init__(
        self,
        statuses: dict[str, SignatureStatus],
        deliveries: dict[str, list[SignatureStatus | Exception]] | None = None,
    ) -> None:
        self.statuses = statuses
        self.deliveries = deliveries or {}
        self.delivery_calls: list[tuple[str, str, str]] = []

    def get_block_height(self) -> int:
        return 1_000

    def get_signature_statuses(self, signatures: list[str]) -> dict[str, SignatureStatus]:
        return {s: self.statuses.get(s, SignatureStatus(found=False)) for s in signatures}

    def get_delivery(self, signature: str, owner: str, mint: str) -> SignatureStatus:
        self.delivery_calls.append((signature, owner, mint))
        answers = self.deliveries.get(signature) or [SignatureStatus(found=False)]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def in_process_bot(
    db_url: str, chain: Any, worker: str = "inproc", lease: float = 30.0
) -> tuple[Bot, io.StringIO]:
    """A Bot with its Heartbeat (LISTENing, as on a direct connection), both through the
    bot's own door (app.workers.bot.connect) as the application login."""
    stream = io.StringIO()
    log = JsonLog(worker, stream)
    options = BotOptions(worker_id=worker, venue="simulated", lease_seconds=lease)
    url = app_url_of(db_url)

    def door() -> SyncDatabase:
        return connect(url, worker, options, log, lambda: False)

    heartbeat = Heartbeat(door(), options, log, listen=True)
    bot = Bot(door(), heartbeat, chain, None, SimplePlanner(), options, log)
    return bot, stream


def logged(stream: io.StringIO, event: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [e for e in lines if e["event"] == event]


def _submitted(db_url: str, tmp_path: Path, count: int) -> list[InFlight]:
    (user,) = setup_bots(db_url, count=1)
    chain = sim_chain(tmp_path / "chain.json")
    items = []
    with psycopg.connect(db_url, autocommit=True) as conn:
        job = _running_job(conn)
        for target in range(count):
            trade = _create(conn, job, user.vault, target)
            sig, lvbh, _ = _sign_and_submit(conn, chain, trade)
            items.append(
                InFlight(
                    trade["id"],
                    sig,
                    lvbh,
                    5_000_000,
                    "claim",
                    vault=trade["user_vault_address"],
                    to_token=trade["to_token_address"],
                )
            )
    return items


def test_in_flight_from_a_trade_knows_its_vault_and_target(db_url: str) -> None:
    """A claimed trade (xorj.trade_json, as create_trade and claim_trades return it) gives
    the in-flight item the vault and target token get_delivery is asked about."""
    (user,) = setup_bots(db_url, count=1)
    with psycopg.connect(db_url, autocommit=True) as conn:
        trade = _create(conn, _running_job(conn), user.vault, 1)
    item = InFlight.from_trade({**trade, "transaction_signature": signature(5)}, "claim")
    assert (item.vault, item.to_token) == (user.vault, TARGETS[1].mint)


def test_confirmed_without_amount_asks_the_delivery(db_url: str, tmp_path: Path) -> None:
    """A status confirmed without amount_out (getSignatureStatuses never has one): the bot
    asks get_delivery for the trade's vault and target token. Unavailable, or not found
    yet: nothing is made up, the trade stays SUBMITTED and in flight (amount_out_unknown
    logged once); once the delivery is known, CONFIRMED with its amount and fee."""
    (item,) = _submitted(db_url, tmp_path, 1)
    confirmed = SignatureStatus(found=True, confirmed=True, slot=5)
    delivered = SignatureStatus(found=True, confirmed=True, slot=5, amount_out=4_950_000, fee=7)
    chain = FakeChain(
        {item.signature: confirmed},
        {
            item.signature: [
                ChainUnavailable("getTransaction: down"),
                SignatureStatus(found=False),
                SignatureStatus(found=False),
                delivered,
            ]
        },
    )
    bot, stream = in_process_bot(db_url, chain)
    try:
        assert bot.poll([item]) == {item.trade_id: None}  # unavailable
        assert item.trade_id in bot.inflight
        assert bot.poll([item]) == {item.trade_id: None}  # not found yet
        assert bot.poll([item]) == {item.trade_id: None}  # still not
        (trade,) = trades(db_url)
        assert (trade["status"], trade["actual_amount_out"]) == ("SUBMITTED", None)
        assert bot.poll([item]) == {item.trade_id: "confirmed"}
    finally:
        _close(bot)
    assert item.trade_id not in bot.inflight
    assert chain.delivery_calls == [(item.signature, item.vault, item.to_token)] * 4
    (unavailable,) = [
        e for e in logged(stream, "chain_unavailable") if e["during"] == "get_delivery"
    ]
    assert unavailable["trade_id"] == item.trade_id
    assert len(logged(stream, "amount_out_unknown")) == 1
    (trade,) = trades(db_url)
    assert (trade["status"], trade["actual_amount_out"], trade["gas_fee"]) == (
        "CONFIRMED",
        4_950_000,
        7,
    )


def test_confirmed_without_amount_nor_vault_stays_submitted(db_url: str, tmp_path: Path) -> None:
    """An in-flight item without its vault and target (built by hand): nothing to ask,
    nothing made up; the trade stays SUBMITTED, amount_out_unknown logged once."""
    (full,) = _submitted(db_url, tmp_path, 1)
    item = InFlight(full.trade_id, full.signature, full.last_valid_block_height, 1, "claim")
    chain = FakeChain({item.signature: SignatureStatus(found=True, confirmed=True, slot=5)})
    bot, stream = in_process_bot(db_url, chain)
    try:
        assert bot.poll([item]) == {item.trade_id: None}
        assert bot.poll([item]) == {item.trade_id: None}
    finally:
        _close(bot)
    assert item.trade_id in bot.inflight and chain.delivery_calls == []
    assert len(logged(stream, "amount_out_unknown")) == 1
    (trade,) = trades(db_url)
    assert (trade["status"], trade["actual_amount_out"]) == ("SUBMITTED", None)


def test_a_database_error_for_one_trade_does_not_stop_the_poll(db_url: str, tmp_path: Path) -> None:
    (real,) = _submitted(db_url, tmp_path, 1)
    ghost = InFlight(str(uuid.uuid4()), signature(77), 10, 5_000_000, "claim")  # XJ404
    failed = SignatureStatus(found=True, err="InstructionError", slot=5, fee=5000)
    chain = FakeChain({real.signature: failed, ghost.signature: failed})
    bot, stream = in_process_bot(db_url, chain)
    try:
        results = bot.poll([ghost, real])
    finally:
        _close(bot)
    assert results == {ghost.trade_id: None, real.trade_id: "failed_on_chain"}
    (error,) = logged(stream, "trade_poll_error")
    assert error["trade_id"] == ghost.trade_id and error["sqlstate"] == "XJ404"
    assert trades(db_url)[0]["status"] == "FAILED"


def test_heartbeat_stops_renewing_when_the_main_thread_is_stuck(db_url: str) -> None:
    (user,) = setup_bots(db_url, count=1)
    with psycopg.connect(db_url, autocommit=True) as conn:
        job = _running_job(conn)
        trade = _create(conn, job, user.vault, 0, worker="stuck", lease="30 seconds")
    bot, stream = in_process_bot(db_url, FakeChain({}), worker="stuck", lease=3.0)

    def expires() -> Any:
        return trades(db_url)[0]["claim_expires_at"]

    try:
        first = expires()
        bot.heartbeat.last_progress = time.monotonic() - 4.0  # older than the lease
        bot.heartbeat.beat()
        assert expires() == first  # not renewed
        assert len(logged(stream, "heartbeat_withheld")) == 1
        bot.heartbeat.progress()
        bot.heartbeat.beat()
        assert expires() != first  # renewed (to now + 3 s)
        assert logged(stream, "heartbeat_resumed")
        assert bot.db.value("SHOW statement_timeout") == "3s"
    finally:
        _close(bot)
    assert trade["claimed_by"] == "stuck"


def test_signal_is_only_recorded_by_the_handler(db_url: str) -> None:
    bot, stream = in_process_bot(db_url, FakeChain({}))
    try:
        with bot.log._lock:  # the handler must not need the log's lock
            bot.on_signal("SIGTERM")
        assert not logged(stream, "signal")
        assert bot.stopping and bot.stop_reason == "SIGTERM"
        assert bot._wait(5) is True
        assert len(logged(stream, "signal")) == 1
    finally:
        _close(bot)


def test_plan_follows_enabled_bots_and_forgets_older_disable_marks(db_url: str) -> None:
    """A disable seen by LISTEN, then a re-enable not seen: api.enabled_bots() is the
    authority, the mark is dropped; a disable received after the read still drops the
    vault's intents in the tick."""
    first, second = setup_bots(db_url, count=2)
    bot, _ = in_process_bot(db_url, FakeChain({}))
    try:
        hb = bot.heartbeat
        hb._on_event({"enabled": False, "vault_address": first.vault, "wallet": first.wallet})
        assert hb.is_disabled(first.vault)
        intents = bot.plan()
        assert {i.vault for i in intents} == {first.vault, second.vault}
        assert not hb.is_disabled(first.vault) and not hb._disabled
        hb._on_event({"enabled": False, "vault_address": second.vault, "wallet": second.wallet})
        hb._on_event({"enabled": True, "vault_address": first.vault, "wallet": first.wallet})
        assert hb.is_disabled(second.vault) and not hb.is_disabled(first.vault)
    finally:
        _close(bot)


def test_the_bots_connections_take_the_lease_per_transaction_not_as_a_startup_option(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The statement_timeout of every statement the bot runs is its lease, set in each
    transaction (the door's prelude), never as a startup `options` (which a transaction
    pooler refuses or ignores): its connections, made as `xorj bot recover` makes them,
    carry no options, run as xorj_bot under the application login, and show the lease
    inside a transaction and the server's own setting outside one."""
    app_url = app_url_of(db_url)
    for name in ("DATABASE_DIRECT_URL", "MIGRATION_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", app_url)
    parser = argparse.ArgumentParser(prog="xorj")
    register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(
        ["bot", "recover", "--lease-seconds", "2.5", *sim_args(tmp_path / "chain.json")]
    )
    with psycopg.connect(app_url) as plain:
        (default,) = plain.execute("SHOW statement_timeout").fetchone()
    assert default != "2500ms"
    bot = _make_bot(args, need_signer=False, flag=StopFlag())
    try:
        assert not bot.heartbeat.listening  # no DATABASE_DIRECT_URL: the feed is polled
        for db in (bot.db, bot.heartbeat.db):
            assert "options" not in conninfo_to_dict(db.url)
            assert not db.conn.info.get_parameters().get("options")
            assert db.value("SHOW statement_timeout") == "2500ms"
            assert db.one("SELECT session_user, current_user") == (APP_LOGIN, "xorj_bot")
            with db.tx() as conn:
                assert conn.execute("SHOW statement_timeout").fetchone() == ("2500ms",)
            assert db.conn.execute("SHOW statement_timeout").fetchone() == (default,)
    finally:
        _close(bot)
