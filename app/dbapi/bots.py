"""Each user's bot: on or off, its vault, its status (procedures/bot_states.sql).

The user functions (role xorj_api) act for the wallet of the verified claims the door
puts into the transaction; they take no wallet. The planner's input and the feed of
changes are the bot's (role xorj_bot)."""

from __future__ import annotations

from app.dbapi.core import ROWS, Call, api, typed

ENABLED_BOT = "user_id, vault_address, risk_profile, investment_amount, position_size_percent"


def status() -> Call:
    """The caller's bot: state, configuration, performance, circuit breakers (JSON)."""
    return api("bot_status")


def enable(vault_address: str | None = None) -> Call:
    """Enable the caller's bot, registering a vault when given: {changed, status}."""
    return api("enable_bot", vault_address=vault_address)


def disable() -> Call:
    """Disable the caller's bot: {changed, status}."""
    return api("disable_bot")


def enabled() -> Call:
    """Every enabled bot with a vault and the settings it trades with: rows of ENABLED_BOT."""
    return api("enabled_bots", ENABLED_BOT, ROWS)


def changes(cursor: str | None, limit: int = 1000) -> Call:
    """The feed of enable/disable events after `cursor` (None: start): {cursor, events}."""
    return api("bot_state_changes", cursor=cursor, limit=typed(limit, "integer"))
