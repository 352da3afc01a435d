-- Trades: creation (api.create_trade) and duplicate prevention (see trades.sql for the
-- other files of the noun).
--
-- Duplicate prevention in api.create_trade, race-free because every creation for a
-- vault first locks that vault's bot_states row (FOR UPDATE), so creations for one vault
-- are serialized and each sees the ones committed before it:
--   1. idempotent retry: the same (vault, client_order_id) with the same job, tokens,
--      amounts and venue returns the existing trade with replay = true; with other values
--      (another venue included): XJ409 idempotency_key_reused;
--   2. in flight: a PENDING or SUBMITTED trade of the same vault and token pair: XJ409
--      trade_in_flight (also a partial unique index, against direct SQL);
--   3. recent repeat: the same vault, pair and amount_in created within
--      xorj.settings.duplicate_window and not FAILED: XJ409 recent_repeat;
--   4. a signature belongs to one trade: XJ409 signature_in_use (and a unique index),
--      checked when it is recorded (trades_transitions.sql);
--   5. the vault's bot must be enabled: XJ409 bot_not_enabled. A disable that committed
--      before the lock was taken is seen; one that comes later waits for this creation.
-- The conflicts that name a trade carry "conflicting_trade_id" in their DETAIL facts
-- (and conflicting_trade_id=<uuid> in its text).

-- The venue (where the trade is executed): 'live' (the real Solana chain: the only
-- trades that count in a user's performance, api.bot_status), 'localnet' (a local
-- validator) or 'simulated' (the simulated chain); recorded with the trade and never
-- changed (trades_guard.sql). The duplicate rules 2 and 3 look at a vault's trades of
-- every venue.
--
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
    p_lease interval DEFAULT NULL,
    p_venue text DEFAULT 'live'
) RETURNS TABLE (replay boolean, trade jsonb)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
-- Its plans are cached and reused (no plan_cache_mode = force_custom_plan since 0011:
-- each lookup's generic plan reads an index bounded by the call's vault; the in-flight
-- check reads the partial unique index of xorj.trade_keys, no longer the claim index of
-- every unfinished trade: tests/pgtap/trades_create_plan.sql).
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
    v_since     timestamptz;
    v_key       record;
    v_new       xorj.trades;
    v_claim     xorj.trade_claims;  -- its claim, when created with one
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
    PERFORM xorj.check_venue(p_venue, true);

    -- This month's partition exists (trades_partitions.sql): created here, before any
    -- lock of this call is taken, if `xorj db maintain` has not created it ahead.
    IF to_regclass('xorj.trades_' || to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY_MM')) IS NULL THEN
        PERFORM xorj.ensure_trade_partitions();
    END IF;

    -- Serialize every creation for this vault (rules 1-3 and 5 read under this lock).
    SELECT * INTO v_bot FROM xorj.bot_states WHERE vault_address = v_vault FOR UPDATE;

    -- 1. Idempotent retry (the key table holds every trade ever created, archived ones
    -- included; the trade itself is read in its month's partition).
    SELECT k.id, k.created_at INTO v_key FROM xorj.trade_keys k
    WHERE k.user_vault_address = v_vault AND k.client_order_id = p_client_order_id;
    IF FOUND THEN
        SELECT * INTO v_existing FROM xorj.trades
        WHERE id = v_key.id AND created_at = v_key.created_at;
        IF NOT FOUND THEN
            PERFORM xorj.raise_conflict('idempotency_key_reused',
                format('client_order_id %s of vault %s was used by trade %s, archived with its month %s',
                       p_client_order_id, v_vault, v_key.id,
                       to_char(v_key.created_at AT TIME ZONE 'UTC', 'YYYY-MM')),
                format('conflicting_trade_id=%s', v_key.id),
                'A client_order_id names one intent for ever; a new intent needs a new one.',
                jsonb_build_object('conflicting_trade_id', v_key.id,
                                   'client_order_id', p_client_order_id, 'archived', true));
        END IF;
        IF (v_existing.job_id, v_existing.from_token_address, v_existing.to_token_address,
            v_existing.amount_in, v_existing.expected_amount_out, v_existing.venue)
           IS NOT DISTINCT FROM (p_job_id, v_from, v_to, v_amount, v_expected, p_venue) THEN
            RETURN QUERY SELECT true, xorj.trade_json(v_existing);
            RETURN;
        END IF;
        PERFORM xorj.raise_conflict('idempotency_key_reused',
            format('client_order_id %s of vault %s is already used by trade %s with other parameters',
                   p_client_order_id, v_vault, v_existing.id),
            format('conflicting_trade_id=%s', v_existing.id),
            'A retry must send exactly the same job, tokens, amounts and venue; a new intent needs a new client_order_id.',
            jsonb_build_object('conflicting_trade_id', v_existing.id,
                               'client_order_id', p_client_order_id));
    END IF;

    -- 5. The vault's bot must be enabled.
    IF v_bot.id IS NULL OR NOT v_bot.enabled THEN
        PERFORM xorj.raise_conflict('bot_not_enabled',
            format('the bot of vault %s is not enabled', v_vault),
            CASE WHEN v_bot.id IS NULL THEN 'No user has registered this vault.'
                 ELSE format('User %s has disabled the bot.', v_bot.user_id) END,
            'Only vaults whose owner has enabled the bot are traded.',
            jsonb_build_object('vault_address', v_vault, 'user_id', v_bot.user_id));
    END IF;

    SELECT * INTO v_job FROM xorj.execution_jobs WHERE id = p_job_id FOR SHARE;
    IF NOT FOUND THEN
        PERFORM xorj.raise_not_found('execution job', p_job_id::text);
    END IF;
    IF v_job.status <> 'RUNNING' THEN
        PERFORM xorj.raise_conflict('job_not_running',
            format('execution job %s is %s, not RUNNING', v_job.id, v_job.status),
            format('job_status=%s', v_job.status),
            'Create trades from a started job.',
            jsonb_build_object('job_id', v_job.id, 'job_status', v_job.status));
    END IF;

    -- 2. In flight (the unfinished trades' keys, index trades_one_in_flight_per_pair_key).
    SELECT k.id, k.created_at INTO v_key FROM xorj.trade_keys k
    WHERE k.user_vault_address = v_vault AND k.from_token_address = v_from
      AND k.to_token_address = v_to AND k.unfinished
      AND k.venue = p_venue;  -- another venue's trade runs on another chain
    IF FOUND THEN
        SELECT * INTO v_existing FROM xorj.trades
        WHERE id = v_key.id AND created_at = v_key.created_at;
        PERFORM xorj.raise_conflict('trade_in_flight',
            format('trade %s for this vault and token pair is still %s', v_existing.id, v_existing.status),
            format('conflicting_trade_id=%s', v_existing.id),
            'Wait until it is CONFIRMED or FAILED.',
            jsonb_build_object('conflicting_trade_id', v_existing.id,
                               'conflicting_status', v_existing.status));
    END IF;

    -- 3. Recent repeat.
    SELECT duplicate_window INTO v_window FROM xorj.settings;
    v_since := clock_timestamp() - v_window;  -- a value: the months before it are pruned
    SELECT * INTO v_existing FROM xorj.trades
    WHERE user_vault_address = v_vault AND from_token_address = v_from
      AND to_token_address = v_to AND amount_in = v_amount AND venue = p_venue
      AND status <> 'FAILED' AND created_at > v_since
    ORDER BY created_at DESC
    LIMIT 1;
    IF FOUND THEN
        PERFORM xorj.raise_conflict('recent_repeat',
            format('trade %s with the same vault, tokens and amount was created %s ago',
                   v_existing.id, date_trunc('second', clock_timestamp() - v_existing.created_at)),
            format('conflicting_trade_id=%s', v_existing.id),
            format('The same trade is refused for %s after the last one.', v_window),
            jsonb_build_object('conflicting_trade_id', v_existing.id,
                               'duplicate_window', v_window));
    END IF;

    -- Created with a claim (p_worker): by the project's bot, which records the signature
    -- before it broadcasts, so its PENDING trade was never sent (0013). Every other
    -- creator may follow the seed's order (broadcast, then /submitted).
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address,
                             to_token_address, amount_in, expected_amount_out, venue,
                             records_signature_first)
    VALUES (p_job_id, v_vault, p_client_order_id, v_from, v_to, v_amount, v_expected, p_venue,
            p_worker IS NOT NULL)
    RETURNING * INTO v_new;
    IF p_worker IS NOT NULL THEN  -- created claimed by its creator (trades_claims.sql)
        INSERT INTO xorj.trade_claims (trade_id, claimed_by, claim_expires_at)
        VALUES (v_new.id, p_worker, clock_timestamp() + p_lease)
        RETURNING * INTO v_claim;
    END IF;
    RETURN QUERY SELECT false, xorj.trade_json(v_new, v_claim);
END
$fn$;
REVOKE ALL ON FUNCTION api.create_trade(uuid, text, text, text, text, numeric, numeric, text, interval, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.create_trade(uuid, text, text, text, text, numeric, numeric, text, interval, text) TO xorj_bot;
