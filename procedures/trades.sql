-- Trades: the lifecycle PENDING -> SUBMITTED -> CONFIRMED, PENDING|SUBMITTED -> FAILED,
-- and duplicate prevention. Role xorj_bot.
--
-- Guards that hold against direct SQL (trigger xorj.trades_guard):
--   * a trade is inserted PENDING, with no signature, result or error;
--   * identity columns never change: id, job_id, user_vault_address, client_order_id,
--     from/to token, amount_in, expected_amount_out, created_at;
--   * status moves only PENDING->SUBMITTED (signature required), SUBMITTED->CONFIRMED
--     (actual_amount_out required), PENDING->FAILED and SUBMITTED->FAILED (error
--     required); submitted_at and completed_at are set here, not by the caller;
--   * the signature and its last valid block height, once recorded, never change; a
--     terminal trade never changes (its claim columns are ignored);
--   * claimed_by / claim_expires_at (a bot's lease on the trade) may change while the
--     trade is PENDING or SUBMITTED;
--   * DELETE and TRUNCATE are refused;
--   * every insert and status change writes a trade_events row in the same transaction.
--
-- Duplicate prevention in api.create_trade, race-free because every creation for a
-- vault first locks that vault's bot_states row (FOR UPDATE), so creations for one vault
-- are serialized and each sees the ones committed before it:
--   1. idempotent retry: the same (vault, client_order_id) with the same job, tokens and
--      amounts returns the existing trade with replay = true; with other values: XJ409
--      idempotency_key_reused;
--   2. in flight: a PENDING or SUBMITTED trade of the same vault and token pair: XJ409
--      trade_in_flight (also a partial unique index, against direct SQL);
--   3. recent repeat: the same vault, pair and amount_in created within
--      xorj.settings.duplicate_window and not FAILED: XJ409 recent_repeat;
--   4. a signature belongs to one trade: XJ409 signature_in_use (and a unique index);
--   5. the vault's bot must be enabled: XJ409 bot_not_enabled. A disable that committed
--      before the lock was taken is seen; one that comes later waits for this creation.

CREATE OR REPLACE FUNCTION xorj.trades_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    IF TG_OP = 'DELETE' OR TG_OP = 'TRUNCATE' THEN
        PERFORM xorj.raise_state('trades',
            format('trades are never deleted: %s is not allowed', TG_OP),
            'The trade log keeps every trade; a trade that should not happen is marked FAILED.',
            'Use api.mark_trade_failed.');
    END IF;

    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'PENDING' THEN
            PERFORM xorj.raise_state('trades',
                format('a trade is created PENDING, not %s', NEW.status),
                'Trades enter the log before anything is sent to the chain.',
                'Create it PENDING, then mark it submitted and confirmed.');
        END IF;
        IF NEW.transaction_signature IS NOT NULL OR NEW.last_valid_block_height IS NOT NULL
           OR NEW.actual_amount_out IS NOT NULL
           OR NEW.slippage_realized IS NOT NULL OR NEW.gas_fee IS NOT NULL
           OR NEW.error_message IS NOT NULL THEN
            PERFORM xorj.raise_state('trades',
                'a new trade has no signature, result or error yet',
                'transaction_signature, actual_amount_out, slippage_realized, gas_fee and error_message are set by later transitions.');
        END IF;
        NEW.submitted_at := NULL;
        NEW.completed_at := NULL;
        RETURN NEW;
    END IF;

    -- UPDATE
    IF (NEW.id, NEW.job_id, NEW.user_vault_address, NEW.client_order_id,
        NEW.from_token_address, NEW.to_token_address, NEW.amount_in,
        NEW.expected_amount_out, NEW.created_at)
       IS DISTINCT FROM
       (OLD.id, OLD.job_id, OLD.user_vault_address, OLD.client_order_id,
        OLD.from_token_address, OLD.to_token_address, OLD.amount_in,
        OLD.expected_amount_out, OLD.created_at) THEN
        PERFORM xorj.raise_state('trades',
            format('trade %s: its identity columns cannot change', OLD.id),
            'job_id, user_vault_address, client_order_id, the tokens, amount_in and expected_amount_out are fixed when the trade is created.',
            'Create a new trade instead.');
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
            format('A %s trade is final.', OLD.status));
    END IF;

    IF OLD.transaction_signature IS NOT NULL
       AND (NEW.transaction_signature, NEW.last_valid_block_height)
           IS DISTINCT FROM (OLD.transaction_signature, OLD.last_valid_block_height) THEN
        PERFORM xorj.raise_state('trades',
            format('trade %s: its transaction signature and last valid block height cannot change', OLD.id),
            'A signature, once recorded, is the only transaction this trade may land as.',
            'A new attempt is a new trade.');
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
                'Use api.mark_trade_submitted, api.mark_trade_confirmed or api.mark_trade_failed.');
        END IF;
        RETURN NEW;
    END IF;

    IF (OLD.status, NEW.status) = ('PENDING'::xorj.trade_status, 'SUBMITTED'::xorj.trade_status) THEN
        IF NEW.transaction_signature IS NULL THEN
            PERFORM xorj.raise_state('trades',
                format('trade %s: SUBMITTED needs a transaction signature', OLD.id),
                'The signature is recorded before the transaction is broadcast.');
        END IF;
        IF (NEW.actual_amount_out, NEW.slippage_realized, NEW.gas_fee, NEW.error_message)
           IS DISTINCT FROM (NULL::numeric, NULL::numeric, NULL::numeric, NULL::text) THEN
            PERFORM xorj.raise_state('trades',
                format('trade %s: a SUBMITTED trade has no result or error yet', OLD.id),
                'Results are recorded when it is confirmed, errors when it fails.');
        END IF;
        NEW.submitted_at := clock_timestamp();
    ELSIF (OLD.status, NEW.status) = ('SUBMITTED'::xorj.trade_status, 'CONFIRMED'::xorj.trade_status) THEN
        IF NEW.actual_amount_out IS NULL THEN
            PERFORM xorj.raise_state('trades',
                format('trade %s: CONFIRMED needs actual_amount_out', OLD.id),
                'A confirmed trade records what it received.');
        END IF;
        IF NEW.error_message IS NOT NULL THEN
            PERFORM xorj.raise_state('trades',
                format('trade %s: a CONFIRMED trade has no error', OLD.id),
                'error_message belongs to FAILED trades.');
        END IF;
        NEW.submitted_at := OLD.submitted_at;
        NEW.completed_at := clock_timestamp();
    ELSIF NEW.status = 'FAILED' THEN  -- from PENDING or SUBMITTED
        IF coalesce(btrim(NEW.error_message), '') = '' THEN
            PERFORM xorj.raise_state('trades',
                format('trade %s: FAILED needs an error message', OLD.id),
                'A failed trade says why.');
        END IF;
        IF (NEW.actual_amount_out, NEW.slippage_realized)
           IS DISTINCT FROM (NULL::numeric, NULL::numeric) THEN
            PERFORM xorj.raise_state('trades',
                format('trade %s: a FAILED trade has no received amount', OLD.id),
                'actual_amount_out and slippage_realized belong to CONFIRMED trades; gas_fee may be recorded.');
        END IF;
        NEW.submitted_at := OLD.submitted_at;
        NEW.completed_at := clock_timestamp();
    ELSE
        PERFORM xorj.raise_state('trades',
            format('trade %s: %s -> %s is not allowed', OLD.id, OLD.status, NEW.status),
            'Trades move PENDING -> SUBMITTED -> CONFIRMED, or from PENDING or SUBMITTED to FAILED.');
    END IF;
    RETURN NEW;
END
$fn$;

-- The audit trail: one trade_events row per insert and per status change.
CREATE OR REPLACE FUNCTION xorj.trades_audit() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO xorj.trade_events (trade_id, from_status, to_status, actor, detail)
        VALUES (NEW.id, NULL, NEW.status, xorj.current_actor(),
                jsonb_build_object('job_id', NEW.job_id, 'client_order_id', NEW.client_order_id));
    ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
        INSERT INTO xorj.trade_events (trade_id, from_status, to_status, actor, detail)
        VALUES (NEW.id, OLD.status, NEW.status, xorj.current_actor(),
                jsonb_strip_nulls(jsonb_build_object(
                    'transaction_signature', NEW.transaction_signature,
                    'actual_amount_out', NEW.actual_amount_out::text,
                    'gas_fee', NEW.gas_fee::text,
                    'error_message', NEW.error_message)));
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

-- A trade as the callers see it: the row's columns, amounts as JSON strings (u64 values
-- do not fit a double), plus its events' count.
CREATE OR REPLACE FUNCTION xorj.trade_json(t xorj.trades) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
    SELECT to_jsonb(t)
        || jsonb_build_object(
            'amount_in', t.amount_in::text,
            'expected_amount_out', t.expected_amount_out::text,
            'actual_amount_out', t.actual_amount_out::text,
            'gas_fee', t.gas_fee::text)
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

-- Signature p_signature is recorded for another trade: XJ409 signature_in_use naming it.
CREATE OR REPLACE FUNCTION xorj.raise_signature_in_use(p_signature text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    v_other uuid;
BEGIN
    SELECT id INTO v_other FROM xorj.trades WHERE transaction_signature = p_signature;
    PERFORM xorj.raise_conflict('signature_in_use',
        format('signature %s is already recorded for trade %s', p_signature, v_other),
        format('conflicting_trade_id=%s', v_other),
        'Each transaction belongs to one trade.');
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
    SELECT * INTO t FROM xorj.trades WHERE id = p_trade_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM xorj.raise_not_found('trade', p_trade_id::text);
    END IF;
    RETURN t;
END
$fn$;

-- FR-2.2: create a trade (PENDING) for a RUNNING job. Returns (replay, trade).
CREATE OR REPLACE FUNCTION api.create_trade(
    p_job_id uuid,
    p_vault text,
    p_client_order_id text,
    p_from_token text,
    p_to_token text,
    p_amount_in numeric,
    p_expected_amount_out numeric,
    p_worker text DEFAULT NULL,
    p_lease interval DEFAULT NULL
) RETURNS TABLE (replay boolean, trade jsonb)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
-- Plan each lookup for its vault and pair: a cached generic plan read the in-flight
-- check through the claim index and slowed down as trades accumulated.
SET plan_cache_mode = force_custom_plan
AS $fn$
DECLARE
    v_vault     xorj.solana_address := xorj.check_address('user_vault_address', p_vault);
    v_from      xorj.solana_address := xorj.check_address('from_token_address', p_from_token);
    v_to        xorj.solana_address := xorj.check_address('to_token_address', p_to_token);
    v_amount    xorj.u64 := xorj.check_u64('amount_in', p_amount_in, true);
    v_expected  xorj.u64 := xorj.check_u64('expected_amount_out', p_expected_amount_out);
    v_bot       xorj.bot_states;
    v_job       xorj.execution_jobs;
    v_existing  xorj.trades;
    v_window    interval;
    v_new       xorj.trades;
BEGIN
    IF p_job_id IS NULL THEN
        PERFORM xorj.raise_invalid('job_id', 'is required');
    END IF;
    IF p_client_order_id IS NULL OR p_client_order_id !~ '^[A-Za-z0-9._:-]{1,128}$' THEN
        PERFORM xorj.raise_invalid('client_order_id',
            'must be 1 to 128 characters of A-Z a-z 0-9 . _ : -',
            'Derive it deterministically from the trade intent so a retry reuses it.');
    END IF;
    IF v_from = v_to THEN
        PERFORM xorj.raise_invalid('to_token_address', 'must differ from from_token_address');
    END IF;
    PERFORM xorj.check_claim(p_worker, p_lease, false);

    -- Serialize every creation for this vault (rules 1-3 and 5 read under this lock).
    SELECT * INTO v_bot FROM xorj.bot_states WHERE vault_address = v_vault FOR UPDATE;

    -- 1. Idempotent retry.
    SELECT * INTO v_existing FROM xorj.trades
    WHERE user_vault_address = v_vault AND client_order_id = p_client_order_id;
    IF FOUND THEN
        IF (v_existing.job_id, v_existing.from_token_address, v_existing.to_token_address,
            v_existing.amount_in, v_existing.expected_amount_out)
           IS NOT DISTINCT FROM (p_job_id, v_from, v_to, v_amount, v_expected) THEN
            RETURN QUERY SELECT true, xorj.trade_json(v_existing);
            RETURN;
        END IF;
        PERFORM xorj.raise_conflict('idempotency_key_reused',
            format('client_order_id %s of vault %s is already used by trade %s with other parameters',
                   p_client_order_id, v_vault, v_existing.id),
            format('conflicting_trade_id=%s', v_existing.id),
            'A retry must send exactly the same job, tokens and amounts; a new intent needs a new client_order_id.');
    END IF;

    -- 5. The vault's bot must be enabled.
    IF v_bot.id IS NULL OR NOT v_bot.enabled THEN
        PERFORM xorj.raise_conflict('bot_not_enabled',
            format('the bot of vault %s is not enabled', v_vault),
            CASE WHEN v_bot.id IS NULL THEN 'No user has registered this vault.'
                 ELSE format('User %s has disabled the bot.', v_bot.user_id) END,
            'Only vaults whose owner has enabled the bot are traded.');
    END IF;

    SELECT * INTO v_job FROM xorj.execution_jobs WHERE id = p_job_id FOR SHARE;
    IF NOT FOUND THEN
        PERFORM xorj.raise_not_found('execution job', p_job_id::text);
    END IF;
    IF v_job.status <> 'RUNNING' THEN
        PERFORM xorj.raise_conflict('job_not_running',
            format('execution job %s is %s, not RUNNING', v_job.id, v_job.status),
            format('job_status=%s', v_job.status),
            'Create trades from a started job.');
    END IF;

    -- 2. In flight.
    SELECT * INTO v_existing FROM xorj.trades
    WHERE user_vault_address = v_vault AND from_token_address = v_from
      AND to_token_address = v_to AND status IN ('PENDING', 'SUBMITTED')
    LIMIT 1;
    IF FOUND THEN
        PERFORM xorj.raise_conflict('trade_in_flight',
            format('trade %s for this vault and token pair is still %s', v_existing.id, v_existing.status),
            format('conflicting_trade_id=%s', v_existing.id),
            'Wait until it is CONFIRMED or FAILED.');
    END IF;

    -- 3. Recent repeat.
    SELECT duplicate_window INTO v_window FROM xorj.settings;
    SELECT * INTO v_existing FROM xorj.trades
    WHERE user_vault_address = v_vault AND from_token_address = v_from
      AND to_token_address = v_to AND amount_in = v_amount
      AND status <> 'FAILED' AND created_at > clock_timestamp() - v_window
    ORDER BY created_at DESC
    LIMIT 1;
    IF FOUND THEN
        PERFORM xorj.raise_conflict('recent_repeat',
            format('trade %s with the same vault, tokens and amount was created %s ago',
                   v_existing.id, date_trunc('second', clock_timestamp() - v_existing.created_at)),
            format('conflicting_trade_id=%s', v_existing.id),
            format('The same trade is refused for %s after the last one.', v_window));
    END IF;

    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address,
                             to_token_address, amount_in, expected_amount_out,
                             claimed_by, claim_expires_at)
    VALUES (p_job_id, v_vault, p_client_order_id, v_from, v_to, v_amount, v_expected,
            p_worker, clock_timestamp() + p_lease)
    RETURNING * INTO v_new;
    RETURN QUERY SELECT false, xorj.trade_json(v_new);
END
$fn$;
REVOKE ALL ON FUNCTION api.create_trade(uuid, text, text, text, text, numeric, numeric, text, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.create_trade(uuid, text, text, text, text, numeric, numeric, text, interval) TO xorj_bot;

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
    t xorj.trades := xorj.lock_trade(p_trade_id);
BEGIN
    IF p_signature IS NULL
       OR NOT (length(p_signature) BETWEEN 64 AND 88
               AND p_signature ~ '^[1-9A-HJ-NP-Za-km-z]+$') THEN
        PERFORM xorj.raise_invalid('transaction_signature', 'is not a Solana signature',
            'A transaction signature is 64 to 88 base58 characters.');
    END IF;
    IF p_last_valid_block_height IS NOT NULL AND p_last_valid_block_height < 0 THEN
        PERFORM xorj.raise_invalid('last_valid_block_height', 'must be 0 or more');
    END IF;
    IF t.status = 'SUBMITTED' AND t.transaction_signature = p_signature
       AND t.last_valid_block_height IS NOT DISTINCT FROM p_last_valid_block_height THEN
        RETURN QUERY SELECT false, xorj.trade_json(t);
        RETURN;
    END IF;
    IF p_worker IS NOT NULL AND t.claimed_by IS DISTINCT FROM p_worker THEN
        PERFORM xorj.raise_conflict('claim_lost',
            format('trade %s is not claimed by %s', t.id, p_worker),
            format('claimed_by=%s', coalesce(t.claimed_by, 'nobody')),
            'Another bot took the trade over: do not broadcast it.');
    END IF;
    IF t.status <> 'PENDING' THEN
        PERFORM xorj.raise_state('trades',
            format('trade %s is %s: it cannot be marked SUBMITTED%s', t.id, t.status,
                   CASE WHEN t.transaction_signature IS NOT NULL
                        THEN ' with another signature' ELSE '' END),
            format('current status %s, signature %s', t.status, coalesce(t.transaction_signature, 'none')));
    END IF;
    IF EXISTS (SELECT 1 FROM xorj.trades WHERE transaction_signature = p_signature) THEN
        PERFORM xorj.raise_signature_in_use(p_signature);
    END IF;
    BEGIN
        UPDATE xorj.trades
        SET status = 'SUBMITTED', transaction_signature = p_signature,
            last_valid_block_height = p_last_valid_block_height
        WHERE id = t.id RETURNING * INTO t;
    EXCEPTION WHEN unique_violation THEN  -- recorded meanwhile for another trade
        PERFORM xorj.raise_signature_in_use(p_signature);
    END;
    RETURN QUERY SELECT true, xorj.trade_json(t);
END
$fn$;
REVOKE ALL ON FUNCTION api.mark_trade_submitted(uuid, text, bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.mark_trade_submitted(uuid, text, bigint, text) TO xorj_bot;

-- FR-2.4: SUBMITTED -> CONFIRMED with what landed on chain.
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
    t        xorj.trades := xorj.lock_trade(p_trade_id);
    v_actual xorj.u64 := xorj.check_u64('actual_amount_out', p_actual_amount_out);
    v_gas    xorj.u64;
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
    IF t.status = 'CONFIRMED'
       AND (t.actual_amount_out, t.slippage_realized, t.gas_fee)
           IS NOT DISTINCT FROM (v_actual, p_slippage_realized, v_gas) THEN
        RETURN QUERY SELECT false, xorj.trade_json(t);
        RETURN;
    END IF;
    IF t.status <> 'SUBMITTED' THEN
        PERFORM xorj.raise_state('trades',
            format('trade %s is %s: only a SUBMITTED trade can be confirmed%s', t.id, t.status,
                   CASE WHEN t.status = 'CONFIRMED' THEN ' (it was confirmed with other values)' ELSE '' END),
            format('current status %s', t.status));
    END IF;
    UPDATE xorj.trades
    SET status = 'CONFIRMED', actual_amount_out = v_actual,
        slippage_realized = p_slippage_realized, gas_fee = v_gas,
        claimed_by = NULL, claim_expires_at = NULL
    WHERE id = t.id RETURNING * INTO t;
    RETURN QUERY SELECT true, xorj.trade_json(t);
END
$fn$;
REVOKE ALL ON FUNCTION api.mark_trade_confirmed(uuid, numeric, numeric, numeric) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.mark_trade_confirmed(uuid, numeric, numeric, numeric) TO xorj_bot;

-- PENDING or SUBMITTED -> FAILED with the reason (and the fee, when one was paid).
-- p_expected_status 'PENDING' fails the trade only if it is still PENDING: a recovering
-- bot abandons a trade it believes was never broadcast, and must not fail one that
-- another bot has meanwhile recorded as SUBMITTED (it may land).
CREATE OR REPLACE FUNCTION api.mark_trade_failed(
    p_trade_id uuid,
    p_error_message text,
    p_gas_fee numeric DEFAULT NULL,
    p_expected_status text DEFAULT NULL
) RETURNS TABLE (changed boolean, trade jsonb)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    t     xorj.trades := xorj.lock_trade(p_trade_id);
    v_gas xorj.u64;
BEGIN
    IF coalesce(btrim(p_error_message), '') = '' OR length(p_error_message) > 10000 THEN
        PERFORM xorj.raise_invalid('error_message', 'must be 1 to 10000 characters');
    END IF;
    IF p_gas_fee IS NOT NULL THEN
        v_gas := xorj.check_u64('gas_fee', p_gas_fee);
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
            format('current status %s', t.status));
    END IF;
    IF p_expected_status IS NOT NULL AND t.status::text <> p_expected_status THEN
        PERFORM xorj.raise_state('trades',
            format('trade %s is %s, not %s: it was not marked FAILED', t.id, t.status, p_expected_status),
            format('current status %s', t.status),
            'It moved on meanwhile; resolve it from its current status.');
    END IF;
    UPDATE xorj.trades
    SET status = 'FAILED', error_message = p_error_message, gas_fee = v_gas,
        claimed_by = NULL, claim_expires_at = NULL
    WHERE id = t.id RETURNING * INTO t;
    RETURN QUERY SELECT true, xorj.trade_json(t);
END
$fn$;
REVOKE ALL ON FUNCTION api.mark_trade_failed(uuid, text, numeric, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.mark_trade_failed(uuid, text, numeric, text) TO xorj_bot;

-- FR-2.5: what a restarting bot must resolve: every SUBMITTED trade, oldest first, then
-- PENDING trades created more than p_pending_older_than ago, oldest first.
CREATE OR REPLACE FUNCTION api.trades_to_recover(
    p_pending_older_than interval DEFAULT interval '0',
    p_limit integer DEFAULT 1000
) RETURNS SETOF jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    PERFORM xorj.check_recovery_args(p_pending_older_than, p_limit);
    RETURN QUERY
    SELECT x.j FROM (
        (SELECT xorj.trade_json(t) AS j, 0 AS part, t.submitted_at AS at, t.id
         FROM xorj.trades t WHERE t.status = 'SUBMITTED'
         ORDER BY t.submitted_at, t.id LIMIT p_limit)
        UNION ALL
        (SELECT xorj.trade_json(t), 1, t.created_at, t.id
         FROM xorj.trades t
         WHERE t.status = 'PENDING' AND t.created_at <= clock_timestamp() - p_pending_older_than
         ORDER BY t.created_at, t.id LIMIT p_limit)
    ) x
    ORDER BY x.part, x.at, x.id
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
    SELECT * INTO t FROM xorj.trades WHERE id = p_trade_id;
    IF NOT FOUND THEN
        PERFORM xorj.raise_not_found('trade', coalesce(p_trade_id::text, 'NULL'));
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
    IF p_status IS NOT NULL THEN
        IF p_status <> ALL (enum_range(NULL::xorj.trade_status)::text[]) THEN
            PERFORM xorj.raise_invalid('status', format('%s is not one of %s', p_status,
                array_to_string(enum_range(NULL::xorj.trade_status), ', ')));
        END IF;
        v_status := p_status::xorj.trade_status;
    END IF;
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
    IF NOT EXISTS (SELECT 1 FROM xorj.trades WHERE id = p_trade_id) THEN
        PERFORM xorj.raise_not_found('trade', coalesce(p_trade_id::text, 'NULL'));
    END IF;
    RETURN QUERY
    SELECT to_jsonb(e) FROM xorj.trade_events e WHERE e.trade_id = p_trade_id ORDER BY e.id;
END
$fn$;
REVOKE ALL ON FUNCTION api.trade_events(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.trade_events(uuid) TO xorj_bot;

-- Sharing the work between bots. A claim is a lease: claimed_by and claim_expires_at.
-- api.claim_trades hands a bot the unfinished trades nobody holds (or whose lease ran
-- out, or that it already holds): every SUBMITTED trade and the PENDING ones older than
-- p_pending_older_than, oldest first. FOR UPDATE SKIP LOCKED: two bots claiming at once
-- never get the same trade. A bot renews its leases while it works and releases them when
-- it stops; a bot that dies loses them when they expire, and another bot takes over.
-- p_exclude: ids the caller already works (e.g. its earlier batches of one pass, which
-- it still holds): never returned, so the caller can page through more than p_limit.
CREATE OR REPLACE FUNCTION api.claim_trades(
    p_worker text,
    p_lease interval,
    p_pending_older_than interval DEFAULT interval '0',
    p_limit integer DEFAULT 100,
    p_exclude uuid[] DEFAULT NULL
) RETURNS SETOF jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    PERFORM xorj.check_claim(p_worker, p_lease, true);
    PERFORM xorj.check_recovery_args(p_pending_older_than, p_limit);
    RETURN QUERY
    WITH claimable AS (
        SELECT t.id
        FROM xorj.trades t
        WHERE (t.status = 'SUBMITTED'
               OR (t.status = 'PENDING' AND t.created_at <= clock_timestamp() - p_pending_older_than))
          AND (t.claimed_by IS NULL OR t.claim_expires_at < clock_timestamp()
               OR t.claimed_by = p_worker)
          AND NOT coalesce(t.id = ANY (p_exclude), false)  -- NULL: nothing excluded
        ORDER BY t.status DESC, coalesce(t.submitted_at, t.created_at), t.id
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE xorj.trades t
        SET claimed_by = p_worker, claim_expires_at = clock_timestamp() + p_lease
        FROM claimable c
        WHERE t.id = c.id
        RETURNING t.*
    )
    SELECT xorj.trade_json(c::xorj.trades) FROM claimed c
    ORDER BY c.status DESC, coalesce(c.submitted_at, c.created_at), c.id;
END
$fn$;
REVOKE ALL ON FUNCTION api.claim_trades(text, interval, interval, integer, uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.claim_trades(text, interval, interval, integer, uuid[]) TO xorj_bot;

-- Extend every lease the worker holds on unfinished trades; returns how many.
CREATE OR REPLACE FUNCTION api.renew_trade_claims(p_worker text, p_lease interval)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    n integer;
BEGIN
    PERFORM xorj.check_claim(p_worker, p_lease, true);
    UPDATE xorj.trades SET claim_expires_at = clock_timestamp() + p_lease
    WHERE claimed_by = p_worker AND status IN ('PENDING', 'SUBMITTED');
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;
REVOKE ALL ON FUNCTION api.renew_trade_claims(text, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.renew_trade_claims(text, interval) TO xorj_bot;

-- Give back the worker's leases (all, or the listed trades); returns how many.
CREATE OR REPLACE FUNCTION api.release_trade_claims(p_worker text, p_trade_ids uuid[] DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    n integer;
BEGIN
    PERFORM xorj.check_worker_id(p_worker);
    UPDATE xorj.trades SET claimed_by = NULL, claim_expires_at = NULL
    WHERE claimed_by = p_worker AND status IN ('PENDING', 'SUBMITTED')
      AND (p_trade_ids IS NULL OR id = ANY (p_trade_ids));
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;
REVOKE ALL ON FUNCTION api.release_trade_claims(text, uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.release_trade_claims(text, uuid[]) TO xorj_bot;
