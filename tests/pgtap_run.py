"""Run the pgTAP suite: a fresh database, migrated by the owner role, then pg_prove.

    python -m tests.pgtap_run [pg_prove options] [files or directories]

Without files, the whole of tests/pgtap runs. A database `xorj_pgtap_<pid>` is created
for the run (dropped afterwards, so concurrent runs do not meet), migrated exactly as production is
(`app.migrate.migrate`, as the non-superuser owner), and given the pgtap extension by the
superuser (the only place a superuser-only extension is used). Every file of
tests/pgtap is one behaviour: BEGIN; plan(n); ...; ROLLBACK.

`run_against(url)` runs the suite against an existing database instead (a restored
backup: tests/test_backup_restore.py), which the files must not assume empty.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

from app import migrate
from tests import dbutil

SUITE = Path(__file__).resolve().parent / "pgtap"
HELPERS = Path(__file__).resolve().parent / "pgtap_helpers.sql"


def _pg_prove_missing() -> bool:
    if shutil.which("pg_prove"):
        return False
    print(
        "pg_prove not found: run `make deps` (Debian: libtap-parser-sourcehandler-pgtap-perl)",
        file=sys.stderr,
    )
    return True


def run_against(url: str, argv: Sequence[str] = ()) -> int:
    """Run the suite (or the files of `argv`, with pg_prove options) against the existing
    database `url` names: the superuser installs pgtap and the helpers in it first (they
    stay), then pg_prove runs as the superuser. Every file rolls back what it does, so the
    database's data is left as it was. Returns pg_prove's exit status."""
    if _pg_prove_missing():
        return 1
    database = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(dbutil.url_for(database), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgtap")
        if not conn.execute("SELECT to_regnamespace('tests') IS NOT NULL").fetchone()[0]:
            conn.execute(HELPERS.read_text())
    env = {**os.environ, **dbutil.libpq_env(dbutil.url_for(database))}
    targets = [a for a in argv if not a.startswith("-")] or [str(SUITE)]
    options = [a for a in argv if a.startswith("-")]
    cmd = ["pg_prove", "--ext", ".sql", "-r", "--failures", *options, *targets]
    return subprocess.run(cmd, env=env).returncode


def main(argv: list[str]) -> int:
    if _pg_prove_missing():
        return 1
    database = f"xorj_pgtap_{os.getpid()}"
    owner = dbutil.owner_role()
    dbutil.create_database(database, owner)
    try:
        migrate.migrate(dbutil.url_for(database, owner))
        return run_against(dbutil.url_for(database), argv)
    finally:
        dbutil.drop_database(database)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
