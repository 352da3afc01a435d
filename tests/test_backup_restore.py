"""The restore drill: `xorj db backup` and `xorj db restore`, run as the real command
against real PostgreSQL with the real pg_dump and pg_restore.

A database is migrated and filled through the api functions (the sample data, a scoring
run of 200 scores, 300 trades in every status with their events); it is backed up while
a writer keeps adding trades; more is written afterwards; the backup is restored into a
new empty database, which must hold exactly what the manifest counts (counts and
checksums recomputed here, each restored trade equal to the source's, none of the later
writes), work through the api (a restored trade replays, a restored SUBMITTED trade can
be confirmed, a restored event cannot be changed) and pass the whole pgTAP suite. The
refusals: a database that is not empty, a damaged dump, a manifest whose figures do not
match, roles missing from the target cluster, a bad manifest, a missing directory, an
unreachable target, a backup directory that is not empty, a database never migrated.
And the disaster case: a cluster of its own, refused until its roles exist, then restored.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from app import migrate
from app.backup import DUMP_FILE, MANIFEST_FILE, figures
from app.config import url_from_params
from app.dbapi import scoring, trades
from app.dbapi.sync import SyncDatabase
from app.seed import TRADERS, generate_volume, load_sample_data
from tests import pgtap_run
from tests.conftest import app_url_of, report_figures
from tests.scratch_cluster import ScratchCluster


def _backup(xorj_cli, owner_url: str, out: Path):
    env = {"DATABASE_URL": app_url_of(owner_url), "MIGRATION_DATABASE_URL": owner_url}
    return xorj_cli("db", "backup", "--out", str(out), env=env, timeout=300)


def _restore(xorj_cli, directory: Path, target_url: str):
    return xorj_cli(
        "db", "restore", "--from", str(directory), "--target-url", target_url, timeout=300
    )


def _trade_rows(url: str) -> dict[str, str]:
    """Every trade's id and row text (TimeZone UTC), from the owner's URL."""
    with psycopg.connect(url) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        return {str(i): text for i, text in conn.execute("SELECT id, t::text FROM xorj.trades t")}


def _relations(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname IN ('xorj', 'api', 'public')"
        ).fetchone()[0]


def _copy_with(src: Path, dst: Path, change: Callable[[dict], None]) -> Path:
    shutil.copytree(src, dst)
    manifest = json.loads((dst / MANIFEST_FILE).read_text())
    change(manifest)
    (dst / MANIFEST_FILE).write_text(json.dumps(manifest))
    return dst


def test_the_restore_drill(db_url, make_database, xorj_cli, tmp_path):
    app_url = app_url_of(db_url)
    load_sample_data(app_url)
    generate_volume(app_url, 200, 300, False)

    # The backup, while a writer keeps adding trades (each batch its own transactions).
    stop, batches = threading.Event(), [0]

    def writer() -> None:
        while not stop.is_set():
            generate_volume(app_url, 0, 3, False)
            batches[0] += 1

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    started = time.perf_counter()
    backup_dir = tmp_path / "backup"
    done = _backup(xorj_cli, db_url, backup_dir)
    backup_seconds = time.perf_counter() - started
    stop.set()
    thread.join(timeout=60)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in backup_dir.iterdir()) == sorted([DUMP_FILE, MANIFEST_FILE])
    manifest = json.loads((backup_dir / MANIFEST_FILE).read_text())
    assert manifest["tables"]["xorj.trades"] >= 300
    assert manifest["tables"]["xorj.trade_events"] > manifest["tables"]["xorj.trades"]
    assert manifest["migrations"] == [mid for mid, applied in migrate.status(db_url) if applied]
    assert set(manifest["checksums"]) == {"xorj.trades", "xorj.trade_events"}
    assert "xorj.trades" in done.stdout and "manifest" in done.stdout

    # Written after the backup: none of it may come back.
    at_backup = _trade_rows(db_url)
    generate_volume(app_url, 10, 20, False)
    later = set(_trade_rows(db_url)) - set(at_backup)
    assert len(later) == 20

    target = make_database()
    started = time.perf_counter()
    restored = _restore(xorj_cli, backup_dir, target)
    restore_seconds = time.perf_counter() - started
    assert restored.returncode == 0, restored.stderr + restored.stdout
    for table, count in manifest["tables"].items():
        assert f"{count:>10} rows  verified" in restored.stdout.split(table, 1)[1].split("\n")[0]
    assert "restore verified" in restored.stdout

    # Recomputed here: the counts one by one, the checksums, the migrations.
    with psycopg.connect(target) as conn:
        for table, count in manifest["tables"].items():
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == count, table
        found = figures(conn)
    assert found["tables"] == manifest["tables"]
    assert found["checksums"] == manifest["checksums"]
    assert found["migrations"] == manifest["migrations"]
    restored_rows = _trade_rows(target)
    assert len(restored_rows) == manifest["tables"]["xorj.trades"]
    assert not later & set(restored_rows), "a trade written after the backup was restored"
    assert set(restored_rows) <= set(at_backup)
    assert {i: at_backup[i] for i in restored_rows} == restored_rows  # each row as it was
    report_figures(
        "[backup]",
        trades=len(restored_rows),
        writer_batches=batches[0],
        writes_after_snapshot=len(at_backup) - len(restored_rows),
        backup_s=f"{backup_seconds:.1f}",
        restore_s=f"{restore_seconds:.1f}",
    )

    # The restored database works through the api, as the application login.
    _the_api_works_on(target)
    now = _trade_rows(target)

    # A database that is not empty is refused, and left as it is.
    again = _restore(xorj_cli, backup_dir, target)
    assert again.returncode == 1
    assert "is not empty" in again.stderr and "yoyo" in again.stderr
    assert _trade_rows(target) == now

    # The whole pgTAP suite passes on the restored database (its files roll back).
    assert pgtap_run.run_against(target) == 0
    assert _trade_rows(target) == now


def _the_api_works_on(target: str) -> None:
    app = app_url_of(target)
    with psycopg.connect(target) as conn:
        old = conn.execute(
            "SELECT id, job_id, user_vault_address, client_order_id, from_token_address,"
            " to_token_address, amount_in, expected_amount_out, venue FROM xorj.trades t"
            " WHERE status = 'CONFIRMED' AND job_id IN"
            " (SELECT id FROM xorj.execution_jobs WHERE status = 'RUNNING') ORDER BY id LIMIT 1"
        ).fetchone()
        submitted = conn.execute(
            "SELECT id, expected_amount_out FROM xorj.trades WHERE status = 'SUBMITTED' LIMIT 1"
        ).fetchone()
        event = conn.execute("SELECT id FROM xorj.trade_events LIMIT 1").fetchone()[0]
    bot = SyncDatabase(app, "drill:bot", role="xorj_bot")
    try:
        replay = bot.run(trades.create(*old[1:8], venue=old[8]))
        assert replay[0] is True and str(replay[1]["id"]) == str(old[0])  # duplicate rule 1
        confirmed = bot.run(trades.mark_confirmed(submitted[0], int(submitted[1])))
        assert confirmed[1]["status"] == "CONFIRMED"
    finally:
        bot.close()
    # the guards were restored with the rows: a restored event is append-only
    with psycopg.connect(target) as conn, pytest.raises(psycopg.Error) as refused:
        conn.execute("UPDATE xorj.trade_events SET actor = 'x' WHERE id = %s", (event,))
    assert refused.value.sqlstate == "XJ423", refused.value


def test_backup_and_restore_refuse_what_they_cannot_use(
    db_url, empty_db_url, make_database, xorj_cli, tmp_path
):
    backup_dir = tmp_path / "b"
    assert _backup(xorj_cli, db_url, backup_dir).returncode == 0

    # backup: a directory that is not empty, a database never migrated
    refused = _backup(xorj_cli, db_url, backup_dir)
    assert refused.returncode == 1 and "is not empty" in refused.stderr
    refused = _backup(xorj_cli, empty_db_url, tmp_path / "never")
    assert refused.returncode == 1 and "no schema xorj" in refused.stderr
    assert not (tmp_path / "never").exists()

    # restore: a damaged dump (the target stays empty)
    damaged = tmp_path / "damaged"
    shutil.copytree(backup_dir, damaged)
    data = bytearray((damaged / DUMP_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (damaged / DUMP_FILE).write_bytes(bytes(data))
    target = make_database()
    refused = _restore(xorj_cli, damaged, target)
    assert refused.returncode == 1
    assert "does not match its manifest" in refused.stderr, refused.stderr
    assert _relations(target) == 0

    # roles the target cluster lacks
    no_role = _copy_with(backup_dir, tmp_path / "role", lambda m: m["roles"].append("xorj_gone"))
    refused = _restore(xorj_cli, no_role, target)
    assert refused.returncode == 1 and "lacks the roles xorj_gone" in refused.stderr
    assert _relations(target) == 0

    # figures that do not match what was restored: a clear mismatch, exit 1
    def more_trades(m: dict) -> None:
        m["tables"]["xorj.trades"] += 1

    wrong = _copy_with(backup_dir, tmp_path / "wrong", more_trades)
    refused = _restore(xorj_cli, wrong, target)
    assert refused.returncode == 1
    assert "MISMATCH" in refused.stdout and "do not use it" in refused.stderr

    # a bad manifest, a missing directory, an unreachable target, yoyo's tables alone
    bad = tmp_path / "bad"
    shutil.copytree(backup_dir, bad)
    (bad / MANIFEST_FILE).write_text("{not json")
    other = make_database()
    refused = _restore(xorj_cli, bad, other)
    assert refused.returncode == 1 and "bad manifest" in refused.stderr
    refused = _restore(xorj_cli, tmp_path / "nowhere", other)
    assert refused.returncode == 1 and "no backup directory" in refused.stderr
    gone = url_from_params({**conninfo_to_dict(other), "dbname": "xorj_no_such_database"})
    refused = _restore(xorj_cli, backup_dir, gone)
    assert refused.returncode == 1 and "cannot reach the target database" in refused.stderr
    with psycopg.connect(other, autocommit=True) as conn:
        conn.execute("CREATE TABLE public._yoyo_migration (migration_hash text)")
    refused = _restore(xorj_cli, backup_dir, other)
    assert refused.returncode == 1 and "public._yoyo_migration" in refused.stderr


def test_a_restore_into_another_cluster_needs_its_roles_first(db_url, xorj_cli, tmp_path):
    """The disaster case: a new cluster, where the roles (cluster-wide, never in a dump)
    are missing until a DBA creates them; then owners and grants come back as they were
    and the application login works."""
    load_sample_data(app_url_of(db_url))
    backup_dir = tmp_path / "b"
    assert _backup(xorj_cli, db_url, backup_dir).returncode == 0
    cluster = ScratchCluster.create()
    try:
        cluster.execute("CREATE ROLE xorj_owner LOGIN CREATEROLE")
        cluster.execute("CREATE DATABASE xorj OWNER xorj_owner")
        target = cluster.socket_url("xorj_owner", "xorj")
        refused = _restore(xorj_cli, backup_dir, target)
        assert refused.returncode == 1
        assert "lacks the roles xorj_api, xorj_bot, xorj_engine, xorj_readonly" in refused.stderr
        assert _relations(target) == 0
        cluster.execute(
            "CREATE ROLE xorj_api NOLOGIN; CREATE ROLE xorj_engine NOLOGIN;"
            " CREATE ROLE xorj_bot NOLOGIN; CREATE ROLE xorj_readonly NOLOGIN;"
            " CREATE ROLE xorj_app LOGIN NOINHERIT"
            " IN ROLE xorj_api, xorj_engine, xorj_bot, xorj_readonly"
        )
        restored = _restore(xorj_cli, backup_dir, target)
        assert restored.returncode == 0, restored.stderr
        assert "restore verified" in restored.stdout
        engine = SyncDatabase(cluster.socket_url("xorj_app", "xorj"), "drill", role="xorj_engine")
        try:
            ranked = [row[1] for row in engine.run(scoring.ranked_traders(10))]
        finally:
            engine.close()
        assert ranked == [trader["wallet_address"] for trader in TRADERS]
        # The restored bot-state events carry the old cluster's transaction ids, from
        # this cluster's future: restore puts them before every cursor, so a bot that
        # starts here is not handed them again and again.
        assert "restored event(s) placed before every cursor" in restored.stdout
        with psycopg.connect(target, autocommit=True) as conn:
            (start,) = conn.execute("SELECT api.bot_state_changes(NULL)").fetchone()
            (feed,) = conn.execute(
                "SELECT api.bot_state_changes(%s)", (start["cursor"],)
            ).fetchone()
            (events,) = conn.execute("SELECT count(*) FROM xorj.bot_state_events").fetchone()
        assert events > 0 and feed["events"] == [], feed
    finally:
        cluster.destroy()
