-- Trades: creation (api.create_trade) and duplicate prevention (see trades.sql for the
-- other files of the noun).
--
-- Duplicate prevention in api.create_trade, race-free because every creation for a
-- vault first locks that vault's bot_states row (FOR UPDATE), so creations for one vault
-- are serialized and each sees the ones committed before it. After the lock, one
-- statement reads what rules 1-3 need and locks the job FOR SHARE; the answers come in
-- the order 1, 5, the job (XJ404, job_not_running), 2, 3. A call that is not refused
-- runs three statements: the lock, the lookups and the insert (a fourth inserts its
-- claim when it is created claimed).
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
-- Its plans are planned once per session and reused, always (force_generic_plan, issue
-- 13). The plan cache would otherwise plan the first five calls of every session anew,
-- and may keep doing so: the generic plan of the lookups over every month partition of
-- xorj.trades costs more on paper, the more months are kept, than a custom plan of the
-- one or two months they read. Each lookup's generic plan reads an index bounded by
-- the call's vault, and the recent-repeat lookup prunes the months before the window when
-- the statement starts (tests/pgtap/trades_create_plan.sql proves these generic plans).
-- The setting holds for the statements of the triggers and checks the call runs; none
-- reads a partitioned table by a range.
SET plan_cache_mode = force_generic_plan
AS $fn$
DECLARE
    v_vault     xorj.solana_address := xorj.check_address('user_vault_address', p_vault);
    v_from      xorj.solana_address := xorj.check_address('from_token_address', p_from_token);
    v_to        xorj.solana_address := xorj.check_address('to_token_address', p_to_token);
    v_amount    xorj.u64 := xorj.check_u64('amount_in', p_amount_in, true);
    v_expected  xorj.u64 := xorj.check_u64('expected_amount_out', p_expected_amount_out);
    v_bot_id      uuid;
    v_bot_user    text;
    v_bot_enabled boolean;
    v_job_status  xorj.job_status;
    v_key_id      uuid;  -- rule 1: the key of (vault, client_order_id)
    v_key_at      timestamptz;
    v_flight_id   uuid;  -- rule 2: the unfinished trade of the pair
    v_flight_at   timestamptz;
    v_recent_id   uuid;  -- rule 3: the recent repeat
    v_recent_at   timestamptz;
    v_existing  xorj.trades;
    v_window    interval;
    v_since     timestamptz;
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
    -- The two argument checks that have nothing to check in the common call (no claim,
    -- the default venue) are skipped: one statement less each.
    IF p_worker IS NOT NULL OR p_lease IS NOT NULL THEN
        PERFORM xorj.check_claim(p_worker, p_lease, false);
    END IF;
    IF p_venue IS DISTINCT FROM 'live' THEN
        PERFORM xorj.check_venue(p_venue, true);
    END IF;

    -- This month's partition exists (trades_partitions.sql): created here, before any
    -- lock of this call is taken, if `xorj db maintain` has not created it ahead.
    IF to_regclass('xorj.trades_' || to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY_MM')) IS NULL THEN
        PERFORM xorj.ensure_trade_partitions();
    END IF;

    -- Serialize every creation for this vault (rules 1-3 and 5 read under this lock); the
    -- duplicate window is read in the same statement. A vault without a bot row has no
    -- window (no recent repeat is looked for): its call is refused, or replayed, before
    -- rule 3.
    SELECT b.id, b.user_id, b.enabled, (SELECT s.duplicate_window FROM xorj.settings s)
      INTO v_bot_id, v_bot_user, v_bot_enabled, v_window
      FROM xorj.bot_states b WHERE b.vault_address = v_vault
       FOR UPDATE OF b;
    v_since := clock_timestamp() - v_window;  -- a value: the months before it are pruned

    -- Every lookup of rules 1-3, and the job locked FOR SHARE (a completion of the job
    -- waits for this creation), in one statement: (1) the key of (vault,
    -- client_order_id), (2) the unfinished key of the pair and venue (the partial unique
    -- index trades_one_in_flight_per_pair_key), (3) the newest trade of the same vault,
    -- pair, amount and venue within the window that is not FAILED. The answers are
    -- given in the rules' order below.
    SELECT (SELECT j.status FROM xorj.execution_jobs j WHERE j.id = p_job_id FOR SHARE OF j),
           k.id, k.created_at, f.id, f.created_at, r.id, r.created_at
      INTO v_job_status, v_key_id, v_key_at, v_flight_id, v_flight_at, v_recent_id, v_recent_at
      FROM (SELECT 1) one
      LEFT JOIN LATERAL (
            SELECT k.id, k.created_at FROM xorj.trade_keys k
             WHERE k.user_vault_address = v_vault AND k.client_order_id = p_client_order_id) k
        ON true
      LEFT JOIN LATERAL (
            SELECT k.id, k.created_at FROM xorj.trade_keys k
             WHERE k.user_vault_address = v_vault AND k.from_token_address = v_from
               AND k.to_token_address = v_to AND k.unfinished
               AND k.venue = p_venue) f  -- another venue's trade runs on another chain
        ON true
      LEFT JOIN LATERAL (
            SELECT t.id, t.created_at FROM xorj.trades t
             WHERE t.user_vault_address = v_vault AND t.from_token_address = v_from
               AND t.to_token_address = v_to AND t.amount_in = v_amount AND t.venue = p_venue
               AND t.status <> 'FAILED' AND t.created_at > v_since
             ORDER BY t.created_at DESC
             LIMIT 1) r
        ON true;

    -- 1. Idempotent retry (the key table holds every trade ever created, archived ones
    -- included; the trade itself is read in its month's partition).
    IF v_key_id IS NOT NULL THEN
        SELECT * INTO v_existing FROM xorj.trades
        WHERE id = v_key_id AND created_at = v_key_at;
        IF NOT FOUND THEN
            PERFORM xorj.raise_conflict('idempotency_key_reused',
                format('client_order_id %s of vault %s was used by trade %s, archived with its month %s',
                       p_client_order_id, v_vault, v_key_id,
                       to_char(v_key_at AT TIME ZONE 'UTC', 'YYYY-MM')),
                format('conflicting_trade_id=%s', v_key_id),
                'A client_order_id names one intent for ever; a new intent needs a new one.',
                jsonb_build_object('conflicting_trade_id', v_key_id,
                                   'client_order_id', p_client_order_id, 'archived', true));
        END IF;
        IF (v_existing.job_id, v_existing.from_token_address, v_existing.to_token_address,
            v_existing.amount_in, v_existing.expected_amount_out, v_existing.venue)
           IS NOT DISTINCT FROM (p_job_id, v_from, v_to, v_amount, v_expected, p_venue) THEN
            replay := true;
            trade := xorj.trade_json(v_existing);
            RETURN NEXT;
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
    IF v_bot_id IS NULL OR NOT v_bot_enabled THEN
        PERFORM xorj.raise_conflict('bot_not_enabled',
            format('the bot of vault %s is not enabled', v_vault),
            CASE WHEN v_bot_id IS NULL THEN 'No user has registered this vault.'
                 ELSE format('User %s has disabled the bot.', v_bot_user) END,
            'Only vaults whose owner has enabled the bot are traded.',
            jsonb_build_object('vault_address', v_vault, 'user_id', v_bot_user));
    END IF;

    IF v_job_status IS NULL THEN
        PERFORM xorj.raise_not_found('execution job', p_job_id::text);
    END IF;
    IF v_job_status <> 'RUNNING' THEN
        PERFORM xorj.raise_conflict('job_not_running',
            format('execution job %s is %s, not RUNNING', p_job_id, v_job_status),
            format('job_status=%s', v_job_status),
            'Create trades from a started job.',
            jsonb_build_object('job_id', p_job_id, 'job_status', v_job_status));
    END IF;

    -- 2. In flight.
    IF v_flight_id IS NOT NULL THEN
        SELECT * INTO v_existing FROM xorj.trades
        WHERE id = v_flight_id AND created_at = v_flight_at;
        PERFORM xorj.raise_conflict('trade_in_flight',
            format('trade %s for this vault and token pair is still %s', v_existing.id, v_existing.status),
            format('conflicting_trade_id=%s', v_existing.id),
            'Wait until it is CONFIRMED or FAILED.',
            jsonb_build_object('conflicting_trade_id', v_existing.id,
                               'conflicting_status', v_existing.status));
    END IF;

    -- 3. Recent repeat.
    IF v_recent_id IS NOT NULL THEN
        PERFORM xorj.raise_conflict('recent_repeat',
            format('trade %s with the same vault, tokens and amount was created %s ago',
                   v_recent_id, date_trunc('second', clock_timestamp() - v_recent_at)),
            format('conflicting_trade_id=%s', v_recent_id),
            format('The same trade is refused for %s after the last one.', v_window),
            jsonb_build_object('conflicting_trade_id', v_recent_id,
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
    replay := false;
    trade := xorj.trade_json(v_new, v_claim);  -- an expression, not a query
    RETURN NEXT;
END
$fn$;
REVOKE ALL ON FUNCTION api.create_trade(uuid, text, text, text, text, numeric, numeric, text, interval, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.create_trade(uuid, text, text, text, text, numeric, numeric, text, interval, text) TO xorj_bot;
