"""The HTTP half of `make bench`: the real app (`xorj serve`) against the minimal app of
tests/bench/minimal_app.py (the same SQL per request, nothing else), both served by
uvicorn with the same HTTP protocol class, with 1 and with 2 worker processes, loaded
by wrk (or, without wrk, by tests/bench/http_load.py in a process of its own) over 32
keep-alive connections, A/B/A/B.

* GET /api/bot/status with a user token (the wallet of an enabled vault with trades);
* POST /internal/trades with the bot token, each request a fresh trade (its own vault
  and pair and client_order_id, from the same counter as the database half).

Both servers of a worker count run side by side (the idle one costs nothing), so
rounds alternate without restarts. The CPU of each server's processes (supervisor and
workers: utime + stime from /proc) is read around each run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx

from tests.bench.bench_sql import AMOUNT_IN, EXPECTED_OUT, Db
from tests.bench.common import (
    FROM,
    TO,
    VAULT,
    Row,
    address,
    checkpoint,
    head,
    interleave,
    parse,
    say,
)
from tests.conftest import cli_env

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CONNECTIONS = 32
MARGIN = 1000  # indexes skipped after a run: requests in flight when it ended


def _protocol() -> str:
    """The HTTP protocol class `xorj serve` gives uvicorn (TCP_NODELAY with --workers N),
    so that both servers differ only by the app; uvicorn's h11 without it."""
    try:
        __import__("app.http_protocol")
    except ImportError:
        return "h11"
    return "app.http_protocol:NoDelayH11Protocol"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pgid: int) -> float:
    """utime + stime of every live process of the group (the server and its workers)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid:  # pgrp
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    base: str
    cpu: list[float] = field(default_factory=list)  # percent of one core, per run
    cpu_ms: list[float] = field(default_factory=list)  # CPU ms per request, per run
    p50: list[float] = field(default_factory=list)
    target: Db | None = None  # the database it serves when not the bench's (--before)


@contextlib.contextmanager
def serve(
    name: str,
    argv: list[str],
    env: dict[str, str],
    token: str,
    logdir: Path,
    target: Db | None = None,
) -> Iterator[Server]:
    """A server on a free port until the block ends; `target`: the database of another
    tree (--before), served from that tree's directory."""
    port = _free_port()
    argv = [*argv, "--host", "127.0.0.1", "--port", str(port)]
    log = (logdir / f"{name}.log").open("wb")
    cwd = target.xorj_cwd if target and target.xorj_cwd else ROOT
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    server = Server(name, proc, f"http://127.0.0.1:{port}", target=target)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                tail = (logdir / f"{name}.log").read_text(errors="replace")[-600:]
                raise RuntimeError(f"{name} exited ({proc.returncode}): {tail}")
            with contextlib.suppress(httpx.TransportError):
                got = httpx.get(
                    f"{server.base}/api/bot/status",
                    timeout=2,
                    headers={"Authorization": f"Bearer {token}"},
                )
                if got.status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer in 60 s: see {log.name}")
            time.sleep(0.2)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


def lua_script(db: Db, token: str, first: int) -> str:
    """wrk: POST one fresh trade per request; thread t of n takes indexes first + k*n + t."""
    body = json.dumps(
        {
            "job_id": db.job_id,
            "user_vault_address": "%s",
            "client_order_id": "h%d",
            "from_token_address": "%s",
            "to_token_address": "%s",
            "amount_in": str(AMOUNT_IN),
            "expected_amount_out": str(EXPECTED_OUT),
        },
        separators=(",", ":"),
    )
    return f"""
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer {token}"
wrk.headers["Content-Type"] = "application/json"
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
local n, step = 0, 1
function init(args) step = tonumber(args[1]) end
local function addr(h, x)
  return h .. (string.gsub(string.format("%010d", x), "0", "z"))
end
function request()
  local i = {first} + n * step + tid
  n = n + 1
  local v, p = i % {db.vaults}, math.floor(i / {db.vaults})
  local body = string.format('{body}', addr("{head(VAULT)}", v), i,
                             addr("{head(FROM)}", p), addr("{head(TO)}", p))
  return wrk.format(nil, "/internal/trades", nil, body)
end
"""


def _ms(text: str) -> float:
    value, unit = float(text[:-2] if text.endswith(("ms", "us")) else text[:-1]), text[-2:]
    return value * {"us": 0.001, "ms": 1.0}.get(unit, 1000.0)


def _wrk(db: Db, url: str, what: str, token: str, seconds: float, first: int):
    """(requests, requests/s, answers not 2xx or failed, median latency ms) of wrk."""
    argv = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--latency"]
    if what == "status":
        argv += ["-H", f"Authorization: Bearer {token}", url]
    else:
        script = db.workdir / "trades.lua"
        script.write_text(lua_script(db, token, first))
        argv += ["-s", str(script), url, "--", "1"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    text = out.stdout + out.stderr
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed:\n{text}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    return (
        int(parse(r"(\d+) requests in", text, "request count")),
        float(parse(r"Requests/sec:\s+([\d.]+)", text, "requests/s")),
        (int(bad[1]) if bad else 0) + (sum(map(int, errors.groups())) if errors else 0),
        _ms(parse(r"^\s+50%\s+(\S+)", text, "median latency")),
    )


def _python_driver(db: Db, url: str, what: str, token: str, seconds: float, first: int):
    """The same figures from tests/bench/http_load.py, when wrk is not installed."""
    argv = [sys.executable, "-m", "tests.bench.http_load", url, "--seconds", str(seconds)]
    argv += ["--connections", str(CONNECTIONS), "--header", f"Authorization: Bearer {token}"]
    if what == "create":
        argv += ["--trades", f"{db.job_id},{db.vaults},{first}"]
    out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise RuntimeError(f"http_load failed:\n{out.stderr}")
    got = json.loads(out.stdout)
    return got["requests"], got["rps"], got["non2xx"] + got["errors"], got["p50_ms"]


def load(db: Db, server: Server, what: str, token: str, seconds: float) -> float:
    """Requests/s of one run of `seconds`; records the server's CPU and median latency."""
    url = server.base + ("/api/bot/status" if what == "status" else "/internal/trades")
    first = db.next_index  # one counter for every database: fresh keys in each
    driver = _wrk if _use_wrk() else _python_driver
    target = _keyed(db, server)
    checkpoint()
    before, started = cpu_seconds(server.proc.pid), time.perf_counter()
    requests, rps, bad, p50 = driver(target, url, what, token, seconds, first)
    wall = time.perf_counter() - started
    used = cpu_seconds(server.proc.pid) - before
    server.cpu.append(100 * used / wall)
    server.cpu_ms.append(1000 * used / max(1, requests))
    server.p50.append(p50)
    if what == "create":
        db.next_index = first + requests + MARGIN
    if bad:
        db.notes.append(f"{server.name} {what}: {bad} of {requests} answers were not 2xx")
        say(f"    WARNING: {bad} of {requests} answers of {server.name} were not 2xx")
    return rps


def _keyed(db: Db, server: Server) -> Db:
    """The bench's Db with the job of the database `server` serves (its counter stays
    the bench's)."""
    return replace(db, job_id=server.target.job_id) if server.target else db


def _use_wrk() -> bool:
    """wrk when installed, unless XORJ_BENCH_DRIVER=python."""
    return os.environ.get("XORJ_BENCH_DRIVER", "wrk") == "wrk" and shutil.which("wrk") is not None


def driver_name() -> str:
    if _use_wrk():
        return f"wrk (1 thread, {CONNECTIONS} connections)"
    return f"tests/bench/http_load.py (asyncio, {CONNECTIONS} connections, own process)"


def _check(db: Db, server: Server, token: str) -> None:
    """One trade through the server: 201 and a trade of the right vault (untimed)."""
    i = db.take(1)
    v, p = i % db.vaults, i // db.vaults
    body = {
        "job_id": _keyed(db, server).job_id,
        "user_vault_address": address(VAULT, v),
        "client_order_id": f"h{i}",
        "from_token_address": address(FROM, p),
        "to_token_address": address(TO, p),
        "amount_in": str(AMOUNT_IN),
        "expected_amount_out": str(EXPECTED_OUT),
    }
    got = httpx.post(
        f"{server.base}/internal/trades",
        json=body,
        timeout=10,
        headers={"Authorization": f"Bearer {token}"},
    )
    trade = got.json().get("trade", {}) if got.status_code == 201 else {}
    if trade.get("user_vault_address") != body["user_vault_address"]:
        raise RuntimeError(f"{server.name}: POST /internal/trades: {got.status_code} {got.text}")


def bench_http(
    db: Db,
    secret: str,
    user_token: str,
    bot_token: str,
    rounds: int,
    seconds: float,
    into: list[Row],
    workers_list: tuple[int, ...] = (1, 2),
    before: Db | None = None,
) -> list[Row]:
    """Appends each row to `into` as soon as it is measured; returns nothing more.
    `before`: the `xorj serve` of --before's tree on its database too (same flags, same
    tokens), run between the real and the minimal app in every round."""
    env = cli_env({"DATABASE_URL": db.app_url, "JWT_SECRET": secret})
    protocol = _protocol()
    say(f"  load generator: {driver_name()}; HTTP protocol of both servers: {protocol}")
    if before is not None:
        say("  the before server: the before tree's `xorj serve`, its own HTTP protocol class")
    for workers in workers_list:
        real_argv = [str(BIN / "xorj"), "serve", "--workers", str(workers)]
        minimal_argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "tests.bench.minimal_app:create_app",
            "--factory",
            "--workers",
            str(workers),
            "--http",
            protocol,
            "--log-level",
            "warning",
            "--no-access-log",
            "--no-proxy-headers",
        ]
        with contextlib.ExitStack() as stack:
            real = stack.enter_context(
                serve(f"real-{workers}", real_argv, env, user_token, db.workdir)
            )
            minimal = stack.enter_context(
                serve(f"minimal-{workers}", minimal_argv, env, user_token, db.workdir)
            )
            old, old_failed = None, ""
            if before is not None:
                old_env = cli_env(
                    {"DATABASE_URL": before.app_url, "JWT_SECRET": secret, **before.xorj_env}
                )
                old_argv = [*before.command(), "serve", "--workers", str(workers)]
                try:
                    old = stack.enter_context(
                        serve(
                            f"before-{workers}", old_argv, old_env, user_token, db.workdir, before
                        )
                    )
                except Exception as exc:  # REV's server: a note on its rows, the rows go on
                    old_failed = f"before FAILED: {' '.join(str(exc).split())[:300]}"
                    say(f"  {old_failed}")
            for what, token, path in (
                ("status", user_token, "GET /api/bot/status"),
                ("create", bot_token, "POST /internal/trades"),
            ):
                label = f"{path}, {workers} worker{'s' if workers > 1 else ''}"
                row = Row(label, "rps", ">= 0.8")
                row.before_note = old_failed
                servers = [s for s in (real, minimal, old) if s is not None]
                if old is not None:
                    row.before_note = _warm_before(db, old, what, token, seconds)
                if what == "create":
                    _check(db, real, token)
                    _check(db, minimal, token)
                warm = max(1, round(seconds / 4))
                load(db, real, what, token, warm)
                load(db, minimal, what, token, warm)
                for s in servers:
                    s.cpu.clear()
                    s.cpu_ms.clear()
                    s.p50.clear()
                interleave(
                    rounds,
                    lambda r, s=real, w=what, t=token: load(db, s, w, t, seconds),
                    lambda r, s=minimal, w=what, t=token: load(db, s, w, t, seconds),
                    row,
                    label,
                    (lambda r, s=old, w=what, t=token: load(db, s, w, t, seconds))
                    if old is not None
                    else None,
                )
                med = {
                    k: [statistics.median(getattr(s, k)) for s in (real, minimal)]
                    for k in ("cpu_ms", "cpu", "p50")
                }
                row.note = (
                    "server CPU real vs minimal: {:.2f} vs {:.2f} ms per request ".format(
                        *med["cpu_ms"]
                    )
                    + "({:.0f} vs {:.0f}% of a core); ".format(*med["cpu"])
                    + "median latency {:.1f} vs {:.1f} ms".format(*med["p50"])
                )
                if old is not None and old.cpu_ms:
                    row.note += (
                        f"; before: {statistics.median(old.cpu_ms):.2f} ms per request, "
                        f"median latency {statistics.median(old.p50):.1f} ms"
                    )
                into.append(row)
    return []


def _warm_before(db: Db, server: Server, what: str, token: str, seconds: float) -> str:
    """The check and warm-up of --before's server: "" or the note of its failure."""
    try:
        if what == "create":
            _check(db, server, token)
        load(db, server, what, token, max(1, round(seconds / 4)))
    except Exception as exc:  # a note on the row; the current tree's figures go on
        note = f"before FAILED: {' '.join(str(exc).split())[:300]}"
        say(f"  {note}")
        return note
    return ""
