"""Sample data of the original system (`--sample-data`), loaded through the api functions
exactly as the API, the engine and the bot would call them, so every rule applies.

Idempotent: loading twice leaves the same data (bots and settings are upserts; the
scoring run is created only when none holds the sample traders yet).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

# Two users: one whose bot is enabled for a vault, one whose bot is disabled.
ACTIVE_WALLET = "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU"
ACTIVE_VAULT = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"
STOPPED_WALLET = "5FHwkrdxntdK24hgQU8qgBjn35Y1zwhGwHKuR7Jc8Z4S"
STOPPED_VAULT = "3Kat5BE3pc2Gg1bwmRRtK3HfL6FP3ZqfUzxm1ki4vA1x"

SETTINGS = {
    ACTIVE_WALLET: {
        "riskProfile": "Balanced",
        "maxDrawdownLimit": 15,
        "positionSizePercent": 5,
        "investmentAmount": 1000,
    },
    STOPPED_WALLET: {
        "riskProfile": "Conservative",
        "maxDrawdownLimit": 10,
        "positionSizePercent": 3,
        "stopLossEnabled": True,
        "takeProfitEnabled": False,
        "investmentAmount": 500,
    },
}

# One completed scoring run with three traders.
TRADERS = [
    {
        "wallet_address": "GThUX1Atko4tqhN2NaiTazWSeFWMuiUvfFnyJyUghFMJ",
        "xorj_trust_score": 87.5,
        "metrics": {"total_trades": 142, "win_rate": 0.68, "avg_profit": 0.042},
    },
    {
        "wallet_address": "HN7cABqLq46Es1jh92dQQisAq662SmxELLLsHHe4YWrH",
        "xorj_trust_score": 74.25,
        "metrics": {"total_trades": 98, "win_rate": 0.61, "avg_profit": 0.031},
    },
    {
        "wallet_address": "DRpbCBMxVnDK7maPM5tGv6MvB3v1sRMC86PZ8okm21hy",
        "xorj_trust_score": 61.0,
        "metrics": {"total_trades": 57, "win_rate": 0.55, "avg_profit": 0.018},
    },
]


@dataclass
class SeedReport:
    lines: list[str] = field(default_factory=list)


def _as(conn: psycopg.Connection, role: str, query: str, params: tuple[Any, ...] = ()) -> Any:
    """One call of an api function as `role`, in its own transaction."""
    with conn.transaction():
        conn.execute("SELECT set_config('xorj.actor', 'seed:sample-data', true)")
        conn.execute(f"SET LOCAL ROLE {role}")
        return conn.execute(query, params).fetchone()


def load_sample_data(url: str) -> SeedReport:
    report = SeedReport()
    with psycopg.connect(url, autocommit=True) as conn:
        _as(conn, "xorj_api", "SELECT api.enable_bot(%s, %s)", (ACTIVE_WALLET, ACTIVE_VAULT))
        _as(conn, "xorj_api", "SELECT api.enable_bot(%s, %s)", (STOPPED_WALLET, STOPPED_VAULT))
        _as(conn, "xorj_api", "SELECT api.disable_bot(%s)", (STOPPED_WALLET,))
        report.lines.append(f"bot states: {ACTIVE_WALLET} enabled, {STOPPED_WALLET} disabled")

        for wallet, patch in SETTINGS.items():
            (current,) = _as(conn, "xorj_api", "SELECT api.get_user_settings(%s)", (wallet,))
            if current is None:
                _as(
                    conn,
                    "xorj_api",
                    "SELECT api.update_user_settings(%s, %s)",
                    (wallet, Jsonb(patch)),
                )
        report.lines.append(f"user settings: {len(SETTINGS)} wallets")

        (present,) = conn.execute(
            "SELECT count(*) FROM xorj.trader_scores s JOIN xorj.scoring_runs r ON r.id = s.run_id "
            "WHERE r.status = 'COMPLETED' AND s.wallet_address = %s",
            (TRADERS[0]["wallet_address"],),
        ).fetchone()
        if present:
            report.lines.append("scoring run: the sample run is already there")
            return report
        (run,) = _as(conn, "xorj_engine", "SELECT api.create_scoring_run()")
        _as(conn, "xorj_engine", "SELECT api.start_scoring_run(%s)", (run["id"],))
        _as(
            conn,
            "xorj_engine",
            "SELECT api.complete_scoring_run(%s, %s)",
            (run["id"], Jsonb(TRADERS)),
        )
        report.lines.append(f"scoring run {run['id']}: COMPLETED with {len(TRADERS)} trader scores")
    return report
