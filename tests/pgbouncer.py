"""A real PgBouncer in front of the test server, started by the tests.

    with PgBouncer.start(mode="transaction") as bouncer:   # on 127.0.0.1, a free port
        bouncer.url_for(app_url)    # the same login and database, through PgBouncer
        bouncer.show("POOLS")       # its admin console

PgBouncer (Debian's package, /usr/sbin/pgbouncer, installed by `make test` like pgTAP)
runs as the `postgres` system user when the tests run as root (it refuses root), with
its default settings but for the pool mode, the address and the files: default_pool_size
20, max_client_conn 100, no server_reset_query in transaction mode. Every database name
is forwarded to the same database of the test server (a `*` entry), and every login is
trusted by name (auth_type trust; the server itself trusts its unix socket).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from app.config import url_from_params
from tests import dbutil
from tests.scratch_cluster import free_port

BINARY = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
# Logins that may connect through it (auth_type trust still needs the name in auth_file).
USERS = ("xorj_app", "xorj_owner", "postgres")


def available() -> bool:
    return Path(BINARY).exists()


class PgBouncer:
    def __init__(self, directory: Path, port: int, proc: subprocess.Popen[bytes]) -> None:
        self.directory = directory
        self.port = port
        self.proc = proc

    @classmethod
    @contextmanager
    def start(
        cls, mode: str = "transaction", settings: dict[str, str] | None = None
    ) -> Iterator[PgBouncer]:
        backend = conninfo_to_dict(dbutil.admin_url())
        run_as = "postgres" if os.geteuid() == 0 else None
        directory = Path(tempfile.mkdtemp(prefix="xorj-pgbouncer-"))
        port = free_port()
        users = "\n".join(f'"{u}" ""' for u in USERS) + "\n"
        (directory / "users.txt").write_text(users)
        host = backend.get("host") or "/var/run/postgresql"
        options = {
            "listen_addr": "127.0.0.1",
            "listen_port": str(port),
            "unix_socket_dir": "",
            "auth_type": "trust",
            "auth_file": str(directory / "users.txt"),
            "pool_mode": mode,
            "admin_users": "postgres",
            "logfile": str(directory / "pgbouncer.log"),
            "pidfile": str(directory / "pgbouncer.pid"),
            **(settings or {}),
        }
        ini = "[databases]\n"
        ini += f"* = host={host} port={backend.get('port') or 5432}\n"
        ini += "[pgbouncer]\n" + "".join(f"{k} = {v}\n" for k, v in options.items())
        (directory / "pgbouncer.ini").write_text(ini)
        if run_as is not None:
            for path in (directory, *directory.iterdir()):
                shutil.chown(path, run_as, run_as)
        argv = [BINARY, str(directory / "pgbouncer.ini")]
        if run_as is not None:
            argv = ["runuser", "-u", run_as, "--", *argv]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        bouncer = cls(directory, port, proc)
        try:
            bouncer._wait_ready()
            yield bouncer
        finally:
            bouncer.stop()
            shutil.rmtree(directory, ignore_errors=True)

    def _wait_ready(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pgbouncer exited: {self.log()[-2000:]}")
            try:
                self.show("VERSION")
                return
            except psycopg.OperationalError:
                time.sleep(0.05)
        raise RuntimeError(f"pgbouncer did not start: {self.log()[-2000:]}")

    def stop(self) -> None:
        """SIGTERM to PgBouncer itself (its pid file: under runuser, the process started
        is runuser, which does not pass signals on), then wait for both to end."""
        pid = None
        with contextlib.suppress(OSError, ValueError):
            pid = int((self.directory / "pgbouncer.pid").read_text().split()[0])
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log(self) -> str:
        path = self.directory / "pgbouncer.log"
        return path.read_text() if path.exists() else ""

    def url_for(self, url: str) -> str:
        """The same login and database as `url`, through this PgBouncer."""
        params: dict[str, Any] = conninfo_to_dict(url)
        params["host"] = "127.0.0.1"
        params["port"] = self.port
        params.pop("sslmode", None)
        return url_from_params(params)

    def show(self, what: str) -> list[dict[str, Any]]:
        """SHOW <what> on the admin console (as postgres), as dicts."""
        url = url_from_params(
            {"host": "127.0.0.1", "port": self.port, "user": "postgres", "dbname": "pgbouncer"}
        )
        with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
            cur = conn.execute(f"SHOW {what}")
            names = [c.name for c in cur.description or []]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
