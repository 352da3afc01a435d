-- Back to 0011: the columns of the search for send-first trades go (what they recorded
-- with them; the FAILED trades keep their error messages, which say the same in words).
-- As with the other rollbacks, procedures/ stay as they are until the previous release's
-- migrate replaces them, except the two trigger functions of xorj.trades, which name the
-- columns that go: they are put back as they were before 0013, so that the table can be
-- written in between.
ALTER TABLE xorj.trades
    DROP CONSTRAINT trades_failure_basis_only_failed,
    DROP CONSTRAINT trades_failure_basis_known,
    DROP CONSTRAINT trades_search_until_height_positive,
    DROP COLUMN failure_basis,
    DROP COLUMN search_until_height,
    DROP COLUMN records_signature_first;

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
           OR NEW.error_message IS NOT NULL THEN
            PERFORM xorj.raise_state('trades',
                'a new trade has no signature, result or error yet',
                'transaction_signature, actual_amount_out, slippage_realized, gas_fee and error_message are set by later transitions.',
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
        NEW.expected_amount_out, NEW.venue, NEW.created_at)
       IS DISTINCT FROM
       (OLD.id, OLD.job_id, OLD.user_vault_address, OLD.client_order_id,
        OLD.from_token_address, OLD.to_token_address, OLD.amount_in,
        OLD.expected_amount_out, OLD.venue, OLD.created_at) THEN
        PERFORM xorj.raise_state('trades',
            format('trade %s: its identity columns cannot change', OLD.id),
            'job_id, user_vault_address, client_order_id, the tokens, amount_in, expected_amount_out and venue are fixed when the trade is created.',
            'Create a new trade instead.',
            p_facts => v_move);
    END IF;

    IF OLD.status IN ('CONFIRMED', 'FAILED') THEN
        IF NEW.status = OLD.status
           AND (NEW.transaction_signature, NEW.last_valid_block_height, NEW.actual_amount_out,
                NEW.slippage_realized, NEW.gas_fee, NEW.error_message, NEW.submitted_at,
                NEW.completed_at)
               IS NOT DISTINCT FROM
               (OLD.transaction_signature, OLD.last_valid_block_height, OLD.actual_amount_out,
                OLD.slippage_realized, OLD.gas_fee, OLD.error_message, OLD.submitted_at,
                OLD.completed_at) THEN
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

    IF NEW.status = OLD.status THEN
        -- PENDING or SUBMITTED staying put: no result columns may appear.
        IF (NEW.actual_amount_out, NEW.slippage_realized, NEW.gas_fee, NEW.error_message,
            NEW.transaction_signature, NEW.last_valid_block_height, NEW.submitted_at,
            NEW.completed_at)
           IS DISTINCT FROM
           (OLD.actual_amount_out, OLD.slippage_realized, OLD.gas_fee, OLD.error_message,
            OLD.transaction_signature, OLD.last_valid_block_height, OLD.submitted_at,
            OLD.completed_at) THEN
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
        IF (NEW.actual_amount_out, NEW.slippage_realized, NEW.gas_fee, NEW.error_message)
           IS DISTINCT FROM (NULL::numeric, NULL::numeric, NULL::numeric, NULL::text) THEN
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
                    'error_message', NEW.error_message)));
    END IF;
    RETURN NULL;
END
$fn$;
