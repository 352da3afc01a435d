"""Closed months of the trade log leave the database through a verified archive:
`xorj db archive --before YYYY-MM --out DIR [--dry-run]`.

xorj.trades and xorj.trade_events are partitioned by month (UTC) of the trade's creation
(migration 0011), so a trade and all its events are in the partitions of one month. For
every month that has partitions and is strictly before `before`, oldest first:

a. the database's summary of the month (xorj.trade_month_summary): a month that has not
   ended, or holds an unfinished (PENDING, SUBMITTED) trade, stops the run there;
b. the month's trades and events are written, in ONE REPEATABLE READ transaction (the
   snapshot the summary was read in), to `DIR/YYYY-MM/trades.jsonl.gz` and
   `trade_events.jsonl.gz`: one row per line, its text `to_jsonb(row)::text`, in the order
   of id, read through a server-side cursor (memory stays flat whatever the month's size);
   counts and row-hash sums are computed while writing;
c. `manifest.json` names the figures, the sha256 of each file, the time, the server's
   version and the latest applied migration. Everything is written into a temporary
   directory next to `DIR/YYYY-MM`, fsynced, and renamed to it at the end: a month
   directory is complete or absent. A month directory left by an earlier run (a dry run)
   is reused only when it verifies and matches the database; anything else there is
   refused, never overwritten;
d. the files are read back from disk: their sha256 checked against the manifest, every
   line parsed as JSON, recounted and re-summed; figures that differ from the manifest's
   or the database's summary stop the run, nothing dropped;
e. xorj.archive_trade_month, given the figures read back, recomputes them on the
   partitions under its lock and, when they are equal, records the month in
   xorj.trade_archives and drops both partitions. Its refusals (XJ409 month_not_closed,
   unfinished_trades, archive_mismatch; XJ404 no partition) stop the run.

The row hash (ROW_HASH): the first 8 bytes of the sha256 of the row's text in UTF-8, a
signed big-endian 64-bit integer; a month's sum is the exact sum over its rows (order
does not matter). The text form depends on session settings (TimeZone above all): both
transactions set TEXT_SETTINGS (app.backup), as the files say.

A dry run does a to d and drops nothing. Months archived before a refusal stay archived
(the error says which).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

import psycopg

from app.backup import TEXT_SETTINGS
from app.dbapi.core import CONFLICT, NOT_FOUND, one_line

FORMAT = "xorj-trade-archive"
FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
TRADES_FILE = "trades.jsonl.gz"
EVENTS_FILE = "trade_events.jsonl.gz"
ROW_HASH = (
    "h(row) = the first 8 bytes of sha256(UTF-8 of to_jsonb(row)::text) as a signed "
    "big-endian 64-bit integer; a sum is the exact sum of h over the rows"
)
FETCH_ROWS = 5000
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class ArchiveError(Exception):
    """The archive stopped; the message says why and what was done. `lines`: what the
    months archived before the stop printed."""

    def __init__(self, message: str, lines: list[str] | None = None) -> None:
        super().__init__(message)
        self.lines = lines or []


@dataclass(frozen=True)
class Part:
    """One table of the trade log as it is archived."""

    file: str
    query: str
    month_key: str  # the column that puts the row into its month


PARTS = (
    Part(
        TRADES_FILE,
        "SELECT to_jsonb(t)::text FROM xorj.trades t"
        " WHERE t.created_at >= %s AND t.created_at < %s ORDER BY t.id",
        "created_at",
    ),
    Part(
        EVENTS_FILE,
        "SELECT to_jsonb(e)::text FROM xorj.trade_events e"
        " WHERE e.trade_created_at >= %s AND e.trade_created_at < %s ORDER BY e.id",
        "trade_created_at",
    ),
)


@dataclass(frozen=True)
class Figures:
    """What a month holds: counts and row-hash sums of its trades and events."""

    trades: int
    trades_sum: int
    events: int
    events_sum: int

    @classmethod
    def of(cls, data: dict) -> Figures:
        """From a summary or a manifest (sums as strings)."""
        keys = ("trades", "trades_sum", "events", "events_sum")
        return cls(*(int(data[key]) for key in keys))

    @classmethod
    def of_files(cls, files: dict) -> Figures:
        trades, events = files[TRADES_FILE], files[EVENTS_FILE]
        return cls(trades["rows"], int(trades["sum"]), events["rows"], int(events["sum"]))

    def describe(self) -> str:
        return (
            f"{self.trades} trade(s) (sum {self.trades_sum}), "
            f"{self.events} event(s) (sum {self.events_sum})"
        )


def row_hash(line: bytes) -> int:
    """The row hash of one row's text (UTF-8 bytes of to_jsonb(row)::text)."""
    return int.from_bytes(hashlib.sha256(line).digest()[:8], "big", signed=True)


# --- months -----------------------------------------------------------------------------


def parse_month(text: str, today: date | None = None) -> date:
    """The first day of the month `text` (YYYY-MM), at most the month after the current
    one (UTC); ArchiveError otherwise."""
    if not MONTH.match(text or ""):
        raise ArchiveError(f"--before must be a month as YYYY-MM (such as 2026-01), not {text!r}")
    first = date(int(text[:4]), int(text[5:]), 1)
    today = today or datetime.now(UTC).date()
    if first > _next_month(today.replace(day=1)):
        raise ArchiveError(
            f"--before {text} is in the future: at most the month after the current one "
            f"({_next_month(today.replace(day=1)):%Y-%m}; the current month never qualifies, "
            "it has not ended)"
        )
    return first


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def _bounds(month: date) -> tuple[datetime, datetime]:
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    end = _next_month(month)
    return start, datetime(end.year, end.month, 1, tzinfo=UTC)


# The settings the rows' text depends on, and no timeout (a month may be large).
SETTINGS = {**TEXT_SETTINGS, "statement_timeout": "0", "idle_in_transaction_session_timeout": "0"}


def _set_local(conn: psycopg.Connection) -> None:
    """SETTINGS, for the current transaction only (safe behind a transaction pooler)."""
    calls = ", ".join("pg_catalog.set_config(%s, %s, true)" for _ in SETTINGS)
    conn.execute(f"SELECT {calls}", [v for item in SETTINGS.items() for v in item])


# --- files ------------------------------------------------------------------------------


class _Hashing:
    """A binary file seen through sha256: what is written to it or read from it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.raw.write(data)

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.digest.update(data)
        return data

    def flush(self) -> None:
        self.raw.flush()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_part(conn: psycopg.Connection, part: Part, month: date, path: Path) -> dict:
    """Stream one table's rows of `month` into the new gzip file `path`; its figures."""
    count = total = 0
    with (
        open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as raw,
        conn.cursor(name=f"archive_{part.month_key}") as cur,
    ):
        hashed = _Hashing(raw)
        with gzip.GzipFile(filename="", mode="wb", fileobj=hashed, mtime=0, compresslevel=6) as gz:
            cur.execute(part.query, _bounds(month))
            while rows := cur.fetchmany(FETCH_ROWS):
                lines = [text.encode() for (text,) in rows]
                gz.write(b"".join(line + b"\n" for line in lines))
                count += len(lines)
                total += sum(map(row_hash, lines))
        raw.flush()
        os.fsync(raw.fileno())
    return {"rows": count, "sum": str(total), "sha256": hashed.digest.hexdigest()}


def _read_part(path: Path, part: Part, month: date) -> dict:
    """Read one archive file back: its sha256, and its rows parsed, counted and summed;
    ArchiveError on a line that is not a row of this month, in the order of id."""
    start, end = _bounds(month)
    count = total = 0
    previous: Any = None
    with path.open("rb") as raw:
        hashed = _Hashing(raw)
        try:
            with gzip.GzipFile(filename="", mode="rb", fileobj=hashed) as gz:
                for line in gz:
                    if not line.endswith(b"\n"):
                        raise ValueError("the last line has no newline: the file was cut short")
                    row = json.loads(line[:-1].decode())
                    if not start <= datetime.fromisoformat(row[part.month_key]) < end:
                        raise ValueError(f"{part.month_key} {row[part.month_key]} is not in it")
                    if previous is not None and not previous < row["id"]:
                        raise ValueError(f"id {row['id']} is not after the previous row's")
                    previous = row["id"]
                    count += 1
                    total += row_hash(line[:-1])
        except (ValueError, TypeError, KeyError, EOFError, OSError) as exc:
            raise ArchiveError(
                f"{path}: line {count + 1} cannot be read back ({exc}): the file is damaged"
            ) from None
        while hashed.read(1 << 20):  # anything after the gzip stream counts too
            pass
    return {"rows": count, "sum": str(total), "sha256": hashed.digest.hexdigest()}


def _write_json(path: Path, data: dict) -> None:
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def verify_month(directory: Path, month: date) -> tuple[Figures, dict]:
    """Read a month's archive back from disk (fresh opens): the manifest, each file's
    sha256, every line parsed, recounted and re-summed. The figures read back and the
    manifest; ArchiveError on any difference."""
    path = directory / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text())
        if manifest.get("format") != FORMAT or manifest.get("month") != f"{month:%Y-%m}":
            raise ValueError(f"not a {FORMAT} manifest of {month:%Y-%m}")
        stated = Figures.of(manifest)
        files = {name: manifest["files"][name] for name in (TRADES_FILE, EVENTS_FILE)}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ArchiveError(f"{path}: not a usable manifest ({exc})") from None
    found = {}
    for part in PARTS:
        if not (directory / part.file).is_file():
            raise ArchiveError(f"{directory} has no {part.file}")
        found[part.file] = _read_part(directory / part.file, part, month)
        if found[part.file]["sha256"] != files[part.file].get("sha256"):
            raise ArchiveError(
                f"{directory / part.file} does not match its manifest (sha256 "
                f"{found[part.file]['sha256']}, the manifest says "
                f"{files[part.file].get('sha256')}): the file is damaged or was changed"
            )
    read = Figures.of_files(found)
    if read != stated:
        raise ArchiveError(
            f"{directory}: the files hold {read.describe()}; the manifest says {stated.describe()}"
        )
    return read, manifest


# --- one month --------------------------------------------------------------------------


def _check_archivable(month: date, summary: dict) -> None:
    if not summary["closed"]:
        raise ArchiveError(f"month {month:%Y-%m} has not ended (UTC): it cannot be archived yet")
    if summary["unfinished"]:
        raise ArchiveError(
            f"month {month:%Y-%m} has {summary['unfinished']} unfinished trade(s) (PENDING or "
            "SUBMITTED): resolve them first (xorj bot recover), then archive it"
        )


def _export(conn: psycopg.Connection, month: date, target: Path) -> Figures:
    """Steps a to c in one REPEATABLE READ transaction: the summary checked, the files and
    the manifest written into a temporary directory renamed to `target` at the end (or a
    verified earlier archive in `target` reused). The database's figures."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        _set_local(conn)
        summary = conn.execute("SELECT xorj.trade_month_summary(%s)", (month,)).fetchone()[0]
        expected = Figures.of(summary)
        _check_archivable(month, summary)
        if target.exists() or target.is_symlink():
            if not target.is_dir():
                raise ArchiveError(f"{target} exists and is not a directory")
            if any(target.iterdir()):
                stated, _ = verify_month(target, month)  # an earlier run's, verified
                if stated != expected:
                    raise ArchiveError(
                        f"{target} holds an archive of an earlier run that differs from the "
                        f"database ({stated.describe()}; the database has "
                        f"{expected.describe()}): it is not overwritten, move it away"
                    )
                return expected
            target.rmdir()
        _write_month(conn, month, target, expected)
    return expected


def _write_month(conn: psycopg.Connection, month: date, target: Path, expected: Figures) -> None:
    partial = target.parent / f".{target.name}.partial-{secrets.token_hex(4)}"
    partial.mkdir(mode=0o700)
    try:
        written = {part.file: _write_part(conn, part, month, partial / part.file) for part in PARTS}
        figures = Figures.of_files(written)
        if figures != expected:
            raise ArchiveError(
                f"month {month:%Y-%m}: the rows written ({figures.describe()}) differ from the "
                f"database's summary ({expected.describe()}) in the same snapshot"
            )
        created_at, server_version, migration = conn.execute(
            "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
            " current_setting('server_version'),"
            " (SELECT migration_id FROM public._yoyo_migration"
            "  ORDER BY migration_id DESC LIMIT 1)"
        ).fetchone()
        _write_json(
            partial / MANIFEST_FILE,
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "month": f"{month:%Y-%m}",
                "trades": figures.trades,
                "trades_sum": str(figures.trades_sum),
                "events": figures.events,
                "events_sum": str(figures.events_sum),
                "files": written,
                "row_hash": ROW_HASH,
                "text_settings": TEXT_SETTINGS,
                "created_at": created_at,
                "server_version": server_version,
                "migration": migration,
            },
        )
        _fsync_dir(partial)
        try:
            os.rename(partial, target)
        except OSError as exc:  # `target` appeared meanwhile, with files
            raise ArchiveError(f"cannot rename {partial} to {target}: {exc.strerror}") from None
        _fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


_REFUSALS = {
    "month_not_closed": "it has not ended (UTC)",
    "unfinished_trades": "it has unfinished trades (PENDING or SUBMITTED): resolve them first",
    "archive_mismatch": (
        "the database recomputed other counts or sums than the files hold: the files do not "
        "match the rows, investigate before archiving"
    ),
}


def _archive_month(conn: psycopg.Connection, month: date, figures: Figures) -> dict:
    """Step e: the database checks the figures and drops the month's partitions."""
    try:
        with conn.transaction():
            _set_local(conn)
            return conn.execute(
                "SELECT xorj.archive_trade_month(%s, %s, %s, %s, %s)",
                (month, figures.trades, figures.trades_sum, figures.events, figures.events_sum),
            ).fetchone()[0]
    except psycopg.Error as exc:
        if exc.sqlstate is None:
            raise
        why = one_line(exc, primary=True)
        if exc.sqlstate == CONFLICT and exc.diag.constraint_name in _REFUSALS:
            why = f"{_REFUSALS[exc.diag.constraint_name]} ({why})"
        elif exc.sqlstate == NOT_FOUND:
            why = f"it has no partition any more: archived meanwhile? ({why})"
        raise ArchiveError(f"the database refused to archive month {month:%Y-%m}: {why}") from None


# --- the command ------------------------------------------------------------------------


def archive(url: str, before: str, out_dir: Path, dry_run: bool = False) -> list[str]:
    """Archive every closed month before `before` (YYYY-MM) into `out_dir`, oldest first,
    as the owner of `url`; with `dry_run`, write and verify the files only. The lines to
    print; ArchiveError (with the lines so far) when a month stops the run."""
    first = parse_month(before)
    lines: list[str] = []
    archived: list[str] = []
    with psycopg.connect(
        url, autocommit=True, prepare_threshold=None, client_encoding="UTF8"
    ) as conn:
        months = [
            m for (m,) in conn.execute("SELECT month FROM xorj.trade_months() ORDER BY month")
        ]
        months = [m for m in months if m < first]
        if not months:
            done = conn.execute(
                "SELECT to_char(month, 'YYYY-MM') FROM xorj.trade_archives WHERE month < %s"
                " ORDER BY month",
                (first,),
            ).fetchall()
            already = f" (archived earlier: {', '.join(m for (m,) in done)})" if done else ""
            return [f"trades: nothing to archive before {before}{already}"]
        try:
            out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise ArchiveError(f"cannot create {out_dir}: {exc.strerror}") from None
        for month in months:
            try:
                try:
                    lines.append(_one_month(conn, month, out_dir / f"{month:%Y-%m}", dry_run))
                except OSError as exc:
                    raise ArchiveError(f"cannot write or read the files: {exc}") from None
                except psycopg.Error as exc:
                    if exc.sqlstate is None:  # the connection, not a refusal
                        raise
                    raise ArchiveError(f"the database refused: {one_line(exc, True)}") from None
            except ArchiveError as exc:
                done = (
                    f"months archived by this run before it: {', '.join(archived)}"
                    if archived
                    else "no month was archived by this run"
                )
                later = [f"{m:%Y-%m}" for m in months if m > month]
                left = f"; not tried: {', '.join(later)}" if later else ""
                raise ArchiveError(
                    f"{exc}; month {month:%Y-%m} is kept in the database ({done}{left})",
                    lines,
                ) from None
            if not dry_run:
                archived.append(f"{month:%Y-%m}")
    if dry_run:
        lines.append("trades: dry run: nothing was dropped from the database")
    return lines


def _one_month(conn: psycopg.Connection, month: date, target: Path, dry_run: bool) -> str:
    reused = target.is_dir() and any(target.iterdir())
    expected = _export(conn, month, target)
    read, _ = verify_month(target, month)  # fresh opens of what is on disk
    if read != expected:
        raise ArchiveError(
            f"{target}: the files read back hold {read.describe()}; the database has "
            f"{expected.describe()}"
        )
    sha = _sha256(target / MANIFEST_FILE)
    how = " (reusing the verified files of an earlier run)" if reused else ""
    what = f"{read.trades} trade(s), {read.events} event(s) -> {target} (manifest sha256 {sha})"
    if dry_run:
        return f"trades: exported and verified {month:%Y-%m}: {what}{how}; not dropped (dry run)"
    _archive_month(conn, month, read)
    return f"trades: archived {month:%Y-%m}: {what}{how}"
