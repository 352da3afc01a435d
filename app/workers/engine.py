"""The Quantitative Engine's loader: `xorj engine load SCORES.jsonl [--chunk N]`.

The engine writes one JSON object per line, {"wallet_address", "xorj_trust_score",
"metrics"?}. The loader creates a scoring run and starts it (one short transaction, so
the run is visible as RUNNING while it loads), then, in ONE transaction, streams the file
as it is into the run's staging table (api.open_scoring_copy, then COPY ... FROM STDIN:
line n of the file is row n), has the database validate and insert every line in one
set-based statement (api.add_scoring_copy) and completes the run
(api.complete_scoring_run(run, '[]')): the scores appear in api.ranked_traders all at
once, or not at all. Python parses nothing: every rule, JSON syntax included, is the
database's (procedures/scoring.sql).

Any refusal rolls that transaction back, and the run is then FAILED
(api.fail_scoring_run, in a new transaction) with an error naming the line:

* a line that is not JSON: `line 12: invalid element: not JSON (invalid input syntax for
  type json: ...)`; a line that is not UTF-8: `line 12: not UTF-8 (...)` (the bytes are
  checked here, a block at a time, before they are sent, to name the line);
* an element the database refuses, its XJ422 index turned back into a line:
  `line 500: invalid xorj_trust_score: must be 0 or more`,
  `line 900: invalid wallet_address: duplicates line 10`;
* an empty file (no score at all): the database refuses to complete a run holding no
  score (api.complete_scoring_run, XJ422 on scores), so the run is FAILED, unless
  --allow-empty, which passes allow_empty and completes a run with no traders. (A
  completed empty run would become the latest run and leave the bot with no trader to
  follow, so it must be asked for.)

The previous completed run stays the one ranked whatever happens. Blank lines are
skipped by the database and keep their numbers. The file is read a block of lines at a
time (--chunk lines), never held whole: memory is one block. Every call runs as role
xorj_engine with xorj.actor = 'engine:loader' (app.dbapi.sync). A progress line (lines,
lines/s) is drawn on stderr when it is a terminal.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO, Any

import psycopg

from app.config import database_urls
from app.dbapi import scoring
from app.dbapi.core import INVALID, facts, one_line
from app.dbapi.sync import SyncDatabase

ACTOR = "engine:loader"
ROLE = "xorj_engine"
# Lines per block written to COPY (and per progress step): memory is one block.
DEFAULT_CHUNK = 10_000
MAX_CHUNK = 100_000
DEFAULT_WAIT = 60.0  # seconds the loader waits for the database to come back

_INDEX = re.compile(r"scores\[(\d+)\](?:\.(\w+))?")


class LoadError(Exception):
    """A refusal of the file: the run is failed with this message (it names the line)."""


@dataclass
class LoadResult:
    run_id: str
    status: str  # COMPLETED or FAILED
    count: int  # scores saved (0 when FAILED)
    lines: int  # lines read
    elapsed: float  # seconds, from the run's creation to the end
    error: str | None = None


class Progress:
    """A one-line progress report redrawn with a carriage return on a terminal:
    `<what>: 120,000 lines, 45,000 lines/s`. Nothing when the stream is not a tty."""

    def __init__(
        self,
        what: str,
        unit: str = "lines",
        total: int | None = None,
        stream: IO[str] | None = None,
        enabled: bool | None = None,
        interval: float = 0.25,
    ) -> None:
        self.what = what
        self.unit = unit
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.interval = interval
        self.started = time.perf_counter()
        self._last = 0.0
        self._width = 0

    def update(self, done: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        elapsed = now - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        of = f"/{self.total:,}" if self.total else ""
        text = f"{self.what}: {done:,}{of} {self.unit}, {rate:,.0f} {self.unit}/s"
        self._width = max(self._width, len(text))
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()

    def close(self, done: int) -> None:
        if self.enabled:
            self.update(done, force=True)
            self.stream.write("\n")
            self.stream.flush()


# COPY's text format reads a backslash as an escape and a tab as a column separator: they
# are escaped so that each line arrives as it is; a carriage return is escaped too (COPY
# refuses a bare one in data). A line is a row; the database numbers them.
_COPY_ESCAPES = ((b"\\", b"\\\\"), (b"\t", b"\\t"), (b"\r", b"\\r"))


def _not_utf8(block: bytes, first: int, exc: UnicodeDecodeError) -> LoadError:
    number = first + block.count(b"\n", 0, exc.start)
    column = exc.start - (block.rfind(b"\n", 0, exc.start) + 1)
    return LoadError(f"line {number}: not UTF-8 ({exc.reason} at byte {column})")


def read_blocks(stream: IO[bytes], size: int) -> Iterator[tuple[int, bytes]]:
    """(number of lines, the COPY text of those lines) for consecutive blocks of at most
    `size` lines. Raises LoadError naming the line at the first line that is not UTF-8
    or holds a NUL byte (which no text value can hold)."""
    first = 1
    while True:
        lines = list(islice(stream, size))
        if not lines:
            return
        block = b"".join(lines)
        if first == 1:
            block = block.removeprefix(b"\xef\xbb\xbf")  # a byte-order mark
        try:
            block.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _not_utf8(block, first, exc) from None
        if b"\0" in block:
            number = first + block.count(b"\n", 0, block.index(b"\0"))
            raise LoadError(f"line {number}: not JSON (a NUL byte)")
        for raw, escaped in _COPY_ESCAPES:
            if raw in block:
                block = block.replace(raw, escaped)
        if not block.endswith(b"\n"):
            block += b"\n"
        yield len(lines), block
        first += len(lines)


def describe_refusal(exc: psycopg.Error) -> str:
    """The database's refusal of the file, its scores[i] indexes turned into line
    numbers (line = i + 1): `line 500: invalid xorj_trust_score: must be 0 or more`."""
    diag = exc.diag
    message = one_line(exc, primary=True)
    column = diag.column_name or ""
    if column == "scores" and exc.sqlstate == INVALID:  # the completion of an empty run
        return (
            f"no scores in the file: {message}; the latest completed run stays ranked "
            "(--allow-empty completes a run with no traders)"
        )
    known = facts(exc)  # the refusal's facts: index, field, reason (procedures/scoring.sql)
    if not isinstance(known.get("index"), int):
        return message
    index = known["index"]
    number = index + 1

    def rewrite(m: re.Match[str]) -> str:
        if int(m[1]) == index:
            return m[2] or "element"
        return f"line {int(m[1]) + 1}"

    # The file is one batch: a wallet twice is "duplicates scores[j]", named by both lines.
    return f"line {number}: {_INDEX.sub(rewrite, message)}"


def _report_wait(attempt: int, delay: float, exc: BaseException) -> None:
    print(
        f"xorj: engine load: database not available ({one_line(exc)}); "
        f"trying again in {delay:.1f} s (attempt {attempt})",
        file=sys.stderr,
    )


def _fail_run(db: SyncDatabase, run_id: str, error: str) -> str | None:
    """Mark the run FAILED in a transaction of its own (on a new connection if the
    connection was lost); the problem, if that fails too."""
    try:
        db.run(scoring.fail_run(run_id, error[:10000]))
    except psycopg.Error as exc:
        return one_line(exc)
    return None


def load_file(
    url: str,
    path: str | Path,
    chunk: int = DEFAULT_CHUNK,
    allow_empty: bool = False,
    progress: bool | None = None,
    wait_seconds: float = 0.0,
) -> LoadResult:
    """Load a JSON-lines file of scores into a new scoring run (see the module's doc).
    `path` "-" reads standard input. Returns the result, COMPLETED or FAILED; raises
    LoadError (before any run exists) when the file cannot be opened or `chunk` is out
    of range, and psycopg.OperationalError when the database cannot be reached at all."""
    if not 1 <= chunk <= MAX_CHUNK:
        raise LoadError(f"--chunk must be 1..{MAX_CHUNK:,}, not {chunk}")
    started = time.perf_counter()
    with ExitStack() as stack:
        file_path: Path | None
        if str(path) == "-":
            stream: IO[bytes] = sys.stdin.buffer
            file_path = None
        else:
            file_path = Path(path)
            try:
                stream = stack.enter_context(file_path.open("rb"))
            except OSError as exc:
                raise LoadError(f"cannot read {path}: {exc.strerror}") from None
        db = SyncDatabase(
            url,
            ACTOR,
            role=ROLE,
            max_wait=wait_seconds,
            on_retry=_report_wait,
            statement_timeout=3600,
        )
        stack.callback(db.close)
        with db.transaction() as t:
            run_id: str = t.run(scoring.create_run())["id"]
            t.run(scoring.start_run(run_id))

        bar = Progress("loading scores", enabled=progress)
        count = 0
        lines = 0
        error: str | None = None
        try:
            with db.transaction() as t:
                table = t.run(scoring.open_copy(run_id))
                with t.conn.cursor().copy(f"COPY {table} (doc) FROM STDIN") as copy:
                    for number, block in read_blocks(stream, chunk):
                        copy.write(block)
                        lines += number
                        bar.update(lines)
                count = t.run(scoring.add_copy(run_id))
                t.run(scoring.complete_run(run_id, [], allow_empty))
        except LoadError as exc:
            error = str(exc)
        except psycopg.Error as exc:
            error = describe_refusal(exc)
        except KeyboardInterrupt:
            bar.close(lines)
            _fail_run(db, run_id, f"interrupted after line {lines}")
            raise
        bar.close(lines)
        if error is not None:
            name = "standard input" if file_path is None else file_path.name
            message = f"{name}: {error}"
            problem = _fail_run(db, run_id, message)
            if problem:
                message += f" (and the run could not be marked FAILED: {problem})"
            return LoadResult(run_id, "FAILED", 0, lines, time.perf_counter() - started, message)
        return LoadResult(run_id, "COMPLETED", count, lines, time.perf_counter() - started)


# --- command line ----------------------------------------------------------------------


def _chunk_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 1 <= value <= MAX_CHUNK:
        raise argparse.ArgumentTypeError(f"must be 1..{MAX_CHUNK}")
    return value


def cmd_engine_load(args: argparse.Namespace) -> int:
    # SIGTERM stops a load as Ctrl-C does: at once, even while it waits for the database
    # (the open transaction rolls back and the run is marked FAILED when possible).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        result = load_file(
            database_urls().app,
            args.path,
            args.chunk,
            args.allow_empty,
            wait_seconds=args.wait_for_database,
        )
    except LoadError as exc:
        print(f"xorj: engine load: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("xorj: engine load: interrupted", file=sys.stderr)
        return 130
    rate = result.lines / result.elapsed if result.elapsed > 0 else 0.0
    if result.status == "COMPLETED":
        print(
            f"scoring run {result.run_id}: COMPLETED with {result.count:,} scores "
            f"in {result.elapsed:.2f} s ({rate:,.0f} lines/s)"
        )
        return 0
    print(f"scoring run {result.run_id}: FAILED after {result.elapsed:.2f} s", file=sys.stderr)
    print(f"xorj: engine load: {result.error}", file=sys.stderr)
    return 1


def register_cli(subparsers: Any) -> None:
    """Add `engine load PATH [--chunk N] [--allow-empty]` to the `xorj` command."""
    engine = subparsers.add_parser("engine", help="the Quantitative Engine's tools")
    actions = engine.add_subparsers(dest="engine_command", required=True)
    p = actions.add_parser(
        "load",
        help="load a JSON-lines file of trader scores as one new scoring run",
        description=(
            "Create a scoring run and load PATH (one JSON object per line: wallet_address, "
            "xorj_trust_score, metrics) into it in one transaction: the run is COMPLETED "
            "with every score, or FAILED with the line at fault and no score visible."
        ),
    )
    p.add_argument("path", help="the JSON-lines file ('-': standard input)")
    p.add_argument(
        "--chunk",
        type=_chunk_size,
        default=DEFAULT_CHUNK,
        help=f"lines per block sent to the database (default {DEFAULT_CHUNK:,})",
    )
    p.add_argument(
        "--allow-empty",
        action="store_true",
        help="complete a run with no traders when the file has no score (else refused)",
    )
    p.add_argument(
        "--wait-for-database",
        type=float,
        default=DEFAULT_WAIT,
        metavar="SECONDS",
        help="keep trying to connect while the database is down or full, with a backoff "
        f"(default {DEFAULT_WAIT:g}; 0: one attempt)",
    )
    p.set_defaults(func=cmd_engine_load)
