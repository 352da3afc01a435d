-- Trades: the trade log of the execution bot. Role xorj_bot. The rules of the noun are
-- split by concern over the files trades*.sql (applied in name order, in one
-- transaction, after the other capability files):
--   trades.sql              this overview and the helpers the others share: a trade as
--                           callers see it (xorj.trade_json), the claim and recovery
--                           argument checks, a trade's month (xorj.trade_created_at)
--   trades_claims.sql       sharing the work between bots: leases on unfinished trades
--                           (claim, renew, release, trades_held_by_others)
--   trades_create.sql       creation and duplicate prevention (api.create_trade)
--   trades_guard.sql        the guards against direct SQL and the audit trail (triggers
--                           on xorj.trades; trade_events is append-only)
--   trades_history.sql      a user's own history (api.my_trades, role xorj_api): the
--                           registered vault's trades, newest first, by a keyset cursor
--   trades_keys.sql         the keys of every trade ever created (xorj.trade_keys): the
--                           unique rules across months and after an archive
--   trades_list.sql         reading: recovery list, one trade, listings, its events
--   trades_partitions.sql   the monthly partitions of trades and trade_events, created
--                           ahead; a month leaves only through a verified archive
--   trades_stats.sql        the per-vault figures api.bot_status reads (counts by
--                           status, volume, latest times), kept by trigger
--   trades_transitions.sql  the lifecycle moves PENDING -> SUBMITTED -> CONFIRMED,
--                           PENDING|SUBMITTED -> FAILED (api.mark_trade_*)
--
-- Lifecycle: PENDING -> SUBMITTED (signature required) -> CONFIRMED (actual_amount_out
-- required); PENDING or SUBMITTED -> FAILED (error required). Repeating a transition
-- with the same values returns the trade unchanged (changed = false); any other move out
-- of CONFIRMED or FAILED is XJ423.
--
-- Refusals (DETAIL facts, see 00_common.sql): the XJ409 conflicts that name a trade
-- (idempotency_key_reused, trade_in_flight, recent_repeat, signature_in_use) carry
-- "conflicting_trade_id"; claim_lost "trade_id" and "claimed_by"; bot_not_enabled
-- "vault_address" and "user_id"; job_not_running "job_id" and "job_status"; every XJ423
-- on a trade "table": "trades", "id" and, where a move is refused, "from" and "to".

-- The creation time of trade p_trade_id, from its key row (xorj.trade_keys), NULL when
-- there is no such trade. xorj.trades is partitioned by month of created_at: a lookup by
-- id that also says "AND created_at = xorj.trade_created_at(id)" reads one partition
-- (pruned when the statement starts), not one index of every month.
CREATE OR REPLACE FUNCTION xorj.trade_created_at(p_trade_id uuid) RETURNS timestamptz
LANGUAGE sql STABLE
SET search_path = pg_catalog
AS $fn$
    SELECT k.created_at FROM xorj.trade_keys k WHERE k.id = p_trade_id
$fn$;

-- Trade p_trade_id not found: XJ404; "archived": true (and its month) when the trade
-- existed and its month has left through an archive (trades_partitions.sql).
CREATE OR REPLACE FUNCTION xorj.raise_trade_not_found(p_trade_id uuid) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $fn$
DECLARE
    v_created timestamptz := xorj.trade_created_at(p_trade_id);
BEGIN
    PERFORM xorj.raise_not_found('trade', p_trade_id::text,
        CASE WHEN v_created IS NULL THEN '{}'::jsonb
             ELSE jsonb_build_object('archived', true, 'month',
                                     to_char(v_created AT TIME ZONE 'UTC', 'YYYY-MM')) END);
END
$fn$;

-- A trade as the callers see it: the row's columns, amounts as JSON strings (u64 values
-- do not fit a double), and its lease (xorj.trade_claims, trades_claims.sql): claimed_by
-- and claim_expires_at (NULL when nobody holds it). PL/pgSQL, whose statement plans are
-- cached per session: as a SQL function with a SET clause (never inlined) its query was
-- parsed and planned again at every call, about 0.1 ms of each api.create_trade.
CREATE OR REPLACE FUNCTION xorj.trade_json(t xorj.trades) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    c xorj.trade_claims;
BEGIN
    SELECT * INTO c FROM xorj.trade_claims WHERE trade_id = t.id;
    RETURN xorj.trade_json(t, c);
END
$fn$;

-- The same, with the trade's claim (its trade_claims row, or a row of NULLs) known to the
-- caller: api.create_trade has just written it.
CREATE OR REPLACE FUNCTION xorj.trade_json(t xorj.trades, c xorj.trade_claims) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    RETURN to_jsonb(t)
        || jsonb_build_object(
            'amount_in', t.amount_in::text,
            'expected_amount_out', t.expected_amount_out::text,
            'actual_amount_out', t.actual_amount_out::text,
            'gas_fee', t.gas_fee::text,
            'claimed_by', c.claimed_by,
            'claim_expires_at', c.claim_expires_at);
END
$fn$;

-- A trade status as text, or XJ422 naming p_field; NULL stays NULL (no filter).
CREATE OR REPLACE FUNCTION xorj.check_trade_status(p_field text, p_value text)
RETURNS xorj.trade_status
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    IF p_value IS NULL THEN
        RETURN NULL;
    END IF;
    IF p_value <> ALL (enum_range(NULL::xorj.trade_status)::text[]) THEN
        PERFORM xorj.raise_invalid(p_field,
            format('%s is not one of %s', p_value,
                   array_to_string(enum_range(NULL::xorj.trade_status), ', ')),
            'Filter by one trade status, in capitals, or by none.');
    END IF;
    RETURN p_value::xorj.trade_status;
END
$fn$;

-- A venue (where a trade is executed: xorj.trades.venue), or XJ422 on 'venue'; NULL is
-- refused when p_required, else it stays NULL (no filter).
CREATE OR REPLACE FUNCTION xorj.check_venue(p_value text, p_required boolean)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    IF p_value IS NULL AND NOT p_required THEN
        RETURN NULL;
    END IF;
    IF p_value IS NULL OR p_value NOT IN ('live', 'localnet', 'simulated') THEN
        PERFORM xorj.raise_invalid('venue',
            format('%s is not one of live, localnet, simulated',
                   coalesce(quote_literal(p_value), 'null')),
            'live: the real Solana chain; localnet: a local validator; simulated: the simulated chain.');
    END IF;
    RETURN p_value;
END
$fn$;

-- A worker id and lease, both or neither (p_required: both).
CREATE OR REPLACE FUNCTION xorj.check_claim(p_worker text, p_lease interval, p_required boolean)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    IF (p_worker IS NULL) <> (p_lease IS NULL) OR (p_required AND p_worker IS NULL) THEN
        PERFORM xorj.raise_invalid(CASE WHEN p_worker IS NULL THEN 'worker_id' ELSE 'lease' END,
            'a claim needs both a worker id and a lease');
    END IF;
    IF p_worker IS NOT NULL THEN
        PERFORM xorj.check_worker_id(p_worker);
    END IF;
    IF p_lease IS NOT NULL AND (p_lease < interval '1 second' OR p_lease > interval '1 hour') THEN
        PERFORM xorj.raise_invalid('lease', 'must be from 1 second to 1 hour');
    END IF;
END
$fn$;

-- The arguments of api.trades_to_recover and api.claim_trades: the age from which a
-- PENDING trade is handed out (0 or more) and how many trades at most (1..10000), else
-- XJ422 (the age first).
CREATE OR REPLACE FUNCTION xorj.check_recovery_args(p_pending_older_than interval, p_limit integer)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    IF p_pending_older_than IS NULL OR p_pending_older_than < interval '0' THEN
        PERFORM xorj.raise_invalid('pending_older_than', 'must be 0 or more');
    END IF;
    PERFORM xorj.check_page(p_limit, 0, 10000);  -- these lists have no offset
END
$fn$;
