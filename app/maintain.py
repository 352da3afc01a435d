"""Routine maintenance of the database, as its owner: `xorj db maintain`.

`maintain` runs every step of `STEPS`, in order, in ONE transaction on the owner's URL
(the migrations URL, as `xorj db migrate`), and returns what each step did as printable
lines, each beginning with the step's noun ("scores: ..."). A refusal of any step rolls
all of them back. A step is a function `(connection, options) -> list[str]`: a new
kind of maintenance is one more function in `STEPS`.

The steps:

* scores: the retention of trader scores, xorj.prune_scores
  (procedures/scoring_retention.sql): the partitions of the runs outside both limits
  (the last --keep-runs completed runs, the runs younger than --keep-days days;
  xorj.settings when not given) are dropped, and those runs marked pruned.
* trades: the monthly partitions of trades and trade_events for this month and the
  next three are created when missing, xorj.ensure_trade_partitions
  (procedures/trades_partitions.sql). (api.create_trade creates its month's when
  missing too: a missing partition costs a creation, never a trade.) A month leaves only
  through `xorj db archive` (app/archive.py).

Safe at any frequency and concurrently (cron): each step takes its own transaction-level
advisory lock, so calls queue, and a call finds what an earlier one did already done.
Nothing here keeps session state, so it works through a transaction pooler too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from app.dbapi.core import one_line


class MaintainError(Exception):
    """A refusal of the database (an argument out of range): nothing was done."""


@dataclass(frozen=True)
class Options:
    """What the command line says; None: the database's settings (xorj.settings)."""

    keep_runs: int | None = None
    keep_days: int | None = None


Step = Callable[[psycopg.Connection, Options], list[str]]


def prune_scores(conn: psycopg.Connection, options: Options) -> list[str]:
    """xorj.prune_scores with the limits of `options`: one line of what it did."""
    row = conn.execute(
        "SELECT runs_pruned, rows_dropped, partitions_dropped, runs_kept, runs_left,"
        " keep_runs, keep_days, busy FROM xorj.prune_scores(%s, %s)",
        (options.keep_runs, options.keep_days),
    ).fetchone()
    assert row is not None
    pruned, rows, partitions, kept, left, keep_runs, keep_days, busy = row
    line = (
        f"scores: pruned {pruned} run(s), {rows} row(s) in {partitions} partition(s);"
        f" kept {kept} run(s) (the last {keep_runs} completed, and those younger than"
        f" {keep_days} day(s))"
    )
    if busy:
        line += (
            f"; trader_scores was busy (a load of scores in progress?): {left} run(s)"
            " left to prune, run it again later"
        )
    elif left:
        line += f"; {left} run(s) left to prune by the next run"
    return [line]


def trade_partitions(conn: psycopg.Connection, options: Options) -> list[str]:
    """xorj.ensure_trade_partitions: this month's partitions of trades and trade_events
    and the next TRADE_MONTHS_AHEAD months' (procedures/trades_partitions.sql)."""
    created = conn.execute(
        "SELECT xorj.ensure_trade_partitions(clock_timestamp(), %s)", (TRADE_MONTHS_AHEAD,)
    ).fetchone()[0]
    until = conn.execute(
        "SELECT to_char(max(month), 'YYYY-MM') FROM xorj.trade_months()"
    ).fetchone()[0]
    return [f"trades: {created} month(s) of partitions created; partitions ready through {until}"]


# Months of trade partitions kept ready ahead of this one: a monthly cron job may miss a
# run or two and no insert waits on a partition's creation.
TRADE_MONTHS_AHEAD = 3

STEPS: tuple[Step, ...] = (prune_scores, trade_partitions)


def maintain(url: str, keep_runs: int | None = None, keep_days: int | None = None) -> list[str]:
    """Run every step in one transaction as the owner of `url`; the lines they print.
    MaintainError (nothing done) when the database refuses an argument."""
    options = Options(keep_runs, keep_days)
    lines: list[str] = []
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
        try:
            with conn.transaction():
                for step in STEPS:
                    lines += step(conn, options)
        except psycopg.Error as exc:
            if exc.sqlstate is None:  # the connection, not a refusal
                raise
            raise MaintainError(one_line(exc, primary=True)) from None
    return lines
