"""The project's own PostgreSQL (app.devdb, `xorj dev-db`), as a developer sees it.

These tests only read: they never start, stop or destroy the running cluster. The
locate() tests use fake checkouts under the temporary directory with create=False.
"""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from app import devdb

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def cluster() -> devdb.Cluster:
    """This checkout's running cluster. Skipped only when the suite was pointed at
    another server (XORJ_TEST_ADMIN_URL or DATABASE_URL) and this one is not running."""
    found = devdb.locate()
    if not devdb.is_running(found) and (
        os.environ.get("XORJ_TEST_ADMIN_URL") or os.environ.get("DATABASE_URL")
    ):
        pytest.skip("the project's PostgreSQL is not running; the suite uses another server")
    return found


def socket_path(cluster: devdb.Cluster) -> bytes:
    """The unix socket's path as the kernel sees it (sun_path holds bytes)."""
    return os.fsencode(cluster.socket_dir / f".s.PGSQL.{cluster.port}")


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_status_says_running(cluster: devdb.Cluster, xorj_cli: Cli) -> None:
    proc = xorj_cli("dev-db", "status")
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith("running: ")
    assert str(cluster.base) in first


def test_url_connects_as_the_owner(cluster: devdb.Cluster, xorj_cli: Cli) -> None:
    proc = xorj_cli("dev-db", "url")
    assert proc.returncode == 0, proc.stderr
    url = proc.stdout.strip()
    assert url.startswith("postgresql://")
    with psycopg.connect(url) as conn:
        user, database, superuser = conn.execute(
            "SELECT current_user, current_database(), "
            "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
        ).fetchone()
    assert (user, database, superuser) == (devdb.OWNER, devdb.DATABASE, False)


def test_superuser_and_yoyo_urls(cluster: devdb.Cluster, xorj_cli: Cli) -> None:
    superuser = xorj_cli("dev-db", "url", "--superuser")
    assert superuser.returncode == 0, superuser.stderr
    with psycopg.connect(superuser.stdout.strip()) as conn:
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    yoyo = xorj_cli("dev-db", "url", "--yoyo")
    assert yoyo.returncode == 0, yoyo.stderr
    assert yoyo.stdout.strip() == "postgresql+psycopg://" + cluster.url().split("://", 1)[1]


def test_running_socket_path_fits(cluster: devdb.Cluster) -> None:
    path = socket_path(cluster)
    assert len(path) <= devdb.SOCKET_PATH_LIMIT
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    assert conninfo_to_dict(cluster.url())["host"] == str(cluster.socket_dir)


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A new directory with a short path (tmp_path's are too long for some cases)."""
    with tempfile.TemporaryDirectory(prefix="xt") as name:
        yield Path(name).resolve()


def test_locate_long_checkout_gives_a_socket_that_fits_and_creates_nothing(
    short_tmp: Path,
) -> None:
    checkout = short_tmp / ("x" * 70) / ("y" * 70) / "xorj-state"
    checkout.mkdir(parents=True)
    assert len(str(checkout)) >= 150
    before = (tree(short_tmp), set(os.listdir(tempfile.gettempdir())))

    found = devdb.locate(checkout, create=False)

    assert len(socket_path(found)) <= devdb.SOCKET_PATH_LIMIT
    assert (tree(short_tmp), set(os.listdir(tempfile.gettempdir()))) == before
    assert not found.socket_dir.exists()
    assert conninfo_to_dict(found.url())["host"] == str(found.socket_dir)


def test_locate_counts_the_socket_path_in_bytes(short_tmp: Path) -> None:
    """A checkout path of 2-byte characters: under the limit in characters, over it in
    bytes, which is what the kernel counts."""
    checkout = short_tmp / ("é" * 50)
    checkout.mkdir()
    found = devdb.locate(checkout, create=False)
    in_checkout = checkout / ".pgdata" / "run" / f".s.PGSQL.{found.port}"
    assert len(str(in_checkout)) <= devdb.SOCKET_PATH_LIMIT < len(os.fsencode(in_checkout))
    assert len(socket_path(found)) <= devdb.SOCKET_PATH_LIMIT


def test_two_checkouts_get_different_socket_dirs(short_tmp: Path) -> None:
    long = "y" * 150
    checkouts = [short_tmp / long / "one", short_tmp / long / "two"]
    checkouts += [short_tmp / "a", short_tmp / "b"]
    for c in checkouts:
        c.mkdir(parents=True)
    sockets = [devdb.locate(c, create=False).socket_dir for c in checkouts]
    assert len(set(sockets)) == len(checkouts)
    assert all(len(socket_path(devdb.locate(c))) <= devdb.SOCKET_PATH_LIMIT for c in checkouts)
    assert devdb.locate(checkouts[0]).socket_dir == sockets[0]  # and stable


def test_checkout_path_with_a_space_gives_a_url_to_its_socket(short_tmp: Path) -> None:
    """`xorj dev-db url` (and start's own connection) for a checkout in "my projects"."""
    checkout = short_tmp / "my projects" / "xorj-state"
    checkout.mkdir(parents=True)
    found = devdb.locate(checkout, create=False)
    assert " " in str(found.socket_dir)
    assert conninfo_to_dict(found.url())["host"] == str(found.socket_dir)
