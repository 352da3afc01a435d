"""What operations read: readiness and metrics (procedures/ops.sql); role xorj_readonly."""

from __future__ import annotations

from app.dbapi.core import COLUMN, ROWS, Call, api


def applied_migrations() -> Call:
    """The ids of the versioned migrations applied to the database."""
    return api("applied_migrations", shape=COLUMN)


def metrics() -> Call:
    """The domain figures: rows of (name, labels, value)."""
    return api("metrics", "name, labels, value", ROWS)
