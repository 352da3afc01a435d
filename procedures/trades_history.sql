-- Trades: a user's own trade history (GET /api/bot/trades). Role xorj_api; see trades.sql
-- for the other files of the noun.
--
-- api.my_trades(p_status, p_cursor, p_limit) acts for the wallet of the verified claims
-- (xorj.claimed_wallet(): 42501 without a user's claims), never for a wallet or vault
-- given as a parameter. It lists the trades of the vault that wallet has registered now
-- (xorj.bot_states.vault_address), newest first by (created_at DESC, id DESC): a wallet
-- with no vault registered (or never seen) has an empty history.
--
-- Which vault: the registered one, as api.bot_status computes its performance, so the
-- history's live trades and the counts of the status agree. api.enable_bot may change a
-- wallet's vault (procedures/bot_states.sql); the trades of a vault the wallet registered
-- before are then no longer listed, and a vault freed by one wallet and registered later
-- by another lists its earlier trades to the new holder too (they are that vault's
-- trades, public on chain). Telling the periods apart would need xorj.bot_state_events,
-- which has no row for a state written directly or before the audit existed.
--
-- Paging is a keyset, stable under inserts: p_cursor is the id of the last trade of the
-- previous page (the answer's nextCursor), looked up only among the trades of the
-- caller's vault; the page is the trades strictly after it in (created_at DESC, id DESC)
-- order. A trade created meanwhile is newer than every trade already listed (created_at
-- is the database's clock_timestamp(), and creations of one vault are serialized on its
-- bot_states row), so it comes before the cursor and never shifts a later page: no
-- duplicate, no gap. The cursor is a position, not a filter: a trade whose status has
-- changed since it was listed is still a valid cursor under any p_status.
--
-- Refusals: XJ422 on 'status' (not a trade status), 'limit' (not 1..200) or 'cursor' (not
-- a trade of the caller's vault: one message whether or not the id exists elsewhere, so
-- nothing is told about other vaults' trades).
--
-- Each trade: id, client_order_id, status, venue (live, localnet or simulated),
-- from_token_address, to_token_address, amount_in, expected_amount_out, actual_amount_out
-- and gas_fee (u64: JSON strings, exact above 2^53), transaction_signature,
-- slippage_realized (a number), error_message, created_at, submitted_at, completed_at,
-- updated_at. Every venue is listed (the status's performance counts the live ones
-- only). Not the bot's internals: job_id,
-- the claim (claimed_by, claim_expires_at), last_valid_block_height.

-- A trade as its user sees it: the row without the bot's internals, u64 amounts as
-- strings.
CREATE OR REPLACE FUNCTION xorj.user_trade_json(t xorj.trades) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
    SELECT jsonb_build_object(
        'id', t.id,
        'client_order_id', t.client_order_id,
        'status', t.status,
        'venue', t.venue,
        'from_token_address', t.from_token_address,
        'to_token_address', t.to_token_address,
        'amount_in', t.amount_in::text,
        'expected_amount_out', t.expected_amount_out::text,
        'actual_amount_out', t.actual_amount_out::text,
        'transaction_signature', t.transaction_signature,
        'slippage_realized', t.slippage_realized,
        'gas_fee', t.gas_fee::text,
        'error_message', t.error_message,
        'created_at', t.created_at,
        'submitted_at', t.submitted_at,
        'completed_at', t.completed_at,
        'updated_at', t.updated_at)
$fn$;

-- One page of a vault's trades after the position (p_before_at, p_before_id), newest
-- first by (created_at DESC, id DESC); p_status NULL: any status. The first page starts
-- at ('infinity', any id). The position is written as two comparisons rather than a row
-- comparison so that created_at <= p_before_at bounds the scan of index
-- trades_vault_time_idx (user_vault_address, created_at DESC), read in order under the
-- Limit; only rows of equal created_at are put in id order (an Incremental Sort of those
-- few rows, never of the vault's history). Inlinable (plain SQL, no SET, not SECURITY
-- DEFINER): EXPLAIN SELECT * FROM xorj.vault_trades_page(...) shows the plan api.my_trades
-- runs (tests/pgtap/trades_history_plan.sql). A string body, not BEGIN ATOMIC: t.* would
-- otherwise record a dependency on every column, and a rollback dropping one (0005's,
-- with CASCADE) would drop this function with it.
CREATE OR REPLACE FUNCTION xorj.vault_trades_page(p_vault text, p_status xorj.trade_status,
                                                  p_before_at timestamptz, p_before_id uuid,
                                                  p_limit integer)
RETURNS SETOF xorj.trades
LANGUAGE sql STABLE
AS $fn$
    SELECT t.*
    FROM xorj.trades t
    WHERE t.user_vault_address = p_vault
      AND t.created_at <= p_before_at
      AND (t.created_at < p_before_at OR t.id < p_before_id)
      AND (p_status IS NULL OR t.status = p_status)
    ORDER BY t.created_at DESC, t.id DESC
    LIMIT p_limit
$fn$;

-- GET /api/bot/trades: the caller's trades, newest first, a page of p_limit (1..200)
-- after p_cursor (NULL: the first page), of status p_status (NULL: any).
CREATE OR REPLACE FUNCTION api.my_trades(
    p_status text DEFAULT NULL,
    p_cursor uuid DEFAULT NULL,
    p_limit integer DEFAULT 50
) RETURNS SETOF jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
SET plan_cache_mode = force_custom_plan
SET enable_sort = off
AS $fn$
DECLARE
    v_wallet    xorj.solana_address := xorj.claimed_wallet();  -- 42501 first
    v_status    xorj.trade_status := xorj.check_trade_status('status', p_status);
    v_vault     xorj.solana_address;
    v_before_at timestamptz := 'infinity';
    v_before_id uuid;
BEGIN
    PERFORM xorj.check_page(p_limit, 0, 200);
    SELECT b.vault_address INTO v_vault FROM xorj.bot_states b WHERE b.user_id = v_wallet;
    IF p_cursor IS NOT NULL THEN
        SELECT t.created_at, t.id INTO v_before_at, v_before_id
        FROM xorj.trades t
        WHERE t.id = p_cursor AND t.created_at = xorj.trade_created_at(p_cursor)
          AND t.user_vault_address = v_vault;
        IF NOT FOUND THEN
            PERFORM xorj.raise_invalid('cursor', 'is not one of your trades',
                'Pass the nextCursor of the previous page, or no cursor for the first page.');
        END IF;
    END IF;
    IF v_vault IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT xorj.user_trade_json(p)
        FROM xorj.vault_trades_page(v_vault, v_status, v_before_at, v_before_id, p_limit) p
        ORDER BY p.created_at DESC, p.id DESC;
END
$fn$;
REVOKE ALL ON FUNCTION api.my_trades(text, uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.my_trades(text, uuid, integer) TO xorj_api;
