"""Prometheus metrics, served at /metrics.

Two kinds, so that a scrape is right whatever process serves it:

* the HTTP metrics of the app's processes (requests, latency, the trade refusals the API
  answered, pool figures, database errors by SQLSTATE). With `xorj serve --workers N`
  the workers share them through prometheus_client's multiprocess mode
  (PROMETHEUS_MULTIPROC_DIR, set by `xorj serve`): any worker's /metrics sums all of
  them; the pool figures are summed over the live workers.
* the domain figures, read from the database at scrape time (api.metrics(),
  procedures/ops.sql): trades by status, the oldest unfinished trade, running jobs, the
  latest scoring run, enabled bots. They count the work of every process (API, bots,
  engine loader) and agree whichever worker answers.

Per request only the request counter and the latency histogram are written (their
labelled children kept, not looked up again); the pool figures are written by each
worker once a second (`refresh_pool`, from the app's lifespan) and by the worker that
answers a scrape, not per request.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from app.dbapi.aio import Database

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class _Rows(Collector):
    """Gauges from (name, labels, value) rows, one family per name."""

    def __init__(self, rows: Iterable[tuple[str, dict[str, str], float]], up: bool) -> None:
        self.rows = list(rows)
        self.up = up

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "xorj_db_metrics_up", "1 when the domain figures were read from the database"
        )
        up.add_metric([], 1.0 if self.up else 0.0)
        yield up
        families: dict[str, GaugeMetricFamily] = {}
        for name, labels, value in self.rows:
            keys = sorted(labels)
            family = families.get(name)
            if family is None:
                family = families[name] = GaugeMetricFamily(
                    name, f"{name} (read from the database)", labels=keys
                )
            family.add_metric([str(labels[k]) for k in keys], float(value))
        yield from families.values()


class Metrics:
    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        self.registry = CollectorRegistry()
        self.database: Database | None = None
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        registry = self.registry
        self.requests = Counter(
            "xorj_http_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "xorj_http_request_duration_seconds",
            "HTTP request latency by route",
            ["route"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.trades_created = Counter(
            "xorj_trades_created", "Trades created through the API", registry=registry
        )
        self.trade_replays = Counter(
            "xorj_trade_replays",
            "Idempotent replays of trade creation through the API",
            registry=registry,
        )
        self.duplicates_refused = Counter(
            "xorj_trade_duplicates_refused",
            "Trade creations the API refused (409), by the rule the database named",
            ["rule"],
            registry=registry,
        )
        self.transitions = Counter(
            "xorj_trade_transitions",
            "Trade status transitions through the API, by new status",
            ["to"],
            registry=registry,
        )
        self.recoveries = Counter(
            "xorj_trade_recovery_listings",
            "Trades handed out for recovery through the API",
            registry=registry,
        )
        self.db_errors = Counter(
            "xorj_db_errors", "Database errors by SQLSTATE", ["sqlstate"], registry=registry
        )
        self.pool = {
            key: Gauge(
                f"xorj_db_pool_{name}",
                text,
                registry=registry,
                multiprocess_mode="livesum",
            )
            for key, name, text in (
                ("pool_size", "size", "Connections in the pools"),
                ("pool_available", "available", "Idle connections in the pools"),
                ("requests_waiting", "waiting", "Requests waiting for a connection"),
            )
        }

    def observe_request(self, route: str, method: str, status: int, elapsed: float) -> None:
        key = (route, method, status)
        child = self._children.get(key)
        if child is None:
            if len(self._children) >= 4096:  # routes are templates: a bound, no more
                self._children.clear()
            child = self._children[key] = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route),
            )
        child[0].inc()
        child[1].observe(elapsed)

    def refresh_pool(self) -> None:
        """Write this process's pool figures (size, idle, waiting) to their gauges."""
        if self.database is not None:
            stats = self.database.stats()
            for key, gauge in self.pool.items():
                gauge.set(stats.get(key, 0))

    def render(self, domain: Iterable[tuple[str, dict[str, str], float]] | None) -> bytes:
        """The text of a scrape: the processes' metrics, then the domain figures (`domain`
        None: the database could not be read)."""
        self.refresh_pool()  # this worker's figures are current; the others' a second old
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = self.registry
        rows = CollectorRegistry()
        rows.register(_Rows(domain or [], domain is not None))
        return generate_latest(registry) + generate_latest(rows)


def domain_rows(rows: Iterable[tuple[Any, ...]]) -> list[tuple[str, dict[str, str], float]]:
    """api.metrics() rows as (name, labels, value)."""
    return [(str(name), dict(labels or {}), float(value)) for name, labels, value in rows]
