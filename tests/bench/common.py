"""What the fair benchmarks share: A/B rounds, their medians and spreads, the result
table, the addresses the load generators derive from a counter, and the tools
(pgbench, psql, wrk) with the versions of everything involved."""

from __future__ import annotations

import os
import platform
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import psycopg

from app import devdb
from tests import dbutil


def say(text: str = "") -> None:
    print(text, flush=True)


# --- addresses derived from a counter ----------------------------------------------------
# A 44-character base58 address: a fixed 34-character head naming its kind, then the
# counter in 10 decimal digits with 0 written as z (base58 has no 0). The load generators
# build the same strings: pgbench in SQL (address_sql), wrk in Lua (bench_http).

VAULT, USER, FROM, TO = "BenchVau1t", "BenchUser", "BenchFromMint", "BenchToMint"
HEAD = 34


def head(kind: str) -> str:
    return kind.ljust(HEAD, "z")


def address(kind: str, n: int) -> str:
    return head(kind) + f"{n:010d}".replace("0", "z")


def address_sql(kind: str, number: str) -> str:
    """The SQL expression of address(kind, <number>): `number` is an SQL expression."""
    return f"('{head(kind)}' || translate(lpad(({number})::text, 10, '0'), '0', 'z'))"


# --- rounds, medians, spreads -----------------------------------------------------------


@dataclass
class Row:
    """One line of the result table: the rule's and the baseline's figure of each round
    (A/B pairs measured one after the other), and the goal on the ratio. With
    `--before REV`, also the rule on REV's tree (`before`), measured in the same rounds
    between the two, against the same baseline."""

    work: str
    unit: str  # "tps", "rps" (higher is better) or "s" (lower is better)
    goal: str  # "<= 1.25", ">= 0.8", or "info"
    rule: list[float] = field(default_factory=list)
    base: list[float] = field(default_factory=list)
    note: str = ""
    before: list[float] = field(default_factory=list)  # the rounds REV's side completed
    before_note: str = ""  # why REV's side has no (or fewer) figures

    def _ratios(self, rule: list[float]) -> list[float]:
        pairs = zip(rule, self.base[: len(rule)], strict=True)
        if self.unit == "s":
            return [r / b for r, b in pairs]
        if self.goal.startswith(">="):
            return [r / b for r, b in pairs]
        return [b / r for r, b in pairs]

    def ratios(self) -> list[float]:
        """Per round. For rates: baseline/rule (the rule's time over the bare time) for
        the database rows, rule/baseline for HTTP (goal >= ...): as the goal reads."""
        return self._ratios(self.rule)

    def before_ratios(self) -> list[float]:
        """The same for REV's rule, against the baseline of the same rounds."""
        return self._ratios(self.before)

    def met(self) -> str:
        if not self.rule or self.goal == "info":
            return "-"
        op, _, limit = self.goal.partition(" ")
        ratio = statistics.median(self.ratios())
        ok = ratio <= float(limit) if op == "<=" else ratio >= float(limit)
        return "yes" if ok else "NO"


def spread(values: list[float], digits: int = 0) -> str:
    """median [min-max]"""
    if not values:
        return "-"
    fmt = f"{{:,.{digits}f}}"
    med = fmt.format(statistics.median(values))
    return f"{med} [{fmt.format(min(values))}-{fmt.format(max(values))}]"


def digits_for(unit: str) -> int:
    return 2 if unit == "s" else 0


def interleave(
    rounds: int,
    a: Callable[[int], float],
    b: Callable[[int], float],
    row: Row,
    label: str,
    before: Callable[[int], float] | None = None,
) -> Row:
    """Rounds of A then B (A/B/A/B...), each figure printed as it comes. With `before`
    (the rule on REV's tree, --before): A, then before, then B in every round. A failure
    of `before` ends REV's side of this row (a note on the row), not the row."""
    d = digits_for(row.unit)
    for r in range(1, rounds + 1):
        ra = a(r)
        rc = None
        if before is not None and not row.before_note:
            try:
                rc = before(r)
            except Exception as exc:  # REV may lack what this row needs: say so, go on
                row.before_note = f"before FAILED in round {r}: {' '.join(str(exc).split())[:300]}"
                say(f"  {label} round {r}: {row.before_note}")
        rb = b(r)
        row.rule.append(ra)
        row.base.append(rb)
        text = f"rule {ra:,.{d}f} {row.unit}, "
        if rc is not None:
            row.before.append(rc)
            text += f"before {rc:,.{d}f} {row.unit} (ratio {row.before_ratios()[-1]:.2f}), "
        say(
            f"  {label} round {r}: {text}baseline {rb:,.{d}f} {row.unit}, "
            f"ratio {row.ratios()[-1]:.2f}"
        )
    return row


def print_table(rows: list[Row], before: str | None = None) -> None:
    """The result table; with `before` (REV of --before), REV's rule and ratio too."""
    if before:
        headers = ("work", "rule (after)", f"rule (before, {before})", "baseline")
        headers += ("before ratio", "after ratio", "goal", "met? (after)")
    else:
        headers = ("work", "rule", "baseline", "ratio", "goal", "met?")
    lines = []
    for row in rows:
        d = digits_for(row.unit)
        rule = f"{spread(row.rule, d)} {row.unit}" if row.rule else "not run"
        base = f"{spread(row.base, d)} {row.unit}" if row.base else "-"
        ratio = spread(row.ratios(), 2) if row.rule else "-"
        if before:
            old = f"{spread(row.before, d)} {row.unit}" if row.before else "-"
            if row.before_note and not row.before:
                old = "failed (notes)"
            old_ratio = spread(row.before_ratios(), 2) if row.before else "-"
            lines.append((row.work, rule, old, base, old_ratio, ratio, row.goal, row.met()))
        else:
            lines.append((row.work, rule, base, ratio, row.goal, row.met()))
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
    say(" | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    say("-|-".join("-" * w for w in widths))
    for line in lines:
        say(" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)))
    notes = [f"  {row.work}: {row.note}" for row in rows if row.note]
    if before:
        notes += [f"  {row.work}: {row.before_note}" for row in rows if row.before_note]
    if notes:
        say("notes:")
        for note in notes:
            say(note)


# --- tools and versions -----------------------------------------------------------------


def pg_tool(name: str) -> str:
    """pgbench or psql of the newest installed server (PG_BINDIR wins), else from PATH."""
    try:
        candidate = devdb.find_bindir() / name
        if candidate.exists():
            return str(candidate)
    except devdb.DevDbError:
        pass
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: install the PostgreSQL server package")
    return found


def libpq_env(url: str) -> dict[str, str]:
    """The environment for a libpq tool connecting to `url` (no .pgpass or service file
    of this user is read)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(dbutil.libpq_env(url))
    return env


def checkpoint() -> None:
    """A CHECKPOINT before each measured run: each starts with the same WAL state (full
    page images after it), so a checkpoint does not land in one side's run only."""
    with psycopg.connect(dbutil.admin_url(), autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def _package(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


def _tool_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except OSError:
        return "absent"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "?"


def environment(url: str) -> list[str]:
    """Lines naming the machine, the server and its durability settings, the packages."""
    with psycopg.connect(url) as conn:
        server = conn.execute("SELECT version()").fetchone()[0]
        settings = conn.execute(
            "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) "
            "FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers', "
            "'wal_level', 'full_page_writes', 'max_wal_size', 'jit')"
        ).fetchone()[0]
    packages = ", ".join(
        f"{p} {_package(p)}"
        for p in ("psycopg", "psycopg-pool", "litestar", "uvicorn", "h11", "httptools", "uvloop")
    )
    wrk = shutil.which("wrk")
    return [
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Linux {platform.release()}, "
        f"Python {platform.python_version()}",
        f"server: {server.split(' on ')[0]}; {settings}",
        f"packages: {packages}",
        f"tools: {_tool_version([pg_tool('pgbench'), '--version'])}; "
        + (_tool_version([wrk, "--version"]).split(" Copyright")[0] if wrk else "wrk absent"),
    ]


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def parse(pattern: str, text: str, what: str) -> str:
    found = re.search(pattern, text, re.MULTILINE)
    if not found:
        raise RuntimeError(f"no {what} in the output:\n{text[-2000:]}")
    return found.group(1)


class Clock:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    def __str__(self) -> str:
        return f"{time.perf_counter() - self.started:.0f} s"


def temp_dir(base: Path | None = None) -> Path:
    import tempfile

    return Path(tempfile.mkdtemp(prefix="xorj-bench-", dir=base))
