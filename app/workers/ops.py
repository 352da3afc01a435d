"""Operator listings: `xorj trades list` and `xorj jobs list`, plain-text tables.

    xorj trades list [--status S] [--vault V] [--limit N] [--offset N]
    xorj jobs list [--status S] [--limit N] [--offset N]

Newest first. Each command is one call in one read-only transaction as role xorj_bot
(api.list_trades, api.list_execution_jobs), so the database validates the filters: a
status that does not exist, a vault that is not an address, a limit outside 1..1000 is
refused with its message on one line and exit status 1.

Columns have fixed widths; long values are abbreviated (addresses and signatures keep
their first and last characters: `So11..1112`), times are UTC to the second, a missing
value is `-`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from app.config import database_urls
from app.dbapi import jobs, trades
from app.dbapi.core import Call, one_line
from app.dbapi.sync import SyncDatabase

ROLE = "xorj_bot"
ACTOR = "ops:cli"
DEFAULT_LIMIT = 50


def middle(text: str | None, head: int = 4, tail: int = 4) -> str:
    """`So11111111111111111111111111111111111111112` -> `So11..1112`."""
    if not text:
        return "-"
    if len(text) <= head + tail + 2:
        return text
    return f"{text[:head]}..{text[-tail:]}"


def clip(text: str | None, width: int) -> str:
    """One line of at most `width` characters, `...` marking a cut."""
    if not text:
        return "-"
    line = " ".join(str(text).split())
    return line if len(line) <= width else line[: width - 3] + "..."


def when(value: str | None) -> str:
    """A timestamp of the database's JSON as `2025-01-31 12:00:00Z` (UTC)."""
    if not value:
        return "-"
    moment = datetime.fromisoformat(value).astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


@dataclass(frozen=True)
class Column:
    header: str
    width: int
    value: Callable[[dict[str, Any]], str]
    right: bool = False


TRADE_COLUMNS = (
    Column("ID", 36, lambda t: t["id"]),
    Column("STATUS", 9, lambda t: t["status"]),
    Column("VAULT", 44, lambda t: t["user_vault_address"]),
    Column(
        "PAIR", 22, lambda t: f"{middle(t['from_token_address'])}->{middle(t['to_token_address'])}"
    ),
    Column("AMOUNT_IN", 20, lambda t: str(t["amount_in"]), right=True),
    Column("CREATED_AT", 20, lambda t: when(t["created_at"])),
    Column("SIGNATURE", 14, lambda t: middle(t.get("transaction_signature"), 8, 4)),
)

JOB_COLUMNS = (
    Column("ID", 36, lambda j: j["id"]),
    Column("STATUS", 9, lambda j: j["status"]),
    Column("TRIGGER", 14, lambda j: j["trigger_reason"]),
    Column("WORKER", 20, lambda j: clip(j.get("worker_id"), 20)),
    Column("STARTED", 20, lambda j: when(j.get("started_at"))),
    Column("HEARTBEAT", 20, lambda j: when(j.get("heartbeat_at"))),
    Column("COMPLETED", 20, lambda j: when(j.get("completed_at"))),
    Column("ERROR", 40, lambda j: clip(j.get("error_message"), 40)),
)


def table(columns: Sequence[Column], rows: Sequence[dict[str, Any]]) -> list[str]:
    """A header and one line per row, columns of fixed width two spaces apart (a value
    longer than its column is cut), no trailing spaces."""

    def line(cells: Sequence[str]) -> str:
        out = []
        for column, cell in zip(columns, cells, strict=True):
            cell = cell[: column.width]
            out.append(cell.rjust(column.width) if column.right else cell.ljust(column.width))
        return "  ".join(out).rstrip()

    lines = [line([c.header for c in columns])]
    lines += [line([c.value(row) for c in columns]) for row in rows]
    return lines


def _read(url: str, call: Call) -> list[dict[str, Any]]:
    """A listing's rows, as xorj_bot in a read-only transaction."""
    db = SyncDatabase(url, ACTOR, role=ROLE)
    try:
        with db.transaction(read_only=True) as t:
            return t.run(call)
    finally:
        db.close()


def list_trades(
    url: str,
    status: str | None = None,
    vault: str | None = None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
) -> list[dict[str, Any]]:
    return _read(url, trades.listing(status, vault, limit, offset))


def list_jobs(
    url: str, status: str | None = None, limit: int = DEFAULT_LIMIT, offset: int = 0
) -> list[dict[str, Any]]:
    return _read(url, jobs.listing(status, limit, offset))


def _show(what: str, columns: Sequence[Column], rows: list[dict[str, Any]], limit: int) -> None:
    if not rows:
        print(f"no {what}")
        return
    for text in table(columns, rows):
        print(text)
    if len(rows) == limit:
        print(f"(the first {limit}: --offset {limit} for the next, or filter)")


def _refused(exc: psycopg.Error) -> int:
    print(f"xorj: {one_line(exc, primary=True)}", file=sys.stderr)
    return 1


def cmd_trades_list(args: argparse.Namespace) -> int:
    try:
        rows = list_trades(database_urls().app, args.status, args.vault, args.limit, args.offset)
    except psycopg.OperationalError:
        raise  # unreachable database: app.cli says so
    except psycopg.Error as exc:
        return _refused(exc)
    _show("trades", TRADE_COLUMNS, rows, args.limit)
    return 0


def cmd_jobs_list(args: argparse.Namespace) -> int:
    try:
        rows = list_jobs(database_urls().app, args.status, args.limit, args.offset)
    except psycopg.OperationalError:
        raise
    except psycopg.Error as exc:
        return _refused(exc)
    _show("jobs", JOB_COLUMNS, rows, args.limit)
    return 0


def register_cli(subparsers: Any) -> None:
    """Add `trades list` and `jobs list` to the `xorj` command."""
    trades = subparsers.add_parser("trades", help="the trade log")
    actions = trades.add_subparsers(dest="trades_command", required=True)
    p = actions.add_parser("list", help="trades, newest first, as a table")
    p.add_argument("--status", help="PENDING, SUBMITTED, CONFIRMED or FAILED")
    p.add_argument("--vault", help="only this vault's trades")
    p.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help="1..1000 (default 50)")
    p.add_argument("--offset", type=int, default=0, help="skip this many (default 0)")
    p.set_defaults(func=cmd_trades_list)

    jobs = subparsers.add_parser("jobs", help="the bot's execution jobs")
    actions = jobs.add_subparsers(dest="jobs_command", required=True)
    p = actions.add_parser("list", help="execution jobs, newest first, as a table")
    p.add_argument("--status", help="PENDING, RUNNING, COMPLETED or FAILED")
    p.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help="1..1000 (default 50)")
    p.add_argument("--offset", type=int, default=0, help="skip this many (default 0)")
    p.set_defaults(func=cmd_jobs_list)
