"""`xorj engine load SCORES.jsonl`: a file of trader scores becomes one scoring run, all
at once (COMPLETED, ranked) or not at all (FAILED naming the line, nothing visible).

The commands run in-process through app.workers.engine.register_cli and an argparse
parser of the test's own, as `xorj` will once it is wired.

The 1,000,000-line measurement is not part of the suite; run it by hand:

    .venv/bin/python -m tests.test_engine_load --lines 1000000 [--chunk 10000 ...]

(a fresh database is created, migrated, loaded and dropped; the times are printed).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from app.config import url_from_params
from app.workers import engine
from tests.conftest import app_url_of
from tests.solana import address


def score_of(n: int) -> float:
    """A score in 0..100 for line n, spread so the ranking is not the file's order."""
    return round((n * 7919) % 10_007 / 100.07, 4)


def score_line(n: int) -> str:
    return json.dumps(
        {
            "wallet_address": address(n),
            "xorj_trust_score": score_of(n),
            "metrics": {"trades": n % 500, "win_rate": round((n % 97) / 97, 3)},
        }
    )


def write_scores(
    path: Path,
    count: int,
    replace: dict[int, str] | None = None,
    offset: int = 0,
) -> Path:
    """`count` lines of valid scores (wallets address(offset + line)); `replace` maps a
    line number (1-based) to the text that line gets instead."""
    replace = replace or {}
    with path.open("w") as f:
        for line in range(1, count + 1):
            f.write(replace.get(line, score_line(offset + line)) + "\n")
    return path


Runner = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run_cli(
    app_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Runner:
    """run_cli(*args) -> (exit code, stdout, stderr) of `xorj args...` against the test's
    database, as the application login."""
    monkeypatch.setenv("DATABASE_URL", app_url)

    def run(*args: str) -> tuple[int, str, str]:
        parser = argparse.ArgumentParser(prog="xorj")
        engine.register_cli(parser.add_subparsers(dest="command", required=True))
        parsed = parser.parse_args(list(args))
        capsys.readouterr()
        code = parsed.func(parsed)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def runs(url: str) -> list[tuple[str, str, str | None, int]]:
    """Every run, oldest first: (id, status, error_message, number of scores)."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT r.id::text, r.status::text, r.error_message, "
            "(SELECT count(*) FROM xorj.trader_scores s WHERE s.run_id = r.id)::int "
            "FROM xorj.scoring_runs r ORDER BY r.created_at"
        ).fetchall()


def ranked(url: str, limit: int = 1000) -> list[tuple[int, str, float, str]]:
    """api.ranked_traders as the bot reads it, as the application login in the role
    xorj_bot: (rank, wallet, score, run id). `url`: any URL of the database."""
    with psycopg.connect(app_url_of(url)) as conn, conn.transaction():
        conn.execute("SELECT set_config('role', 'xorj_bot', true)")
        return [
            (rank, wallet, float(score), str(run))
            for rank, wallet, score, run in conn.execute(
                "SELECT rank, wallet_address, xorj_trust_score, run_id "
                "FROM api.ranked_traders(%s, 0)",
                (limit,),
            )
        ]


def expected_ranking(lines: Iterable[int]) -> list[tuple[str, float]]:
    return sorted(((address(n), score_of(n)) for n in lines), key=lambda ws: (-ws[1], ws[0]))


def test_a_file_of_1000_lines_becomes_a_completed_run_ranked_best_first(
    run_cli: Runner, db_url: str, tmp_path: Path
) -> None:
    path = write_scores(tmp_path / "scores.jsonl", 1000)
    code, out, err = run_cli("engine", "load", str(path), "--chunk", "300")
    assert code == 0, err
    assert err == ""  # no progress line: stderr is not a terminal
    [(run_id, status, error, count)] = runs(db_url)
    assert (status, error, count) == ("COMPLETED", None, 1000)
    assert f"scoring run {run_id}: COMPLETED with 1,000 scores in " in out
    assert " s (" in out and "lines/s)" in out

    rows = ranked(db_url)
    assert [(r[1], r[2]) for r in rows] == expected_ranking(range(1, 1001))
    assert [r[0] for r in rows] == list(range(1, 1001))
    assert {r[3] for r in rows} == {run_id}
    with psycopg.connect(db_url) as conn:
        metrics = conn.execute(
            "SELECT metrics FROM xorj.trader_scores WHERE run_id = %s AND wallet_address = %s",
            (run_id, address(77)),
        ).fetchone()[0]
    assert metrics == {"trades": 77, "win_rate": round(77 / 97, 3)}


@pytest.mark.parametrize("chunk", ["10000", "64"])
@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ('{"wallet_address": "' + address(500) + '", "xorj_trust_score": ', "not JSON"),
        ("NaN", "not JSON"),
        ('{"wallet_address": "' + address(500) + '", "xorj_trust_score": -1}', "must be 0 or more"),
        ('{"wallet_address": "0OIl", "xorj_trust_score": 1}', "invalid wallet_address"),
        (
            '{"wallet_address": "' + address(500) + '", "xorj_trust_score": 1, "x": 1}',
            "invalid x: is not a known field",
        ),
        ("[1, 2]", "invalid element: is not a JSON object but array"),
    ],
    ids=["truncated-json", "nan", "negative-score", "bad-address", "unknown-key", "array"],
)
def test_a_bad_line_500_fails_the_run_and_shows_nothing(
    run_cli: Runner, db_url: str, tmp_path: Path, bad: str, says: str, chunk: str
) -> None:
    good = write_scores(tmp_path / "good.jsonl", 20, offset=5000)
    assert run_cli("engine", "load", str(good))[0] == 0
    [(previous, *_)] = runs(db_url)

    path = write_scores(tmp_path / "scores.jsonl", 1000, replace={500: bad})
    code, out, err = run_cli("engine", "load", str(path), "--chunk", chunk)
    assert code == 1
    assert out == ""
    assert "line 500" in err and says in err, err
    assert len(err.strip().splitlines()) == 2  # the run, then the error on one line

    [_, (run_id, status, error, count)] = runs(db_url)
    assert status == "FAILED"
    assert error is not None and error.startswith("scores.jsonl: line 500: "), error
    assert says in error
    assert run_id in err
    assert count == 0  # nothing of the earlier chunks was kept
    rows = ranked(db_url)
    assert {r[3] for r in rows} == {previous}  # the previous run is still the one ranked
    assert len(rows) == 20


@pytest.mark.parametrize("chunk", ["10000", "100"])
def test_a_wallet_on_lines_10_and_900_fails_naming_line_900(
    run_cli: Runner, db_url: str, tmp_path: Path, chunk: str
) -> None:
    path = write_scores(tmp_path / "dup.jsonl", 1000, replace={900: score_line(10)})
    code, _, err = run_cli("engine", "load", str(path), "--chunk", chunk)
    assert code == 1
    [(_, status, error, count)] = runs(db_url)
    assert (status, count) == ("FAILED", 0)
    # One chunk: the database names both; two chunks: the loader finds line 10 again.
    assert error == "dup.jsonl: line 900: invalid wallet_address: duplicates line 10"
    assert "line 900" in err
    assert ranked(db_url) == []


def test_an_empty_file_is_refused_unless_allowed(
    run_cli: Runner, db_url: str, tmp_path: Path
) -> None:
    good = write_scores(tmp_path / "good.jsonl", 5)
    assert run_cli("engine", "load", str(good))[0] == 0
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n  \n")  # blank lines only: no score

    code, _, err = run_cli("engine", "load", str(empty))
    assert code == 1
    assert "no scores in the file" in err
    _, (refused, status, error, count) = runs(db_url)
    assert (status, count) == ("FAILED", 0)
    assert "--allow-empty" in (error or "")
    assert {r[3] for r in ranked(db_url)} == {runs(db_url)[0][0]}  # still the first run

    code, out, err = run_cli("engine", "load", str(empty), "--allow-empty")
    assert code == 0, err
    assert "COMPLETED with 0 scores" in out
    *_, (allowed, status, _, count) = runs(db_url)
    assert (status, count) == ("COMPLETED", 0)
    assert ranked(db_url) == []  # the empty run is the latest: nobody is ranked
    assert allowed != refused


def test_blank_lines_are_skipped_and_lines_keep_their_numbers(
    run_cli: Runner, db_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "gaps.jsonl"
    path.write_text(
        "\ufeff"  # a byte-order mark before the first line is tolerated
        + score_line(1)
        + "\n\n"
        + score_line(3)
        + "\r\n   \n"
        + score_line(5)
        + "\n"
        + '{"wallet_address": "'
        + address(6)
        + '", "xorj_trust_score": "high"}\n'
    )
    code, _, err = run_cli("engine", "load", str(path), "--chunk", "2")
    assert code == 1
    assert "line 6: invalid xorj_trust_score: must be a number, not string" in err

    path.write_text(score_line(1) + "\n\n" + score_line(3) + "\n\n\n" + score_line(5) + "\n")
    code, out, err = run_cli("engine", "load", str(path))
    assert code == 0, err
    assert "COMPLETED with 3 scores" in out


def test_lines_arrive_as_written_backslashes_tabs_and_carriage_returns_included(
    run_cli: Runner, db_url: str, tmp_path: Path
) -> None:
    """The file goes to COPY as it is: a backslash, a tab (JSON whitespace) and a CRLF
    line end must reach the database unchanged (COPY's text format would read them as
    escapes and separators if the loader did not escape them)."""
    metrics = {"note": 'a\\b "quoted" \\N \\.', "path": "C:\\x\\t"}
    tricky = json.dumps({"wallet_address": address(2), "xorj_trust_score": 2, "metrics": metrics})
    path = tmp_path / "tricky.jsonl"
    path.write_bytes((score_line(1) + "\r\n" + tricky.replace(", ", ",\t")).encode())
    code, out, err = run_cli("engine", "load", str(path))
    assert code == 0, err
    assert "COMPLETED with 2 scores" in out
    with psycopg.connect(db_url) as conn:
        stored = conn.execute(
            "SELECT metrics FROM xorj.trader_scores WHERE wallet_address = %s", (address(2),)
        ).fetchone()[0]
    assert stored == metrics

    # COPY's end-of-data marker as a line of the file is a line like any other: not JSON.
    path.write_text(score_line(3) + "\n\\.\n" + score_line(4) + "\n")
    code, _, err = run_cli("engine", "load", str(path))
    assert code == 1
    assert "line 2: invalid element: not JSON (" in err


def test_a_bad_line_at_the_end_of_a_long_file_is_found_by_the_database(
    run_cli: Runner, db_url: str, tmp_path: Path
) -> None:
    path = write_scores(tmp_path / "long.jsonl", 20_000, replace={19_999: '{"wallet_address": "'})
    assert run_cli("engine", "load", str(path))[0] == 1
    [(_, status, error, count)] = runs(db_url)
    assert (status, count) == ("FAILED", 0)
    assert error is not None and error.startswith(
        "long.jsonl: line 19999: invalid element: not JSON ("
    )


def test_a_line_that_is_not_utf8_is_named(run_cli: Runner, db_url: str, tmp_path: Path) -> None:
    path = write_scores(tmp_path / "latin1.jsonl", 3)
    with path.open("ab") as f:
        f.write(b'{"wallet_address": "caf\xe9"}\n')
    code, _, err = run_cli("engine", "load", str(path))
    assert code == 1
    assert "line 4: not UTF-8" in err
    assert [r[1] for r in runs(db_url)] == ["FAILED"]


def test_a_missing_file_creates_no_run(run_cli: Runner, db_url: str, tmp_path: Path) -> None:
    code, _, err = run_cli("engine", "load", str(tmp_path / "nope.jsonl"))
    assert code == 1
    assert err.startswith("xorj: engine load: cannot read ")
    assert runs(db_url) == []


def test_standard_input(
    run_cli: Runner, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_scores(tmp_path / "in.jsonl", 50).read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, out, err = run_cli("engine", "load", "-")
    assert code == 0, err
    assert "COMPLETED with 50 scores" in out


def test_chunk_out_of_range_is_a_usage_error(run_cli: Runner, tmp_path: Path) -> None:
    for bad in ("0", "100001", "ten"):
        with pytest.raises(SystemExit) as exc:
            run_cli("engine", "load", str(tmp_path / "x.jsonl"), "--chunk", bad)
        assert exc.value.code == 2


def test_the_loader_needs_nothing_but_the_engine_role(
    db_url: str, superuser_url: Callable[[str], str], tmp_path: Path
) -> None:
    """A login whose only privilege is membership of xorj_engine loads a file: every call
    goes through the engine's api functions (set_config('role', 'xorj_engine') in each
    transaction)."""
    name = f"xorj_test_engine_{os.getpid()}"
    password = secrets.token_hex(16)
    with psycopg.connect(superuser_url(db_url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE xorj_engine").format(
                sql.Identifier(name), sql.Literal(password)
            )
        )
    try:
        params = conninfo_to_dict(db_url)
        params.update(user=name, password=password)
        url = url_from_params(params)
        with psycopg.connect(url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM xorj.trader_scores")
        result = engine.load_file(url, write_scores(tmp_path / "s.jsonl", 30), chunk=7)
        assert (result.status, result.count, result.lines) == ("COMPLETED", 30, 30)
    finally:
        with psycopg.connect(superuser_url(db_url), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
    assert [(r[1], r[3]) for r in runs(db_url)] == [("COMPLETED", 30)]


def test_the_installed_command(db_url: str, app_url: str, xorj_cli: Any, tmp_path: Path) -> None:
    """`xorj engine load` as wired into app.cli: a COMPLETED run, then a FAILED one."""
    good = write_scores(tmp_path / "good.jsonl", 100)
    done = xorj_cli("engine", "load", str(good), env={"DATABASE_URL": app_url})
    assert done.returncode == 0, done.stderr
    assert "COMPLETED with 100 scores" in done.stdout
    bad = write_scores(tmp_path / "bad.jsonl", 100, replace={42: "{]"})
    refused = xorj_cli("engine", "load", str(bad), "--chunk", "10", env={"DATABASE_URL": app_url})
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[-1].startswith("xorj: engine load: bad.jsonl: line 42: ")
    assert [r[1] for r in runs(db_url)] == ["COMPLETED", "FAILED"]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_drawn_on_a_terminal_only() -> None:
    tty = _Tty()
    bar = engine.Progress("loading scores", stream=tty, interval=0)
    bar.update(10)
    bar.update(20_000)
    bar.close(30_000)
    text = tty.getvalue()
    assert text.startswith("\rloading scores: 10 lines, ")
    assert "\rloading scores: 30,000 lines, " in text
    assert "lines/s" in text and text.endswith("\n")

    plain = io.StringIO()
    bar = engine.Progress("loading scores", stream=plain, interval=0)
    bar.update(10)
    bar.close(10)
    assert plain.getvalue() == ""


def test_the_loader_starts_without_the_other_commands_modules() -> None:
    """`xorj engine load` imports the engine's command group only (app/cli.py): not the
    bot, the local validator or the metrics of the HTTP server, which cost its start;
    `xorj --help` still lists every command."""
    import subprocess

    probe = (
        "import sys; from app.cli import build_parser; "
        "build_parser('engine').parse_args(['engine', 'load', 'scores.jsonl']); "
        "print(sorted(m for m in ('app.workers.engine', 'app.workers.bot', "
        "'app.chain.localnet', 'app.workers.ops', 'app.metrics', 'prometheus_client') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "['app.workers.engine']", out
    helped = subprocess.run(
        [sys.executable, "-m", "app.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    listed = helped.split("{", 1)[1].split("}", 1)[0].split(",")
    every = ["dev-db", "db", "serve", "token", "bot", "engine", "trades", "jobs", "localnet"]
    assert listed == every, helped


# --- the 1,000,000-line measurement (not collected by pytest) ----------------------------


def _bench(lines: int, chunks: list[int], keep: bool, bad_line: int | None) -> None:
    from app import migrate
    from tests import dbutil

    owner = dbutil.owner_role()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scores.jsonl"
        started = time.perf_counter()
        write_scores(path, lines, replace={bad_line: "{"} if bad_line else None)
        print(
            f"wrote {lines:,} lines ({path.stat().st_size / 1e6:.0f} MB) "
            f"in {time.perf_counter() - started:.1f} s"
        )
        for chunk in chunks:
            name = f"xorj_bench_{os.getpid()}_{chunk}"
            dbutil.create_database(name, owner)
            try:
                url = dbutil.url_for(name, owner)
                migrate.migrate(url)
                result = engine.load_file(app_url_of(url), path, chunk)
                print(
                    f"chunk {chunk:>6,}: {result.status} with {result.count:,} scores in "
                    f"{result.elapsed:.1f} s ({result.lines / result.elapsed:,.0f} lines/s)"
                )
                if bad_line:
                    print(f"  {result.error}")
                    assert result.status == "FAILED"
                    continue
                assert result.status == "COMPLETED", result.error
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                print(f"  peak memory of this process so far: {peak:.0f} MB")
                started = time.perf_counter()
                rows = ranked(url, 10)
                print(f"  ranked_traders(10) right after: {time.perf_counter() - started:.3f} s")
                assert len(rows) == 10
            finally:
                if keep:
                    print(f"  kept database {name}")
                else:
                    dbutil.drop_database(name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="measure xorj engine load on a large file")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, action="append", help="repeat to compare sizes")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--bad-line", type=int, help="make this line bad JSON: time the refusal")
    options = parser.parse_args()
    _bench(options.lines, options.chunk or [engine.DEFAULT_CHUNK], options.keep, options.bad_line)
