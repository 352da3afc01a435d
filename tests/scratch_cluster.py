"""A throw-away PostgreSQL cluster of a test's own, for what the shared test server must
not suffer: being stopped, killed with SIGKILL, restarted, or listening on TCP with TLS
and passwords.

    cluster = ScratchCluster.create(tmp_path)      # initdb, start; unix socket + 127.0.0.1
    cluster.admin_url / cluster.url(user, db)      # superuser / any role, over TCP
    cluster.stop() / cluster.start() / cluster.kill_postmaster()
    cluster.destroy()

Run as root it runs the server as the `postgres` system user (initdb and postgres refuse
root), as the project's own cluster does (app.devdb).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from app import devdb
from app.config import url_from_params


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _chown_tree(path: Path, user: str | None) -> None:
    if user is None:
        return
    shutil.chown(path, user, user)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            shutil.chown(Path(root) / name, user, user)


@dataclass
class ScratchCluster:
    base: Path
    port: int
    run_as: str | None
    ssl: bool = False
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def log(self) -> Path:
        return self.base / "postgres.log"

    @property
    def socket_dir(self) -> Path:
        return self.base / "run"

    # --- making one -----------------------------------------------------------------

    @classmethod
    def create(
        cls,
        ssl_files: tuple[Path, Path] | None = None,
        settings: dict[str, str] | None = None,
    ) -> ScratchCluster:
        """initdb and start. `ssl_files`: (certificate, key) of the server, which then
        accepts TLS on TCP. Local connections are trusted; TCP ones need a password
        (scram-sha-256), except for the superuser from 127.0.0.1."""
        run_as = "postgres" if os.geteuid() == 0 else None
        base = Path(tempfile.mkdtemp(prefix="xorj-scratch-"))
        cluster = cls(base, free_port(), run_as, ssl=ssl_files is not None, settings=settings or {})
        cluster.socket_dir.mkdir()
        if ssl_files is not None:
            shutil.copy(ssl_files[0], base / "server.crt")
            shutil.copy(ssl_files[1], base / "server.key")
            (base / "server.key").chmod(0o600)
        _chown_tree(base, run_as)
        base.chmod(0o755)
        initdb = devdb.find_bindir() / "initdb"
        proc = subprocess.run(
            devdb._as_user(
                run_as,
                [
                    str(initdb),
                    "-D",
                    str(cluster.data),
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
            ),
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"initdb failed: {proc.stderr}")
        hba = cluster.data / "pg_hba.conf"
        lines = ["local all all trust", "host all postgres 127.0.0.1/32 trust"]
        method = "hostssl" if cluster.ssl else "host"
        lines.append(f"{method} all all 127.0.0.1/32 scram-sha-256")
        hba.write_text("\n".join(lines) + "\n")
        cluster.start()
        return cluster

    def _options(self) -> str:
        options = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "max_connections": "100",
            "fsync": "off",
            "log_min_messages": "warning",
            **self.settings,
        }
        if self.ssl:
            options.update(
                ssl="on",
                ssl_cert_file=f"'{self.base / 'server.crt'}'",
                ssl_key_file=f"'{self.base / 'server.key'}'",
            )
        return " ".join(f"-c {k}={v}" for k, v in options.items())

    # --- running it ---------------------------------------------------------------------

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        pg_ctl = devdb.find_bindir() / "pg_ctl"
        proc = subprocess.run(
            devdb._as_user(self.run_as, [str(pg_ctl), "-D", str(self.data), *args]),
            capture_output=True,
            text=True,
        )
        if check and proc.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl {' '.join(args)} failed: {proc.stderr}\n{log}")
        return proc

    def start(self, wait: bool = True) -> None:
        if not self.log.exists():
            self.log.touch()
            _chown_tree(self.log, self.run_as)
        args = ["-l", str(self.log), "-o", self._options(), "start"]
        self._pg_ctl("-w", "-t", "60", *args) if wait else self._pg_ctl("-W", *args)

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("-m", mode, "-w", "stop")

    def postmaster_pid(self) -> int | None:
        pidfile = self.data / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(pidfile.read_text().splitlines()[0])
        return None

    def kill_postmaster(self) -> None:
        """SIGKILL the postmaster (its backends notice and exit on their own)."""
        pid = self.postmaster_pid()
        assert pid is not None, "the cluster is not running"
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while self._pg_ctl("status", check=False).returncode == 0:
            if time.monotonic() > deadline:
                raise RuntimeError("the killed postmaster is still there")
            time.sleep(0.02)

    def start_after_crash(self, timeout: float = 60) -> None:
        """Start again after kill_postmaster: as soon as the old backends have let go of
        the shared memory (a start fails at once until then), then crash recovery."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.start()
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError):
            if self._pg_ctl("status", check=False).returncode == 0:
                self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)

    # --- reaching it -------------------------------------------------------------------

    def url(self, user: str = "postgres", dbname: str = "postgres", **extra: object) -> str:
        return url_from_params(
            {"host": "127.0.0.1", "port": self.port, "user": user, "dbname": dbname, **extra}
        )

    def socket_url(self, user: str = "postgres", dbname: str = "postgres") -> str:
        return url_from_params(
            {"host": str(self.socket_dir), "port": self.port, "user": user, "dbname": dbname}
        )

    @property
    def admin_url(self) -> str:
        return self.socket_url()

    def execute(self, query: str, dbname: str = "postgres") -> None:
        with psycopg.connect(self.socket_url(dbname=dbname), autocommit=True) as conn:
            conn.execute(query)

    def accepts_connections(self) -> bool:
        try:
            psycopg.connect(self.socket_url(), connect_timeout=1).close()
        except psycopg.OperationalError:
            return False
        return True
