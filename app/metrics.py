"""Prometheus metrics of one app process, served at /metrics.

Each process has its own registry (with several workers, scrape each, or read them as
per-process series). Pool figures and database errors by SQLSTATE are read at scrape
time from the Database object.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from app.db import Database

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _DatabaseCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[object]:
        db = self.metrics.database
        if db is None:
            return
        stats = db.stats()
        size = GaugeMetricFamily("xorj_db_pool_size", "Connections in the pool")
        size.add_metric([], stats.get("pool_size", 0))
        yield size
        available = GaugeMetricFamily("xorj_db_pool_available", "Idle connections in the pool")
        available.add_metric([], stats.get("pool_available", 0))
        yield available
        waiting = GaugeMetricFamily("xorj_db_pool_waiting", "Requests waiting for a connection")
        waiting.add_metric([], stats.get("requests_waiting", 0))
        yield waiting
        errors = CounterMetricFamily(
            "xorj_db_errors", "Database errors by SQLSTATE", labels=["sqlstate"]
        )
        for sqlstate, count in sorted(db.errors_by_sqlstate.items()):
            errors.add_metric([sqlstate], count)
        yield errors


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.database: Database | None = None
        self.requests = Counter(
            "xorj_http_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "xorj_http_request_duration_seconds",
            "HTTP request latency by route",
            ["route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.trades_created = Counter(
            "xorj_trades_created", "Trades created", registry=self.registry
        )
        self.trade_replays = Counter(
            "xorj_trade_replays", "Idempotent replays of trade creation", registry=self.registry
        )
        self.duplicates_refused = Counter(
            "xorj_trade_duplicates_refused",
            "Trade creations refused (409), by the rule the database named",
            ["rule"],
            registry=self.registry,
        )
        self.transitions = Counter(
            "xorj_trade_transitions",
            "Trade status transitions, by new status",
            ["to"],
            registry=self.registry,
        )
        self.recoveries = Counter(
            "xorj_trade_recovery_listings",
            "Trades handed out for recovery",
            registry=self.registry,
        )
        self.registry.register(_DatabaseCollector(self))

    def render(self) -> bytes:
        return generate_latest(self.registry)
