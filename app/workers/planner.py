"""What the execution bot trades each tick: the planner.

This is the place a real strategy plugs in. The bot (app/workers/bot.py) reads, once per
tick, the enabled bots with a registered vault (api.enabled_bots: the user's risk
settings, or their defaults) and the latest completed scoring run's traders, best first
(api.ranked_traders), hands both to a `Planner`, and executes what it returns with the
exactly-once protocol. A planner only decides; it never talks to the database or the
chain, and it must be deterministic for the same input (the bot derives each trade's
idempotency key from the tick's job and the intent, and the tests recompute the plan).

A strategy is any object with `plan(bots, traders) -> list[PlannedTrade]`; `xorj bot run
--planner MODULE:NAME` loads NAME from MODULE and calls it with no argument to get one
(default: app.workers.planner:SimplePlanner).

The built-in SimplePlanner follows the top ranked traders within each user's settings:

* how many traders a user follows depends on the risk profile: Conservative 1,
  Balanced 2, Aggressive 3 (anything else: 1); traders with a trust score of 0 are not
  followed;
* each followed trader maps to one target token of a fixed set (a hash of the trader's
  wallet picks it; the next free one when two traders of a user pick the same, so a
  user never has two intents for one pair, which the database would refuse as
  trade_in_flight anyway);
* every intent swaps USDC into the target for amount_in = investment_amount x
  position_size_percent / 100 USDC, in base units (6 decimals), rounded down; a user
  without an investment amount (never saved, or null) gets no intent;
* expected_amount_out comes from a fixed reference price per token (a placeholder for a
  real quote, e.g. an aggregator's), in the target's base units, rounded down.

It knows nothing of the traders' actual positions; a real copy-trading strategy reads
them (from the scoring metrics or the chain) and emits the same PlannedTrade values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Protocol


@dataclass(frozen=True)
class BotConfig:
    """One enabled bot, as api.enabled_bots() returns it."""

    user_id: str
    vault_address: str
    risk_profile: str
    investment_amount: Decimal | None
    position_size_percent: Decimal


@dataclass(frozen=True)
class Trader:
    """One ranked trader of the latest completed scoring run, as api.ranked_traders()."""

    rank: int
    wallet_address: str
    xorj_trust_score: Decimal
    metrics: dict[str, Any]


@dataclass(frozen=True)
class PlannedTrade:
    """A trade intent: swap amount_in base units of from_token into to_token for a vault."""

    vault: str
    from_token: str
    to_token: str
    amount_in: int
    expected_amount_out: int
    reason: str = ""


class Planner(Protocol):
    def plan(self, bots: Sequence[BotConfig], traders: Sequence[Trader]) -> list[PlannedTrade]:
        """The intents of this tick, in the order the bot should work them."""
        ...


@dataclass(frozen=True)
class Token:
    symbol: str
    mint: str
    decimals: int
    usd_price: Decimal  # reference price of one whole token, in USDC


USDC = Token("USDC", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", 6, Decimal(1))
TARGETS: tuple[Token, ...] = (
    Token("SOL", "So11111111111111111111111111111111111111112", 9, Decimal("150")),
    Token("JUP", "JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN", 6, Decimal("0.80")),
    Token("BONK", "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263", 5, Decimal("0.00002")),
    Token("RAY", "4k3Dyjzvzp8eMZWUXbBCjEvwSkkk59S5iCNLY3QrkX6R", 6, Decimal("2.50")),
    Token("mSOL", "mSoLzYCxHdYgdzU16g5QSh3i5K3z3KZK7ytfqcJm7So", 9, Decimal("180")),
    Token("JitoSOL", "J1toso1uCk3RLmjorhTtrVwY9HJ7X8V9yYac6Y7kGCPn", 9, Decimal("175")),
)
TRADERS_BY_PROFILE = {"Conservative": 1, "Balanced": 2, "Aggressive": 3}


def _floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def position_size(bot: BotConfig) -> int:
    """USDC base units per intent: investment_amount x position_size_percent%, or 0."""
    if bot.investment_amount is None or bot.investment_amount <= 0:
        return 0
    usdc = Decimal(bot.investment_amount) * Decimal(bot.position_size_percent) / 100
    return _floor(usdc * 10**USDC.decimals)


def quote(amount_in: int, target: Token) -> int:
    """The reference amount of `target` (base units) for amount_in USDC base units."""
    usdc = Decimal(amount_in) / 10**USDC.decimals
    return _floor(usdc / target.usd_price * 10**target.decimals)


def _target_index(wallet: str) -> int:
    return int.from_bytes(hashlib.sha256(wallet.encode()).digest()[:8], "big") % len(TARGETS)


class SimplePlanner:
    """Follow the top ranked traders: one USDC -> target intent per followed trader."""

    def plan(self, bots: Sequence[BotConfig], traders: Sequence[Trader]) -> list[PlannedTrade]:
        ranked = sorted(
            (t for t in traders if t.xorj_trust_score > 0),
            key=lambda t: (t.rank, t.wallet_address),
        )
        intents: list[PlannedTrade] = []
        for bot in sorted(bots, key=lambda b: (b.user_id, b.vault_address)):
            amount_in = position_size(bot)
            if amount_in <= 0:
                continue
            follow = ranked[: TRADERS_BY_PROFILE.get(bot.risk_profile, 1)]
            used: set[int] = set()
            for trader in follow:
                if len(used) == len(TARGETS):
                    break
                index = _target_index(trader.wallet_address)
                while index in used:
                    index = (index + 1) % len(TARGETS)
                used.add(index)
                target = TARGETS[index]
                expected = quote(amount_in, target)
                intents.append(
                    PlannedTrade(
                        vault=bot.vault_address,
                        from_token=USDC.mint,
                        to_token=target.mint,
                        amount_in=amount_in,
                        expected_amount_out=expected,
                        reason=f"follow #{trader.rank} {trader.wallet_address}: "
                        f"USDC -> {target.symbol}",
                    )
                )
        return intents
