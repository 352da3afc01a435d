"""The trades of the Trade Execution Bot (procedures/trades*.sql); role xorj_bot. A user's
own trade history (`history`, procedures/trades_history.sql) is role xorj_api's: it acts
for the wallet of the verified claims and takes no wallet."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID

from app.dbapi.core import COLUMN, ROW, Call, api, typed


def _uuids(ids: Sequence[UUID | str] | None) -> Any:
    return None if ids is None else typed([str(i) for i in ids], "uuid[]")


def create(
    job_id: UUID | str,
    vault: str,
    client_order_id: str,
    from_token: str,
    to_token: str,
    amount_in: Any,
    expected_amount_out: Any,
    worker: str | None = None,
    lease: timedelta | None = None,
    venue: str | None = None,
) -> Call:
    """A trade, PENDING (claimed by `worker` for `lease` when given), executed at `venue`
    (live, localnet or simulated; the database's default, live, when None): (replay,
    trade)."""
    optional = {} if venue is None else {"venue": venue}
    return api(
        "create_trade",
        "replay, trade",
        ROW,
        job_id=job_id,
        vault=vault,
        client_order_id=client_order_id,
        from_token=from_token,
        to_token=to_token,
        amount_in=typed(amount_in, "numeric"),
        expected_amount_out=typed(expected_amount_out, "numeric"),
        worker=worker,
        lease=lease,
        **optional,
    )


def mark_submitted(
    trade_id: UUID | str,
    signature: str,
    last_valid_block_height: int | None = None,
    worker: str | None = None,
) -> Call:
    """PENDING -> SUBMITTED, recording the signature: (changed, trade)."""
    return api(
        "mark_trade_submitted",
        "changed, trade",
        ROW,
        trade_id=trade_id,
        signature=signature,
        last_valid_block_height=typed(last_valid_block_height, "bigint"),
        worker=worker,
    )


def mark_confirmed(
    trade_id: UUID | str,
    actual_amount_out: Any,
    slippage_realized: Any = None,
    gas_fee: Any = None,
) -> Call:
    """SUBMITTED -> CONFIRMED (the slippage computed by the database from the expected
    amount when not given): (changed, trade)."""
    return api(
        "mark_trade_confirmed",
        "changed, trade",
        ROW,
        trade_id=trade_id,
        actual_amount_out=typed(actual_amount_out, "numeric"),
        slippage_realized=typed(slippage_realized, "numeric"),
        gas_fee=typed(gas_fee, "numeric"),
    )


def mark_failed(
    trade_id: UUID | str,
    error_message: str,
    gas_fee: Any = None,
    expected_status: str | None = None,
    failure_basis: str | None = None,
    chain_height: int | None = None,
) -> Call:
    """PENDING or SUBMITTED -> FAILED (only from `expected_status` when given):
    (changed, trade). A PENDING trade needs `failure_basis` (NEVER_BROADCAST, or
    NOT_FOUND_ON_CHAIN with the `chain_height` read before the last search)."""
    return api(
        "mark_trade_failed",
        "changed, trade",
        ROW,
        trade_id=trade_id,
        error_message=error_message,
        gas_fee=typed(gas_fee, "numeric"),
        expected_status=expected_status,
        failure_basis=failure_basis,
        chain_height=typed(chain_height, "bigint"),
    )


# The basis of a PENDING trade's failure (api.mark_trade_failed, migration 0013).
NEVER_BROADCAST = "never_broadcast"
NOT_FOUND_ON_CHAIN = "not_found_on_chain"


def start_search(trade_id: UUID | str, until_height: int) -> Call:
    """Record the search window of a PENDING trade of the seed's order (the first one
    stays): the trade as JSON, with its search_until_height."""
    return api("start_trade_search", trade_id=trade_id, until_height=typed(until_height, "bigint"))


def get(trade_id: UUID | str) -> Call:
    """One trade as JSON."""
    return api("get_trade", trade_id=trade_id)


def events(trade_id: UUID | str) -> Call:
    """A trade's audit trail: the list of its events as JSON."""
    return api("trade_events", shape=COLUMN, trade_id=trade_id)


def listing(
    status: str | None = None, vault: str | None = None, limit: int = 100, offset: int = 0
) -> Call:
    """Trades, newest first: the list as JSON."""
    return api(
        "list_trades",
        shape=COLUMN,
        status=status,
        vault=vault,
        limit=typed(limit, "integer"),
        offset=typed(offset, "integer"),
    )


def history(status: str | None = None, cursor: UUID | str | None = None, limit: int = 50) -> Call:
    """The caller's trades (its registered vault's), newest first: a page of `limit` after
    `cursor` (the id of the previous page's last trade; None: the first page), of one
    status when given: the list as JSON."""
    return api(
        "my_trades",
        shape=COLUMN,
        status=status,
        cursor=typed(None if cursor is None else str(cursor), "uuid"),
        limit=typed(limit, "integer"),
    )


def to_recover(pending_older_than: timedelta = timedelta(0), limit: int = 1000) -> Call:
    """Unfinished trades to resolve, SUBMITTED first: the list as JSON."""
    return api(
        "trades_to_recover",
        shape=COLUMN,
        pending_older_than=pending_older_than,
        limit=typed(limit, "integer"),
    )


def claim(
    worker: str,
    lease: timedelta,
    pending_older_than: timedelta = timedelta(0),
    limit: int = 100,
    exclude: Sequence[UUID | str] | None = None,
    venue: str | None = None,
) -> Call:
    """Unfinished trades nobody holds (and `worker`'s own), of `venue` when given, now
    claimed by `worker`: the list as JSON."""
    return api(
        "claim_trades",
        shape=COLUMN,
        worker=worker,
        lease=lease,
        pending_older_than=pending_older_than,
        limit=typed(limit, "integer"),
        exclude=_uuids(exclude),
        venue=venue,
    )


def renew_claims(worker: str, lease: timedelta) -> Call:
    """How many claims of `worker` were renewed for another `lease`."""
    return api("renew_trade_claims", worker=worker, lease=lease)


def release_claims(worker: str, trade_ids: Sequence[UUID | str] | None = None) -> Call:
    """How many claims of `worker` were given back (all of them without `trade_ids`)."""
    return api("release_trade_claims", worker=worker, trade_ids=_uuids(trade_ids))


def held_by_others(worker: str, venue: str | None = None) -> Call:
    """The unfinished trades other workers hold with a live claim: (how many, the earliest
    end of their claims: a datetime, None when none is held); of `venue` when given."""
    return api(
        "trades_held_by_others", "held, first_claim_expires_at", ROW, worker=worker, venue=venue
    )
