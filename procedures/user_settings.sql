-- User settings: each wallet's risk profile and limits, one xorj.user_settings row per
-- wallet. Role xorj_api (read and update), for the wallet of the verified token only: the
-- wallet comes from the transaction's claims (xorj.claimed_wallet(), 00_common.sql),
-- never from a parameter. (The bot reads settings through api.enabled_bots.)
--
-- The shape callers see (the original API's `data`):
--   {"walletAddress", "riskProfile", "maxDrawdownLimit", "positionSizePercent",
--    "stopLossEnabled", "takeProfitEnabled", "investmentAmount" (number or null),
--    "lastUpdated" (updated_at), "createdAt", "version"}
-- api.get_user_settings() returns SQL NULL for a wallet that never saved its settings.
--
-- api.update_user_settings(patch, expected_version):
--   * patch is a flat JSON object with any of the keys riskProfile (one of
--     Conservative, Balanced, Aggressive), maxDrawdownLimit (number 1..50),
--     positionSizePercent (number 1..25), stopLossEnabled and takeProfitEnabled
--     (booleans), investmentAmount (number > 0 and <= 1000000, or null to clear it).
--     Anything else is XJ422 with COLUMN naming the key: an unknown key, a wrong JSON
--     type (a string "10", a boolean, null where null is not allowed), a value out of
--     range (the allowed range is in the HINT). The whole patch is validated before
--     anything is read or written.
--   * A wallet that never saved gets a row of the column defaults plus the patch,
--     version 1. Concurrent first saves do not raise unique_violation: the row is
--     inserted with ON CONFLICT DO NOTHING, and a save that loses the race locks and
--     updates the winner's row.
--   * Optimistic locking: when p_expected_version is given it must equal the current
--     version (0 for a wallet that never saved), else XJ412 with the current version in
--     DETAIL (text 'current_version=N'; facts "current_version", "expected_version") and
--     nothing saved. The row is read FOR UPDATE, so of two concurrent updates based on the same
--     version one wins and the other, which waits for it and then reads the new version,
--     gets XJ412.
--   * Version: every update that changes a value bumps the version by 1. An update
--     that changes nothing (an empty patch, or values equal to the saved ones) writes
--     nothing, keeps the version and lastUpdated, and returns the row: the version
--     counts changes of the content, so a retried save never invalidates a version
--     another client read. (Its expected version, when given, is still checked.)

-- A settings row as the callers see it.
CREATE OR REPLACE FUNCTION xorj.user_settings_json(s xorj.user_settings)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
    SELECT jsonb_build_object(
        'walletAddress', s.wallet_address::text,
        'riskProfile', s.risk_profile::text,
        'maxDrawdownLimit', s.max_drawdown_limit,
        'positionSizePercent', s.position_size_percent,
        'stopLossEnabled', s.stop_loss_enabled,
        'takeProfitEnabled', s.take_profit_enabled,
        'investmentAmount', s.investment_amount,
        'lastUpdated', s.updated_at,
        'createdAt', s.created_at,
        'version', s.version)
$fn$;

-- GET /api/user/settings: the caller's settings, or NULL when never saved.
CREATE OR REPLACE FUNCTION api.get_user_settings()
RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    v_wallet xorj.solana_address := xorj.claimed_wallet();
    s        xorj.user_settings;
BEGIN
    SELECT * INTO s FROM xorj.user_settings WHERE wallet_address = v_wallet;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN xorj.user_settings_json(s);
END
$fn$;
REVOKE ALL ON FUNCTION api.get_user_settings() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.get_user_settings() TO xorj_api;

-- A number of the patch from p_min to p_max (above p_min when p_min_exclusive), or XJ422
-- naming the field, with the allowed range in the message and the hint.
CREATE OR REPLACE FUNCTION xorj.settings_number(p_field text, p_value jsonb, p_min numeric,
                                                p_max numeric, p_min_exclusive boolean DEFAULT false,
                                                p_hint_tail text DEFAULT '')
RETURNS numeric
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    v_range text := CASE WHEN p_min_exclusive
                         THEN format('greater than %s and at most %s', p_min, p_max)
                         ELSE format('from %s to %s', p_min, p_max) END;
    v_hint  text := format('%s is a number %s%s.', p_field, v_range, p_hint_tail);
    v       numeric;
BEGIN
    IF jsonb_typeof(p_value) IS DISTINCT FROM 'number' THEN
        PERFORM xorj.raise_invalid(p_field,
            format('must be a number, not %s', coalesce(jsonb_typeof(p_value), 'missing')), v_hint);
    END IF;
    v := p_value::numeric;
    IF (CASE WHEN p_min_exclusive THEN v <= p_min ELSE v < p_min END) OR v > p_max THEN
        PERFORM xorj.raise_invalid(p_field,
            format('%s is out of range: it must be %s', left(p_value::text, 50), v_range), v_hint);
    END IF;
    RETURN v;
END
$fn$;

-- A boolean of the patch, or XJ422 naming the field.
CREATE OR REPLACE FUNCTION xorj.settings_boolean(p_field text, p_value jsonb)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    IF jsonb_typeof(p_value) IS DISTINCT FROM 'boolean' THEN
        PERFORM xorj.raise_invalid(p_field,
            format('must be true or false, not %s', coalesce(jsonb_typeof(p_value), 'missing')),
            format('%s is a JSON boolean.', p_field));
    END IF;
    RETURN p_value::boolean;
END
$fn$;

-- POST /api/user/settings: apply a patch to the caller's settings (see the header).
CREATE OR REPLACE FUNCTION api.update_user_settings(p_patch jsonb,
                                                    p_expected_version bigint DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    c_keys constant text[] := ARRAY['riskProfile', 'maxDrawdownLimit', 'positionSizePercent',
                                    'stopLossEnabled', 'takeProfitEnabled', 'investmentAmount'];
    v_wallet  xorj.solana_address := xorj.claimed_wallet();
    v_key     text;
    v_value   jsonb;
    s         xorj.user_settings;   -- the row as read (locked)
    n         xorj.user_settings;   -- the row with the patch applied
    v_found   boolean;
    v_created boolean := false;
    v_current bigint;
    v_try     int := 0;
BEGIN
    -- 1. Validate the whole patch before touching anything.
    IF p_patch IS NULL OR jsonb_typeof(p_patch) <> 'object' THEN
        PERFORM xorj.raise_invalid('patch',
            format('must be a JSON object, not %s', coalesce(jsonb_typeof(p_patch), 'missing')),
            'Send an object with any of the keys ' || array_to_string(c_keys, ', ') || '.');
    END IF;
    FOR v_key IN SELECT k FROM jsonb_object_keys(p_patch) AS k ORDER BY k LOOP
        IF NOT v_key = ANY (c_keys) THEN
            PERFORM xorj.raise_invalid(left(v_key, 100), 'is not a known setting',
                'Known settings: ' || array_to_string(c_keys, ', ') || '.');
        END IF;
    END LOOP;
    IF p_expected_version IS NOT NULL AND p_expected_version < 0 THEN
        PERFORM xorj.raise_invalid('expectedVersion',
            format('%s is not a version', p_expected_version),
            'A version is 0 (never saved) or the version of the settings last read.');
    END IF;

    IF p_patch ? 'riskProfile' THEN
        v_value := p_patch -> 'riskProfile';
        IF jsonb_typeof(v_value) <> 'string'
           OR NOT (v_value #>> '{}') = ANY (enum_range(NULL::xorj.risk_profile)::text[]) THEN
            PERFORM xorj.raise_invalid('riskProfile',
                format('must be one of Conservative, Balanced, Aggressive, not %s',
                       left(v_value::text, 50)),
                'riskProfile is the string Conservative, Balanced or Aggressive.');
        END IF;
        n.risk_profile := (v_value #>> '{}')::xorj.risk_profile;
    END IF;
    IF p_patch ? 'maxDrawdownLimit' THEN
        n.max_drawdown_limit := xorj.settings_number('maxDrawdownLimit',
            p_patch -> 'maxDrawdownLimit', 1, 50, false, ' (percent)');
    END IF;
    IF p_patch ? 'positionSizePercent' THEN
        n.position_size_percent := xorj.settings_number('positionSizePercent',
            p_patch -> 'positionSizePercent', 1, 25, false, ' (percent)');
    END IF;
    IF p_patch ? 'stopLossEnabled' THEN
        n.stop_loss_enabled := xorj.settings_boolean('stopLossEnabled', p_patch -> 'stopLossEnabled');
    END IF;
    IF p_patch ? 'takeProfitEnabled' THEN
        n.take_profit_enabled := xorj.settings_boolean('takeProfitEnabled', p_patch -> 'takeProfitEnabled');
    END IF;
    IF p_patch ? 'investmentAmount' AND jsonb_typeof(p_patch -> 'investmentAmount') <> 'null' THEN
        n.investment_amount := xorj.settings_number('investmentAmount',
            p_patch -> 'investmentAmount', 0, 1000000, true, ', or null to clear it');
    END IF;

    -- 2. Lock the row, creating it (column defaults) for a wallet that never saved.
    LOOP
        SELECT * INTO s FROM xorj.user_settings WHERE wallet_address = v_wallet FOR UPDATE;
        v_found := FOUND;
        v_current := CASE WHEN v_found THEN s.version ELSE 0 END;
        IF p_expected_version IS NOT NULL AND p_expected_version <> v_current THEN
            RAISE EXCEPTION USING
                ERRCODE = 'XJ412',
                MESSAGE = format('stale version: the settings of wallet %s are at version %s, not %s',
                                 v_wallet, v_current, p_expected_version),
                DETAIL  = xorj.refusal_detail(format('current_version=%s', v_current),
                              jsonb_build_object('current_version', v_current,
                                                 'expected_version', p_expected_version)),
                HINT    = 'Read the settings again and apply the change to the current version.',
                TABLE   = 'user_settings';
        END IF;
        EXIT WHEN v_found;

        INSERT INTO xorj.user_settings (wallet_address) VALUES (v_wallet)
        ON CONFLICT (wallet_address) DO NOTHING
        RETURNING * INTO s;
        IF FOUND THEN
            v_created := true;
            EXIT;
        END IF;
        -- Inserted meanwhile by a concurrent first save, now committed: lock that row.
        v_try := v_try + 1;
        IF v_try >= 5 THEN
            PERFORM xorj.raise_retry(format('the settings of wallet %s keep changing; try again', v_wallet),
                                     v_try, jsonb_build_object('wallet', v_wallet));
        END IF;
    END LOOP;

    -- 3. Apply the patch; write only when something changes.
    n.risk_profile          := CASE WHEN p_patch ? 'riskProfile' THEN n.risk_profile ELSE s.risk_profile END;
    n.max_drawdown_limit    := CASE WHEN p_patch ? 'maxDrawdownLimit' THEN n.max_drawdown_limit ELSE s.max_drawdown_limit END;
    n.position_size_percent := CASE WHEN p_patch ? 'positionSizePercent' THEN n.position_size_percent ELSE s.position_size_percent END;
    n.stop_loss_enabled     := CASE WHEN p_patch ? 'stopLossEnabled' THEN n.stop_loss_enabled ELSE s.stop_loss_enabled END;
    n.take_profit_enabled   := CASE WHEN p_patch ? 'takeProfitEnabled' THEN n.take_profit_enabled ELSE s.take_profit_enabled END;
    n.investment_amount     := CASE WHEN p_patch ? 'investmentAmount' THEN n.investment_amount ELSE s.investment_amount END;

    IF (n.risk_profile, n.max_drawdown_limit, n.position_size_percent, n.stop_loss_enabled,
        n.take_profit_enabled, n.investment_amount)
       IS DISTINCT FROM
       (s.risk_profile, s.max_drawdown_limit, s.position_size_percent, s.stop_loss_enabled,
        s.take_profit_enabled, s.investment_amount) THEN
        UPDATE xorj.user_settings
           SET risk_profile          = n.risk_profile,
               max_drawdown_limit    = n.max_drawdown_limit,
               position_size_percent = n.position_size_percent,
               stop_loss_enabled     = n.stop_loss_enabled,
               take_profit_enabled   = n.take_profit_enabled,
               investment_amount     = n.investment_amount,
               -- The row created above is version 1 with the patch in it.
               version               = CASE WHEN v_created THEN version ELSE version + 1 END
         WHERE id = s.id
        RETURNING * INTO s;
    END IF;
    RETURN xorj.user_settings_json(s);
END
$fn$;
REVOKE ALL ON FUNCTION api.update_user_settings(jsonb, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.update_user_settings(jsonb, bigint) TO xorj_api;
