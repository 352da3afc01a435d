"""Every process behind a real PgBouncer (Debian's 1.18, started by these tests) in
transaction mode with its default settings, the mode managed poolers offer: the HTTP API
under concurrent load, a bot run, a disable reaching a running bot, and three concurrent
migrates. Each test prints its figures (requests, errors by class, seconds) and asserts
0 errors. A last test takes session mode with an exhausted pool: a bot waiting for a
server connection still stops on SIGTERM.

Why it works: the door (app/db.py) sets role, claims, actor and statement_timeout with
set_config(..., true) in each transaction, prepares no statement (prepare_threshold None),
uses no startup option; migrations run in one transaction with a transaction-level lock;
a bot without a direct URL reads the feed api.bot_state_changes instead of LISTEN.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import ROOT, app_url_of, cli_env, report_figures
from tests.pgbouncer import PgBouncer, available
from tests.solana import address
from tests.test_api_http import _token, serve
from tests.test_bot_worker import BOT

LOAD_SECONDS = 6.0
CLIENTS = 16
USERS = 8
TRADERS = [
    {"wallet_address": address(900 + i), "xorj_trust_score": 90 - 10 * i, "metrics": {}}
    for i in range(3)
]


@pytest.fixture(scope="module")
def bouncer() -> Iterator[PgBouncer]:
    assert available(), "pgbouncer is not installed: `make test` installs it (Debian: pgbouncer)"
    with PgBouncer.start("transaction") as running:
        yield running


def status_class(status: int | None) -> str:
    return "transport_error" if status is None else f"{status // 100}xx"


# --- the HTTP API ----------------------------------------------------------------------


def test_http_under_load_through_transaction_pooling(db_url: str, bouncer: PgBouncer) -> None:
    """Two workers behind PgBouncer in transaction mode; 16 clients for 6 s, each with its
    own wallet or the bot's token: status, enable/disable, settings reads and writes with
    If-Match, trade creation and its transitions. No 5xx, no transport error."""
    url = bouncer.url_for(app_url_of(db_url))
    wallets = [address(100 + i) for i in range(USERS)]
    vaults = [address(300 + i) for i in range(USERS)]
    with serve(url, "--workers", "2") as server:
        tokens = [_token(w) for w in wallets]
        bot_token = _token(role="bot")
        counts: Counter[str] = Counter()
        problems: list[str] = []
        lock = threading.Lock()
        deadline = time.monotonic() + LOAD_SECONDS

        def record(response: httpx.Response | None, what: str) -> None:
            klass = status_class(None if response is None else response.status_code)
            with lock:
                counts[klass] += 1
                counts["requests"] += 1
                if klass in ("5xx", "transport_error") and len(problems) < 5:
                    body = "" if response is None else response.text[:300]
                    problems.append(f"{what}: {klass} {body}")

        def call(client: httpx.Client, method: str, path: str, **kw: Any) -> httpx.Response | None:
            try:
                response = client.request(method, path, **kw)
            except httpx.TransportError as exc:
                record(None, f"{method} {path}: {exc}")
                return None
            record(response, f"{method} {path}")
            return response

        def user(i: int) -> None:
            rng = random.Random(i)
            headers = {"Authorization": f"Bearer {tokens[i % USERS]}"}
            with httpx.Client(base_url=server.base, headers=headers, timeout=30) as client:
                call(client, "POST", "/api/bot/enable", json={"vaultAddress": vaults[i % USERS]})
                while time.monotonic() < deadline:
                    kind = rng.random()
                    if kind < 0.4:
                        call(client, "GET", "/api/bot/status")
                    elif kind < 0.6:
                        got = call(client, "GET", "/api/user/settings")
                        etag = got.headers.get("etag") if got is not None else None
                        patch = {"settings": {"maxDrawdownLimit": rng.randint(1, 50)}}
                        extra = {"If-Match": etag} if etag else {}
                        call(client, "POST", "/api/user/settings", json=patch, headers=extra)
                    elif kind < 0.8:
                        call(client, "POST", "/api/bot/disable")
                        call(client, "POST", "/api/bot/enable")
                    else:
                        call(client, "GET", "/readyz")

        def bot(i: int) -> None:
            headers = {"Authorization": f"Bearer {bot_token}"}
            with httpx.Client(base_url=server.base, headers=headers, timeout=30) as client:
                job = call(
                    client,
                    "POST",
                    "/internal/execution-jobs",
                    json={"trigger_reason": "MANUAL_TRIGGER"},
                )
                if job is None or job.status_code != 201:
                    return
                job_id = job.json()["id"]
                call(
                    client,
                    "POST",
                    f"/internal/execution-jobs/{job_id}/start",
                    json={"worker_id": f"load-{i}"},
                )
                n = 0
                while time.monotonic() < deadline:
                    n += 1
                    body = {
                        "job_id": job_id,
                        "user_vault_address": vaults[i % USERS],
                        "client_order_id": f"load-{i}-{n}",
                        "from_token_address": address(500 + n),
                        "to_token_address": address(700 + i),
                        "amount_in": 1000 + n,
                        "expected_amount_out": 990,
                    }
                    created = call(client, "POST", "/internal/trades", json=body)
                    if created is not None and created.status_code == 201:
                        trade = created.json()["trade"]["id"]
                        call(
                            client,
                            "POST",
                            f"/internal/trades/{trade}/failed",
                            json={"error_message": "load test"},
                        )
                    call(client, "GET", "/internal/trades", params={"limit": 5})

        threads = [threading.Thread(target=user, args=(i,)) for i in range(CLIENTS - 4)]
        threads += [threading.Thread(target=bot, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(LOAD_SECONDS + 60)
        log = server.output()
    report_figures(
        "[pooler] HTTP, 2 workers, transaction mode",
        seconds=LOAD_SECONDS,
        clients=CLIENTS,
        **dict(sorted(counts.items())),
    )
    assert counts["requests"] > 200, counts
    assert counts["5xx"] == 0 and counts["transport_error"] == 0, (problems, log[-2000:])
    assert "prepared statement" not in log and "bind message" not in log


def test_identical_trades_through_the_pooler_make_one_trade(
    db_url: str, bouncer: PgBouncer
) -> None:
    """50 concurrent identical creations over HTTP, through PgBouncer: one 201, 49 replays
    (200) of the same trade."""
    url = bouncer.url_for(app_url_of(db_url))
    wallet, vault = address(1), address(2)
    with serve(url, "--workers", "2") as server:
        user = {"Authorization": f"Bearer {_token(wallet)}"}
        bot = {"Authorization": f"Bearer {_token(role='bot')}"}
        assert (
            httpx.post(
                f"{server.base}/api/bot/enable", headers=user, json={"vaultAddress": vault}
            ).status_code
            == 200
        )
        job = httpx.post(
            f"{server.base}/internal/execution-jobs",
            headers=bot,
            json={"trigger_reason": "MANUAL_TRIGGER"},
        ).json()["id"]
        started = httpx.post(
            f"{server.base}/internal/execution-jobs/{job}/start",
            headers=bot,
            json={"worker_id": "identical"},
        )
        assert started.status_code == 200, started.text
        body = {
            "job_id": job,
            "user_vault_address": vault,
            "client_order_id": "same-key",
            "from_token_address": address(3),
            "to_token_address": address(4),
            "amount_in": "18446744073709551615",
            "expected_amount_out": 1,
        }
        results: list[tuple[int, str]] = []
        barrier = threading.Barrier(50)

        def create() -> None:
            with httpx.Client(timeout=30) as client:
                barrier.wait()
                r = client.post(f"{server.base}/internal/trades", headers=bot, json=body)
                results.append((r.status_code, r.json().get("trade", {}).get("id", r.text)))

        threads = [threading.Thread(target=create) for _ in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    statuses = Counter(status for status, _ in results)
    report_figures(
        "[pooler] 50 identical creations", **{str(k): v for k, v in sorted(statuses.items())}
    )
    assert statuses == {201: 1, 200: 49}
    assert len({trade for _, trade in results}) == 1
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM xorj.trades").fetchone() == (1,)


# --- the bot ---------------------------------------------------------------------------


def _setup_users(app_url: str, count: int) -> list[tuple[str, str]]:
    """`count` users with an enabled bot and a vault, settings for 1,000 USD at 5 %, and a
    completed scoring run of TRADERS, through the api functions as the app login."""
    from psycopg.types.json import Jsonb

    from app.dbapi.sync import SyncDatabase
    from app.seed import user_claims

    users = [(address(10 + i), address(200 + i)) for i in range(count)]
    user = SyncDatabase(app_url, "test:setup", role="xorj_api")
    engine = SyncDatabase(app_url, "test:setup", role="xorj_engine")
    try:
        for wallet, vault in users:
            claims = user_claims(wallet)
            user.value("SELECT api.enable_bot(%s)", (vault,), claims)
            patch = {"riskProfile": "Balanced", "investmentAmount": 1000, "positionSizePercent": 5}
            user.value("SELECT api.update_user_settings(%s)", (Jsonb(patch),), claims)
        run = engine.value("SELECT api.create_scoring_run()")
        engine.value("SELECT api.start_scoring_run(%s)", (run["id"],))
        engine.value("SELECT api.complete_scoring_run(%s, %s)", (run["id"], Jsonb(TRADERS)))
    finally:
        user.close()
        engine.close()
    return users


class Bot:
    """`xorj bot run` as a process, its JSON log in a file."""

    def __init__(self, url: str, tmp: Path, name: str, *args: str, direct: str | None = None):
        self.err = tmp / f"{name}.err"
        env = {"DATABASE_URL": url}
        if direct:
            env["DATABASE_DIRECT_URL"] = direct
        with open(self.err, "w") as err:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    BOT,
                    "run",
                    "--chain",
                    "sim",
                    "--sim-seed",
                    "7",
                    "--sim-state",
                    str(tmp / "chain.json"),
                    "--worker-id",
                    name,
                    *args,
                ],
                cwd=ROOT,
                env=cli_env(env),
                stdout=subprocess.DEVNULL,
                stderr=err,
            )

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        found = []
        for line in self.err.read_text().splitlines():
            if line.strip():
                event = json.loads(line)
                if name is None or event["event"] == name:
                    found.append(event)
        return found

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the bot did not exit: {self.err.read_text()[-3000:]}") from None

    def wait_for(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"waiting for {what}: {self.err.read_text()[-3000:]}")


ERROR_EVENTS = ("tick_error", "tick_failed", "heartbeat_error", "recovery_failed", "job_lost")


def test_a_bot_run_through_transaction_pooling(
    db_url: str, bouncer: PgBouncer, tmp_path: Path
) -> None:
    """Recovery and two ticks through PgBouncer: every planned intent ends CONFIRMED on the
    simulated chain, no error event, exit 0."""
    users = _setup_users(app_url_of(db_url), 2)
    url = bouncer.url_for(app_url_of(db_url))
    bot = Bot(
        url,
        tmp_path,
        "pooled",
        "--ticks",
        "2",
        "--tick-seconds",
        "0.2",
        "--lease-seconds",
        "6",
        "--poll-seconds",
        "0.1",
    )
    code = bot.wait(120)
    errors = [e for e in bot.events() if e["event"] in ERROR_EVENTS]
    with psycopg.connect(db_url) as conn:
        statuses = Counter(s for (s,) in conn.execute("SELECT status::text FROM xorj.trades"))
    report_figures(
        "[pooler] bot run, transaction mode",
        exit=code,
        trades=dict(statuses),
        error_events=len(errors),
    )
    assert code == 0, bot.err.read_text()[-3000:]
    assert errors == []
    assert statuses and set(statuses) == {"CONFIRMED"}, statuses
    assert statuses["CONFIRMED"] == len(users) * 2  # Balanced: the top 2 traders' tokens


def test_a_disable_reaches_a_bot_behind_the_pooler(
    db_url: str, bouncer: PgBouncer, tmp_path: Path
) -> None:
    """No LISTEN through a transaction pooler: the bot reads api.bot_state_changes every
    --state-poll-seconds. A disable made through the API (also pooled) is seen within the
    bound, and the bot then plans without the vault."""
    first, _ = _setup_users(app_url_of(db_url), 2)
    url = bouncer.url_for(app_url_of(db_url))
    bot = Bot(
        url,
        tmp_path,
        "listener",
        "--ticks",
        "1000",
        "--tick-seconds",
        "0.5",
        "--lease-seconds",
        "6",
        "--state-poll-seconds",
        "1",
    )
    try:
        bot.wait_for(lambda: bot.events("job_completed"), 60, "a first tick")
        with serve(url) as server:
            token = _token(first[0])
            started = time.monotonic()
            disabled = httpx.post(
                f"{server.base}/api/bot/disable",
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            assert disabled.status_code == 200, disabled.text
            seen = bot.wait_for(
                lambda: [e for e in bot.events("vault_disabled") if e.get("vault") == first[1]],
                30,
                "the disable to reach the bot",
            )
            delay = time.monotonic() - started
        planned_after = bot.wait_for(
            lambda: [e for e in bot.events("planned") if e["ts"] > seen[0]["ts"]],
            30,
            "a tick planned after the disable",
        )
        bot.proc.send_signal(signal.SIGTERM)
        code = bot.wait(30)
    finally:
        if bot.proc.poll() is None:
            bot.proc.kill()
    report_figures("[pooler] disable propagation, polling", seconds=round(delay, 2), bound=1.0)
    assert seen and code == 0
    assert delay < 10, delay  # polled every second; generous for a loaded CI machine
    assert all(e["bots"] == 1 for e in planned_after), planned_after[-3:]


# --- migrations ------------------------------------------------------------------------


def test_three_concurrent_migrates_through_the_pooler(
    empty_db_url: str,
    db_url: str,
    bouncer: PgBouncer,
    schema_snapshot: Callable[[str], str],
    xorj_cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    """Three `xorj db migrate` at once through PgBouncer on an empty database: all exit 0,
    one applies the migrations, the database equals a directly migrated one, and no
    advisory lock is left on any server connection."""
    owner = bouncer.url_for(empty_db_url)
    env = cli_env(
        {"MIGRATION_DATABASE_URL": owner, "DATABASE_URL": bouncer.url_for(app_url_of(empty_db_url))}
    )
    from tests.conftest import BIN

    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [str(BIN / "xorj"), "db", "migrate"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    elapsed = time.monotonic() - started
    codes = [p.returncode for p in procs]
    report_figures("[pooler] 3 concurrent migrates", exit_codes=codes, seconds=round(elapsed, 2))
    assert codes == [0, 0, 0], outputs
    from app.migrate import MIGRATIONS_DIR

    count = len([m for m in MIGRATIONS_DIR.glob("0*.sql") if not m.name.endswith(".rollback.sql")])
    applied = [out for out, _ in outputs if out.startswith(f"applied {count} migration(s)")]
    assert len(applied) == 1, outputs
    assert sum("no migration pending" in out for out, _ in outputs) == 2
    assert schema_snapshot(empty_db_url) == schema_snapshot(db_url)
    with psycopg.connect(empty_db_url) as conn:
        assert conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
        ).fetchone() == (0,)
    status = xorj_cli(
        "db",
        "status",
        env={
            "MIGRATION_DATABASE_URL": owner,
            "DATABASE_URL": bouncer.url_for(app_url_of(empty_db_url)),
        },
    )
    assert status.returncode == 0 and "pending" not in status.stdout, status


# --- session mode ----------------------------------------------------------------------


def test_sigterm_stops_a_bot_starved_by_a_session_pooler(db_url: str, tmp_path: Path) -> None:
    """Session mode with one server connection, held by another client: the bot cannot get
    a connection; SIGTERM still ends it, within its --stop-grace-seconds."""
    _setup_users(app_url_of(db_url), 1)
    with PgBouncer.start("session", {"default_pool_size": "1"}) as session:
        url = session.url_for(app_url_of(db_url))
        with psycopg.connect(url, autocommit=True, prepare_threshold=None) as holder:
            holder.execute("SELECT 1")  # holds the pool's only server connection
            bot = Bot(url, tmp_path, "starved", "--ticks", "1", "--stop-grace-seconds", "2")
            time.sleep(1.5)
            assert bot.proc.poll() is None  # waiting
            sent = time.monotonic()
            bot.proc.send_signal(signal.SIGTERM)
            code = bot.wait(30)
            took = time.monotonic() - sent
    report_figures("[pooler] session mode, starved bot", exit=code, seconds_to_stop=round(took, 2))
    assert took < 2 + 8, took
