"""The execution bot as a process (`bot run`, `bot recover`) against a real database and
the simulated chain on a state file: the recovery summary, a disable taking effect at
once, SIGTERM, and chain unavailability never taken as "not found".

The helpers here are shared with tests/test_bot_crash.py and tests/test_bot_two_bots.py.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from app.chain.base import Intent
from app.chain.sim import FAILED_ERR, FEE_LAMPORTS, SimulatedChain, SimulatedSigner
from app.workers.bot import NEVER_BROADCAST, expired_message, load_bots, load_traders
from app.workers.dbsync import BotDb
from app.workers.planner import TARGETS, USDC, PlannedTrade, SimplePlanner
from tests.solana import address

ROOT = Path(__file__).resolve().parents[1]
BOT = "import sys; from app.workers.bot import main; sys.exit(main(sys.argv[1:]))"
SEED = 7
TRADERS = [
    {"wallet_address": address(900 + i), "xorj_trust_score": 90 - 10 * i, "metrics": {"i": i}}
    for i in range(4)
]
FINAL = ("CONFIRMED", "FAILED")

EnvFactory = Callable[..., dict[str, str]]


# --- setting the database up through the api functions ---------------------------------


def as_role(conn: psycopg.Connection[Any], role: str, query: str, params: tuple = ()) -> Any:
    """One api call as `role`, in its own transaction, actor 'test'; its first row."""
    with conn.transaction():
        conn.execute(f"SET LOCAL ROLE {role}")
        conn.execute("SELECT set_config('xorj.actor', 'test', true)")
        return conn.execute(query, params).fetchone()


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
            as_role(conn, "xorj_api", "SELECT api.enable_bot(%s, %s)", (user.wallet, user.vault))
            patch = {
                "riskProfile": profile,
                "investmentAmount": investment,
                "positionSizePercent": percent,
            }
            as_role(
                conn,
                "xorj_api",
                "SELECT api.update_user_settings(%s, %s)",
                (user.wallet, Jsonb(patch)),
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
    """What the built-in planner plans from the database as it is now."""
    db = BotDb(db_url, "test:planner")
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
            "claimed_by, claim_expires_at, created_at, completed_at FROM xorj.trades "
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
    """A `bot ...` subprocess; stdout and stderr go to files (a long run logs a lot)."""

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
                env=cli_env({"DATABASE_URL": db_url, **(env or {})}),
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
    tx = SimulatedSigner(chain).sign(intent, chain.get_latest_blockhash())
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
                "SELECT * FROM api.create_trade(%s, %s, %s, %s, %s, %s, %s)",
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
    assert bot.proc.returncode == 0, bot.stderr()
    table = {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", bot.stdout(), flags=re.MULTILINE)
    }
    assert table == {
        "confirmed": 1,
        "failed_on_chain": 1,
        "expired": 1,
        "never_broadcast": 1,
        "still_pending_on_chain": 1,
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
        with psycopg.connect(db_url, autocommit=True) as conn:

            def first_vault_traded() -> bool:
                (n,) = conn.execute(
                    "SELECT count(*) FROM xorj.trades WHERE user_vault_address = %s",
                    (first.vault,),
                ).fetchone()
                return n > 0

            wait_for(first_vault_traded, 30, "the first trade of the first vault", every=0.005)
            as_role(conn, "xorj_api", "SELECT api.disable_bot(%s)", (first.wallet,))
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
                    "SELECT count(*) FROM xorj.trades WHERE claimed_by = 'term-bot' "
                    "AND status = 'SUBMITTED'"
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
