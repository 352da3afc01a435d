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

-- The verified caller of a user-facing function: the wallet of the JSON Web Token claims
-- that the adapter put into the transaction after verifying the token, as PostgREST does:
--     SELECT set_config('request.jwt.claims', '{"wallet_address": "...", ...}', true)
-- The wallet is the claim wallet_address, else sub (as the original system); it is never
-- taken from a parameter, so a caller acting as xorj_api reaches only that wallet's state.
-- No claims in the transaction, claims that are not a JSON object, a service token's
-- claims (role engine or bot) or no wallet: 42501. A wallet that is not a Solana
-- address: XJ422 on wallet.
CREATE OR REPLACE FUNCTION xorj.claimed_wallet() RETURNS xorj.solana_address
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog
AS $fn$
DECLARE
    v_raw    text := current_setting('request.jwt.claims', true);
    v_claims jsonb;
    v_wallet jsonb;
BEGIN
    IF v_raw IS NULL OR v_raw = '' THEN
        RAISE EXCEPTION USING
            ERRCODE = '42501',
            MESSAGE = 'no verified caller: request.jwt.claims is not set in this transaction',
            DETAIL  = 'The user functions act for the wallet of the verified token only.',
            HINT    = 'Set the verified token''s claims with set_config(''request.jwt.claims'', <json>, true) in the same transaction.';
    END IF;
    v_claims := v_raw::jsonb;
    IF jsonb_typeof(v_claims) IS DISTINCT FROM 'object'
       OR coalesce(v_claims ->> 'role', 'user') <> 'user' THEN
        RAISE EXCEPTION USING
            ERRCODE = '42501',
            MESSAGE = 'request.jwt.claims are not the claims of a user token',
            DETAIL  = 'A service token (role engine or bot) does not act for a wallet.',
            HINT    = 'Call the user functions with a user''s verified claims.';
    END IF;
    v_wallet := v_claims -> 'wallet_address';
    IF v_wallet IS NULL OR v_wallet IN ('null'::jsonb, '""'::jsonb) THEN
        v_wallet := v_claims -> 'sub';
    END IF;
    IF jsonb_typeof(v_wallet) IS DISTINCT FROM 'string' THEN
        RAISE EXCEPTION USING
            ERRCODE = '42501',
            MESSAGE = 'request.jwt.claims name no wallet (wallet_address or sub)',
            DETAIL  = 'The user functions act for the wallet of the verified token only.',
            HINT    = 'A user token carries its wallet in wallet_address (or sub).';
    END IF;
    RETURN xorj.check_address('wallet', v_wallet #>> '{}');
END
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
    -- The length first, then a plain character class (as the domain xorj.solana_address
    -- of migration 0001): a bounded repetition {32,44} costs far more to match.
    IF NOT (length(p_value) BETWEEN 32 AND 44 AND p_value ~ '^[1-9A-HJ-NP-Za-km-z]+$') THEN
        PERFORM xorj.raise_invalid(p_field, 'is not a Solana address',
            'A Solana address is 32 to 44 base58 characters (no 0, O, I or l).');
    END IF;
    RETURN p_value::xorj.solana_address;
END
$fn$;

-- A worker id (the bot or job worker acting): 1 to 200 characters, not blank, else XJ422
-- on worker_id. Used by the jobs (start, heartbeat, complete, fail) and the trade claims
-- (create_trade, claim, renew, release).
CREATE OR REPLACE FUNCTION xorj.check_worker_id(p_worker_id text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog
AS $fn$
BEGIN
    IF p_worker_id IS NULL OR btrim(p_worker_id) = '' THEN
        PERFORM xorj.raise_invalid('worker_id', 'is required');
    END IF;
    IF length(p_worker_id) > 200 THEN
        PERFORM xorj.raise_invalid('worker_id', format('is %s characters long; at most 200', length(p_worker_id)));
    END IF;
    RETURN p_worker_id;
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

-- A page of a listing: limit 1..p_max, offset 0 or more, else XJ422 (the limit first).
CREATE OR REPLACE FUNCTION xorj.check_page(p_limit integer, p_offset integer, p_max integer)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog
AS $fn$
BEGIN
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND p_max THEN
        PERFORM xorj.raise_invalid('limit', format('must be 1..%s', p_max));
    END IF;
    IF p_offset IS NULL OR p_offset < 0 THEN
        PERFORM xorj.raise_invalid('offset', 'must be 0 or more');
    END IF;
END
$fn$;

-- Scoring runs and execution jobs share one lifecycle: PENDING -> RUNNING -> COMPLETED,
-- or from PENDING or RUNNING to FAILED; a COMPLETED or FAILED row is final. The helpers
-- below word its errors for either: p_table is the table, p_what names a row ('scoring
-- run'), p_noun is its short name ('run'), and a new row is created to p_redo ('score')
-- again.

-- A status move the lifecycle does not allow: XJ423.
CREATE OR REPLACE FUNCTION xorj.lifecycle_refuse_move(p_table text, p_what text, p_noun text,
                                                      p_redo text, p_id uuid, p_from text,
                                                      p_to text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $fn$
BEGIN
    PERFORM xorj.raise_state(p_table,
        format('%s %s: %s -> %s is not allowed', p_what, p_id, p_from, p_to),
        format('current status %s; %ss move PENDING -> RUNNING -> COMPLETED, or from PENDING or RUNNING to FAILED, and a COMPLETED or FAILED %s is final.', p_from, p_noun, p_noun),
        format('Read the %s again; create a new %s to %s again.', p_noun, p_noun, p_redo));
END
$fn$;

-- An UPDATE that would change a COMPLETED or FAILED row (p_from) to status p_to: XJ423,
-- 'cannot change' when the status stays, else the refused move.
CREATE OR REPLACE FUNCTION xorj.lifecycle_refuse_final(p_table text, p_what text, p_noun text,
                                                       p_redo text, p_id uuid, p_from text,
                                                       p_to text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $fn$
BEGIN
    IF p_to = p_from THEN
        PERFORM xorj.raise_state(p_table,
            format('%s %s is %s: it cannot change', p_what, p_id, p_from),
            format('A %s %s is final; no column may change.', p_from, p_noun),
            format('Create a new %s to %s again.', p_noun, p_redo));
    END IF;
    PERFORM xorj.lifecycle_refuse_move(p_table, p_what, p_noun, p_redo, p_id, p_from, p_to);
END
$fn$;

-- The reason given to fail a run or job: 1 to 10000 characters, not blank, else XJ422 on
-- error.
CREATE OR REPLACE FUNCTION xorj.lifecycle_check_error(p_noun text, p_error text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog
AS $fn$
BEGIN
    IF p_error IS NULL OR btrim(p_error) = '' THEN
        PERFORM xorj.raise_invalid('error', 'is required', format('Say why the %s failed.', p_noun));
    END IF;
    IF length(p_error) > 10000 THEN
        PERFORM xorj.raise_invalid('error', format('is %s characters long; at most 10000', length(p_error)));
    END IF;
END
$fn$;

-- The callable surface: every role may look up names in api; what it may call or read
-- is granted function by function and view by view.
GRANT USAGE ON SCHEMA api TO xorj_api, xorj_engine, xorj_bot, xorj_readonly;
