"""Instant recovery: after the database comes back, the API answers at once.

A cluster of the test's own (tests/scratch_cluster.py) is stopped cleanly, or its
postmaster is killed with SIGKILL, under a running `xorj serve` (real HTTP), then
started again. Measured from the moment the database accepts connections again (a
poller connecting every 20 ms): every request sent 1 s or more after it is a 2xx, under
load (4 clients) and idle (the first request after the restart). Each case prints its
figures: requests, answers by class, seconds from "accepts connections" to the first 2xx.

Why: the pool does not back off between connection attempts and checks no connection
per request; a connection found dead before the commit is dropped and the call retried
on a new one (app/db.py).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import psycopg
import pytest

from app import migrate
from tests.conftest import report_figures
from tests.scratch_cluster import ScratchCluster
from tests.solana import address
from tests.test_api_http import _token, serve

OUTAGE_SECONDS = 2.0
AFTER_SECONDS = 5.0
GRACE = 1.0  # the goal: every request 2xx from this long after the database is back


@pytest.fixture(scope="module")
def cluster() -> Iterator[ScratchCluster]:
    """A migrated database `xorj` owned by xorj_owner on a cluster of its own."""
    running = ScratchCluster.create()
    try:
        running.execute("CREATE ROLE xorj_owner LOGIN CREATEROLE CREATEDB")
        running.execute("CREATE DATABASE xorj OWNER xorj_owner")
        migrate.migrate(running.socket_url("xorj_owner", "xorj"))
        yield running
    finally:
        running.destroy()


@dataclass
class Load:
    """Clients sending GET /api/bot/status as fast as answered; each answer timed."""

    base: str
    token: str
    clients: int
    answers: list[tuple[float, float, int | None]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.base, headers=headers, timeout=15) as client:
            while not self.stop.is_set():
                sent = time.monotonic()
                try:
                    status: int | None = client.get("/api/bot/status").status_code
                except httpx.TransportError:
                    status = None
                self.answers.append((sent, time.monotonic(), status))
                if status != 200:
                    time.sleep(0.01)

    def __enter__(self) -> Load:
        self.threads = [threading.Thread(target=self.run) for _ in range(self.clients)]
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)


def accepted_at(cluster: ScratchCluster, restart: Callable[[], None]) -> float:
    """Run `restart` while a poller notes when a connection first succeeds again."""
    found: list[float] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set() and not found:
            try:
                psycopg.connect(cluster.socket_url(), connect_timeout=1).close()
                found.append(time.monotonic())
            except psycopg.OperationalError:
                time.sleep(0.02)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        restart()
        deadline = time.monotonic() + 30
        while not found and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        poller.join(10)
    assert found, "the database did not come back"
    return found[0]


def _outage(cluster: ScratchCluster, crash: bool) -> Callable[[], None]:
    def down() -> None:
        if crash:
            cluster.kill_postmaster()
        else:
            cluster.stop("fast")

    def up() -> None:
        time.sleep(OUTAGE_SECONDS)
        if crash:
            cluster.start_after_crash()
        else:
            cluster.start()

    down()
    return up


@pytest.mark.parametrize("crash", [False, True], ids=["clean_stop", "kill_9"])
def test_requests_succeed_right_after_the_database_is_back(
    cluster: ScratchCluster, crash: bool
) -> None:
    wallet = address(1)
    with serve(cluster.socket_url("xorj_app", "xorj"), "--workers", "1") as server:
        token = _token(wallet)
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{server.base}/api/bot/status", headers=headers).status_code == 200

        # Under load.
        with Load(server.base, token, clients=4) as load:
            time.sleep(1.0)
            back = accepted_at(cluster, _outage(cluster, crash))
            time.sleep(AFTER_SECONDS)
        answers = list(load.answers)
        first_ok = min((done for _, done, s in answers if done >= back and s == 200), default=None)
        late = [(round(t - back, 3), s) for t, _, s in answers if t >= back + GRACE and s != 200]
        classes = Counter("transport" if s is None else f"{s // 100}xx" for _, _, s in answers)
        report_figures(
            f"[recovery] {'kill -9' if crash else 'clean stop'}, under load",
            requests=len(answers),
            **dict(sorted(classes.items())),
            first_2xx_seconds_after_back=None if first_ok is None else round(first_ok - back, 3),
            non_2xx_sent_from_1s=len(late),
        )
        assert first_ok is not None
        assert late == [], late[:10]

        # Idle: nothing is sent while the database is down.
        back = accepted_at(cluster, _outage(cluster, crash))
        time.sleep(GRACE)
        sent = time.monotonic()
        first = httpx.get(f"{server.base}/api/bot/status", headers=headers, timeout=15)
        report_figures(
            f"[recovery] {'kill -9' if crash else 'clean stop'}, idle",
            first_request_status=first.status_code,
            answered_in=round(time.monotonic() - sent, 3),
        )
        assert first.status_code == 200, first.text
        log = server.output()
    assert "Traceback" not in log, log[-3000:]
