-- Trades: the lifecycle moves (see trades.sql for the other files of the noun):
-- PENDING -> SUBMITTED (api.mark_trade_submitted, with the signature), SUBMITTED ->
-- CONFIRMED (api.mark_trade_confirmed, with what landed; the realized slippage is
-- computed here when the caller gives none), PENDING or SUBMITTED -> FAILED
-- (api.mark_trade_failed). Each locks the trade first; a repeat with the same values
-- returns it unchanged (changed = false); a move its status does not allow is XJ423.

CREATE OR REPLACE FUNCTION xorj.lock_trade(p_trade_id uuid) RETURNS xorj.trades
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    t xorj.trades;
BEGIN
    IF p_trade_id IS NULL THEN
        PERFORM xorj.raise_invalid('trade_id', 'is required');
    END IF;
    -- The month's partition only (its created_at from the key table).
    SELECT * INTO t FROM xorj.trades
    WHERE id = p_trade_id AND created_at = xorj.trade_created_at(p_trade_id)
    FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM xorj.raise_trade_not_found(p_trade_id);
    END IF;
    RETURN t;
END
$fn$;

-- Signature p_signature is recorded for another trade: XJ409 signature_in_use naming it.
CREATE OR REPLACE FUNCTION xorj.raise_signature_in_use(p_signature text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    v_other uuid;
BEGIN
    SELECT k.id INTO v_other FROM xorj.trade_keys k WHERE k.transaction_signature = p_signature;
    PERFORM xorj.raise_conflict('signature_in_use',
        format('signature %s is already recorded for trade %s', p_signature, v_other),
        format('conflicting_trade_id=%s', v_other),
        'Each transaction belongs to one trade.',
        jsonb_build_object('conflicting_trade_id', v_other, 'transaction_signature', p_signature));
END
$fn$;

-- FR-2.3: PENDING -> SUBMITTED with the signature and, from the execution bot, the last
-- block height at which that transaction can land (recorded before the broadcast).
-- Returns (changed, trade); repeating it with the same values returns it unchanged.
-- p_worker: the bot that signed it; the trade must still be claimed by that bot, else
-- XJ409 claim_lost (another bot took it over: this one must not broadcast).
CREATE OR REPLACE FUNCTION api.mark_trade_submitted(p_trade_id uuid, p_signature text,
                                                    p_last_valid_block_height bigint DEFAULT NULL,
                                                    p_worker text DEFAULT NULL)
RETURNS TABLE (changed boolean, trade jsonb)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    t        xorj.trades := xorj.lock_trade(p_trade_id);
    v_holder text;
BEGIN
    PERFORM xorj.check_signature('transaction_signature', p_signature);
    IF p_last_valid_block_height IS NOT NULL AND p_last_valid_block_height < 0 THEN
        PERFORM xorj.raise_invalid('last_valid_block_height', 'must be 0 or more');
    END IF;
    IF t.status = 'SUBMITTED' AND t.transaction_signature = p_signature
       AND t.last_valid_block_height IS NOT DISTINCT FROM p_last_valid_block_height THEN
        RETURN QUERY SELECT false, xorj.trade_json(t);
        RETURN;
    END IF;
    -- The lease is read under the trade's row lock (xorj.lock_trade), which a takeover
    -- (api.claim_trades) holds too while it writes the lease.
    SELECT c.claimed_by INTO v_holder FROM xorj.trade_claims c WHERE c.trade_id = t.id;
    IF p_worker IS NOT NULL AND v_holder IS DISTINCT FROM p_worker THEN
        PERFORM xorj.raise_conflict('claim_lost',
            format('trade %s is not claimed by %s', t.id, p_worker),
            format('claimed_by=%s', coalesce(v_holder, 'nobody')),
            'Another bot took the trade over: do not broadcast it.',
            jsonb_build_object('trade_id', t.id, 'claimed_by', v_holder, 'worker_id', p_worker));
    END IF;
    IF t.status <> 'PENDING' THEN
        PERFORM xorj.raise_state('trades',
            format('trade %s is %s: it cannot be marked SUBMITTED%s', t.id, t.status,
                   CASE WHEN t.transaction_signature IS NOT NULL
                        THEN ' with another signature' ELSE '' END),
            format('current status %s, signature %s', t.status, coalesce(t.transaction_signature, 'none')),
            p_facts => jsonb_build_object('id', t.id, 'from', t.status, 'to', 'SUBMITTED'));
    END IF;
    IF EXISTS (SELECT 1 FROM xorj.trade_keys k WHERE k.transaction_signature = p_signature) THEN
        PERFORM xorj.raise_signature_in_use(p_signature);
    END IF;
    BEGIN
        UPDATE xorj.trades
        SET status = 'SUBMITTED', transaction_signature = p_signature,
            last_valid_block_height = p_last_valid_block_height
        WHERE id = t.id AND created_at = t.created_at RETURNING * INTO t;
    EXCEPTION WHEN unique_violation THEN  -- recorded meanwhile for another trade
        PERFORM xorj.raise_signature_in_use(p_signature);
    END;
    RETURN QUERY SELECT true, xorj.trade_json(t);
END
$fn$;
REVOKE ALL ON FUNCTION api.mark_trade_submitted(uuid, text, bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.mark_trade_submitted(uuid, text, bigint, text) TO xorj_bot;

-- The realized slippage of a fill, in percent: (expected - actual) * 100 / expected,
-- rounded half-even to 4 decimal places (as the execution bot has always recorded it:
-- Decimal.quantize(Decimal("0.0001"), ROUND_HALF_EVEN)), exact (xorj.div_half_even);
-- never clamped: negative when the fill beats the quote. NULL when expected is 0.
CREATE OR REPLACE FUNCTION xorj.slippage_percent(p_expected numeric, p_actual numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog
AS $fn$
    SELECT CASE WHEN p_expected <> 0
                THEN xorj.div_half_even((p_expected - p_actual) * 100, p_expected, 4) END
$fn$;

-- FR-2.4: SUBMITTED -> CONFIRMED with what landed on chain. The slippage given is stored
-- as given (at most 100, no lower bound); when none is given (NULL) the database computes
-- it from the trade's expected_amount_out (xorj.slippage_percent).
CREATE OR REPLACE FUNCTION api.mark_trade_confirmed(
    p_trade_id uuid,
    p_actual_amount_out numeric,
    p_slippage_realized numeric DEFAULT NULL,
    p_gas_fee numeric DEFAULT NULL
) RETURNS TABLE (changed boolean, trade jsonb)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    t          xorj.trades := xorj.lock_trade(p_trade_id);
    v_actual   xorj.u64 := xorj.check_u64('actual_amount_out', p_actual_amount_out);
    v_gas      xorj.u64;
    v_slippage numeric := p_slippage_realized;
BEGIN
    IF p_gas_fee IS NOT NULL THEN
        v_gas := xorj.check_u64('gas_fee', p_gas_fee);
    END IF;
    IF p_slippage_realized IS NOT NULL
       AND (p_slippage_realized = 'NaN'::numeric OR p_slippage_realized > 100) THEN
        -- No lower bound: a fill better than twice the quote is a (rare) slippage below
        -- -100 %; more than 100 % would be a fill of less than nothing.
        PERFORM xorj.raise_invalid('slippage_realized', 'must be a percentage of at most 100',
            'Slippage is (expected - actual) / expected x 100: at most 100, negative when the fill beats the quote.');
    END IF;
    IF v_slippage IS NULL THEN
        v_slippage := xorj.slippage_percent(t.expected_amount_out, v_actual);
    END IF;
    IF t.status = 'CONFIRMED'
       AND (t.actual_amount_out, t.slippage_realized, t.gas_fee)
           IS NOT DISTINCT FROM (v_actual, v_slippage, v_gas) THEN
        RETURN QUERY SELECT false, xorj.trade_json(t);
        RETURN;
    END IF;
    IF t.status <> 'SUBMITTED' THEN
        PERFORM xorj.raise_state('trades',
            format('trade %s is %s: only a SUBMITTED trade can be confirmed%s', t.id, t.status,
                   CASE WHEN t.status = 'CONFIRMED' THEN ' (it was confirmed with other values)' ELSE '' END),
            format('current status %s', t.status),
            p_facts => jsonb_build_object('id', t.id, 'from', t.status, 'to', 'CONFIRMED'));
    END IF;
    UPDATE xorj.trades
    SET status = 'CONFIRMED', actual_amount_out = v_actual,
        slippage_realized = v_slippage, gas_fee = v_gas
    WHERE id = t.id AND created_at = t.created_at RETURNING * INTO t;
    RETURN QUERY SELECT true, xorj.trade_json(t);
END
$fn$;
REVOKE ALL ON FUNCTION api.mark_trade_confirmed(uuid, numeric, numeric, numeric) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.mark_trade_confirmed(uuid, numeric, numeric, numeric) TO xorj_bot;

-- PENDING or SUBMITTED -> FAILED with the reason (and the fee, when one was paid).
-- p_expected_status 'PENDING' fails the trade only if it is still PENDING: a recovering
-- bot abandons a trade it believes was never broadcast, and must not fail one that
-- another bot has meanwhile recorded as SUBMITTED (it may land).
-- A PENDING trade is failed only with its basis (0013, never blind), p_failure_basis:
--   * 'never_broadcast': the caller never sent its transaction (the project's bot, by its
--     protocol, for the trades it created: records_signature_first; a client over HTTP
--     saying so of its own trade);
--   * 'not_found_on_chain': its window was recorded (api.start_trade_search) and has
--     closed: p_chain_height, the chain's block height the caller read before its last
--     search, is past search_until_height, and the search found nothing.
-- The basis applies to a PENDING trade only; a SUBMITTED trade's failure rests on its
-- signature, and p_failure_basis is then not recorded.
CREATE OR REPLACE FUNCTION api.mark_trade_failed(
    p_trade_id uuid,
    p_error_message text,
    p_gas_fee numeric DEFAULT NULL,
    p_expected_status text DEFAULT NULL,
    p_failure_basis text DEFAULT NULL,
    p_chain_height bigint DEFAULT NULL
) RETURNS TABLE (changed boolean, trade jsonb)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    t       xorj.trades := xorj.lock_trade(p_trade_id);
    v_gas   xorj.u64;
    v_basis text;
BEGIN
    PERFORM xorj.check_text('error_message', p_error_message, 10000, NULL,
                            'must be 1 to 10000 characters');
    IF p_gas_fee IS NOT NULL THEN
        v_gas := xorj.check_u64('gas_fee', p_gas_fee);
    END IF;
    IF p_failure_basis IS NOT NULL
       AND p_failure_basis NOT IN ('never_broadcast', 'not_found_on_chain') THEN
        PERFORM xorj.raise_invalid('failure_basis',
            format('%s is not one of never_broadcast, not_found_on_chain', left(p_failure_basis, 40)));
    END IF;
    IF p_chain_height IS NOT NULL AND p_chain_height < 0 THEN
        PERFORM xorj.raise_invalid('chain_height', 'must be a block height, 0 or more');
    END IF;
    IF t.status = 'FAILED' AND t.error_message = p_error_message
       AND t.gas_fee IS NOT DISTINCT FROM v_gas THEN
        RETURN QUERY SELECT false, xorj.trade_json(t);
        RETURN;
    END IF;
    IF p_expected_status IS NOT NULL AND p_expected_status NOT IN ('PENDING', 'SUBMITTED') THEN
        PERFORM xorj.raise_invalid('expected_status', 'must be PENDING or SUBMITTED');
    END IF;
    IF t.status NOT IN ('PENDING', 'SUBMITTED') THEN
        PERFORM xorj.raise_state('trades',
            format('trade %s is %s: it cannot be marked FAILED', t.id, t.status),
            format('current status %s', t.status),
            p_facts => jsonb_build_object('id', t.id, 'from', t.status, 'to', 'FAILED'));
    END IF;
    IF p_expected_status IS NOT NULL AND t.status::text <> p_expected_status THEN
        PERFORM xorj.raise_state('trades',
            format('trade %s is %s, not %s: it was not marked FAILED', t.id, t.status, p_expected_status),
            format('current status %s', t.status),
            'It moved on meanwhile; resolve it from its current status.',
            jsonb_build_object('id', t.id, 'from', t.status, 'to', 'FAILED',
                               'expected_status', p_expected_status));
    END IF;
    IF t.status = 'PENDING' THEN
        IF p_failure_basis IS NULL THEN
            PERFORM xorj.raise_invalid('failure_basis',
                format('trade %s is PENDING: it is failed only with its basis', t.id),
                'never_broadcast when its transaction was never sent; not_found_on_chain after its search window closed. A client that broadcast records the signature (submitted) instead.',
                jsonb_build_object('id', t.id));
        END IF;
        IF p_failure_basis = 'not_found_on_chain' THEN
            IF t.search_until_height IS NULL THEN
                PERFORM xorj.raise_conflict('search_not_started',
                    format('trade %s: no search window was recorded', t.id),
                    'not_found_on_chain needs the window of api.start_trade_search, closed.',
                    'Record the window, search until the chain is past it, then fail it.',
                    jsonb_build_object('id', t.id));
            END IF;
            IF p_chain_height IS NULL OR p_chain_height <= t.search_until_height THEN
                PERFORM xorj.raise_conflict('search_window_open',
                    format('trade %s: its transaction can still land until block height %s (chain at %s)',
                           t.id, t.search_until_height, coalesce(p_chain_height::text, 'unknown')),
                    'A trade is found missing only after every blockhash it could use has expired.',
                    'Search again once the chain is past search_until_height.',
                    jsonb_build_object('id', t.id, 'search_until_height', t.search_until_height,
                                       'chain_height', p_chain_height));
            END IF;
        END IF;
        v_basis := p_failure_basis;
    END IF;
    UPDATE xorj.trades
    SET status = 'FAILED', error_message = p_error_message, gas_fee = v_gas,
        failure_basis = v_basis
    WHERE id = t.id AND created_at = t.created_at RETURNING * INTO t;
    RETURN QUERY SELECT true, xorj.trade_json(t);
END
$fn$;
REVOKE ALL ON FUNCTION api.mark_trade_failed(uuid, text, numeric, text, text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.mark_trade_failed(uuid, text, numeric, text, text, bigint) TO xorj_bot;

-- The search window of a PENDING trade of the seed's order (0013): p_until_height is the
-- block height after which none of its transactions can land (the last valid block
-- height of the newest blockhash when the search starts, plus a margin). Recorded by the
-- first search only; later calls return the trade with the first window. Refused for a
-- trade that is not PENDING (XJ423), for one created by a signature-first client (XJ409
-- records_signature_first: it was never broadcast), and while its creator may still be
-- signing (XJ409 client_window_open: younger than xorj.send_first_grace()).
CREATE OR REPLACE FUNCTION xorj.send_first_grace() RETURNS interval
LANGUAGE sql IMMUTABLE
AS $$ SELECT interval '30 seconds' $$;

CREATE OR REPLACE FUNCTION api.start_trade_search(p_trade_id uuid, p_until_height bigint)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    t xorj.trades := xorj.lock_trade(p_trade_id);
BEGIN
    IF p_until_height IS NULL OR p_until_height <= 0 THEN
        PERFORM xorj.raise_invalid('until_height', 'must be a block height, 1 or more');
    END IF;
    IF t.status <> 'PENDING' THEN
        PERFORM xorj.raise_state('trades',
            format('trade %s is %s: only a PENDING trade is searched for', t.id, t.status),
            format('current status %s', t.status),
            'Resolve it from its current status.',
            jsonb_build_object('id', t.id, 'from', t.status));
    END IF;
    IF t.search_until_height IS NOT NULL THEN
        RETURN xorj.trade_json(t);
    END IF;
    IF t.records_signature_first THEN
        PERFORM xorj.raise_conflict('records_signature_first',
            format('trade %s was created by a client that records its signature before it broadcasts', t.id),
            'Still PENDING, it was never broadcast: there is nothing to search for.',
            'Fail it as never_broadcast.',
            jsonb_build_object('id', t.id));
    END IF;
    IF t.created_at > clock_timestamp() - xorj.send_first_grace() THEN
        PERFORM xorj.raise_conflict('client_window_open',
            format('trade %s was created %s ago: its client may still be signing it', t.id,
                   date_trunc('second', clock_timestamp() - t.created_at)),
            format('A client of the seed''s order has %s after creating a trade to sign it.',
                   xorj.send_first_grace()),
            'Search for it later.',
            jsonb_build_object('id', t.id, 'created_at', t.created_at,
                               'grace', xorj.send_first_grace()));
    END IF;
    UPDATE xorj.trades SET search_until_height = p_until_height
    WHERE id = t.id AND created_at = t.created_at RETURNING * INTO t;
    RETURN xorj.trade_json(t);
END
$fn$;
REVOKE ALL ON FUNCTION api.start_trade_search(uuid, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.start_trade_search(uuid, bigint) TO xorj_bot;
