"""`xorj db seed --sample-data`: the original system's sample data, idempotently."""

from __future__ import annotations

import psycopg

from app import seed


def _counts(url: str) -> tuple:
    with psycopg.connect(url) as conn:
        return conn.execute(
            """SELECT (SELECT count(*) FROM xorj.bot_states),
                      (SELECT count(*) FROM xorj.bot_states WHERE enabled),
                      (SELECT count(*) FROM xorj.user_settings),
                      (SELECT count(*) FROM xorj.scoring_runs WHERE status = 'COMPLETED'),
                      (SELECT count(*) FROM xorj.trader_scores)"""
        ).fetchone()


def test_sample_data_loads_once_however_often_it_is_run(
    db_url: str, app_url: str, xorj_cli
) -> None:
    first = xorj_cli("db", "seed", "--sample-data", env={"DATABASE_URL": app_url})
    assert first.returncode == 0, first.stderr
    assert "COMPLETED with 3 trader scores" in first.stdout
    assert _counts(db_url) == (2, 1, 2, 1, 3)
    second = xorj_cli("db", "seed", "--sample-data", env={"DATABASE_URL": app_url})
    assert second.returncode == 0, second.stderr
    assert "already there" in second.stdout
    assert _counts(db_url) == (2, 1, 2, 1, 3)


def test_sample_traders_are_ranked_best_first(db_url: str, app_url: str) -> None:
    seed.load_sample_data(app_url)
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT rank, wallet_address FROM api.ranked_traders(10, 0)").fetchall()
    expected = sorted(seed.TRADERS, key=lambda t: -t["xorj_trust_score"])
    assert rows == [(i + 1, t["wallet_address"]) for i, t in enumerate(expected)]


def test_seed_without_a_kind_is_refused(app_url: str, xorj_cli) -> None:
    result = xorj_cli("db", "seed", env={"DATABASE_URL": app_url})
    assert result.returncode == 1
    assert "--sample-data" in result.stderr
