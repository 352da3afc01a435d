-- Bot states: each user's bot on or off, and the vault it trades for. Role xorj_api
-- (status, enable, disable); xorj_bot reads the planner's input (api.enabled_bots) and
-- the feed of changes (api.bot_state_changes).
--
-- The user functions act for the wallet of the verified token, read from the
-- transaction's claims (xorj.claimed_wallet(), procedures/00_common.sql), never from a
-- parameter: a caller acting as xorj_api reads and changes its own wallet's bot only.
--
-- The state is the row of xorj.bot_states whose user_id is the wallet; it lives in the
-- database, never in a process, so a restart loses nothing and every instance sees the
-- same state.
--
-- A wallet never seen (no bot_states row): the bot is disabled ("status": "stopped",
-- "isBotActive": false), no vault is registered ("vaultAddress": null, "canTrade":
-- false), performance is zero, and the configuration comes from the user's settings or
-- their defaults (xorj.effective_settings). api.bot_status never writes anything.
--
-- api.enable_bot / api.disable_bot are one atomic upsert each (INSERT ... ON CONFLICT
-- (user_id) DO UPDATE ... WHERE <something changes>): no get-or-create race, and the row
-- stays locked until commit, so the changes of one wallet are serialized.
--   * Idempotent: enabling an enabled bot (with no vault, or with its own vault) and
--     disabling a disabled bot change nothing: no write, no audit row, no NOTIFY,
--     "changed": false.
--   * Enabling keeps the registered vault when p_vault_address is NULL and registers (or
--     changes to) p_vault_address when given. A vault registered to another wallet is
--     XJ409 with CONSTRAINT 'vault_in_use' (checked first, and caught from the unique
--     index bot_states_vault_address_key when two wallets race for one vault; when the
--     race is two first enables of the same wallet, the loser retries and updates).
--   * Disabling a wallet never seen creates its row, disabled, so the state is explicit;
--     that is "changed": false with no audit row and no NOTIFY, because the state a
--     reader sees (disabled, no vault) is the same before and after. Disabling keeps the
--     registered vault.
--   * Every call that changes the state (enabled flips, or the vault is registered or
--     changed) writes one xorj.bot_state_events row (user_id, enabled, vault_address as
--     after the change, actor = xorj.current_actor()) and sends
--         NOTIFY xorj_bot_state, '{"wallet": "<wallet>", "enabled": <bool>,
--                                  "vault_address": "<vault>" | null}'
--     with pg_notify; PostgreSQL delivers it when the transaction commits, and never if
--     it rolls back. Because the audit row is written while the bot_states row is locked,
--     the bot_state_events ids of one wallet follow its commit order: the row's enabled
--     always equals the enabled of the wallet's last event (false when it has none).
--   * Both return {"changed": bool, "status": <api.bot_status() after the change>}.
--
-- Errors: 42501 without a user's claims; XJ422 COLUMN 'wallet' or 'vaultAddress' (not a
-- Solana address); XJ409 CONSTRAINT 'vault_in_use' (DETAIL facts: "vault_address").

-- The settings the bot trades with: the user's saved row, else a row of the column
-- defaults of xorj.user_settings (migration 0002; tests/pgtap/bot_status_default.sql
-- proves the two agree). id, version and the timestamps stay NULL for an unsaved row.
CREATE OR REPLACE FUNCTION xorj.effective_settings(p_wallet text)
RETURNS xorj.user_settings
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    s xorj.user_settings;
BEGIN
    SELECT * INTO s FROM xorj.user_settings WHERE wallet_address = p_wallet;
    IF NOT FOUND THEN
        s.wallet_address        := p_wallet;
        s.risk_profile          := 'Balanced';
        s.max_drawdown_limit    := 15;
        s.position_size_percent := 5;
        s.stop_loss_enabled     := true;
        s.take_profit_enabled   := true;
        s.investment_amount     := NULL;
    END IF;
    RETURN s;
END
$fn$;

-- GET /api/bot/status: the state of a wallet's bot, its configuration, and performance
-- and circuit breakers computed from its vault's live trades.
--
-- Only live trades count (venue 'live': executed on the real Solana chain): a trade on a
-- local validator ('localnet') or on the simulated chain ('simulated') never changes a
-- user's performance, last execution or circuit breakers (the history,
-- api.my_trades, still lists them, with their venue).
--
-- performance (of the registered vault's live trades; zero without a vault):
--   total_trades, confirmed_trades, failed_trades, pending_trades (PENDING + SUBMITTED),
--   success_rate = confirmed / (confirmed + failed) * 100 rounded to 2 places (0 when
--   none finished), total_volume = sum of amount_in of CONFIRMED trades as a JSON
--   string (u64 exact), last_trade_at = completed_at of the latest CONFIRMED trade.
-- last_execution: created_at of the vault's latest live trade (any status), or null.
-- circuit_breakers:
--   trading_halted = not enabled; vault_registered; in_flight_trades (PENDING +
--   SUBMITTED); consecutive_failures = FAILED trades completed after the latest
--   CONFIRMED one; last_failure_at; and the user's limits (max_drawdown_limit,
--   stop_loss_enabled, take_profit_enabled, from their settings or the defaults).
CREATE OR REPLACE FUNCTION xorj.bot_status(p_wallet text)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    v_wallet  xorj.solana_address := xorj.check_address('wallet', p_wallet);
    b         xorj.bot_states;
    s         xorj.user_settings;
    v_enabled boolean;
    v_vault   text;
    v_total     bigint;
    v_confirmed bigint;
    v_failed    bigint;
    v_pending   bigint;
    v_volume    numeric;
    v_last_exec timestamptz;
    v_last_conf timestamptz;
    v_last_fail timestamptz;
    v_consecutive bigint;
BEGIN
    SELECT * INTO b FROM xorj.bot_states WHERE user_id = v_wallet;
    v_enabled := coalesce(b.enabled, false);
    v_vault := b.vault_address;
    s := xorj.effective_settings(v_wallet);

    -- The vault's figures: one row of xorj.vault_trade_stats (procedures/trades_stats.sql),
    -- whatever the length of its history.
    SELECT st.pending_trades + st.submitted_trades + st.confirmed_trades + st.failed_trades,
           st.confirmed_trades, st.failed_trades, st.pending_trades + st.submitted_trades,
           st.confirmed_volume, st.last_created_at, st.last_confirmed_at, st.last_failed_at
      INTO v_total, v_confirmed, v_failed, v_pending, v_volume,
           v_last_exec, v_last_conf, v_last_fail
      FROM xorj.vault_trade_stats st
     WHERE st.user_vault_address = v_vault
       AND st.venue = 'live';
    v_total := coalesce(v_total, 0);
    v_confirmed := coalesce(v_confirmed, 0);
    v_failed := coalesce(v_failed, 0);
    v_pending := coalesce(v_pending, 0);
    v_volume := coalesce(v_volume, 0);

    -- The failures since the latest confirmation: a range of trades_vault_failed_idx, as
    -- long as the run of failures (none when the latest failure is older).
    v_consecutive := 0;
    IF v_last_fail > coalesce(v_last_conf, '-infinity'::timestamptz) THEN
        SELECT count(*) INTO v_consecutive
          FROM xorj.trades t
         WHERE t.user_vault_address = v_vault
           AND t.venue = 'live'
           AND t.status = 'FAILED'
           AND t.completed_at > coalesce(v_last_conf, '-infinity'::timestamptz);
    END IF;

    RETURN jsonb_build_object(
        'user_id', v_wallet::text,
        'status', CASE WHEN v_enabled THEN 'active' ELSE 'stopped' END,
        'isBotActive', v_enabled,
        'vaultAddress', v_vault,
        'canTrade', v_enabled AND v_vault IS NOT NULL,
        'last_execution', v_last_exec,
        'configuration', jsonb_build_object(
            'risk_profile', s.risk_profile::text,
            'slippage_tolerance', coalesce(nullif(b.configuration -> 'slippage_tolerance', 'null'::jsonb),
                                           to_jsonb(1.0)),
            'enabled', v_enabled,
            'max_trade_amount', coalesce(nullif(b.configuration -> 'max_trade_amount', 'null'::jsonb),
                                         to_jsonb(s.investment_amount))),
        'performance', jsonb_build_object(
            'total_trades', v_total,
            'confirmed_trades', v_confirmed,
            'failed_trades', v_failed,
            'pending_trades', v_pending,
            'success_rate', CASE WHEN v_confirmed + v_failed = 0 THEN 0
                                 ELSE round(v_confirmed * 100.0 / (v_confirmed + v_failed), 2) END,
            'total_volume', v_volume::text,
            'last_trade_at', v_last_conf),
        'circuit_breakers', jsonb_build_object(
            'trading_halted', NOT v_enabled,
            'vault_registered', v_vault IS NOT NULL,
            'in_flight_trades', v_pending,
            'consecutive_failures', v_consecutive,
            'last_failure_at', v_last_fail,
            'max_drawdown_limit', s.max_drawdown_limit,
            'stop_loss_enabled', s.stop_loss_enabled,
            'take_profit_enabled', s.take_profit_enabled));
END
$fn$;

CREATE OR REPLACE FUNCTION api.bot_status()
RETURNS jsonb
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
    SELECT xorj.bot_status(xorj.claimed_wallet())
$fn$;
REVOKE ALL ON FUNCTION api.bot_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.bot_status() TO xorj_api;

-- After a change of a wallet's bot state: the audit row and the notification.
CREATE OR REPLACE FUNCTION xorj.bot_state_changed(b xorj.bot_states)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    INSERT INTO xorj.bot_state_events (user_id, enabled, vault_address, actor)
    VALUES (b.user_id, b.enabled, b.vault_address, xorj.current_actor());
    PERFORM pg_notify('xorj_bot_state',
        jsonb_build_object('wallet', b.user_id::text,
                           'enabled', b.enabled,
                           'vault_address', b.vault_address::text)::text);
END
$fn$;

CREATE OR REPLACE FUNCTION xorj.raise_vault_in_use(p_vault text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    PERFORM xorj.raise_conflict('vault_in_use',
        format('vault %s is registered to another wallet', p_vault),
        format('vault_address=%s', p_vault),
        'A vault belongs to one wallet; register a vault of your own.',
        jsonb_build_object('vault_address', p_vault));
END
$fn$;

-- POST /api/bot/enable: enable the caller's bot, registering p_vault_address when given.
CREATE OR REPLACE FUNCTION api.enable_bot(p_vault_address text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    v_wallet     xorj.solana_address := xorj.claimed_wallet();
    v_vault      xorj.solana_address;
    v_row        xorj.bot_states;
    v_changed    boolean;
    v_constraint text;
    v_try        int := 0;
BEGIN
    IF p_vault_address IS NOT NULL THEN
        v_vault := xorj.check_address('vaultAddress', p_vault_address);
    END IF;

    LOOP
        IF v_vault IS NOT NULL THEN
            PERFORM 1 FROM xorj.bot_states
             WHERE vault_address = v_vault AND user_id <> v_wallet;
            IF FOUND THEN
                PERFORM xorj.raise_vault_in_use(v_vault);
            END IF;
        END IF;

        BEGIN
            INSERT INTO xorj.bot_states AS b (user_id, enabled, vault_address)
            VALUES (v_wallet, true, v_vault)
            ON CONFLICT (user_id) DO UPDATE
               SET enabled = true,
                   vault_address = coalesce(excluded.vault_address, b.vault_address),
                   last_updated = clock_timestamp()
             WHERE NOT b.enabled
                OR (excluded.vault_address IS NOT NULL
                    AND excluded.vault_address IS DISTINCT FROM b.vault_address)
            RETURNING b.* INTO v_row;
            v_changed := FOUND;
            EXIT;
        EXCEPTION WHEN unique_violation THEN
            GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
            IF v_constraint IS DISTINCT FROM 'bot_states_vault_address_key' THEN
                RAISE;
            END IF;
            -- The vault was registered by a transaction that committed while this insert
            -- waited: another wallet's (the check above now sees it: vault_in_use), or a
            -- concurrent first enable of this same wallet (ON CONFLICT (user_id) does not
            -- cover the other unique index; the retry updates that row instead).
            v_try := v_try + 1;
            IF v_try >= 3 THEN
                PERFORM xorj.raise_vault_in_use(v_vault);
            END IF;
        END;
    END LOOP;

    IF v_changed THEN
        PERFORM xorj.bot_state_changed(v_row);
    END IF;
    RETURN jsonb_build_object('changed', v_changed, 'status', xorj.bot_status(v_wallet));
END
$fn$;
REVOKE ALL ON FUNCTION api.enable_bot(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.enable_bot(text) TO xorj_api;

-- POST /api/bot/disable: disable the caller's bot (its vault stays registered).
CREATE OR REPLACE FUNCTION api.disable_bot()
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    v_wallet   xorj.solana_address := xorj.claimed_wallet();
    v_row      xorj.bot_states;
    v_inserted boolean;
    v_changed  boolean := false;
BEGIN
    INSERT INTO xorj.bot_states AS b (user_id, enabled)
    VALUES (v_wallet, false)
    ON CONFLICT (user_id) DO UPDATE
       SET enabled = false,
           last_updated = clock_timestamp()
     WHERE b.enabled
    RETURNING (b.xmax = 0), b.user_id, b.enabled, b.vault_address
         INTO v_inserted, v_row.user_id, v_row.enabled, v_row.vault_address;
    -- A new row (a wallet never seen) is the default state made explicit: no change.
    v_changed := FOUND AND NOT v_inserted;

    IF v_changed THEN
        PERFORM xorj.bot_state_changed(v_row);
    END IF;
    RETURN jsonb_build_object('changed', v_changed, 'status', xorj.bot_status(v_wallet));
END
$fn$;
REVOKE ALL ON FUNCTION api.disable_bot() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.disable_bot() TO xorj_api;

-- The execution bot's planner input: every enabled bot with a registered vault, and the
-- settings it trades with (the user's, or the defaults when never saved), by wallet.
CREATE OR REPLACE FUNCTION api.enabled_bots()
RETURNS TABLE (user_id text, vault_address text, risk_profile text,
               investment_amount numeric, max_drawdown_limit numeric,
               position_size_percent numeric)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
    SELECT b.user_id::text, b.vault_address::text, s.risk_profile::text,
           s.investment_amount, s.max_drawdown_limit, s.position_size_percent
      FROM xorj.bot_states b
     CROSS JOIN LATERAL xorj.effective_settings(b.user_id) s
     WHERE b.enabled AND b.vault_address IS NOT NULL
     ORDER BY b.user_id
$fn$;
REVOKE ALL ON FUNCTION api.enabled_bots() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.enabled_bots() TO xorj_bot;

-- The feed of bot state changes for bots that cannot LISTEN (behind a transaction pooler
-- notifications never arrive), read from a cursor:
--     api.bot_state_changes(NULL)      -> {"cursor": C, "events": []}   (start here)
--     api.bot_state_changes(C)         -> {"cursor": C2, "events": [...]}
-- A cursor is the oldest transaction still running at the previous read (the xmin of its
-- snapshot), as text. Every event written by a transaction from the cursor on that has
-- committed is returned, oldest transaction first, so an event is never missed whatever
-- the order in which the transactions commit; an event may come twice (its transaction
-- was older than a later cursor): readers skip the ids they have seen. Each event is
-- {"id", "wallet", "enabled", "vault_address", "at", "txid"}, at most p_limit (1..10000) per
-- read; when a read is full, the next cursor is its last transaction.
CREATE OR REPLACE FUNCTION api.bot_state_changes(p_cursor text, p_limit integer DEFAULT 1000)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    v_xmin   xid8 := pg_snapshot_xmin(pg_current_snapshot());
    v_after  xid8;
    v_events jsonb;
    v_count  integer;
    v_last   xid8;
BEGIN
    PERFORM xorj.check_page(p_limit, 0, 10000);  -- a feed has no offset
    IF p_cursor IS NULL THEN
        RETURN jsonb_build_object('cursor', v_xmin::text, 'events', '[]'::jsonb);
    END IF;
    IF p_cursor !~ '^[0-9]{1,20}$' THEN
        PERFORM xorj.raise_invalid('cursor', 'is not a cursor of api.bot_state_changes',
            'Start with NULL and pass back the cursor of the previous read.');
    END IF;
    v_after := p_cursor::xid8;
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'id', e.id, 'wallet', e.user_id::text, 'enabled', e.enabled,
               'vault_address', e.vault_address::text, 'at', e.at, 'txid', e.txid::text)
               ORDER BY e.txid, e.id), '[]'),
           count(*), max(e.txid)
      INTO v_events, v_count, v_last
      FROM (SELECT * FROM xorj.bot_state_events
             WHERE txid >= v_after
             ORDER BY txid, id
             LIMIT p_limit) e;
    RETURN jsonb_build_object(
        'cursor', (CASE WHEN v_count = p_limit AND v_last < v_xmin THEN v_last ELSE v_xmin END)::text,
        'events', v_events);
END
$fn$;
REVOKE ALL ON FUNCTION api.bot_state_changes(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.bot_state_changes(text, integer) TO xorj_bot;
