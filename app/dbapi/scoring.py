"""The Quantitative Engine's scoring runs and their scores (procedures/scoring.sql); role
xorj_engine (ranked_traders and run_scores also xorj_api and xorj_bot)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from app.dbapi.core import ROWS, Call, api, typed

RANKED = "rank, wallet_address, xorj_trust_score, metrics, run_id, completed_at"


def create_run() -> Call:
    """A new scoring run, PENDING: the run as JSON."""
    return api("create_scoring_run")


def start_run(run_id: UUID | str) -> Call:
    return api("start_scoring_run", run_id=run_id)


def add_scores(run_id: UUID | str, scores: Any, first_index: int = 0) -> Call:
    """A batch of scores (a list, or its JSON text) into a RUNNING run; how many."""
    return api(
        "add_scoring_scores",
        run_id=run_id,
        scores=_json(scores),
        first_index=typed(first_index, "integer"),
    )


def open_copy(run_id: UUID | str) -> Call:
    """The run's staging table for this transaction (e.g. `pg_temp.scoring_copy_<run>`):
    COPY the file's lines into its column doc, then add_copy."""
    return api("open_scoring_copy", run_id=run_id)


def add_copy(run_id: UUID | str) -> Call:
    """The lines COPYed since open_copy, validated and inserted into the run: how many."""
    return api("add_scoring_copy", run_id=run_id)


def complete_run(run_id: UUID | str, scores: Any = (), allow_empty: bool = False) -> Call:
    """RUNNING -> COMPLETED with its (remaining) scores: the run as JSON."""
    return api("complete_scoring_run", run_id=run_id, scores=_json(scores), allow_empty=allow_empty)


def fail_run(run_id: UUID | str, error: str) -> Call:
    return api("fail_scoring_run", run_id=run_id, error=error)


def ranked_traders(limit: int = 100, offset: int = 0) -> Call:
    """The latest completed run's traders, best first: rows of RANKED."""
    return api(
        "ranked_traders",
        RANKED,
        ROWS,
        limit=typed(limit, "integer"),
        offset=typed(offset, "integer"),
    )


def run_scores(run_id: UUID | str, limit: int = 100, offset: int = 0) -> Call:
    """A run's scores, best first: rows of RANKED."""
    return api(
        "run_scores",
        RANKED,
        ROWS,
        run_id=run_id,
        limit=typed(limit, "integer"),
        offset=typed(offset, "integer"),
    )


def _json(value: Any) -> Any:
    """Scores as given: JSON text is passed on as it is, anything else adapted."""
    return typed(value, "jsonb") if isinstance(value, str) else Jsonb(list(value))
