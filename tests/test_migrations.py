"""The versioned migrations as their users see them: `xorj db ...`, app.migrate, and a
DBA's plain `yoyo apply` / `yoyo rollback`.

The expected migrations are the files of db/migrations (read with yoyo, in order); the
first three are the foundation's and are checked by name.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from yoyo import read_migrations

from app import migrate
from app.config import yoyo_url

BIN = Path(sys.executable).parent
FOUNDATION = ("0001_roles_schemas_types", "0002_tables", "0003_trade_events")
TABLES = (
    "scoring_runs",
    "trader_scores",
    "execution_jobs",
    "trades",
    "bot_states",
    "user_settings",
    "trade_events",
)
UNREACHABLE_URL = "postgresql://x@/nodb?host=/nonexistent"
# An entry of yoyo's bookkeeping tables in a schema snapshot (pg_dump's or the catalog's).
YOYO_TABLE = re.compile(r"(TABLE|SEQUENCE|relation:|column:) (ONLY )?(public\.)?_?yoyo_", re.M)

Snapshot = Callable[[str], str]


def migration_ids() -> list[str]:
    """The ids of the versioned migrations of this checkout, in order."""
    return [m.id for m in read_migrations(str(migrate.MIGRATIONS_DIR))]


def existing_tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'xorj'").fetchall()
    return {name for (name,) in rows}


def yoyo_applied_ids(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT migration_id FROM _yoyo_migration").fetchall()
    return sorted(mid for (mid,) in rows)


def run_yoyo(url: str, cli_env: Callable[..., dict[str, str]], *args: str):
    """`yoyo args...` from the top of the checkout (so yoyo.ini is read), as a DBA runs it."""
    return subprocess.run(
        [str(BIN / "yoyo"), *args],
        cwd=migrate.ROOT,
        env=cli_env({"YOYO_DATABASE_URL": yoyo_url(url)}),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_migrate_applies_every_migration_in_order_once(
    empty_db_url: str, schema_snapshot: Snapshot
) -> None:
    ids = migration_ids()
    assert tuple(ids[:3]) == FOUNDATION

    first = migrate.migrate(empty_db_url)
    assert first.applied == ids
    assert set(TABLES) <= existing_tables(empty_db_url)
    assert migrate.status(empty_db_url) == [(mid, True) for mid in ids]
    before = schema_snapshot(empty_db_url)

    second = migrate.migrate(empty_db_url)
    assert second.applied == []
    assert second.code_files == first.code_files
    assert schema_snapshot(empty_db_url) == before


def test_rollback_one_at_a_time_then_migrate_restores_the_schema(
    db_url: str, schema_snapshot: Snapshot
) -> None:
    ids = migration_ids()
    original = schema_snapshot(db_url)

    # Down to 0002 included, newest first; after each, exactly that one is pending.
    for position in range(len(ids) - 1, 0, -1):
        assert migrate.rollback(db_url) == ids[position]
        assert migrate.status(db_url) == [(mid, i < position) for i, mid in enumerate(ids)]
        tables = existing_tables(db_url)
        if ids[position] == "0003_trade_events":
            assert "trade_events" not in tables
            assert set(TABLES) - {"trade_events"} <= tables
        if ids[position] == "0002_tables":
            assert not tables & set(TABLES)

    restored = migrate.migrate(db_url)
    assert restored.applied == ids[1:]
    assert set(TABLES) <= existing_tables(db_url)
    assert schema_snapshot(db_url) == original


def test_concurrent_migrates_apply_each_migration_once(
    empty_db_url: str,
    db_url: str,
    schema_snapshot: Snapshot,
    cli_env: Callable[..., dict[str, str]],
) -> None:
    ids = migration_ids()
    env = cli_env({"DATABASE_URL": empty_db_url})
    with psycopg.connect(empty_db_url, autocommit=True) as holder:
        # Hold the migrate lock while the four start, so that all of them are queued on
        # it together when it is released (if they take it at all).
        holder.execute("SELECT pg_advisory_lock(%s)", (migrate.MIGRATE_LOCK_KEY,))
        procs = [
            subprocess.Popen(
                [str(BIN / "xorj"), "db", "migrate"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and all(p.poll() is None for p in procs):
                (waiting,) = holder.execute(
                    "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
                    " WHERE l.locktype = 'advisory' AND NOT l.granted"
                    " AND d.datname = current_database()"
                ).fetchone()
                if waiting >= 4:
                    break
                time.sleep(0.05)
            holder.execute("SELECT pg_advisory_unlock(%s)", (migrate.MIGRATE_LOCK_KEY,))
            outputs = [p.communicate(timeout=60) for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()

    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
    first_lines = sorted(out.splitlines()[0] for out, _ in outputs)
    assert first_lines == sorted(
        [f"applied {len(ids)} migration(s): {', '.join(ids)}"] + ["no migration pending"] * 3
    )
    assert yoyo_applied_ids(empty_db_url) == sorted(ids)
    assert schema_snapshot(empty_db_url) == schema_snapshot(db_url)


def test_yoyo_cli_apply_matches_xorj_migrate_and_rollback_undoes_the_last(
    make_database: Callable[..., str],
    schema_snapshot: Snapshot,
    cli_env: Callable[..., dict[str, str]],
    xorj_cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    ids = migration_ids()
    by_yoyo, by_xorj = make_database(), make_database()

    applied = run_yoyo(by_yoyo, cli_env, "apply", "--batch")
    assert applied.returncode == 0, applied.stderr
    migrated = xorj_cli("db", "migrate", env={"DATABASE_URL": by_xorj})
    assert migrated.returncode == 0, migrated.stderr
    assert yoyo_applied_ids(by_yoyo) == sorted(ids)
    assert schema_snapshot(by_yoyo) == schema_snapshot(by_xorj)

    # In batch mode, a bare `yoyo rollback` undoes the last migration only.
    rolled = run_yoyo(by_yoyo, cli_env, "rollback", "--batch")
    assert rolled.returncode == 0, rolled.stderr
    assert migrate.status(by_yoyo) == [(mid, mid != ids[-1]) for mid in ids]
    assert migrate.rollback(by_xorj) == ids[-1]
    assert schema_snapshot(by_yoyo) == schema_snapshot(by_xorj)


def test_migrations_run_as_the_non_superuser_owner(
    db_url: str, superuser_url: Callable[[str], str], owner_role: str
) -> None:
    with psycopg.connect(superuser_url(db_url)) as conn:
        (is_superuser,) = conn.execute(
            "SELECT rolsuper FROM pg_roles WHERE rolname = %s", (owner_role,)
        ).fetchone()
        owners = conn.execute(
            """
            SELECT kind, name, pg_get_userbyid(owner) FROM (
                SELECT 'schema', nspname, nspowner FROM pg_namespace
                WHERE nspname IN ('xorj', 'api')
                UNION ALL
                SELECT 'relation', c.oid::regclass::text, c.relowner FROM pg_class c
                WHERE c.relnamespace IN ('xorj'::regnamespace, 'api'::regnamespace)
                UNION ALL
                SELECT 'function', p.oid::regprocedure::text, p.proowner FROM pg_proc p
                WHERE p.pronamespace IN ('xorj'::regnamespace, 'api'::regnamespace)
                UNION ALL
                SELECT 'type', t.oid::regtype::text, t.typowner FROM pg_type t
                WHERE t.typnamespace IN ('xorj'::regnamespace, 'api'::regnamespace)
                UNION ALL
                SELECT 'operator', o.oid::regoperator::text, o.oprowner FROM pg_operator o
                WHERE o.oprnamespace IN ('xorj'::regnamespace, 'api'::regnamespace)
            ) AS objects (kind, name, owner)
            ORDER BY 1, 2
            """
        ).fetchall()
    assert not is_superuser
    assert {("relation", f"xorj.{t}") for t in TABLES} <= {(k, n) for k, n, _ in owners}
    assert [(k, n, o) for k, n, o in owners if o != owner_role] == []


def test_functions_are_not_executable_by_public_until_granted(db_url: str) -> None:
    """0001 promises: functions of xorj and api are executable by nobody until granted.

    A function the owner creates there later (as procedures/ does) must not be callable
    by a role that was granted nothing, here the NOLOGIN role xorj_readonly.
    """
    with psycopg.connect(db_url) as conn:
        for schema in ("xorj", "api"):
            conn.execute(f"CREATE FUNCTION {schema}.probe() RETURNS int LANGUAGE sql RETURN 1")
            (executable,) = conn.execute(
                "SELECT has_function_privilege('xorj_readonly', %s, 'EXECUTE')",
                (f"{schema}.probe()",),
            ).fetchone()
            assert not executable, f"{schema}.probe() is executable by PUBLIC"


def test_0007_makes_the_trades_recorded_before_it_live(db_url: str) -> None:
    """The venue column arrives with every existing trade 'live' (older trades cannot be
    told apart; they count as they counted before), and a migrate finds no api function of
    the previous shape left."""
    from tests.solana import address

    ids = migration_ids()
    since_0007 = ids[ids.index("0007_trade_venue") :]
    for later in reversed(since_0007):  # the migrations after 0007 first, newest first
        assert migrate.rollback(db_url) == later
    with psycopg.connect(db_url, autocommit=True) as conn:
        (job,) = conn.execute(
            "INSERT INTO xorj.execution_jobs (trigger_reason) VALUES ('SCHEDULED_RUN') RETURNING id"
        ).fetchone()
        conn.execute(
            "INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, "
            "from_token_address, to_token_address, amount_in, expected_amount_out) "
            "VALUES (%s, %s, 'before-0007', %s, %s, 1000, 990)",
            (job, address(1), address(2), address(3)),
        )
    assert migrate.migrate(db_url).applied == since_0007
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT venue FROM xorj.trades").fetchall() == [("live",)]
        signatures = conn.execute(
            "SELECT p.oid::regprocedure::text, pg_get_function_result(p.oid) FROM pg_proc p "
            "WHERE p.pronamespace = 'api'::regnamespace "
            "AND p.proname IN ('create_trade', 'trades_held_by_others') ORDER BY 1"
        ).fetchall()
    assert signatures == [
        (
            "api.create_trade(uuid,text,text,text,text,numeric,numeric,text,interval,text)",
            "TABLE(replay boolean, trade jsonb)",
        ),
        (
            "api.trades_held_by_others(text,text)",
            "TABLE(held bigint, first_claim_expires_at timestamp with time zone)",
        ),
    ]


def test_db_status_lists_each_migration(
    db_url: str,
    empty_db_url: str,
    xorj_cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    ids = migration_ids()
    migrated = xorj_cli("db", "status", env={"DATABASE_URL": db_url})
    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stdout.splitlines() == [f"applied  {mid}" for mid in ids]
    assert "applied  0001_roles_schemas_types" in migrated.stdout.splitlines()

    empty = xorj_cli("db", "status", env={"DATABASE_URL": empty_db_url})
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout.splitlines() == [f"pending  {mid}" for mid in ids]


@pytest.mark.parametrize("action", ["migrate", "status", "rollback"])
def test_db_command_against_an_unreachable_server_prints_one_line(
    action: str, xorj_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    proc = xorj_cli("db", action, env={"DATABASE_URL": UNREACHABLE_URL})
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("xorj: ")
    assert "/nonexistent" in lines[0]


@pytest.mark.parametrize("kind", ["pg_dump", "catalog"])
def test_schema_snapshot_is_deterministic_and_sees_columns_and_grants(
    kind: str,
    template_db: str,
    make_database: Callable[..., str],
) -> None:
    """The snapshot the tests above compare: equal for equal schemas, different when a
    column or a privilege differs."""
    from tests import conftest

    if kind == "pg_dump":
        pg_dump = conftest._pg_dump_binary()
        if pg_dump is None:
            pytest.skip("no pg_dump installed")

        def snapshot(url: str) -> str:
            text = conftest.pg_dump_snapshot(url, pg_dump)
            if text is None:
                pytest.skip("pg_dump is older than the server")
            return text
    else:
        snapshot = conftest.catalog_snapshot

    one, other = make_database(template=template_db), make_database(template=template_db)
    reference = snapshot(one)
    assert "trade_events" in reference
    # yoyo's tables are left out (api.applied_migrations() names _yoyo_migration in its
    # body, which is part of the schema).
    assert not YOYO_TABLE.search(reference), YOYO_TABLE.search(reference)
    assert "yoyo_lock" not in reference
    assert snapshot(other) == reference

    with psycopg.connect(other, autocommit=True) as conn:
        conn.execute("GRANT SELECT ON xorj.trades TO xorj_readonly")
        granted = snapshot(other)
        assert granted != reference
        conn.execute("REVOKE SELECT ON xorj.trades FROM xorj_readonly")
        assert snapshot(other) == reference
        conn.execute("ALTER TABLE xorj.bot_states ADD COLUMN probe integer")
        assert snapshot(other) != reference
