"""Many api calls in one statement, for loading volume (`xorj db seed --trades`): the same
functions, each row one call, so every rule holds (role xorj_bot)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.dbapi.core import ROWS, VALUE, Call


def create_trades(
    jobs: Sequence[str],
    vaults: Sequence[str],
    client_order_ids: Sequence[str],
    from_tokens: Sequence[str],
    to_tokens: Sequence[str],
    amounts_in: Sequence[Any],
    expected_amounts_out: Sequence[Any],
) -> Call:
    """api.create_trade for each position of the lists: rows of (replay, trade id), in order."""
    return Call(
        """SELECT c.replay, (c.trade ->> 'id')::text
           FROM unnest(%(jobs)s::uuid[], %(vaults)s::text[], %(coids)s::text[],
                       %(froms)s::text[], %(tos)s::text[], %(amounts)s::numeric[],
                       %(expected)s::numeric[]) WITH ORDINALITY
                AS u(job, vault, coid, f, t, amount, expected, ord)
           CROSS JOIN LATERAL api.create_trade(
               p_job_id => u.job, p_vault => u.vault, p_client_order_id => u.coid,
               p_from_token => u.f, p_to_token => u.t, p_amount_in => u.amount,
               p_expected_amount_out => u.expected) AS c
           ORDER BY u.ord""",
        {
            "jobs": list(jobs),
            "vaults": list(vaults),
            "coids": list(client_order_ids),
            "froms": list(from_tokens),
            "tos": list(to_tokens),
            "amounts": list(amounts_in),
            "expected": list(expected_amounts_out),
        },
        ROWS,
    )


def mark_submitted(
    trade_ids: Sequence[str], signatures: Sequence[str], last_valid_block_height: int
) -> Call:
    """api.mark_trade_submitted for each trade: how many."""
    return Call(
        """SELECT count(*) FROM unnest(%(ids)s::uuid[], %(sigs)s::text[]) AS u(id, sig)
           CROSS JOIN LATERAL api.mark_trade_submitted(
               p_trade_id => u.id, p_signature => u.sig,
               p_last_valid_block_height => %(lvbh)s::bigint)""",
        {"ids": list(trade_ids), "sigs": list(signatures), "lvbh": last_valid_block_height},
        VALUE,
    )


def mark_confirmed(
    trade_ids: Sequence[str],
    actual_amounts_out: Sequence[Any],
    slippages: Sequence[Any],
    gas_fees: Sequence[Any],
) -> Call:
    """api.mark_trade_confirmed for each trade: how many."""
    return Call(
        """SELECT count(*) FROM unnest(%(ids)s::uuid[], %(actual)s::numeric[],
                                      %(slippage)s::numeric[], %(gas)s::numeric[])
                  AS u(id, actual, slippage, gas)
           CROSS JOIN LATERAL api.mark_trade_confirmed(
               p_trade_id => u.id, p_actual_amount_out => u.actual,
               p_slippage_realized => u.slippage, p_gas_fee => u.gas)""",
        {
            "ids": list(trade_ids),
            "actual": list(actual_amounts_out),
            "slippage": list(slippages),
            "gas": list(gas_fees),
        },
        VALUE,
    )


def mark_failed(trade_ids: Sequence[str], errors: Sequence[str], gas_fees: Sequence[Any]) -> Call:
    """api.mark_trade_failed for each trade: how many. A PENDING one is failed as
    never_broadcast (the seed's trades fail before they are signed)."""
    return Call(
        """SELECT count(*) FROM unnest(%(ids)s::uuid[], %(errors)s::text[], %(gas)s::numeric[])
                  AS u(id, error, gas)
           CROSS JOIN LATERAL api.mark_trade_failed(
               p_trade_id => u.id, p_error_message => u.error, p_gas_fee => u.gas,
               p_failure_basis => 'never_broadcast')""",
        {"ids": list(trade_ids), "errors": list(errors), "gas": list(gas_fees)},
        VALUE,
    )
