"""The rows of `make bench` for information (no goal), on the current tree only:
create_trade's one round trip vs four, create_trade against the bare write both in one
round trip, create_trade's plan_cache_mode as migrated vs toggled, and the status
transaction unprepared vs prepared (README, "Deploying")."""

from __future__ import annotations

import psycopg

from app.dbapi.core import prelude_params
from tests.bench.bench_sql import (
    Db,
    Script,
    bare_script,
    pgbench,
    prelude_sql,
    rule_script,
    trade_pair,
)
from tests.bench.common import Row, interleave


def status_script() -> str:
    return f"BEGIN;\n{prelude_sql()};\n{'SELECT api.bot_status()'};\nCOMMIT;\n"


def bench_status_prepared(db: Db, rounds: int, seconds: int) -> Row:
    """The status transaction unprepared (as the app sends it) vs prepared statements."""
    role, claims, actor, timeout = prelude_params("xorj_api", db.user_claims, db.user_actor, 30000)
    variables = {"role": role, "claims": claims, "actor": actor, "timeout": timeout}

    def run(mode: str) -> float:
        return pgbench(
            db,
            db.app_url,
            f"status_{mode}",
            status_script(),
            1,
            variables,
            seconds=seconds,
            mode=mode,
        )

    run("extended")  # warm the caches
    row = Row("status tx unprepared vs prepared, 1 client", "tps", "info")
    row.note = "ratio = unprepared time / prepared time (README, Deploying: ~1 means no gain)"
    return interleave(rounds, lambda r: run("extended"), lambda r: run("prepared"), row, "status")


def _against(
    db: Db, rounds: int, per_client: int, other: Script, url: str | None, label: str, note: str
) -> Row:
    """create_trade as the bot's door sends it against `other` (on `url`), 1 client."""
    a, b, _ = trade_pair(db, 1, per_client, rule_script(), other, url)
    row = Row(label, "tps", "info")
    row.note = note
    return interleave(rounds, a, b, row, label)


def bench_round_trips(db: Db, rounds: int, per_client: int) -> Row:
    """create_trade in one round trip (the door's way) vs four."""
    return _against(
        db,
        rounds,
        per_client,
        rule_script(trips=4),
        None,
        "create_trade, 1 round trip vs 4",
        "ratio = time of the prelude and call as one query string (as app/dbapi/sync.py "
        "sends them since issue 13) / time of BEGIN, prelude, call, COMMIT one by one (as "
        "it sent them before); < 1: the one round trip gains",
    )


def bench_one_trip_baseline(db: Db, rounds: int, per_client: int) -> Row:
    """create_trade in one round trip vs the bare write in one round trip too."""
    return _against(
        db,
        rounds,
        per_client,
        bare_script(one_trip=True),
        db.owner_url,
        "create_trade vs the bare write, both in one round trip",
        "ratio = time of create_trade as the door sends it / time of the bare trade and "
        "event INSERTs as one statement (WITH ... INSERT), also one round trip: the "
        "database's own price of the rules, with no round trip on either side to hide it",
    )


CREATE_TRADE_SIGNATURE = (
    "api.create_trade(uuid, text, text, text, text, numeric, numeric, text, interval, text)"
)


def bench_plan_cache(db: Db, rounds: int, per_client: int) -> Row:
    """create_trade as migrated vs with its plan_cache_mode setting toggled (this
    database only; restored after)."""
    with psycopg.connect(db.owner_url, autocommit=True) as conn:
        config = conn.execute(
            "SELECT coalesce(proconfig, '{}') FROM pg_proc WHERE oid = %s::regprocedure",
            (CREATE_TRADE_SIGNATURE,),
        ).fetchone()[0]
    # As migrated: a forced mode (force_generic_plan since issue 13) or the default (auto);
    # toggled: the default when a mode is forced, else force_custom_plan.
    modes = [c.split("=", 1)[1] for c in config if c.startswith("plan_cache_mode=")]
    shipped = modes[0] if modes else "auto (the default)"
    toggled = "auto (the default)" if modes else "force_custom_plan"
    toggle = "RESET plan_cache_mode" if modes else "SET plan_cache_mode = force_custom_plan"
    restore = f"SET plan_cache_mode = {modes[0]}" if modes else "RESET plan_cache_mode"
    a, b, _ = trade_pair(db, 1, per_client, rule_script(), rule_script())

    def alter(clause: str) -> None:
        with psycopg.connect(db.owner_url, autocommit=True) as conn:
            conn.execute(f"ALTER FUNCTION {CREATE_TRADE_SIGNATURE} {clause}")

    def b_toggled(r: int) -> float:
        alter(toggle)
        try:
            return b(r)
        finally:
            alter(restore)

    row = Row("create_trade, plan_cache_mode as migrated vs toggled", "tps", "info")
    row.note = (
        f"rule = as migrated ({shipped}), baseline = {toggled}; ratio > 1: {toggled} is "
        f"faster here (a database of {db.next_index:,} trades at most: plans may differ on a "
        "large one)"
    )
    return interleave(rounds, a, b_toggled, row, "plan_cache_mode")
