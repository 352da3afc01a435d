-- Trades: the guards that hold against direct SQL, and the audit trail (see trades.sql
-- for the other files of the noun).
--
-- Guards (trigger trades_guard, function xorj.trades_guard):
--   * a trade is inserted PENDING, with no signature, result, error, search window or
--     failure basis;
--   * PENDING -> FAILED needs failure_basis (0013): never_broadcast, or
--     not_found_on_chain once its search window (search_until_height) was recorded;
--     SUBMITTED -> FAILED has none; the window is recorded once, while PENDING;
--   * identity columns never change: id, job_id, user_vault_address, client_order_id,
--     from/to token, amount_in, expected_amount_out, venue (where it is executed: set at
--     creation, never changed), created_at, records_signature_first;
--   * status moves only PENDING->SUBMITTED (signature required), SUBMITTED->CONFIRMED
--     (actual_amount_out required), PENDING->FAILED and SUBMITTED->FAILED (error
--     required); submitted_at and completed_at are set here, not by the caller;
--   * the signature and its last valid block height, once recorded, never change; a
--     terminal trade never changes;
--   * a bot's lease on the trade is a row of xorj.trade_claims (trades_claims.sql), held
--     only while the trade is PENDING or SUBMITTED;
--   * DELETE and TRUNCATE are refused;
--   * every insert and status change writes a trade_events row in the same transaction
--     (trigger trades_audit), and trade_events itself is append-only (the triggers of
--     migration 0003 run xorj.refuse_trade_event_change, worded below).
-- Every refusal here is XJ423 with DETAIL facts "table", "id" and, for an UPDATE, "from"
-- and "to" (the statuses of the row and of the update).

CREATE OR REPLACE FUNCTION xorj.trades_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    v_move jsonb;  -- the DETAIL facts of a refused UPDATE: id, from, to
BEGIN
    IF TG_OP = 'DELETE' OR TG_OP = 'TRUNCATE' THEN
        IF TG_OP = 'DELETE' THEN
            v_move := jsonb_build_object('id', OLD.id);
        END IF;
        PERFORM xorj.raise_state('trades',
            format('trades are never deleted: %s is not allowed', TG_OP),
            'The trade log keeps every trade; a trade that should not happen is marked FAILED.',
            'Use api.mark_trade_failed.', coalesce(v_move, '{}'));
    END IF;

    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'PENDING' THEN
            PERFORM xorj.raise_state('trades',
                format('a trade is created PENDING, not %s', NEW.status),
                'Trades enter the log before anything is sent to the chain.',
                'Create it PENDING, then mark it submitted and confirmed.',
                jsonb_build_object('id', NEW.id, 'to', NEW.status));
        END IF;
        IF NEW.transaction_signature IS NOT NULL OR NEW.last_valid_block_height IS NOT NULL
           OR NEW.actual_amount_out IS NOT NULL
           OR NEW.slippage_realized IS NOT NULL OR NEW.gas_fee IS NOT NULL
           OR NEW.error_message IS NOT NULL
           OR NEW.search_until_height IS NOT NULL OR NEW.failure_basis IS NOT NULL THEN
            PERFORM xorj.raise_state('trades',
                'a new trade has no signature, result or error yet',
                'transaction_signature, actual_amount_out, slippage_realized, gas_fee, error_message, search_until_height and failure_basis are set by later transitions.',
                p_facts => jsonb_build_object('id', NEW.id));
        END IF;
        NEW.submitted_at := NULL;
        NEW.completed_at := NULL;
        RETURN NEW;
    END IF;

    -- UPDATE
    v_move := jsonb_build_object('id', OLD.id, 'from', OLD.status, 'to', NEW.status);
    IF (NEW.id, NEW.job_id, NEW.user_vault_address, NEW.client_order_id,
        NEW.from_token_address, NEW.to_token_address, NEW.amount_in,
        NEW.expected_amount_out, NEW.venue, NEW.created_at, NEW.records_signature_first)
       IS DISTINCT FROM
       (OLD.id, OLD.job_id, OLD.user_vault_address, OLD.client_order_id,
        OLD.from_token_address, OLD.to_token_address, OLD.amount_in,
        OLD.expected_amount_out, OLD.venue, OLD.created_at, OLD.records_signature_first) THEN
        PERFORM xorj.raise_state('trades',
            format('trade %s: its identity columns cannot change', OLD.id),
            'job_id, user_vault_address, client_order_id, the tokens, amount_in, expected_amount_out, venue and records_signature_first are fixed when the trade is created.',
            'Create a new trade instead.',
            p_facts => v_move);
    END IF;

    IF OLD.status IN ('CONFIRMED', 'FAILED') THEN
        IF NEW.status = OLD.status
           AND (NEW.transaction_signature, NEW.last_valid_block_height, NEW.actual_amount_out,
                NEW.slippage_realized, NEW.gas_fee, NEW.error_message, NEW.submitted_at,
                NEW.completed_at, NEW.search_until_height, NEW.failure_basis)
               IS NOT DISTINCT FROM
               (OLD.transaction_signature, OLD.last_valid_block_height, OLD.actual_amount_out,
                OLD.slippage_realized, OLD.gas_fee, OLD.error_message, OLD.submitted_at,
                OLD.completed_at, OLD.search_until_height, OLD.failure_basis) THEN
            RETURN NULL;  -- a no-op update of a terminal trade: the row stays as it is
        END IF;
        PERFORM xorj.raise_state('trades',
            format('trade %s is %s: %s -> %s is not allowed', OLD.id, OLD.status, OLD.status, NEW.status),
            format('A %s trade is final.', OLD.status),
            p_facts => v_move);
    END IF;

    IF OLD.transaction_signature IS NOT NULL
       AND (NEW.transaction_signature, NEW.last_valid_block_height)
           IS DISTINCT FROM (OLD.transaction_signature, OLD.last_valid_block_height) THEN
        PERFORM xorj.raise_state('trades',
            format('trade %s: its transaction signature and last valid block height cannot change', OLD.id),
            'A signature, once recorded, is the only transaction this trade may land as.',
            'A new attempt is a new trade.',
            p_facts => v_move);
    END IF;

    -- The search window of a send-first PENDING trade (0013): recorded once, while it is
    -- PENDING and stays PENDING (api.start_trade_search), and never changed after.
    IF NEW.search_until_height IS DISTINCT FROM OLD.search_until_height
       AND (OLD.search_until_height IS NOT NULL OR OLD.status <> 'PENDING'
            OR NEW.status <> 'PENDING') THEN
        PERFORM xorj.raise_state('trades',
            format('trade %s: its search window is recorded once, while it is PENDING', OLD.id),
            'search_until_height bounds the search for a PENDING trade''s transaction on chain; a later search keeps the first bound.',
            'Use api.start_trade_search.',
            p_facts => v_move);
    END IF;

    IF NEW.status = OLD.status THEN
        -- PENDING or SUBMITTED staying put: no result columns may appear.
        IF (NEW.actual_amount_out, NEW.slippage_realized, NEW.gas_fee, NEW.error_message,
            NEW.transaction_signature, NEW.last_valid_block_height, NEW.submitted_at,
            NEW.completed_at, NEW.failure_basis)
           IS DISTINCT FROM
           (OLD.actual_amount_out, OLD.slippage_realized, OLD.gas_fee, OLD.error_message,
            OLD.transaction_signature, OLD.last_valid_block_height, OLD.submitted_at,
            OLD.completed_at, OLD.failure_basis) THEN
            PERFORM xorj.raise_state('trades',
                format('trade %s is %s: its result columns change only with its status', OLD.id, OLD.status),
                'Signature, amounts, fee and error are recorded by the transitions.',
                'Use api.mark_trade_submitted, api.mark_trade_confirmed or api.mark_trade_failed.',
                p_facts => v_move);
        END IF;
        RETURN NEW;
    END IF;

    IF (OLD.status, NEW.status) = ('PENDING'::xorj.trade_status, 'SUBMITTED'::xorj.trade_status) THEN
        IF NEW.transaction_signature IS NULL THEN
            PERFORM xorj.raise_state('trades',
                format('trade %s: SUBMITTED needs a transaction signature', OLD.id),
                'The signature is recorded before the transaction is broadcast.',
                p_facts => v_move);
        END IF;
        IF (NEW.actual_amount_out, NEW.slippage_realized, NEW.gas_fee, NEW.error_message,
            NEW.failure_basis)
           IS DISTINCT FROM (NULL::numeric, NULL::numeric, NULL::numeric, NULL::text, NULL::text) THEN
            PERFORM xorj.raise_state('trades',
                format('trade %s: a SUBMITTED trade has no result or error yet', OLD.id),
                'Results are recorded when it is confirmed, errors when it fails.',
                p_facts => v_move);
        END IF;
        NEW.submitted_at := clock_timestamp();
    ELSIF (OLD.status, NEW.status) = ('SUBMITTED'::xorj.trade_status, 'CONFIRMED'::xorj.trade_status) THEN
        IF NEW.actual_amount_out IS NULL THEN
            PERFORM xorj.raise_state('trades',
                format('trade %s: CONFIRMED needs actual_amount_out', OLD.id),
                'A confirmed trade records what it received.',
                p_facts => v_move);
        END IF;
        IF NEW.error_message IS NOT NULL THEN
            PERFORM xorj.raise_state('trades',
                format('trade %s: a CONFIRMED trade has no error', OLD.id),
                'error_message belongs to FAILED trades.',
                p_facts => v_move);
        END IF;
        NEW.submitted_at := OLD.submitted_at;
        NEW.completed_at := clock_timestamp();
    ELSIF NEW.status = 'FAILED' THEN  -- from PENDING or SUBMITTED
        IF coalesce(btrim(NEW.error_message), '') = '' THEN
            PERFORM xorj.raise_state('trades',
                format('trade %s: FAILED needs an error message', OLD.id),
                'A failed trade says why.',
                p_facts => v_move);
        END IF;
        IF (NEW.actual_amount_out, NEW.slippage_realized)
           IS DISTINCT FROM (NULL::numeric, NULL::numeric) THEN
            PERFORM xorj.raise_state('trades',
                format('trade %s: a FAILED trade has no received amount', OLD.id),
                'actual_amount_out and slippage_realized belong to CONFIRMED trades; gas_fee may be recorded.',
                p_facts => v_move);
        END IF;
        -- Never blind (0013): a PENDING trade has no signature to ask the chain about, so
        -- its failure says what it rests on; a SUBMITTED trade's rests on its signature.
        IF OLD.status = 'PENDING' AND NEW.failure_basis IS NULL THEN
            PERFORM xorj.raise_state('trades',
                format('trade %s: a PENDING trade is failed only with its basis', OLD.id),
                'Its transaction may have been broadcast and landed. failure_basis is never_broadcast (the caller never sent it) or not_found_on_chain (searched over its whole window).',
                'Use api.mark_trade_failed with p_failure_basis.',
                p_facts => v_move);
        END IF;
        IF OLD.status = 'PENDING' AND NEW.failure_basis = 'not_found_on_chain'
           AND OLD.search_until_height IS NULL THEN
            PERFORM xorj.raise_state('trades',
                format('trade %s: not_found_on_chain needs its search window', OLD.id),
                'Only a trade whose window was recorded (api.start_trade_search) and has closed can be found missing.',
                p_facts => v_move);
        END IF;
        IF OLD.status = 'SUBMITTED' AND NEW.failure_basis IS NOT NULL THEN
            PERFORM xorj.raise_state('trades',
                format('trade %s: a SUBMITTED trade fails on its signature, with no basis', OLD.id),
                'failure_basis belongs to PENDING trades.',
                p_facts => v_move);
        END IF;
        NEW.submitted_at := OLD.submitted_at;
        NEW.completed_at := clock_timestamp();
    ELSE
        PERFORM xorj.raise_state('trades',
            format('trade %s: %s -> %s is not allowed', OLD.id, OLD.status, NEW.status),
            'Trades move PENDING -> SUBMITTED -> CONFIRMED, or from PENDING or SUBMITTED to FAILED.',
            p_facts => v_move);
    END IF;
    RETURN NEW;
END
$fn$;

-- The audit trail: one trade_events row per insert and per status change, in the
-- partition of the trade's month (trade_created_at).
CREATE OR REPLACE FUNCTION xorj.trades_audit() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO xorj.trade_events (trade_id, trade_created_at, from_status, to_status,
                                       actor, detail)
        VALUES (NEW.id, NEW.created_at, NULL, NEW.status, xorj.current_actor(),
                jsonb_build_object('job_id', NEW.job_id, 'client_order_id', NEW.client_order_id));
    ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
        INSERT INTO xorj.trade_events (trade_id, trade_created_at, from_status, to_status,
                                       actor, detail)
        VALUES (NEW.id, NEW.created_at, OLD.status, NEW.status, xorj.current_actor(),
                jsonb_strip_nulls(jsonb_build_object(
                    'transaction_signature', NEW.transaction_signature,
                    'actual_amount_out', NEW.actual_amount_out::text,
                    'gas_fee', NEW.gas_fee::text,
                    'error_message', NEW.error_message,
                    'failure_basis', NEW.failure_basis)));
    END IF;
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE TRIGGER trades_guard
    BEFORE INSERT OR UPDATE OR DELETE ON xorj.trades
    FOR EACH ROW EXECUTE FUNCTION xorj.trades_guard();
CREATE OR REPLACE TRIGGER trades_no_truncate
    BEFORE TRUNCATE ON xorj.trades
    FOR EACH STATEMENT EXECUTE FUNCTION xorj.trades_guard();
CREATE OR REPLACE TRIGGER trades_audit
    AFTER INSERT OR UPDATE ON xorj.trades
    FOR EACH ROW EXECUTE FUNCTION xorj.trades_audit();

-- trade_events is append-only (migration 0003's triggers trade_events_append_only and
-- trade_events_no_truncate run this function): every UPDATE, DELETE and TRUNCATE is
-- XJ423, even by the owner. Replaced here, with the same words, so that its DETAIL
-- carries facts ("table", "op") like every other refusal.
CREATE OR REPLACE FUNCTION xorj.refuse_trade_event_change() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $fn$
BEGIN
    PERFORM xorj.raise_state('trade_events',
        format('trade_events is append-only: %s is not allowed', TG_OP),
        'The audit trail of trades keeps every row it was given.',
        'Record a correction as a new event instead.',
        jsonb_build_object('op', TG_OP));
    RETURN NULL;
END
$fn$;
