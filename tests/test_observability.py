"""Every process observable: `xorj serve --workers 2` writes a JSON access line with a
timestamp for every request from every worker, and its /metrics counts the requests of
all workers whichever answers; the domain figures come from the database (so the bot's
work counts too); the bot serves metrics of its own on --metrics-port."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from psycopg.types.json import Jsonb

from app.dbapi.sync import SyncDatabase
from app.seed import user_claims
from tests.conftest import ROOT, cli_env, report_figures
from tests.scratch_cluster import free_port
from tests.solana import address
from tests.test_api_http import serve
from tests.test_bot_worker import BOT


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of a Prometheus text exposition, or None."""
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        match = re.match(r"^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(3) or ""))
        if found == labels:
            return float(match.group(4))
    return None


def full_output(server: Any) -> str:
    """Everything the server wrote so far (Server.output() keeps only the tail)."""
    server.log.seek(0)
    return server.log.read().decode(errors="replace")


def access_lines(output: str) -> list[dict[str, Any]]:
    lines = []
    for line in output.splitlines():
        if line.startswith("{") and '"request_id"' in line:
            lines.append(json.loads(line))
    return lines


def test_two_workers_log_every_request_and_share_their_metrics(app_url: str) -> None:
    with serve(app_url, "--workers", "2") as server:
        time.sleep(0.2)
        # serve() asked /healthz until it answered: those count too
        sent = len([e for e in access_lines(full_output(server)) if e["route"] == "/healthz"])
        pids: set[int] = set()
        deadline = time.monotonic() + 60

        def burst() -> None:
            for _ in range(10):
                with httpx.Client(timeout=10) as client:  # a new connection each time
                    assert client.get(f"{server.base}/healthz").status_code == 200

        while len(pids) < 2 and time.monotonic() < deadline:
            threads = [threading.Thread(target=burst) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            sent += 80
            time.sleep(0.2)  # the log lines are written
            pids = {e["pid"] for e in access_lines(full_output(server)) if e["route"] == "/healthz"}
        assert len(pids) == 2, "both workers should have served"
        scrapes = [httpx.get(f"{server.base}/metrics", timeout=10).text for _ in range(6)]
        lines = [e for e in access_lines(full_output(server)) if e["route"] == "/healthz"]
    report_figures("[observability] 2 workers", healthz_requests=sent, worker_pids=len(pids))
    assert len(lines) == sent
    assert all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$", e["ts"]) for e in lines)
    for text in scrapes:  # whichever worker answered, the total of both
        assert (
            sample(text, "xorj_http_requests_total", method="GET", route="/healthz", status="200")
            == sent
        )
        assert sample(text, "xorj_db_metrics_up") == 1.0


def test_domain_figures_count_work_done_outside_the_api(app_url: str) -> None:
    """Trades created by a worker (not through HTTP) show in the API's /metrics."""
    wallet, vault = address(1), address(2)
    user = SyncDatabase(app_url, "test", role="xorj_api")
    bot = SyncDatabase(app_url, "test", role="xorj_bot")
    try:
        user.value("SELECT api.enable_bot(%s)", (vault,), user_claims(wallet))
        with bot.tx() as conn:
            (job,) = conn.execute("SELECT api.create_execution_job('MANUAL_TRIGGER')").fetchone()
            conn.execute("SELECT api.start_execution_job(%s, 'w')", (job["id"],))
        for n in range(3):
            bot.value(
                "SELECT trade FROM api.create_trade(%s, %s, %s, %s, %s, 10, 9)",
                (job["id"], vault, f"k{n}", address(10 + n), address(20 + n)),
            )
    finally:
        user.close()
        bot.close()
    with serve(app_url) as server:
        text = httpx.get(f"{server.base}/metrics", timeout=10).text
    assert sample(text, "xorj_trades", status="PENDING") == 3
    assert sample(text, "xorj_trades", status="CONFIRMED") == 0
    assert sample(text, "xorj_execution_jobs_active", status="RUNNING") == 1
    assert sample(text, "xorj_bots", enabled="true") == 1
    assert sample(text, "xorj_trades_unclaimed_unfinished") == 3
    assert "# TYPE xorj_trades gauge" in text


def test_the_bot_serves_its_metrics(app_url: str, tmp_path: Path) -> None:
    wallet, vault = address(1), address(2)
    user = SyncDatabase(app_url, "test", role="xorj_api")
    engine = SyncDatabase(app_url, "test", role="xorj_engine")
    try:
        claims = user_claims(wallet)
        user.value("SELECT api.enable_bot(%s)", (vault,), claims)
        user.value(
            "SELECT api.update_user_settings(%s)", (Jsonb({"investmentAmount": 1000}),), claims
        )
        run = engine.value("SELECT api.create_scoring_run()")
        engine.value("SELECT api.start_scoring_run(%s)", (run["id"],))
        traders = [{"wallet_address": address(900), "xorj_trust_score": 90}]
        engine.value("SELECT api.complete_scoring_run(%s, %s)", (run["id"], Jsonb(traders)))
    finally:
        user.close()
        engine.close()
    port = free_port()
    err = tmp_path / "bot.err"
    with open(err, "w") as stream:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                BOT,
                "run",
                "--chain",
                "sim",
                "--ticks",
                "1000",
                "--tick-seconds",
                "0.3",
                "--sim-state",
                str(tmp_path / "chain.json"),
                "--metrics-port",
                str(port),
            ],
            cwd=ROOT,
            env=cli_env({"DATABASE_URL": app_url}),
            stdout=subprocess.DEVNULL,
            stderr=stream,
        )
    try:
        deadline = time.monotonic() + 60
        text = ""
        while time.monotonic() < deadline:
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except httpx.TransportError:
                text = ""
            if (sample(text, "xorj_bot_resolutions_total", resolution="confirmed") or 0) >= 1:
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert sample(text, "xorj_bot_resolutions_total", resolution="confirmed") == 1, text
    assert (sample(text, "xorj_bot_events_total", event="trade_created") or 0) >= 1
    assert sample(text, "xorj_bot_in_flight") is not None


@pytest.mark.parametrize("workers", ["1"])
def test_access_lines_are_json_with_a_timestamp(app_url: str, workers: str) -> None:
    with serve(app_url, "--workers", workers) as server:
        httpx.get(f"{server.base}/api/bot/status", timeout=10)  # 401: no token
        time.sleep(0.2)
        (line,) = [e for e in access_lines(full_output(server)) if e["route"] == "/api/bot/status"]
    assert line["status"] == 401 and line["auth_failure"] is None
    assert set(line) >= {"ts", "pid", "request_id", "method", "route", "status", "ms"}
