-- Helpers shared by every capability file. Internal (schema xorj): no role but the
-- owner may call them; the api functions call them as SECURITY DEFINER.
--
-- What is here: the refusal helpers (xorj.raise_*: SQLSTATE, message, and a DETAIL that
-- is a JSON object of the text and the facts, see "Refusals" below); the argument checks
-- (xorj.check_text, check_address, check_signature, check_worker_id, check_u64,
-- check_page); the lifecycle shared by scoring runs and execution jobs (the xorj.lifecycle_*
-- texts and the one guard trigger xorj.lifecycle_guard); who acts (xorj.current_actor,
-- xorj.claimed_wallet).

-- Internal helpers whose signature changed: a re-applied file would otherwise add an
-- overload next to the old one and make every call ambiguous. (Quiet: no NOTICE when
-- they are already gone.) And api functions whose result changed under the same
-- arguments, which CREATE OR REPLACE refuses to change: dropped only while they still
-- have the old result, so a migrate that finds the new one leaves it (and its grants).
-- (An api function whose arguments changed needs nothing here: the old one is dropped
-- at the end of the migrate, as no file defines it any more.)
DO $$
DECLARE
    v_sig text;
    v_old text[];
BEGIN
    FOREACH v_old SLICE 1 IN ARRAY ARRAY[
        -- signature, old result
        ['api.trades_held_by_others(text)', 'bigint'],
        ['xorj.trades_held_by_others(text, timestamp with time zone)', 'SETOF xorj.trades']
    ] LOOP
        IF to_regprocedure(v_old[1]) IS NOT NULL
           AND pg_get_function_result(to_regprocedure(v_old[1])) = v_old[2] THEN
            EXECUTE format('DROP FUNCTION %s', v_old[1]);
        END IF;
    END LOOP;
    FOREACH v_sig IN ARRAY ARRAY[
        'xorj.raise_invalid(text, text, text)',
        'xorj.raise_not_found(text, text)',
        'xorj.raise_state(text, text, text, text)',
        'xorj.raise_conflict(text, text, text, text)',
        'xorj.check_page(integer, integer, integer)',
        'xorj.scoring_check_page(integer, integer)',
        'xorj.trade_claim(uuid)'
    ] LOOP
        IF to_regprocedure(v_sig) IS NOT NULL THEN
            EXECUTE format('DROP FUNCTION %s', v_sig);
        END IF;
    END LOOP;
END
$$;

-- Who is acting, for the audit trails: the transaction's `xorj.actor` setting when the
-- caller set one (SELECT set_config('xorj.actor', 'bot:worker-1', true)), else the
-- login role. Inlined into its callers' statements (no SET clause: every name is
-- schema-qualified instead), so an audit row does not pay a function call for it.
CREATE OR REPLACE FUNCTION xorj.current_actor() RETURNS text
LANGUAGE sql STABLE
AS $fn$
    SELECT pg_catalog."left"(COALESCE(NULLIF(pg_catalog.current_setting('xorj.actor', true), ''),
                                      SESSION_USER::pg_catalog.text), 200)
$fn$;

-- The verified caller of a user-facing function: the wallet of the JSON Web Token claims
-- that the adapter put into the transaction after verifying the token, as PostgREST does:
--     SELECT set_config('request.jwt.claims', '{"wallet_address": "...", ...}', true)
-- The wallet is the claim wallet_address, else sub (as the original system); it is never
-- taken from a parameter, so a caller acting as xorj_api reaches only that wallet's state.
-- No claims in the transaction, claims that are not a JSON object, a service token's
-- claims (role engine or bot) or no wallet: 42501 with "reason" no_claims,
-- not_user_claims or no_wallet. A wallet that is not a Solana address: XJ422 on wallet.
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
        PERFORM xorj.raise_not_a_user('no_claims',
            'no verified caller: request.jwt.claims is not set in this transaction',
            'The user functions act for the wallet of the verified token only.',
            'Set the verified token''s claims with set_config(''request.jwt.claims'', <json>, true) in the same transaction.');
    END IF;
    v_claims := v_raw::jsonb;
    IF jsonb_typeof(v_claims) IS DISTINCT FROM 'object'
       OR coalesce(v_claims ->> 'role', 'user') <> 'user' THEN
        PERFORM xorj.raise_not_a_user('not_user_claims',
            'request.jwt.claims are not the claims of a user token',
            'A service token (role engine or bot) does not act for a wallet.',
            'Call the user functions with a user''s verified claims.');
    END IF;
    v_wallet := v_claims -> 'wallet_address';
    IF v_wallet IS NULL OR v_wallet IN ('null'::jsonb, '""'::jsonb) THEN
        v_wallet := v_claims -> 'sub';
    END IF;
    IF jsonb_typeof(v_wallet) IS DISTINCT FROM 'string' THEN
        PERFORM xorj.raise_not_a_user('no_wallet',
            'request.jwt.claims name no wallet (wallet_address or sub)',
            'The user functions act for the wallet of the verified token only.',
            'A user token carries its wallet in wallet_address (or sub).');
    END IF;
    RETURN xorj.check_address('wallet', v_wallet #>> '{}');
END
$fn$;

-- Refusals. Every refusal raised by this project's SQL carries, as its DETAIL, the text
-- of a JSON object (jsonb::text):
--     {"text": <the human-readable detail>, <machine-readable facts>...}
-- "text" is what the callers show as the detail (an HTTP body's "detail"); the facts are
-- what they act on without parsing text:
--   XJ422  "field" (as COLUMN); the scoring batches add "index", "reason" (a code) and
--          "duplicate_of" (procedures/scoring.sql); other checks may add "reason"
--   XJ404  "what", "key"
--   XJ409  "rule" (as CONSTRAINT), plus the rule's own facts: "conflicting_trade_id" for
--          the trade conflicts, "vault_address" for vault_in_use, ... (each raise says)
--   XJ412  "current_version" (an integer), "expected_version"
--   XJ423  "table" (as TABLE), and "id", "from", "to" (the statuses of the refused move)
--          where they are known
--   42501  (xorj.claimed_wallet) "reason"; 40001 (xorj.raise_retry) "attempts"
-- The helpers below take the facts of a raise as their last argument p_facts (a JSON
-- object merged into the DETAIL; the keys they set themselves win). PostgreSQL's own
-- errors (23505 and the like) keep their native DETAIL.

-- The DETAIL of a refusal: {"text": p_text} with p_facts and p_fixed merged in (p_fixed
-- wins, then "text").
CREATE OR REPLACE FUNCTION xorj.refusal_detail(p_text text, p_facts jsonb, p_fixed jsonb DEFAULT '{}')
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog
AS $fn$
    SELECT (CASE WHEN jsonb_typeof(p_facts) = 'object' THEN p_facts ELSE '{}'::jsonb END
            || coalesce(p_fixed, '{}'::jsonb)
            || jsonb_build_object('text', p_text))::text
$fn$;

-- Invalid input: SQLSTATE XJ422, with the field in COLUMN (and in "field").
CREATE OR REPLACE FUNCTION xorj.raise_invalid(p_field text, p_message text, p_hint text DEFAULT NULL,
                                              p_facts jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $fn$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'XJ422',
        MESSAGE = format('invalid %s: %s', p_field, p_message),
        DETAIL  = xorj.refusal_detail(format('field: %s', p_field), p_facts,
                                      jsonb_build_object('field', p_field)),
        HINT    = coalesce(p_hint, 'Correct the field and send the request again.'),
        COLUMN  = p_field;
END
$fn$;

-- Not found: SQLSTATE XJ404, with "what" and "key".
CREATE OR REPLACE FUNCTION xorj.raise_not_found(p_what text, p_key text, p_facts jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $fn$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'XJ404',
        MESSAGE = format('%s %s not found', p_what, p_key),
        DETAIL  = xorj.refusal_detail(format('No %s has the key %s.', p_what, p_key), p_facts,
                                      jsonb_build_object('what', p_what, 'key', p_key)),
        HINT    = format('Check the %s id.', p_what);
END
$fn$;

-- Refused state change: SQLSTATE XJ423, with the table in TABLE (and in "table"); give
-- "id", "from" and "to" in p_facts where they are known.
CREATE OR REPLACE FUNCTION xorj.raise_state(p_table text, p_message text, p_detail text,
                                            p_hint text DEFAULT NULL, p_facts jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $fn$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'XJ423',
        MESSAGE = p_message,
        DETAIL  = xorj.refusal_detail(p_detail, p_facts, jsonb_build_object('table', p_table)),
        HINT    = coalesce(p_hint, 'Read the row again; its status has moved on.'),
        TABLE   = p_table;
END
$fn$;

-- Conflict: SQLSTATE XJ409, with the rule's name in CONSTRAINT (and in "rule").
CREATE OR REPLACE FUNCTION xorj.raise_conflict(p_rule text, p_message text, p_detail text,
                                               p_hint text DEFAULT NULL, p_facts jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $fn$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE    = 'XJ409',
        MESSAGE    = p_message,
        DETAIL     = xorj.refusal_detail(p_detail, p_facts, jsonb_build_object('rule', p_rule)),
        HINT       = coalesce(p_hint, 'Read the existing row before trying again.'),
        CONSTRAINT = p_rule;
END
$fn$;

-- A write that lost its race too often: SQLSTATE 40001 (safe to retry), with "attempts".
-- Its DETAIL has no text ("text": null): the message says it all.
CREATE OR REPLACE FUNCTION xorj.raise_retry(p_message text, p_attempts integer, p_facts jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $fn$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = '40001',
        MESSAGE = p_message,
        DETAIL  = xorj.refusal_detail(NULL, p_facts, jsonb_build_object('attempts', p_attempts));
END
$fn$;

-- A caller that is not a verified user: SQLSTATE 42501, with a "reason" code.
CREATE OR REPLACE FUNCTION xorj.raise_not_a_user(p_reason text, p_message text, p_detail text, p_hint text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $fn$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = '42501',
        MESSAGE = p_message,
        DETAIL  = xorj.refusal_detail(p_detail, '{}', jsonb_build_object('reason', p_reason)),
        HINT    = p_hint;
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

-- A text argument: not NULL, not blank, at most p_max characters (p_max NULL: no limit),
-- else XJ422 on p_field with "reason" required or too_long. The messages: 'is required'
-- (hint p_required_hint) and 'is <n> characters long; at most <p_max>', or p_message for
-- both when given (the callers whose wording predates this helper keep theirs).
CREATE OR REPLACE FUNCTION xorj.check_text(p_field text, p_value text, p_max integer,
                                           p_required_hint text DEFAULT NULL,
                                           p_message text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog
AS $fn$
BEGIN
    IF p_value IS NULL OR btrim(p_value) = '' THEN
        PERFORM xorj.raise_invalid(p_field, coalesce(p_message, 'is required'), p_required_hint,
                                   jsonb_build_object('reason', 'required'));
    END IF;
    IF length(p_value) > p_max THEN
        PERFORM xorj.raise_invalid(p_field,
            coalesce(p_message, format('is %s characters long; at most %s', length(p_value), p_max)),
            NULL, jsonb_build_object('reason', 'too_long', 'max_length', p_max));
    END IF;
    RETURN p_value;
END
$fn$;

-- A worker id (the bot or job worker acting): 1 to 200 characters, not blank, else XJ422
-- on worker_id. Used by the jobs (start, heartbeat, complete, fail) and the trade claims
-- (create_trade, claim, renew, release, trades_held_by_others).
CREATE OR REPLACE FUNCTION xorj.check_worker_id(p_worker_id text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog
AS $fn$
BEGIN
    RETURN xorj.check_text('worker_id', p_worker_id, 200);
END
$fn$;

-- A transaction signature (base58, 64 to 88 characters, as the domain
-- xorj.solana_signature of migration 0001), or XJ422 naming the field.
CREATE OR REPLACE FUNCTION xorj.check_signature(p_field text, p_value text)
RETURNS xorj.solana_signature
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog
AS $fn$
BEGIN
    IF p_value IS NULL
       OR NOT (length(p_value) BETWEEN 64 AND 88 AND p_value ~ '^[1-9A-HJ-NP-Za-km-z]+$') THEN
        PERFORM xorj.raise_invalid(p_field, 'is not a Solana signature',
            'A transaction signature is 64 to 88 base58 characters.');
    END IF;
    RETURN p_value::xorj.solana_signature;
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

-- p_num / p_den rounded half-even (to the nearest, a tie to the even last digit) to
-- p_scale decimal places, computed exactly (integer division and remainder, never a
-- rounded quotient), with scale p_scale; NULL when p_den is 0 or an argument is NULL.
-- PostgreSQL's round() rounds a tie away from zero; Python's Decimal.quantize with
-- ROUND_HALF_EVEN, as here, to the even digit: 0.00005 -> 0.0000, 0.00015 -> 0.0002.
CREATE OR REPLACE FUNCTION xorj.div_half_even(p_num numeric, p_den numeric, p_scale integer)
RETURNS numeric
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog
AS $fn$
DECLARE
    k   integer := greatest(scale(p_num), scale(p_den), 0);
    n   numeric := trunc(p_num * 10::numeric ^ (k + p_scale));  -- whole numbers: the scale
    d   numeric := trunc(p_den * 10::numeric ^ k);              -- was shifted into them
    q   numeric;
    r   numeric;
BEGIN
    IF p_den = 0 OR p_num IS NULL OR p_den IS NULL OR p_scale IS NULL THEN
        RETURN NULL;
    END IF;
    q := div(n, d);      -- truncated toward zero
    r := abs(n - q * d); -- 0 <= r < |d|
    IF 2 * r > abs(d) OR (2 * r = abs(d) AND mod(q, 2) <> 0) THEN
        q := q + sign(n) * sign(d);
    END IF;
    RETURN round(q * 0.1::numeric ^ p_scale, p_scale);
END
$fn$;

-- A page of a listing: limit 1..p_max, offset 0 or more, else XJ422 (the limit first).
-- Two wordings: 'must be 1..<max>' / 'must be 0 or more' (the operators' listings), or,
-- with p_say_value, the value given: '<n> is not in 1..<max>' (hint: page with offset) /
-- '<n> must be 0 or more' (the ranked lists of scoring).
CREATE OR REPLACE FUNCTION xorj.check_page(p_limit integer, p_offset integer, p_max integer,
                                           p_say_value boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog
AS $fn$
BEGIN
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND p_max THEN
        IF p_say_value THEN
            PERFORM xorj.raise_invalid('limit',
                format('%s is not in 1..%s', coalesce(p_limit::text, 'null'), p_max),
                'Page through the list with offset.');
        END IF;
        PERFORM xorj.raise_invalid('limit', format('must be 1..%s', p_max));
    END IF;
    IF p_offset IS NULL OR p_offset < 0 THEN
        PERFORM xorj.raise_invalid('offset',
            CASE WHEN p_say_value THEN format('%s must be 0 or more', coalesce(p_offset::text, 'null'))
                 ELSE 'must be 0 or more' END);
    END IF;
END
$fn$;

-- Scoring runs and execution jobs share one lifecycle: PENDING -> RUNNING -> COMPLETED,
-- or from PENDING or RUNNING to FAILED; a COMPLETED or FAILED row is final. The helpers
-- below word its errors for either: p_table is the table, p_what names a row ('scoring
-- run'), p_noun is its short name ('run'), and a new row is created to p_redo ('score')
-- again. Their XJ423 carries "id", "from" and "to".

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
        format('Read the %s again; create a new %s to %s again.', p_noun, p_noun, p_redo),
        jsonb_build_object('id', p_id, 'from', p_from, 'to', p_to));
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
            format('Create a new %s to %s again.', p_noun, p_redo),
            jsonb_build_object('id', p_id, 'from', p_from, 'to', p_to));
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
    PERFORM xorj.check_text('error', p_error, 10000, format('Say why the %s failed.', p_noun));
END
$fn$;

-- The guard of the lifecycle against direct SQL, written once for xorj.scoring_runs and
-- xorj.execution_jobs: the trigger function of <table>_guard (BEFORE INSERT OR UPDATE OR
-- DELETE, FOR EACH ROW) and <table>_no_truncate (BEFORE TRUNCATE, FOR EACH STATEMENT).
--   * a row is inserted PENDING, without error (nor worker); started_at, completed_at
--     (and heartbeat_at) are the database's: NULL on insert, whatever the INSERT says;
--   * the identity columns never change;
--   * status moves only PENDING -> RUNNING (started_at := clock_timestamp(); a worker is
--     required and heartbeat_at := started_at), RUNNING -> COMPLETED (completed_at :=
--     clock_timestamp()), PENDING or RUNNING -> FAILED (completed_at := clock_timestamp(),
--     error_message required; a row that never started has no worker); anything else is
--     XJ423 '<what> <id>: <FROM> -> <TO> is not allowed'; only FAILED has an error;
--   * error_message (and the worker) change only with the status; the worker is set by
--     the start only; heartbeat_at changes only while RUNNING, to the database's clock;
--   * a COMPLETED or FAILED row never changes again (an UPDATE that changes nothing is
--     skipped, updated_at included);
--   * DELETE and TRUNCATE are refused.
-- The trigger's one argument is the JSON object of the table's words (its file's CREATE
-- TRIGGER gives them), so every message stays the table's own:
--   what, article, noun, redo (as for lifecycle_refuse_move); referenced_by (who points
--   at a row: 'Trades'); create, start, fail (the api functions); insert_detail;
--   new_message, new_detail (a new row with an error or worker); identity (the columns
--   that never change), identity_words, identity_detail, identity_hint; unchanged_message,
--   unchanged_detail, unchanged_hint (an error or worker changed without a move);
--   no_error_hint; worker (true: the table has worker_id and heartbeat_at); after_final
--   (optional: the columns a COMPLETED or FAILED row may still change, alone, because
--   a trigger of the table's own guards them: scoring_runs' scores_pruned_at).
-- Fires before <table>_touch (triggers fire in name order), which sets updated_at.
CREATE OR REPLACE FUNCTION xorj.lifecycle_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    w         jsonb := TG_ARGV[0]::jsonb;
    v_table   text := TG_TABLE_NAME;
    v_what    text := w ->> 'what';
    v_noun    text := w ->> 'noun';
    v_redo    text := w ->> 'redo';
    v_worker  boolean := coalesce((w ->> 'worker')::boolean, false);
    v_move    jsonb;
    v_new     jsonb;
    v_old     jsonb;
    v_changed boolean;
BEGIN
    -- (Columns only execution_jobs has, worker_id and heartbeat_at, are read and written
    -- only inside IF v_worker: PL/pgSQL resolves a field when it first runs the line.)
    IF TG_OP = 'TRUNCATE' OR TG_OP = 'DELETE' THEN
        IF TG_OP = 'DELETE' THEN
            v_move := jsonb_build_object('id', OLD.id);
        END IF;
        PERFORM xorj.raise_state(v_table,
            format('%ss are never deleted: %s is not allowed', v_what, TG_OP),
            format('%s reference their %s; a %s that went wrong is marked FAILED.',
                   w ->> 'referenced_by', v_noun, v_noun),
            format('Use %s.', w ->> 'fail'),
            coalesce(v_move, '{}'));
    END IF;

    IF TG_OP = 'INSERT' THEN
        IF NEW.status::text IS DISTINCT FROM 'PENDING' THEN
            PERFORM xorj.raise_state(v_table,
                format('%s %s is created PENDING, not %s', w ->> 'article', v_what, NEW.status),
                w ->> 'insert_detail', format('Use %s.', w ->> 'create'),
                jsonb_build_object('id', NEW.id, 'to', NEW.status));
        END IF;
        v_changed := NEW.error_message IS NOT NULL;
        IF v_worker AND NOT v_changed THEN
            v_changed := NEW.worker_id IS NOT NULL;
        END IF;
        IF v_changed THEN
            PERFORM xorj.raise_state(v_table, w ->> 'new_message', w ->> 'new_detail',
                format('Use %s.', w ->> 'create'), jsonb_build_object('id', NEW.id));
        END IF;
        NEW.started_at := NULL;
        NEW.completed_at := NULL;
        IF v_worker THEN
            NEW.heartbeat_at := NULL;
        END IF;
        RETURN NEW;  -- created_at and updated_at: <table>_touch
    END IF;

    -- UPDATE
    v_move := jsonb_build_object('id', OLD.id, 'from', OLD.status, 'to', NEW.status);
    v_new := to_jsonb(NEW);
    v_old := to_jsonb(OLD);
    IF EXISTS (SELECT 1 FROM jsonb_array_elements_text(w -> 'identity') AS k(name)
               WHERE v_new -> k.name IS DISTINCT FROM v_old -> k.name) THEN
        PERFORM xorj.raise_state(v_table,
            format('%s %s: %s cannot change', v_what, OLD.id, w ->> 'identity_words'),
            w ->> 'identity_detail', w ->> 'identity_hint', v_move);
    END IF;

    IF OLD.status::text IN ('COMPLETED', 'FAILED') THEN
        IF v_new - 'updated_at' = v_old - 'updated_at' THEN
            RETURN NULL;  -- an update that changes nothing: the final row stays as it is
        END IF;
        IF v_new - 'updated_at' - ARRAY(SELECT jsonb_array_elements_text(w -> 'after_final'))
           = v_old - 'updated_at' - ARRAY(SELECT jsonb_array_elements_text(w -> 'after_final')) THEN
            RETURN NEW;  -- only a column of after_final: the table's own trigger decides
        END IF;
        PERFORM xorj.lifecycle_refuse_final(v_table, v_what, v_noun, v_redo,
                                            OLD.id, OLD.status::text, NEW.status::text);
    END IF;

    -- The timestamps are the database's, whatever the UPDATE says. A heartbeat (a new
    -- heartbeat_at on a row that stays RUNNING) is the database's clock too.
    IF v_worker THEN
        IF NEW.heartbeat_at IS DISTINCT FROM OLD.heartbeat_at THEN
            IF OLD.status::text = 'PENDING' AND NEW.status::text = 'PENDING' THEN
                PERFORM xorj.raise_state(v_table,
                    format('%s %s is PENDING: heartbeat_at changes only while it is RUNNING', v_what, OLD.id),
                    'A heartbeat is the running worker saying it is alive.',
                    format('Start the %s first (%s).', v_noun, w ->> 'start'), v_move);
            END IF;
            NEW.heartbeat_at := CASE WHEN OLD.status::text = 'RUNNING' AND NEW.status::text = 'RUNNING'
                                     THEN clock_timestamp() ELSE OLD.heartbeat_at END;
        END IF;
    END IF;
    NEW.started_at := OLD.started_at;
    NEW.completed_at := OLD.completed_at;

    IF v_worker AND OLD.status::text <> 'PENDING' THEN
        IF NEW.worker_id IS DISTINCT FROM OLD.worker_id THEN
            PERFORM xorj.raise_state(v_table,
                format('%s %s: its worker_id cannot change', v_what, OLD.id),
                format('The %s is held by worker %s.', v_noun, OLD.worker_id),
                format('Only the start of a PENDING %s sets the worker.', v_noun), v_move);
        END IF;
    END IF;

    IF NEW.status = OLD.status THEN  -- PENDING or RUNNING staying put
        v_changed := NEW.error_message IS DISTINCT FROM OLD.error_message;
        IF v_worker AND NOT v_changed THEN
            v_changed := NEW.worker_id IS DISTINCT FROM OLD.worker_id;
        END IF;
        IF v_changed THEN
            PERFORM xorj.raise_state(v_table,
                format('%s %s is %s: %s', v_what, OLD.id, OLD.status, w ->> 'unchanged_message'),
                w ->> 'unchanged_detail', w ->> 'unchanged_hint', v_move);
        END IF;
        RETURN NEW;
    END IF;

    IF (OLD.status::text, NEW.status::text) IN (('PENDING', 'RUNNING'), ('RUNNING', 'COMPLETED')) THEN
        IF v_worker AND NEW.status::text = 'RUNNING' THEN
            PERFORM xorj.check_text('worker_id', NEW.worker_id, 200, NULL,
                format('is required to start a %s (1 to 200 characters)', v_noun));
        END IF;
        IF NEW.error_message IS NOT NULL THEN
            PERFORM xorj.raise_state(v_table,
                format('%s %s: a %s %s has no error', v_what, OLD.id, NEW.status, v_noun),
                format('error_message belongs to FAILED %ss.', v_noun), w ->> 'no_error_hint', v_move);
        END IF;
        IF NEW.status::text = 'RUNNING' THEN
            NEW.started_at := clock_timestamp();
            IF v_worker THEN
                NEW.heartbeat_at := NEW.started_at;
            END IF;
        ELSE
            NEW.completed_at := clock_timestamp();
        END IF;
    ELSIF NEW.status::text = 'FAILED' THEN  -- from PENDING or RUNNING
        IF v_worker AND OLD.status::text = 'PENDING' THEN
            IF NEW.worker_id IS NOT NULL THEN
                PERFORM xorj.raise_state(v_table,
                    format('%s %s: a %s that never started has no worker', v_what, OLD.id, v_noun),
                    'worker_id is set by the start.', NULL, v_move);
            END IF;
        END IF;
        PERFORM xorj.check_text('error_message', NEW.error_message, NULL,
            format('A failed %s says why.', v_noun), format('is required when a %s fails', v_noun));
        NEW.completed_at := clock_timestamp();
    ELSE
        PERFORM xorj.lifecycle_refuse_move(v_table, v_what, v_noun, v_redo,
                                           OLD.id, OLD.status::text, NEW.status::text);
    END IF;
    RETURN NEW;
END
$fn$;

-- Put the lifecycle guard on p_table with its words: the triggers <table>_guard (BEFORE
-- INSERT OR UPDATE OR DELETE, FOR EACH ROW) and <table>_no_truncate (BEFORE TRUNCATE),
-- both running xorj.lifecycle_guard(p_words). Called once by each lifecycle table's file.
CREATE OR REPLACE FUNCTION xorj.lifecycle_install_guard(p_table regclass, p_words jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    v_name text := (SELECT c.relname FROM pg_class c WHERE c.oid = p_table);
BEGIN
    EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE INSERT OR UPDATE OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION xorj.lifecycle_guard(%L)',
                   v_name || '_guard', p_table, p_words::text);
    EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION xorj.lifecycle_guard(%L)',
                   v_name || '_no_truncate', p_table, p_words::text);
END
$fn$;

-- The callable surface: every role may look up names in api; what it may call or read
-- is granted function by function and view by view.
GRANT USAGE ON SCHEMA api TO xorj_api, xorj_engine, xorj_bot, xorj_readonly;
