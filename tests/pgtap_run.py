"""Run the pgTAP suite: a fresh database, migrated by the owner role, then pg_prove.

    python -m tests.pgtap_run [pg_prove arguments...]

The database `xorj_pgtap` is created anew each run, migrated exactly as production is
(`app.migrate.migrate`, as the non-superuser owner), and given the pgtap extension by the
superuser (the only place a superuser-only extension is used). Every file of
tests/pgtap is one behaviour: BEGIN; plan(n); ...; ROLLBACK.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg

from app import migrate
from tests import dbutil

DATABASE = "xorj_pgtap"
SUITE = Path(__file__).resolve().parent / "pgtap"


def main(argv: list[str]) -> int:
    if not shutil.which("pg_prove"):
        print(
            "pg_prove not found: run `make deps` (Debian: libtap-parser-sourcehandler-pgtap-perl)",
            file=sys.stderr,
        )
        return 1
    owner = dbutil.owner_role()
    dbutil.create_database(DATABASE, owner)
    migrate.migrate(dbutil.url_for(DATABASE, owner))
    with psycopg.connect(dbutil.url_for(DATABASE), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgtap")
    env = {**os.environ, **dbutil.libpq_env(dbutil.url_for(DATABASE))}
    cmd = ["pg_prove", "--ext", ".sql", "-r", "--failures", *argv, str(SUITE)]
    return subprocess.run(cmd, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
