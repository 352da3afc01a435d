"""The API as it runs: `xorj serve` as a real process, spoken to over real HTTP.

Each test starts `xorj serve` on a free port against a fresh migrated database, with a
token from `xorj token` (another process, same JWT_SECRET), and stops it with SIGTERM.
The outage test makes the database unreachable under the running server and checks the
server answers 503 (not a crash, not a traceback), stays alive, and recovers by itself.
Every wait is bounded, and the server's process group is killed whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import httpx
import psycopg
import pytest
from psycopg import sql

from tests.conftest import BIN, ROOT, TEST_JWT_SECRET, cli_env, database_name
from tests.solana import address

STARTUP_SECONDS = 30.0
JWT_VARIABLES = ("JWT_PUBLIC_KEY", "JWT_PRIVATE_KEY", "JWT_ALGORITHM", "JWT_ISSUER", "JWT_AUDIENCE")


def _env(db_url: str | None = None) -> dict[str, str]:
    """The environment of a command: database variables cleared (cli_env), the test's
    JWT_SECRET and no other JWT_* variable, and DATABASE_URL when given."""
    extra = {"JWT_SECRET": TEST_JWT_SECRET}
    if db_url:
        extra["DATABASE_URL"] = db_url
    return {k: v for k, v in cli_env(extra).items() if k not in JWT_VARIABLES}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base: str
    port: int
    log: IO[bytes]

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then the exit status (bounded); every process of its group gone.

        A single uvicorn process shuts down gracefully and then re-raises the signal it
        caught (uvicorn >= 0.29), so its status is -SIGTERM; the supervisor of several
        workers exits 0."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        deadline = time.monotonic() + timeout
        while _group_alive(self.proc.pid):
            assert time.monotonic() < deadline, "worker processes outlived the server"
            time.sleep(0.1)
        return code


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@contextlib.contextmanager
def serve(db_url: str, *args: str) -> Iterator[Server]:
    """`xorj serve --port <free port> args...` with DATABASE_URL = db_url (the application
    login's URL) until /healthz answers; killed at the end."""
    port = _free_port()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [str(BIN / "xorj"), "serve", "--port", str(port), *args],
            cwd=ROOT,
            env=_env(db_url),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the workers are killed with it
        )
        server = Server(proc, f"http://127.0.0.1:{port}", port, log)
        try:
            _wait_until_healthy(server)
            yield server
        finally:
            if proc.poll() is None or _group_alive(proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)


def _wait_until_healthy(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if server.proc.poll() is not None:
            pytest.fail(f"xorj serve exited with {server.proc.returncode}:\n{server.output()}")
        try:
            if httpx.get(f"{server.base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"xorj serve did not answer /healthz:\n{server.output()}")
        time.sleep(0.1)


def _token(wallet: str | None = None, role: str | None = None) -> str:
    """`xorj token --wallet W` (a user's), or `--role engine|bot` (a service's)."""
    who = ["--wallet", wallet] if wallet is not None else ["--role", str(role)]
    proc = subprocess.run(
        [str(BIN / "xorj"), "token", *who],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    token = proc.stdout.strip()
    assert token.count(".") == 2 and "\n" not in token
    return token


def _raw_request(
    port: int, request: bytes, timeout: float = 10.0
) -> tuple[int, dict[str, str], bytes]:
    """Send bytes exactly as given (as curl would) and read one HTTP/1.1 response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            assert chunk, f"connection closed before the headers: {data!r}"
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:])
        }
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = conn.recv(65536)
            assert chunk, "connection closed before the body"
            body += chunk
        return status, headers, body[:length]


def _curl(port: int, method: str, path: str, token: str) -> tuple[int, dict[str, str], Any]:
    """The request `curl -X METHOD -H "Authorization: Bearer T" URL` sends: no body, no
    Content-Type, no Content-Length."""
    request = (
        f"{method} {path} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "User-Agent: curl/8.5.0\r\n"
        "Accept: */*\r\n"
        f"Authorization: Bearer {token}\r\n"
        "\r\n"
    ).encode()
    status, headers, body = _raw_request(port, request)
    return status, headers, json.loads(body)


# --- a running server ------------------------------------------------------------------


def test_serve_answers_the_seed_curls_and_stops_on_sigterm(app_url: str) -> None:
    wallet = address(3001)
    token = _token(wallet)
    with serve(app_url) as server:
        client = httpx.Client(base_url=server.base, timeout=10)
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ready"

        status, headers, body = _curl(server.port, "GET", "/api/bot/status", token)
        assert status == 200, body
        assert headers.get("x-request-id")
        assert (body["user_id"], body["status"], body["isBotActive"]) == (wallet, "stopped", False)

        status, _, body = _curl(server.port, "POST", "/api/bot/enable", token)
        assert status == 200, body
        assert (body["success"], body["enabled"]) == (True, True)

        status, _, body = _curl(
            server.port, "GET", f"/api/user/settings?walletAddress={wallet}", token
        )
        assert status == 200, body
        assert (body["success"], body["data"]) == (True, None)

        after = client.get("/api/bot/status", headers={"Authorization": f"Bearer {token}"})
        assert after.status_code == 200, after.text
        assert after.json()["status"] == "active"

        unauthorized = client.get("/api/bot/status")
        assert unauthorized.status_code == 401
        assert unauthorized.json()["error"] == "Missing or invalid authorization header"

        schema = client.get("/schema/openapi.json")
        assert schema.status_code == 200, schema.text
        paths = schema.json()["paths"]
        assert "/api/bot/status" in paths
        assert "/api/user/settings" in paths

        metrics = client.get("/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")
        assert "xorj_http_requests_total" in metrics.text
        assert "xorj_db_pool_size" in metrics.text
        assert "# TYPE xorj_http_requests_total counter" in metrics.text
        client.close()

        assert server.stop() in (0, -signal.SIGTERM), server.output()
        assert token not in server.output()  # tokens never reach the logs
        assert "Traceback" not in server.output()


# --- a database outage -----------------------------------------------------------------


def _allow_connections(admin_url: str, database: str, allow: bool) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
                sql.Identifier(database), sql.Literal(allow)
            )
        )
        if not allow:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            )


def _poll(check: Callable[[], bool], seconds: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return False


def test_database_outage_is_503_and_recovers_without_a_restart(
    app_url: str, admin_url: str
) -> None:
    database = database_name(app_url)
    token = _token(address(3002))
    auth = {"Authorization": f"Bearer {token}"}
    with serve(app_url) as server:
        client = httpx.Client(base_url=server.base, timeout=20)
        try:
            assert client.get("/api/bot/status", headers=auth).status_code == 200

            _allow_connections(admin_url, database, False)

            down = client.get("/api/bot/status", headers=auth)
            assert down.status_code == 503, down.text
            assert down.headers["content-type"].startswith("application/json")
            body = down.json()
            assert body["success"] is False and body["error"]
            assert down.headers.get("retry-after", "").isdigit()
            assert down.headers.get("x-request-id")
            for leak in ("Traceback", 'File "', "psycopg", "pg_terminate", database):
                assert leak not in down.text

            ready = client.get("/readyz")
            assert ready.status_code == 503, ready.text
            assert ready.json()["status"] != "ready"
            assert client.get("/healthz").status_code == 200
            assert server.proc.poll() is None  # alive
        finally:
            _allow_connections(admin_url, database, True)

        started = time.monotonic()
        recovered = _poll(
            lambda: client.get("/api/bot/status", headers=auth).status_code == 200, 15
        )
        assert recovered, (
            f"/api/bot/status not 200 within 15 s of the database's return "
            f"({time.monotonic() - started:.1f} s)"
        )
        assert client.get("/readyz").status_code == 200
        assert server.proc.poll() is None
        metrics = client.get("/metrics").text
        assert "xorj_http_requests_total" in metrics
        client.close()
        assert "Traceback" not in server.output()
        assert server.stop() in (0, -signal.SIGTERM), server.output()


# --- several workers -------------------------------------------------------------------


def test_serve_with_two_workers(app_url: str) -> None:
    wallet = address(3003)
    auth = {"Authorization": f"Bearer {_token(wallet)}"}
    with serve(app_url, "--workers", "2") as server:
        with httpx.Client(base_url=server.base, timeout=10) as client:
            assert client.get("/readyz").status_code == 200
            enabled = client.post("/api/bot/enable", headers=auth)
            assert enabled.status_code == 200, enabled.text
            # Whichever worker answers, the state is the database's.
            for _ in range(6):
                response = client.get("/api/bot/status", headers=auth)
                assert response.status_code == 200, response.text
                assert response.json()["status"] == "active"
        assert server.stop() in (0, -signal.SIGTERM), server.output()
