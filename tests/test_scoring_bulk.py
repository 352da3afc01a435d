"""A scoring run of 100,000 traders completed in one call of api.complete_scoring_run,
as the engine does it: the whole batch as one JSON parameter, validated and saved in the
caller's transaction. A bad element anywhere (here the last) rejects the batch whole,
naming its index. Run with `pytest -s` to see the timings."""

from __future__ import annotations

import hashlib
import random
import time

import psycopg
import pytest
from psycopg.types.json import Jsonb

from app import base58
from app.dbapi.core import facts

N = 100_000


def wallet(i: int) -> str:
    """A Solana-shaped public key for index i: base58 of a 32-byte digest (32..44 chars)."""
    return base58.encode(hashlib.sha256(f"xorj-bulk-{i}".encode()).digest())


# The ten best scores, placed at scattered indexes; two of them tie (their wallets are
# chosen so that every collation orders them alike: '2...' before '3...').
TOP = {
    31_337: (99.5, None),
    7: (98.25, None),
    99_999: (97.0, None),
    50_000: (95.5, "2" * 43),
    12_345: (95.5, "3" * 43),
    64_000: (94.0, None),
    1: (93.125, None),
    88_888: (92.0, None),
    42: (91.5, None),
    70_001: (90.75, None),
}


def batch() -> list[dict]:
    """N scores: the ten of TOP above 90, the rest in 0..90, a few metrics each."""
    rng = random.Random(20240601)
    scores = []
    for i in range(N):
        score, address = TOP.get(i, (round(rng.uniform(0, 90), 4), None))
        scores.append(
            {
                "wallet_address": address or wallet(i),
                "xorj_trust_score": score,
                "metrics": {"trades": i % 500, "win_rate": round(rng.random(), 3)},
            }
        )
    assert len({s["wallet_address"] for s in scores}) == N
    return scores


def as_role(conn: psycopg.Connection, role: str) -> None:
    """In the current transaction of a connection as the application login: `role`."""
    conn.execute("SELECT set_config('role', %s, true)", (role,))


def new_running_run(conn: psycopg.Connection) -> str:
    with conn.transaction():
        as_role(conn, "xorj_engine")
        (run,) = conn.execute("SELECT api.create_scoring_run()->>'id'").fetchone()
        conn.execute("SELECT api.start_scoring_run(%s)", (run,))
    return run


def test_complete_run_with_100000_scores(db_url: str, app_url: str) -> None:
    scores = batch()
    with (
        psycopg.connect(app_url, autocommit=True) as app,
        psycopg.connect(db_url, autocommit=True) as conn,
    ):
        run = new_running_run(app)
        started = time.perf_counter()
        with app.transaction():
            as_role(app, "xorj_engine")
            (result,) = app.execute(
                "SELECT api.complete_scoring_run(%s, %s)", (run, Jsonb(scores))
            ).fetchone()
        elapsed = time.perf_counter() - started
        print(f"\ncomplete_scoring_run with {N} scores: {elapsed:.2f} s (call and commit)")

        assert result["status"] == "COMPLETED"
        assert result["scores_inserted"] == N
        assert result["id"] == run

        (count,) = conn.execute(
            "SELECT count(*) FROM xorj.trader_scores WHERE run_id = %s", (run,)
        ).fetchone()
        assert count == N
        (status,) = conn.execute(
            "SELECT status::text FROM xorj.scoring_runs WHERE id = %s", (run,)
        ).fetchone()
        assert status == "COMPLETED"
        one = conn.execute(
            "SELECT xorj_trust_score, metrics FROM xorj.trader_scores "
            "WHERE run_id = %s AND wallet_address = %s",
            (run, scores[4321]["wallet_address"]),
        ).fetchone()
        assert float(one[0]) == scores[4321]["xorj_trust_score"]
        assert one[1] == scores[4321]["metrics"]

        expected = sorted(
            ((s["xorj_trust_score"], s["wallet_address"]) for s in scores),
            key=lambda sw: (-sw[0], sw[1]),
        )[:10]
        # Read at once, before autovacuum has analyzed the new rows, as the bot would.
        with app.transaction():
            as_role(app, "xorj_bot")
            started = time.perf_counter()
            rows = app.execute(
                "SELECT rank, wallet_address, xorj_trust_score, run_id::text "
                "FROM api.ranked_traders(10, 0)"
            ).fetchall()
            ranked_ms = (time.perf_counter() - started) * 1000
            started = time.perf_counter()
            deep = app.execute("SELECT rank FROM api.ranked_traders(1000, 99000)").fetchall()
            deep_ms = (time.perf_counter() - started) * 1000
        print(f"ranked_traders(10, 0) over {N} scores: {ranked_ms:.1f} ms")
        print(f"ranked_traders(1000, 99000) over {N} scores: {deep_ms:.1f} ms")
        assert [r[0] for r in rows] == list(range(1, 11))
        assert [(float(r[2]), r[1]) for r in rows] == expected
        assert {r[3] for r in rows} == {run}
        assert [r[0] for r in deep] == list(range(99_001, 100_001))

        # The query the api runs, planned with the api functions' settings, reads the
        # rank index in order even for the deepest page: no Sort of 100,000 rows. (The
        # run's partition's own rank index, built when the run completed: migration 0015.)
        part = "trader_scores_" + str(run).replace("-", "")
        with conn.transaction():
            conn.execute("SET LOCAL enable_sort = off")
            for limit, offset in ((10, 0), (1000, 99000)):
                plan = "\n".join(
                    line
                    for (line,) in conn.execute(
                        "EXPLAIN SELECT * FROM xorj.scoring_ranking(%s, %s, %s)",
                        (run, limit, offset),
                    )
                )
                assert "Sort" not in plan, plan
                assert f"Scan using {part}_run_rank_idx on {part} " in plan, plan


def test_bad_last_element_saves_nothing(db_url: str, app_url: str) -> None:
    scores = batch()
    scores[99_999] = {**scores[99_999], "wallet_address": "0xNotASolanaAddress000000000000000"}
    with (
        psycopg.connect(app_url, autocommit=True) as app,
        psycopg.connect(db_url, autocommit=True) as conn,
    ):
        run = new_running_run(app)
        started = time.perf_counter()
        with pytest.raises(psycopg.Error) as caught, app.transaction():
            as_role(app, "xorj_engine")
            app.execute("SELECT api.complete_scoring_run(%s, %s)", (run, Jsonb(scores)))
        elapsed = time.perf_counter() - started
        print(f"\ncomplete_scoring_run refusing {N} scores (bad index 99999): {elapsed:.2f} s")

        error = caught.value
        assert error.sqlstate == "XJ422"
        assert error.diag.column_name == "scores[99999].wallet_address"
        assert facts(error)["text"] == "scores[99999].wallet_address: not a Solana address"
        assert facts(error)["index"] == 99999
        assert "scores[99999]" in error.diag.message_primary

        (count,) = conn.execute("SELECT count(*) FROM xorj.trader_scores").fetchone()
        assert count == 0
        (status,) = conn.execute(
            "SELECT status::text FROM xorj.scoring_runs WHERE id = %s", (run,)
        ).fetchone()
        assert status == "RUNNING"
