"""The project's own PostgreSQL cluster, private to this checkout.

Data lives under .pgdata/ in the checkout; the server listens only on a unix socket in a
directory private to the checkout (mode 0700) and on no TCP port. When run as root, the
server runs as the `postgres` system user (initdb and postgres refuse root), and if that
user cannot reach the checkout (a checkout in root's home, say), .pgdata is a symlink to
a directory under the system's temporary directory named after the checkout's path.
Two checkouts therefore never share a data directory or a socket.

Roles in the cluster: `postgres` (superuser, for tests and pgTAP only) and `xorj_owner`
(LOGIN, CREATEROLE, CREATEDB, not a superuser), which owns the database `xorj` and runs
the migrations, as an owner on a managed server would.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from app.config import url_from_params

ROOT = Path(__file__).resolve().parents[1]
SUPERUSER = "postgres"
OWNER = "xorj_owner"
DATABASE = "xorj"
DEFAULT_PORT = 5432
SOCKET_PATH_LIMIT = 107  # sizeof(sun_path) - 1 on Linux
SERVER_SETTINGS = {
    "listen_addresses": "''",
    "unix_socket_permissions": "0700",
    "max_connections": "250",
    "shared_buffers": "128MB",
    "log_line_prefix": "'%m [%p] %q%u@%d '",
    "log_min_messages": "warning",
    "log_min_error_statement": "panic",
}


class DevDbError(RuntimeError):
    """The private cluster cannot be found, started or reached."""


@dataclass(frozen=True)
class Cluster:
    checkout: Path
    base: Path  # the real directory behind .pgdata
    socket_dir: Path
    port: int
    run_as: str | None  # system user the server runs as, None for the current user

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def log(self) -> Path:
        return self.base / "postgres.log"

    def url(self, user: str = OWNER, database: str = DATABASE) -> str:
        return url_from_params(
            {"user": user, "dbname": database, "host": self.socket_dir, "port": self.port}
        )


def _checkout_key(checkout: Path) -> str:
    return hashlib.sha256(str(checkout).encode()).hexdigest()[:12]


def find_bindir() -> Path:
    """The directory of the newest installed PostgreSQL server (14 or newer)."""
    env = os.environ.get("PG_BINDIR")
    candidates = [Path(env)] if env else []
    versions = []
    for path in glob.glob("/usr/lib/postgresql/*/bin"):
        m = re.search(r"/(\d+)/bin$", path)
        if m:
            versions.append((int(m.group(1)), Path(path)))
    candidates += [p for _, p in sorted(versions, reverse=True)]
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for c in candidates:
        if (c / "pg_ctl").exists() and (c / "initdb").exists() and (c / "postgres").exists():
            return c
    raise DevDbError(
        "no PostgreSQL server binaries found (looked in /usr/lib/postgresql/*/bin and PATH); "
        "run `make deps` or install the Debian package `postgresql`"
    )


def _run_as_user() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SUPERUSER)
    except KeyError as exc:
        raise DevDbError(
            "running as root, but there is no `postgres` system user to run the server as "
            "(install the Debian package `postgresql`, or run as an ordinary user)"
        ) from exc
    return SUPERUSER


def _as_user(run_as: str | None, argv: list[str]) -> list[str]:
    if run_as is None:
        return argv
    return ["runuser", "-u", run_as, "--", *argv]


def _chown(path: Path, run_as: str | None) -> None:
    if run_as is not None:
        entry = pwd.getpwnam(run_as)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _reachable(path: Path, run_as: str | None) -> bool:
    if run_as is None:
        return os.access(path, os.W_OK | os.X_OK)
    probe = subprocess.run(
        _as_user(run_as, ["test", "-w", str(path), "-a", "-x", str(path)]),
        capture_output=True,
    )
    return probe.returncode == 0


def locate(checkout: Path = ROOT, create: bool = False) -> Cluster:
    """Where this checkout's cluster lives; with create=True, make the directories."""
    checkout = checkout.resolve()
    run_as = _run_as_user()
    key = _checkout_key(checkout)
    link = checkout / ".pgdata"
    port = int(os.environ.get("XORJ_DEV_DB_PORT", DEFAULT_PORT))
    fallback = Path(tempfile.gettempdir()) / f"xorj-state-{key}"
    if link.is_symlink() or link.exists():
        base = link.resolve()
    elif not create:
        base = link
    else:
        link.mkdir(mode=0o700)
        _chown(link, run_as)
        if _reachable(link, run_as):
            base = link
        else:
            link.rmdir()
            fallback.mkdir(mode=0o700, exist_ok=True)
            _chown(fallback, run_as)
            link.symlink_to(fallback)
            base = fallback
    socket_dir = base / "run"
    if len(os.fsencode(socket_dir / f".s.PGSQL.{port}")) > SOCKET_PATH_LIMIT:
        socket_dir = Path(tempfile.gettempdir()) / f"xorj-{key}"
    if create:
        socket_dir.mkdir(mode=0o700, exist_ok=True)
        _chown(socket_dir, run_as)
    return Cluster(checkout, base, socket_dir, port, run_as)


@contextlib.contextmanager
def _lock(cluster: Cluster) -> Iterator[None]:
    path = Path(tempfile.gettempdir()) / f"xorj-state-{_checkout_key(cluster.checkout)}.lock"
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _pg_ctl(cluster: Cluster, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    argv = _as_user(cluster.run_as, [str(find_bindir() / "pg_ctl"), "-D", str(cluster.data), *args])
    proc = subprocess.run(argv, capture_output=True, text=True)
    if check and proc.returncode != 0:
        output = proc.stderr.strip() or proc.stdout.strip()
        raise DevDbError(
            f"pg_ctl {args[-1]} failed ({proc.returncode}): {output}\nserver log: {cluster.log}"
        )
    return proc


def is_running(cluster: Cluster) -> bool:
    if not (cluster.data / "PG_VERSION").exists():
        return False
    return _pg_ctl(cluster, "status", check=False).returncode == 0


def _initdb(cluster: Cluster) -> None:
    cluster.data.mkdir(mode=0o700, exist_ok=True)
    _chown(cluster.data, cluster.run_as)
    argv = _as_user(
        cluster.run_as,
        [
            str(find_bindir() / "initdb"),
            "-D",
            str(cluster.data),
            "-U",
            SUPERUSER,
            "--auth=trust",  # only the checkout's owner can reach the 0700 socket
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ],
    )
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise DevDbError(f"initdb failed: {proc.stderr.strip()}")


def _bootstrap(cluster: Cluster) -> None:
    """Create the owner role and the application database when missing."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(cluster.url(SUPERUSER, "postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (OWNER,)).fetchone():
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN CREATEROLE CREATEDB NOSUPERUSER").format(
                    sql.Identifier(OWNER)
                )
            )
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(DATABASE), sql.Identifier(OWNER)
                )
            )


def start(checkout: Path = ROOT) -> tuple[Cluster, bool]:
    """Start the cluster (creating it the first time). Returns (cluster, started_now)."""
    cluster = locate(checkout, create=True)
    with _lock(cluster):
        if is_running(cluster):
            _bootstrap(cluster)
            return cluster, False
        if not (cluster.data / "PG_VERSION").exists():
            _initdb(cluster)
        options = " ".join(f"-c {k}={v}" for k, v in SERVER_SETTINGS.items())
        options += f" -c unix_socket_directories='{cluster.socket_dir}' -c port={cluster.port}"
        # The log file is written by the server's user: keep it inside the data's parent.
        if cluster.run_as and not cluster.log.exists():
            cluster.log.touch()
            _chown(cluster.log, cluster.run_as)
        _pg_ctl(cluster, "-l", str(cluster.log), "-w", "-t", "60", "-o", options, "start")
        _bootstrap(cluster)
        return cluster, True


def stop(checkout: Path = ROOT) -> bool:
    """Stop the cluster if it runs. Returns whether it was running."""
    cluster = locate(checkout)
    with _lock(cluster):
        if not is_running(cluster):
            return False
        _pg_ctl(cluster, "-m", "fast", "-w", "stop")
        return True


def destroy(checkout: Path = ROOT) -> None:
    """Stop the cluster and delete its data."""
    stop(checkout)
    cluster = locate(checkout)
    link = checkout.resolve() / ".pgdata"
    if cluster.base.exists():
        shutil.rmtree(cluster.base)
    if link.is_symlink():
        link.unlink()
