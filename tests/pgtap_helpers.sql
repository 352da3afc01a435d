-- Helpers for the pgTAP suite, created by tests/pgtap_run.py in schema `tests` of the
-- test database (never in a real one). Test data is built as the superuser, then a
-- test acts as a role with SET LOCAL ROLE.
CREATE SCHEMA tests;
GRANT USAGE ON SCHEMA tests TO PUBLIC;

-- A valid, distinct Solana address for each n (43 base58 characters).
CREATE FUNCTION tests.addr(n integer) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT 'Tst' || lpad(translate(n::text, '0', 'z'), 40, 'x')
$fn$;

-- A valid, distinct transaction signature for each n (88 base58 characters).
CREATE FUNCTION tests.sig(n integer) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT 'Sig' || lpad(translate(n::text, '0', 'z'), 85, 'x')
$fn$;

-- (enabled_vault and running_job are SECURITY DEFINER: they build data whatever the
-- role a test acts as; tests.trade runs as the caller, so it proves the caller's grants.)

-- A user wallet whose bot is enabled for a vault.
CREATE FUNCTION tests.enabled_vault(p_wallet text, p_vault text, p_enabled boolean DEFAULT true)
RETURNS void LANGUAGE sql SECURITY DEFINER AS $fn$
    INSERT INTO xorj.bot_states (user_id, enabled, vault_address)
    VALUES (p_wallet, p_enabled, p_vault)
$fn$;

-- An execution job moved to RUNNING by a worker.
CREATE FUNCTION tests.running_job(p_worker text DEFAULT 'tester') RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER AS $fn$
DECLARE
    v_id uuid;
BEGIN
    INSERT INTO xorj.execution_jobs (trigger_reason) VALUES ('SCHEDULED_RUN') RETURNING id INTO v_id;
    UPDATE xorj.execution_jobs
    SET status = 'RUNNING', worker_id = p_worker, started_at = clock_timestamp(),
        heartbeat_at = clock_timestamp()
    WHERE id = v_id;
    RETURN v_id;
END
$fn$;

-- api.create_trade for vault n with tokens 1 -> 2 and the given key and amount; returns the trade id.
CREATE FUNCTION tests.trade(p_job uuid, p_vault text, p_key text, p_amount numeric DEFAULT 1000,
                            p_from integer DEFAULT 1, p_to integer DEFAULT 2)
RETURNS uuid LANGUAGE sql AS $fn$
    SELECT (trade->>'id')::uuid
    FROM api.create_trade(p_job, p_vault, p_key, tests.addr(p_from), tests.addr(p_to), p_amount, 990)
$fn$;

-- The error a statement raises, with the fields throws_ok cannot check (COLUMN,
-- CONSTRAINT, DETAIL, HINT); NULL when it raises none. Runs as the caller.
CREATE FUNCTION tests.error_of(p_sql text) RETURNS jsonb LANGUAGE plpgsql AS $fn$
DECLARE st text; msg text; col text; con text; det text; hnt text;
BEGIN
    EXECUTE p_sql;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, col = COLUMN_NAME,
        con = CONSTRAINT_NAME, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    RETURN jsonb_build_object('sqlstate', st, 'message', msg, 'column', nullif(col, ''),
                              'constraint', nullif(con, ''), 'detail', det, 'hint', hnt);
END
$fn$;

-- Only the named fields of tests.error_of (e.g. 'sqlstate', 'message', 'column'), with
-- the JSON nulls left out (a COLUMN or CONSTRAINT the error does not set); NULL when the
-- statement raises no error. An absent DETAIL or HINT is '' (GET STACKED DIAGNOSTICS),
-- not null, so it stays in.
CREATE FUNCTION tests.error_fields(p_sql text, VARIADIC p_fields text[]) RETURNS jsonb
LANGUAGE sql AS $fn$
    SELECT jsonb_strip_nulls(jsonb_object_agg(key, value))
    FROM jsonb_each(tests.error_of(p_sql))
    WHERE key = ANY (p_fields)
$fn$;

-- Foundation alone: the business-rule triggers that procedures/ adds (xorj.trades_guard
-- and the like) would refuse some rows of the schema_* tests first with XJ423. This
-- disables them on the seven tables below for the calling transaction only (the tests
-- end in ROLLBACK, which restores them); the Foundation's own triggers (*_touch,
-- trade_events_append_only, trade_events_no_truncate), the foreign keys, CHECKs, domains
-- and unique indexes stay in force. Runs as the caller (the superuser of the suite).
CREATE FUNCTION tests.disable_rule_triggers() RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT tg.tgrelid::regclass AS tbl, tg.tgname
        FROM pg_catalog.pg_trigger tg
        WHERE NOT tg.tgisinternal
          AND tg.tgrelid IN ('xorj.scoring_runs'::regclass, 'xorj.trader_scores'::regclass,
                             'xorj.execution_jobs'::regclass, 'xorj.trades'::regclass,
                             'xorj.bot_states'::regclass, 'xorj.user_settings'::regclass,
                             'xorj.trade_events'::regclass)
          AND tg.tgname NOT IN ('scoring_runs_touch', 'trader_scores_touch', 'execution_jobs_touch',
                                'trades_touch', 'bot_states_touch', 'user_settings_touch',
                                'trade_events_append_only', 'trade_events_no_truncate')
    LOOP
        EXECUTE format('ALTER TABLE %s DISABLE TRIGGER %I', t.tbl, t.tgname);
    END LOOP;
END
$fn$;


-- Acting as a user: the claims the adapter puts into the transaction for a verified token
-- of wallet p_wallet (set_config('request.jwt.claims', ..., true)); NULL clears them.
CREATE FUNCTION tests.claims_of(p_wallet text) RETURNS void
LANGUAGE sql AS $fn$
    SELECT set_config('request.jwt.claims',
                      CASE WHEN p_wallet IS NULL THEN ''
                           ELSE jsonb_build_object('wallet_address', p_wallet)::text END,
                      true)
$fn$;

-- The user functions for the wallet p_wallet: its claims, then the call. They run as the
-- caller, so the caller's grants are what is checked.
CREATE FUNCTION tests.bot_status(p_wallet text) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM tests.claims_of(p_wallet);
    RETURN api.bot_status();
END
$fn$;

CREATE FUNCTION tests.enable_bot(p_wallet text, p_vault text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM tests.claims_of(p_wallet);
    RETURN api.enable_bot(p_vault);
END
$fn$;

CREATE FUNCTION tests.disable_bot(p_wallet text) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM tests.claims_of(p_wallet);
    RETURN api.disable_bot();
END
$fn$;

CREATE FUNCTION tests.get_user_settings(p_wallet text) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM tests.claims_of(p_wallet);
    RETURN api.get_user_settings();
END
$fn$;

CREATE FUNCTION tests.update_user_settings(p_wallet text, p_patch jsonb,
                                           p_expected_version bigint DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM tests.claims_of(p_wallet);
    RETURN api.update_user_settings(p_patch, p_expected_version);
END
$fn$;

GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA tests TO PUBLIC;
