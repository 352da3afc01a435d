"""`make bench BEFORE=<rev>` (`--before REV`): the rules of another revision measured in
the same run, side by side with the current tree's, against the same baselines.

REV's tree is extracted with `git archive` into a temporary directory (the working tree
and the index are not touched), a second database (xorj_bench_before_<pid>) is created
and migrated by that tree's own `app.migrate` (its migrations, then its procedures/ and
views/), in a process of its own that imports REV's `app` package, and it is set up as
the bench's (enabled vaults, a RUNNING job, the baseline's tables). The rows then run,
in every round, the rule on the current tree, the rule on REV's tree, and the baseline:

* create_trade, complete_scoring_run: the SQL the current app.dbapi sends, or, where
  REV's app.dbapi writes a call otherwise, REV's SQL (checked at the start);
* `xorj engine load`, `xorj serve`: REV's own command (`python -c` that imports REV's
  `app.cli`), run from REV's directory, on REV's database, with the same flags.

Both the directory and the database are removed at the end, also after a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from app.dbapi import scoring, trades
from tests import dbutil
from tests.bench.bench_sql import Db
from tests.bench.common import say, temp_dir
from tests.conftest import cli_env

ROOT = Path(__file__).resolve().parents[2]

# The head of every `python -c` run in REV's tree: its directory first on sys.path, and
# without the finder of an editable install of the current project (which would give a
# module REV lacks from the current tree). uvicorn's worker processes get the same
# sys.path, REV's directory first.
BOOT = (
    "import sys; sys.path.insert(0, {tree!r}); "
    "sys.meta_path[:] = [f for f in sys.meta_path "
    "if not getattr(f, '__module__', '').startswith('__editable__')]; import app; "
)
# The files of the `app` modules a process imported (all must be REV's).
FILES = (
    "[getattr(m, '__file__', None) or '' for n, m in list(sys.modules.items()) "
    "if n.split('.')[0] == 'app']"
)

# The calls the rules send, as REV's app.dbapi writes them (printed as JSON).
CALLS = """
from app.dbapi import scoring, trades
calls = {
    "trades.create": trades.create("JOB", "VAULT", "COID", "FROM", "TO", 1, 1),
    "scoring.create_run": scoring.create_run(),
    "scoring.start_run": scoring.start_run("RUN"),
    "scoring.complete_run": scoring.complete_run("RUN", "[]"),
}
print(json.dumps({"app": FILES, "calls": {k: [c.sql, sorted(c.params)] for k, c in calls.items()}}))
"""

MIGRATE = """
from app import migrate
result = migrate.migrate(sys.argv[1])
print(json.dumps({"app": FILES, "applied": len(result.applied), "code": len(result.code_files)}))
"""


def current_calls() -> dict[str, tuple[str, list[str]]]:
    calls = {
        "trades.create": trades.create("JOB", "VAULT", "COID", "FROM", "TO", 1, 1),
        "scoring.create_run": scoring.create_run(),
        "scoring.start_run": scoring.start_run("RUN"),
        "scoring.complete_run": scoring.complete_run("RUN", "[]"),
    }
    return {k: (c.sql, sorted(c.params)) for k, c in calls.items()}


class Before:
    """REV's tree and its database, until `close()`."""

    def __init__(self, rev: str) -> None:
        self.rev = rev
        self.sha = _git("rev-parse", "--short", f"{rev}^{{commit}}").strip()
        self.label = self.sha if rev == self.sha else f"{self.sha} ({rev})"
        self.tree: Path | None = None
        self.name = ""
        self.db: Db | None = None
        self.notes: list[str] = []

    def python(self, code: str) -> list[str]:
        """argv of a Python process that imports REV's `app` first."""
        return [sys.executable, "-c", BOOT.format(tree=str(self.tree)) + code]

    def run_python(self, code: str, *args: str) -> dict[str, Any]:
        """Run `code` in REV's tree; its JSON answer, whose `app` must be REV's."""
        assert self.tree is not None
        out = subprocess.run(
            [*self.python("import json; " + code.replace("FILES", FILES)), *args],
            cwd=self.tree,
            env=cli_env({"PYTHONPATH": str(self.tree)}),
            capture_output=True,
            text=True,
            timeout=600,
        )
        if out.returncode != 0:
            raise RuntimeError(f"{self.sha}'s Python failed:\n{out.stderr[-2000:]}")
        answer = json.loads(out.stdout.strip().splitlines()[-1])
        tree = self.tree.resolve()
        strays = [f for f in answer["app"] if not Path(f).resolve().is_relative_to(tree)]
        if strays or not answer["app"]:
            raise RuntimeError(f"app modules not from {self.sha}'s tree: {strays}")
        return answer

    def open(self, setup: Callable[[str], Db], workdir: Path) -> Db:
        """Extract REV's tree, create, migrate and set up its database (`setup`: the
        bench's, on an owner URL)."""
        self.tree = temp_dir()
        archive = subprocess.Popen(
            ["git", "-C", str(ROOT), "archive", self.sha], stdout=subprocess.PIPE
        )
        untar = subprocess.run(["tar", "-x", "-C", str(self.tree)], stdin=archive.stdout)
        assert archive.stdout is not None
        archive.stdout.close()
        if archive.wait() != 0 or untar.returncode != 0:
            raise RuntimeError(f"git archive {self.sha} | tar -x failed")
        self.name = f"xorj_bench_before_{os.getpid()}"
        owner = dbutil.owner_role()
        dbutil.create_database(self.name, owner)
        url = dbutil.url_for(self.name, owner)
        migrated = self.run_python(MIGRATE, url)
        say(
            f"database {self.name}: migrated by {self.sha}'s tree ({migrated['applied']} "
            f"migrations, {migrated['code']} code files)"
        )
        db = setup(url)
        shutil.rmtree(db.workdir, ignore_errors=True)
        db.workdir = workdir
        with psycopg.connect(url) as conn:
            keys = conn.execute("SELECT to_regclass('xorj.trade_keys')").fetchone()[0]
        db.trade_table = "xorj.trade_keys" if keys else "xorj.trades"
        door = self.tree / "app" / "dbapi" / "sync.py"
        db.one_trip = door.exists() and "one_trip(" in door.read_text()
        self.notes.append(
            "the bot's door sends create_trade "
            + ("in one round trip" if db.one_trip else "as BEGIN, prelude, call, COMMIT")
        )
        try:
            old = self.run_python(CALLS)["calls"]
        except Exception as exc:  # no app.dbapi of this shape in REV: the current SQL
            self.notes.append(
                f"{self.sha}'s call SQL not read ({' '.join(str(exc).split())[-200:]}): "
                "the before side sends the current tree's"
            )
        else:
            for name, (sql, params) in current_calls().items():
                old_sql, old_params = old[name]
                if old_sql != sql or old_params != params:
                    db.call_sql[name] = old_sql
                    self.notes.append(f"{name}: the before side sends {self.sha}'s SQL: {old_sql}")
            if not db.call_sql:
                self.notes.append(
                    "create_trade and complete_scoring_run: the same call SQL on both trees"
                )
        db.xorj = self.python("from app.cli import main; sys.exit(main())")
        db.xorj_env = {"PYTHONPATH": str(self.tree)}
        db.xorj_cwd = self.tree
        self.db = db
        return db

    def close(self) -> None:
        if self.name:
            with contextlib.suppress(Exception):
                dbutil.drop_database(self.name)
        if self.tree is not None:
            shutil.rmtree(self.tree, ignore_errors=True)

    def describe(self) -> list[str]:
        lines = [
            f"before: {self.label}, its tree by git archive, its database "
            f"{self.name or '-'} migrated by its own code; in every round the rule on the "
            "current tree, then on the before tree, then the baseline",
            "before: `xorj engine load` and `xorj serve` are the before tree's own commands "
            "(serve with the same flags and its own HTTP protocol class)",
        ]
        if self.db is not None:
            lines.append(f"before: one row per trade counted in {self.db.trade_table}")
        return lines + [f"before: {note}" for note in self.notes]


def _git(*args: str) -> str:
    out = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout
