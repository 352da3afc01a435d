-- Trades: reading (see trades.sql for the other files of the noun): what a restarting
-- bot must resolve (api.trades_to_recover), one trade, listings for operators, and a
-- trade's audit trail.

-- FR-2.5: what a restarting bot must resolve: every SUBMITTED trade, oldest first, then
-- PENDING trades created more than p_pending_older_than ago, oldest first.
CREATE OR REPLACE FUNCTION api.trades_to_recover(
    p_pending_older_than interval DEFAULT interval '0',
    p_limit integer DEFAULT 1000
) RETURNS SETOF jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
SET enable_sort = off
SET enable_incremental_sort = off
AS $fn$
BEGIN
    PERFORM xorj.check_recovery_args(p_pending_older_than, p_limit);
    -- Claim order, one ordered read of the partial index trades_claim_order_idx (the
    -- claim's order, xorj.claim_batch; sorts off for the same reason).
    RETURN QUERY
    SELECT xorj.trade_json(t)
    FROM xorj.trades t
    WHERE t.status IN ('PENDING', 'SUBMITTED')
      AND (t.status = 'SUBMITTED' OR t.created_at <= clock_timestamp() - p_pending_older_than)
    ORDER BY t.status DESC, coalesce(t.submitted_at, t.created_at), t.id
    LIMIT p_limit;
END
$fn$;
REVOKE ALL ON FUNCTION api.trades_to_recover(interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.trades_to_recover(interval, integer) TO xorj_bot;

CREATE OR REPLACE FUNCTION api.get_trade(p_trade_id uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    t xorj.trades;
BEGIN
    SELECT * INTO t FROM xorj.trades
    WHERE id = p_trade_id AND created_at = xorj.trade_created_at(p_trade_id);
    IF NOT FOUND THEN
        IF p_trade_id IS NULL THEN
            PERFORM xorj.raise_not_found('trade', 'NULL');
        END IF;
        PERFORM xorj.raise_trade_not_found(p_trade_id);
    END IF;
    RETURN xorj.trade_json(t);
END
$fn$;
REVOKE ALL ON FUNCTION api.get_trade(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.get_trade(uuid) TO xorj_bot;

-- Trades by status and/or vault, newest first.
CREATE OR REPLACE FUNCTION api.list_trades(
    p_status text DEFAULT NULL,
    p_vault text DEFAULT NULL,
    p_limit integer DEFAULT 100,
    p_offset integer DEFAULT 0
) RETURNS SETOF jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    v_status xorj.trade_status;
    v_vault  xorj.solana_address;
BEGIN
    v_status := xorj.check_trade_status('status', p_status);
    IF p_vault IS NOT NULL THEN
        v_vault := xorj.check_address('vault', p_vault);
    END IF;
    PERFORM xorj.check_page(p_limit, p_offset, 1000);
    RETURN QUERY
    SELECT xorj.trade_json(t) FROM xorj.trades t
    WHERE (v_status IS NULL OR t.status = v_status)
      AND (v_vault IS NULL OR t.user_vault_address = v_vault)
    ORDER BY t.created_at DESC, t.id
    LIMIT p_limit OFFSET p_offset;
END
$fn$;
REVOKE ALL ON FUNCTION api.list_trades(text, text, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.list_trades(text, text, integer, integer) TO xorj_bot;

-- The audit trail of one trade, oldest first.
CREATE OR REPLACE FUNCTION api.trade_events(p_trade_id uuid) RETURNS SETOF jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM xorj.trades
                   WHERE id = p_trade_id AND created_at = xorj.trade_created_at(p_trade_id)) THEN
        IF p_trade_id IS NULL THEN
            PERFORM xorj.raise_not_found('trade', 'NULL');
        END IF;
        PERFORM xorj.raise_trade_not_found(p_trade_id);
    END IF;
    -- The partition of the trade's month only; trade_created_at is how the events are
    -- stored, not part of an event as callers see it.
    RETURN QUERY
    SELECT to_jsonb(e) - 'trade_created_at' FROM xorj.trade_events e
    WHERE e.trade_id = p_trade_id AND e.trade_created_at = xorj.trade_created_at(p_trade_id)
    ORDER BY e.id;
END
$fn$;
REVOKE ALL ON FUNCTION api.trade_events(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.trade_events(uuid) TO xorj_bot;
