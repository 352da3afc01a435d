"""`xorj db archive`: closed months of the trade log leave the database through a
verified archive. The real command as a subprocess, against a real database, as the
owner (MIGRATION_DATABASE_URL, as `xorj db maintain`).

Trades are made through the api functions (an enabled vault, a running job, created,
submitted, confirmed or failed), then moved into past months as a superuser with the
triggers off (session_replication_role = replica: `move_to_month`), their keys and
events kept in step, as if they had been created then.

The cases: two closed months archived (files, manifest, every line as the row was, the
partitions gone, xorj.trade_archives, later months untouched, an archived trade's
client_order_id and signature still taken), a second run with nothing to do; a month
with an unfinished trade refused (the months before it archived, it kept) and archived
once the trade is finished; a dry run, then files changed on disk (refused), a manifest
rewritten to match changed files (refused), a wrong sum given to the database
(archive_mismatch), the intact files reused; the open month refused (by the command and
by the database), and --before checked.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from app import migrate
from app.archive import ArchiveError, parse_month
from app.workers.planner import TARGETS, USDC
from tests.conftest import app_url_of
from tests.solana import signature
from tests.test_bot_worker import _running_job, as_role, setup_bots

Cli = Callable[..., subprocess.CompletedProcess[str]]

CURRENT = datetime.now(UTC).date().replace(day=1)


def add_months(first: date, k: int) -> date:
    index = first.year * 12 + first.month - 1 + k
    return date(index // 12, index % 12 + 1, 1)


def ym(month: date) -> str:
    return f"{month:%Y-%m}"


def h(text: str) -> int:
    """The row hash, computed here independently of app/archive.py."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


def run_archive(xorj_cli: Cli, db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"DATABASE_URL": app_url_of(db_url), "MIGRATION_DATABASE_URL": db_url}
    return xorj_cli("db", "archive", *args, env=env)


# --- trades through the api, moved into the past -----------------------------------------


class Trades:
    """Trades of one enabled vault, made through the api as the bot makes them."""

    def __init__(self, db_url: str) -> None:
        (user,) = setup_bots(db_url, count=1)
        self.vault = user.vault
        self.db_url = db_url
        with psycopg.connect(db_url, autocommit=True) as conn:
            self.job = _running_job(conn)

    def call(self, query: str, params: tuple) -> Any:
        with psycopg.connect(app_url_of(self.db_url), autocommit=True) as conn:
            return as_role(conn, "xorj_bot", query, params)

    def create(self, n: int, client_order_id: str | None = None) -> str:
        _, trade = self.call(
            "SELECT * FROM api.create_trade(%s, %s, %s, %s, %s, %s, %s)",
            (
                self.job,
                self.vault,
                client_order_id or f"archive-{n}",
                USDC.mint,
                TARGETS[n % len(TARGETS)].mint,
                1_000_000 + n,
                5_000_000,
            ),
        )
        return str(trade["id"])

    def submit(self, trade: str, n: int) -> None:
        self.call("SELECT * FROM api.mark_trade_submitted(%s, %s, %s)", (trade, signature(n), 99))

    def finish(self, trade: str, n: int, outcome: str = "confirmed") -> None:
        if outcome == "confirmed":
            self.call("SELECT * FROM api.mark_trade_confirmed(%s, %s)", (trade, 4_900_000 + n))
        else:
            self.call(
                "SELECT * FROM api.mark_trade_failed(%s, %s, p_failure_basis => 'never_broadcast')",
                (trade, "slippage"),
            )

    def done(self, n: int, outcome: str = "confirmed") -> str:
        """A trade created, submitted (signature n) and finished."""
        trade = self.create(n)
        self.submit(trade, n)
        self.finish(trade, n, outcome)
        return trade


def move_to_month(superuser_url: str, trades: list[str], month: date) -> None:
    """Move trades (and their keys and events) back to about the 15th of `month`, in one
    transaction with the triggers off, creating the month's partitions first."""
    shift = timedelta(days=(datetime.now(UTC).date() - month.replace(day=15)).days)
    with psycopg.connect(superuser_url) as conn:
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute(
            "SELECT xorj.ensure_trade_partitions(%s, 0)",
            (datetime(month.year, month.month, 15, 12, tzinfo=UTC),),
        )
        conn.execute(
            "UPDATE xorj.trades SET created_at = created_at - %(s)s,"
            " updated_at = updated_at - %(s)s, submitted_at = submitted_at - %(s)s,"
            " completed_at = completed_at - %(s)s WHERE id = ANY(%(ids)s::uuid[])",
            {"s": shift, "ids": trades},
        )
        conn.execute(
            "UPDATE xorj.trade_keys k SET created_at = t.created_at FROM xorj.trades t"
            " WHERE k.id = t.id AND t.id = ANY(%s::uuid[])",
            (trades,),
        )
        conn.execute(
            "UPDATE xorj.trade_events e SET trade_created_at = t.created_at, at = e.at - %s"
            " FROM xorj.trades t WHERE e.trade_id = t.id AND t.id = ANY(%s::uuid[])",
            (shift, trades),
        )
        months = conn.execute(
            "SELECT DISTINCT date_trunc('month', created_at AT TIME ZONE 'UTC')::date"
            " FROM xorj.trades WHERE id = ANY(%s::uuid[])",
            (trades,),
        ).fetchall()
        assert months == [(month,)]


# --- reading the database and the archive ------------------------------------------------


def rows_of(url: str, month: date) -> dict[str, list[str]]:
    """The month's trades and events as to_jsonb(row)::text (TimeZone UTC), in id order."""
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    end = datetime.combine(add_months(month, 1), datetime.min.time(), UTC)
    with psycopg.connect(url) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        trades = conn.execute(
            "SELECT to_jsonb(t)::text FROM xorj.trades t"
            " WHERE created_at >= %s AND created_at < %s ORDER BY id",
            (start, end),
        ).fetchall()
        events = conn.execute(
            "SELECT to_jsonb(e)::text FROM xorj.trade_events e"
            " WHERE trade_created_at >= %s AND trade_created_at < %s ORDER BY id",
            (start, end),
        ).fetchall()
    return {"trades": [r for (r,) in trades], "events": [r for (r,) in events]}


def gz_lines(path: Path) -> list[str]:
    text = gzip.decompress(path.read_bytes()).decode()
    assert text == "" or text.endswith("\n")
    return text.splitlines()


def partitions(url: str, month: date) -> tuple[str | None, str | None]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT to_regclass(%s)::text, to_regclass(%s)::text",
            (f"xorj.trades_{month:%Y_%m}", f"xorj.trade_events_{month:%Y_%m}"),
        ).fetchone()


def summary(url: str, month: date) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        return conn.execute("SELECT xorj.trade_month_summary(%s)", (month,)).fetchone()[0]


def call_archive(url: str, month: date, figures: dict[str, Any]) -> psycopg.Error:
    """xorj.archive_trade_month called directly with `figures`: the refusal."""
    with psycopg.connect(url) as conn, pytest.raises(psycopg.Error) as refused:
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute(
            "SELECT xorj.archive_trade_month(%s, %s, %s, %s, %s)",
            (
                month,
                figures["trades"],
                int(figures["trades_sum"]),
                figures["events"],
                int(figures["events_sum"]),
            ),
        )
    return refused.value


# --- the cases ---------------------------------------------------------------------------


def test_two_closed_months_leave_verified_and_their_keys_stay(
    db_url: str, superuser_url: Callable[[str], str], xorj_cli: Cli, tmp_path: Path
) -> None:
    m1, m2, later = add_months(CURRENT, -3), add_months(CURRENT, -2), add_months(CURRENT, -1)
    t = Trades(db_url)
    first = [t.done(0), t.done(1, "failed"), t.done(2)]
    second = [t.done(3), t.done(4)]
    kept_later = [t.done(5)]
    t.done(6, "failed")  # stays in the current month
    su = superuser_url(db_url)
    move_to_month(su, first, m1)
    move_to_month(su, second, m2)
    move_to_month(su, kept_later, later)
    before = {m: rows_of(db_url, m) for m in (m1, m2, later, CURRENT)}
    assert [len(before[m]["trades"]) for m in (m1, m2, later, CURRENT)] == [3, 2, 1, 1]
    # The owner's sessions default to another time zone: the files and the database's
    # checksums are still those of the rows' text in UTC.
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {conn.info.dbname} SET TimeZone = 'Asia/Tokyo'")

    out = tmp_path / "archive"
    done = run_archive(xorj_cli, db_url, "--before", ym(later), "--out", str(out))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2, done.stdout
    latest = [mid for mid, applied in migrate.status(db_url) if applied][-1]
    for line, month in zip(lines, (m1, m2), strict=True):
        rows = before[month]
        directory = out / ym(month)
        assert line.startswith(
            f"trades: archived {ym(month)}: {len(rows['trades'])} trade(s),"
            f" {len(rows['events'])} event(s) -> {directory} (manifest sha256 "
        ), line
        assert sorted(p.name for p in directory.iterdir()) == [
            "manifest.json",
            "trade_events.jsonl.gz",
            "trades.jsonl.gz",
        ]
        manifest = json.loads((directory / "manifest.json").read_text())
        sha = hashlib.sha256((directory / "manifest.json").read_bytes()).hexdigest()
        assert line.endswith(f"(manifest sha256 {sha})")
        assert manifest["month"] == ym(month)
        assert (manifest["trades"], manifest["events"]) == (
            len(rows["trades"]),
            len(rows["events"]),
        )
        assert manifest["trades_sum"] == str(sum(h(r) for r in rows["trades"]))
        assert manifest["events_sum"] == str(sum(h(r) for r in rows["events"]))
        assert manifest["migration"] == latest
        assert manifest["server_version"] and manifest["created_at"].endswith("Z")
        for name, kind in (("trades.jsonl.gz", "trades"), ("trade_events.jsonl.gz", "events")):
            path = directory / name
            assert (
                manifest["files"][name]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
            )
            assert gz_lines(path) == rows[kind]  # each row as it was, in id order
            assert [json.loads(x) for x in gz_lines(path)] == [json.loads(x) for x in rows[kind]]
        assert partitions(db_url, month) == (None, None)
    assert len(before[m1]["events"]) == 9  # created, submitted, finished: 3 each

    with psycopg.connect(db_url) as conn:
        archived = conn.execute(
            "SELECT to_char(month, 'YYYY-MM'), trades, trades_sum, events, events_sum,"
            " archived_by FROM xorj.trade_archives ORDER BY month"
        ).fetchall()
        months = [m for (m,) in conn.execute("SELECT month FROM xorj.trade_months()")]
    assert [row[:5] for row in archived] == [
        (
            ym(m),
            len(before[m]["trades"]),
            sum(h(r) for r in before[m]["trades"]),
            len(before[m]["events"]),
            sum(h(r) for r in before[m]["events"]),
        )
        for m in (m1, m2)
    ]
    assert all(row[5] for row in archived)
    assert m1 not in months and m2 not in months and later in months and CURRENT in months
    assert rows_of(db_url, later) == before[later]  # later months untouched
    assert rows_of(db_url, CURRENT) == before[CURRENT]

    # The archived trades' keys stay: the same client_order_id is refused (not replayed,
    # not a new trade), and so is an archived signature.
    with pytest.raises(psycopg.Error) as reused:
        t.create(0)
    assert reused.value.sqlstate == "XJ409", reused.value
    assert reused.value.diag.constraint_name == "idempotency_key_reused"
    fresh = t.create(7)
    with pytest.raises(psycopg.Error) as taken:
        t.submit(fresh, 0)  # the signature of the archived trade 0
    assert taken.value.sqlstate == "XJ409", taken.value
    assert taken.value.diag.constraint_name == "signature_in_use"

    # Run again: nothing left before that month, and it says what was archived earlier.
    again = run_archive(xorj_cli, db_url, "--before", ym(later), "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert again.stdout == (
        f"trades: nothing to archive before {ym(later)} (archived earlier: {ym(m1)}, {ym(m2)})\n"
    )


def test_a_month_with_an_unfinished_trade_stays_until_it_is_finished(
    db_url: str, superuser_url: Callable[[str], str], xorj_cli: Cli, tmp_path: Path
) -> None:
    m1, m2, later = add_months(CURRENT, -3), add_months(CURRENT, -2), add_months(CURRENT, -1)
    t = Trades(db_url)
    first = [t.done(0), t.done(1)]
    pending = t.create(2)
    second = [pending, t.done(3)]
    su = superuser_url(db_url)
    move_to_month(su, first, m1)
    move_to_month(su, second, m2)
    kept = rows_of(db_url, m2)

    out = tmp_path / "archive"
    refused = run_archive(xorj_cli, db_url, "--before", ym(later), "--out", str(out))
    assert refused.returncode == 1
    assert refused.stdout.startswith(f"trades: archived {ym(m1)}: 2 trade(s), 6 event(s)")
    assert f"month {ym(m2)} has 1 unfinished trade(s)" in refused.stderr, refused.stderr
    assert f"months archived by this run before it: {ym(m1)}" in refused.stderr
    assert partitions(db_url, m1) == (None, None)
    assert partitions(db_url, m2) == (f"xorj.trades_{m2:%Y_%m}", f"xorj.trade_events_{m2:%Y_%m}")
    assert rows_of(db_url, m2) == kept
    assert not (out / ym(m2)).exists()

    # The database refuses it too, whatever figures it is given.
    error = call_archive(db_url, m2, summary(db_url, m2))
    assert (error.sqlstate, error.diag.constraint_name) == ("XJ409", "unfinished_trades")

    # Finished (its event lands in the month of the trade), the month leaves.
    t.finish(pending, 2, "failed")
    done = run_archive(xorj_cli, db_url, "--before", ym(later), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"trades: archived {ym(m2)}: 2 trade(s), 5 event(s)")
    assert partitions(db_url, m2) == (None, None)
    assert json.loads((out / ym(m2) / "manifest.json").read_text())["events"] == 5


def test_changed_files_and_wrong_figures_are_refused_and_intact_files_reused(
    db_url: str, superuser_url: Callable[[str], str], xorj_cli: Cli, tmp_path: Path
) -> None:
    m1, later = add_months(CURRENT, -3), add_months(CURRENT, -1)
    t = Trades(db_url)
    ids = [t.done(0), t.done(1)]
    move_to_month(superuser_url(db_url), ids, m1)
    kept = rows_of(db_url, m1)
    here = (f"xorj.trades_{m1:%Y_%m}", f"xorj.trade_events_{m1:%Y_%m}")
    out = tmp_path / "archive"
    args = ("--before", ym(later), "--out", str(out))

    dry = run_archive(xorj_cli, db_url, *args, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[0].startswith(
        f"trades: exported and verified {ym(m1)}: 2 trade(s), 6 event(s) -> {out / ym(m1)}"
    )
    assert dry.stdout.splitlines()[0].endswith("not dropped (dry run)")
    assert dry.stdout.splitlines()[-1] == "trades: dry run: nothing was dropped from the database"
    assert partitions(db_url, m1) == here
    directory = out / ym(m1)
    manifest = json.loads((directory / "manifest.json").read_text())
    assert gz_lines(directory / "trades.jsonl.gz") == kept["trades"]
    intact = tmp_path / "intact"
    shutil.copytree(directory, intact)

    # The database recomputes the figures: a wrong sum or count is archive_mismatch.
    for wrong in (
        {**manifest, "trades_sum": int(manifest["trades_sum"]) + 1},
        {**manifest, "events": manifest["events"] - 1},
    ):
        error = call_archive(db_url, m1, wrong)
        assert (error.sqlstate, error.diag.constraint_name) == ("XJ409", "archive_mismatch")
    assert partitions(db_url, m1) == here

    # One line changed on disk: it no longer matches its manifest.
    changed = [
        line.replace('"amount_in": 1000000', '"amount_in": 1000009') for line in kept["trades"]
    ]
    assert changed != kept["trades"]
    data = gzip.compress("".join(line + "\n" for line in changed).encode())
    (directory / "trades.jsonl.gz").write_bytes(data)
    refused = run_archive(xorj_cli, db_url, *args)
    assert refused.returncode == 1
    assert "does not match its manifest" in refused.stderr, refused.stderr
    assert "no month was archived by this run" in refused.stderr
    assert partitions(db_url, m1) == here

    # ... and with its manifest rewritten to match: the database's rows differ.
    manifest["files"]["trades.jsonl.gz"]["sha256"] = hashlib.sha256(data).hexdigest()
    manifest["files"]["trades.jsonl.gz"]["sum"] = str(sum(h(x) for x in changed))
    manifest["trades_sum"] = str(sum(h(x) for x in changed))
    (directory / "manifest.json").write_text(json.dumps(manifest))
    refused = run_archive(xorj_cli, db_url, *args)
    assert refused.returncode == 1
    assert "differs from the database" in refused.stderr, refused.stderr
    assert "it is not overwritten" in refused.stderr
    assert partitions(db_url, m1) == here

    # A file cut short cannot be read back.
    (directory / "trades.jsonl.gz").write_bytes(data[: len(data) // 2])
    refused = run_archive(xorj_cli, db_url, *args)
    assert refused.returncode == 1 and "cannot be read back" in refused.stderr, refused.stderr
    assert partitions(db_url, m1) == here
    assert rows_of(db_url, m1) == kept

    # The files of the dry run, intact: verified again, reused, and the month leaves.
    shutil.rmtree(directory)
    shutil.copytree(intact, directory)
    done = run_archive(xorj_cli, db_url, *args)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"trades: archived {ym(m1)}: 2 trade(s), 6 event(s)")
    assert "(reusing the verified files of an earlier run)" in done.stdout
    assert partitions(db_url, m1) == (None, None)
    assert (directory / "trades.jsonl.gz").read_bytes() == (intact / "trades.jsonl.gz").read_bytes()


def test_the_open_month_is_never_archived_and_before_is_checked(
    db_url: str, xorj_cli: Cli, tmp_path: Path
) -> None:
    t = Trades(db_url)
    t.done(0)  # in the current month
    out = tmp_path / "archive"
    now = summary(db_url, CURRENT)
    assert (now["trades"], now["closed"]) == (1, False)

    # --before checked first: nothing done.
    for bad, message in (
        ("2026-13", "--before must be a month as YYYY-MM (such as 2026-01), not '2026-13'"),
        ("2026-1", "--before must be a month as YYYY-MM"),
        ("26-01", "--before must be a month as YYYY-MM"),
        ("2026-00", "--before must be a month as YYYY-MM"),
        (ym(add_months(CURRENT, 2)), f"--before {ym(add_months(CURRENT, 2))} is in the future"),
    ):
        proc = run_archive(xorj_cli, db_url, "--before", bad, "--out", str(out))
        assert proc.returncode == 1, (bad, proc.stdout)
        assert message in proc.stderr, (bad, proc.stderr)
    missing = run_archive(xorj_cli, db_url, "--out", str(out))
    assert missing.returncode == 1
    assert "db archive: give --before YYYY-MM and --out DIR" in missing.stderr
    assert not out.exists()
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM xorj.trade_archives").fetchone() == (0,)

    # Up to the current month: the previous one (empty: its partitions are made by the
    # migration) leaves, the current one is refused.
    previous = add_months(CURRENT, -1)
    refused = run_archive(
        xorj_cli, db_url, "--before", ym(add_months(CURRENT, 1)), "--out", str(out)
    )
    assert refused.returncode == 1
    assert refused.stdout.startswith(f"trades: archived {ym(previous)}: 0 trade(s), 0 event(s)")
    assert f"month {ym(CURRENT)} has not ended" in refused.stderr, refused.stderr
    assert f"months archived by this run before it: {ym(previous)}" in refused.stderr
    assert partitions(db_url, CURRENT)[0] == f"xorj.trades_{CURRENT:%Y_%m}"
    assert summary(db_url, CURRENT) == now
    assert not (out / ym(CURRENT)).exists()
    assert gz_lines(out / ym(previous) / "trades.jsonl.gz") == []

    # The database refuses it with the right figures too.
    error = call_archive(db_url, CURRENT, now)
    assert (error.sqlstate, error.diag.constraint_name) == ("XJ409", "month_not_closed")
    assert summary(db_url, CURRENT) == now


def test_the_database_checksum_does_not_depend_on_the_session_time_zone(
    db_url: str, superuser_url: Callable[[str], str]
) -> None:
    m1 = add_months(CURRENT, -3)
    t = Trades(db_url)
    move_to_month(superuser_url(db_url), [t.done(0)], m1)
    rows = rows_of(db_url, m1)
    for zone in ("UTC", "Asia/Tokyo", "America/New_York"):
        with psycopg.connect(db_url) as conn:
            conn.execute("SELECT set_config('TimeZone', %s, false)", (zone,))
            found = conn.execute("SELECT xorj.trade_month_summary(%s)", (m1,)).fetchone()[0]
        assert (found["trades_sum"], found["events_sum"]) == (
            str(sum(h(r) for r in rows["trades"])),
            str(sum(h(r) for r in rows["events"])),
        ), zone


def test_before_is_a_month_at_most_one_ahead() -> None:
    today = date(2026, 12, 31)
    assert parse_month("2027-01", today) == date(2027, 1, 1)
    assert parse_month("2019-05", today) == date(2019, 5, 1)
    for bad in ("2027-02", "2026-12-01", " 2026-01", "2026-1", ""):
        with pytest.raises(ArchiveError):
            parse_month(bad, today)
