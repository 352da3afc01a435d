-- Helpers shared by every capability file. Internal (schema xorj): no role but the
-- owner may call them; the api functions call them as SECURITY DEFINER.

-- Who is acting, for the audit trails: the transaction's `xorj.actor` setting when the
-- caller set one (SELECT set_config('xorj.actor', 'bot:worker-1', true)), else the
-- login role.
CREATE OR REPLACE FUNCTION xorj.current_actor() RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog
AS $fn$
    SELECT left(coalesce(nullif(current_setting('xorj.actor', true), ''), session_user::text), 200)
$fn$;

-- Invalid input: SQLSTATE XJ422, with the field in COLUMN.
CREATE OR REPLACE FUNCTION xorj.raise_invalid(p_field text, p_message text, p_hint text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $fn$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'XJ422',
        MESSAGE = format('invalid %s: %s', p_field, p_message),
        DETAIL  = format('field: %s', p_field),
        HINT    = coalesce(p_hint, 'Correct the field and send the request again.'),
        COLUMN  = p_field;
END
$fn$;

-- Not found: SQLSTATE XJ404.
CREATE OR REPLACE FUNCTION xorj.raise_not_found(p_what text, p_key text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $fn$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'XJ404',
        MESSAGE = format('%s %s not found', p_what, p_key),
        DETAIL  = format('No %s has the key %s.', p_what, p_key),
        HINT    = format('Check the %s id.', p_what);
END
$fn$;

-- Refused state change: SQLSTATE XJ423, with the table in TABLE.
CREATE OR REPLACE FUNCTION xorj.raise_state(p_table text, p_message text, p_detail text,
                                            p_hint text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $fn$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'XJ423',
        MESSAGE = p_message,
        DETAIL  = p_detail,
        HINT    = coalesce(p_hint, 'Read the row again; its status has moved on.'),
        TABLE   = p_table;
END
$fn$;

-- Conflict: SQLSTATE XJ409, with the rule's name in CONSTRAINT.
CREATE OR REPLACE FUNCTION xorj.raise_conflict(p_rule text, p_message text, p_detail text,
                                               p_hint text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $fn$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE    = 'XJ409',
        MESSAGE    = p_message,
        DETAIL     = p_detail,
        HINT       = coalesce(p_hint, 'Read the existing row before trying again.'),
        CONSTRAINT = p_rule;
END
$fn$;

-- A Solana address as text, or XJ422 naming the field.
CREATE OR REPLACE FUNCTION xorj.check_address(p_field text, p_value text)
RETURNS xorj.solana_address
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog
AS $fn$
BEGIN
    IF p_value IS NULL THEN
        PERFORM xorj.raise_invalid(p_field, 'is required');
    END IF;
    IF p_value !~ '^[1-9A-HJ-NP-Za-km-z]{32,44}$' THEN
        PERFORM xorj.raise_invalid(p_field, 'is not a Solana address',
            'A Solana address is 32 to 44 base58 characters (no 0, O, I or l).');
    END IF;
    RETURN p_value::xorj.solana_address;
END
$fn$;

-- A u64 amount, or XJ422 naming the field.
CREATE OR REPLACE FUNCTION xorj.check_u64(p_field text, p_value numeric, p_positive boolean DEFAULT false)
RETURNS xorj.u64
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog
AS $fn$
BEGIN
    IF p_value IS NULL THEN
        PERFORM xorj.raise_invalid(p_field, 'is required');
    END IF;
    IF p_value = 'NaN'::numeric OR p_value < 0 OR p_value > 18446744073709551615
       OR p_value <> trunc(p_value) THEN
        PERFORM xorj.raise_invalid(p_field, format('%s is not a whole number in 0..2^64-1', p_value),
            'Token amounts are u64 base units.');
    END IF;
    IF p_positive AND p_value = 0 THEN
        PERFORM xorj.raise_invalid(p_field, 'must be greater than 0');
    END IF;
    RETURN trunc(p_value)::xorj.u64;  -- scale 0: 1.000 is stored and shown as 1
END
$fn$;

-- The callable surface: every role may look up names in api; what it may call or read
-- is granted function by function and view by view.
GRANT USAGE ON SCHEMA api TO xorj_api, xorj_engine, xorj_bot, xorj_readonly;
