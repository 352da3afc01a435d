-- Helpers for the pgTAP suite, created by tests/pgtap_run.py in schema `tests` of the
-- test database (never in a real one). Test data is built as the superuser, then a
-- test acts as a role: tests.act_as(role, wallet, actor) sets what a process's prelude
-- sets (role, claims, actor) for the transaction, and tests.act_as(NULL) goes back to
-- the superuser. Time is moved, never waited for: tests.backdate(...) moves a row's
-- timestamps into the past, tests.tick() reads the clock strictly later than any
-- earlier reading; no test sleeps.
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

-- p_text parsed as JSON when it is the text of a JSON object, else NULL.
CREATE FUNCTION tests.json_object_or_null(p_text text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $fn$
DECLARE
    v jsonb;
BEGIN
    IF p_text IS NULL OR left(ltrim(p_text), 1) <> '{' THEN
        RETURN NULL;
    END IF;
    v := p_text::jsonb;
    RETURN CASE WHEN jsonb_typeof(v) = 'object' THEN v END;
EXCEPTION WHEN invalid_text_representation THEN
    RETURN NULL;
END
$fn$;

-- The error a statement raises, with the fields throws_ok cannot check (COLUMN,
-- CONSTRAINT, DETAIL, HINT); NULL when it raises none. Runs as the caller.
-- The project's refusals carry a JSON object as DETAIL (procedures/00_common.sql):
-- "detail" is then its "text" (the human-readable detail, as the HTTP bodies show it)
-- and "facts" the whole object; for any other error "detail" is the DETAIL as raised
-- and "facts" is null.
CREATE FUNCTION tests.error_of(p_sql text) RETURNS jsonb LANGUAGE plpgsql AS $fn$
DECLARE st text; msg text; col text; con text; det text; hnt text; facts jsonb;
BEGIN
    EXECUTE p_sql;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, col = COLUMN_NAME,
        con = CONSTRAINT_NAME, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    facts := tests.json_object_or_null(det);
    RETURN jsonb_build_object('sqlstate', st, 'message', msg, 'column', nullif(col, ''),
                              'constraint', nullif(con, ''),
                              'detail', CASE WHEN facts IS NULL THEN to_jsonb(det) ELSE facts -> 'text' END,
                              'hint', hnt, 'facts', facts);
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
-- trade_events_append_only, trade_events_no_truncate, trades_unique_keys: the unique
-- rules of trades across months), the foreign keys, CHECKs, domains and unique indexes
-- stay in force. Runs as the caller (the superuser of the suite).
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
                                'scoring_runs_partition',  -- a run's partition (0008): structure
                                'scoring_runs_rank_index',  -- its rank index (0015): structure
                                'trades_touch', 'bot_states_touch', 'user_settings_touch',
                                'trades_unique_keys',  -- the keys across months (0011): structure
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

-- Act as a process does in its transaction prelude (README, "Business rules"): role
-- p_role (set_config('role', ..., true), as SET LOCAL ROLE), the claims of a verified
-- token of wallet p_wallet (request.jwt.claims, as tests.claims_of; NULL: no claims) and
-- the actor of the audit trails (xorj.actor; NULL: none, so the login role), all for the
-- transaction only. tests.act_as(NULL) is RESET ROLE with no claims and no actor.
-- (Not SECURITY DEFINER: a security-definer function may not change the role.)
CREATE FUNCTION tests.act_as(p_role text, p_wallet text DEFAULT NULL, p_actor text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM set_config('role', coalesce(p_role, 'none'), true);
    PERFORM tests.claims_of(p_wallet);
    PERFORM set_config('xorj.actor', coalesce(p_actor, ''), true);
END
$fn$;

-- The partition of month p_at (UTC) of a table partitioned by month (migration 0011):
-- tests.month_partition('trades') is 'trades_YYYY_MM' of this month, the relation an
-- error about a row of this month names.
CREATE FUNCTION tests.month_partition(p_table text, p_at timestamptz DEFAULT clock_timestamp())
RETURNS text
LANGUAGE sql STABLE AS $fn$
    SELECT p_table || '_' || to_char(p_at AT TIME ZONE 'UTC', 'YYYY_MM')
$fn$;

-- A controllable clock. Move the timestamps of rows of table p_table (xorj.<p_table>)
-- into the past by p_by: the columns p_columns (default: every timestamptz column of the
-- table) of the rows whose id is in p_ids. Done as the superuser with
-- session_replication_role = replica, so that neither the touch trigger (updated_at)
-- nor the guards see it: the rows look as if they had been written p_by earlier (a
-- claim_expires_at moved back expires). Returns the number of rows moved. The setting
-- is restored when the function returns. Trades moved into another month move to its
-- partition (created if missing), with their key rows and events (migration 0011).
CREATE FUNCTION tests.backdate(p_table text, p_ids uuid[], p_by interval,
                               p_columns text[] DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET session_replication_role = replica
SET search_path = pg_catalog
AS $fn$
DECLARE
    v_set text;
    n     bigint;
BEGIN
    SELECT string_agg(format('%1$I = %1$I - %2$L::interval', a.attname, p_by), ', ')
      INTO v_set
      FROM pg_attribute a
     WHERE a.attrelid = format('xorj.%I', p_table)::regclass
       AND a.attnum > 0 AND NOT a.attisdropped
       AND a.atttypid = 'timestamptz'::regtype
       AND (p_columns IS NULL OR a.attname = ANY (p_columns));
    IF v_set IS NULL THEN
        RAISE EXCEPTION 'tests.backdate: no timestamptz column % in xorj.%', p_columns, p_table;
    END IF;
    IF p_table = 'trades' AND (p_columns IS NULL OR 'created_at' = ANY (p_columns)) THEN
        -- The months the trades move into have their partitions.
        PERFORM xorj.ensure_trade_partitions(m.at, 0)
        FROM (SELECT DISTINCT date_trunc('month', (t.created_at - p_by) AT TIME ZONE 'UTC')
                              AT TIME ZONE 'UTC' AS at
              FROM xorj.trades t WHERE t.id = ANY (p_ids)) m;
    END IF;
    EXECUTE format('UPDATE xorj.%I SET %s WHERE id = ANY ($1)', p_table, v_set) USING p_ids;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF p_table = 'trades' THEN
        -- Their keys and events follow (the month of an event is its trade's).
        UPDATE xorj.trade_keys k SET created_at = t.created_at
          FROM xorj.trades t WHERE t.id = k.id AND k.id = ANY (p_ids);
        UPDATE xorj.trade_events e SET trade_created_at = t.created_at
          FROM xorj.trades t WHERE t.id = e.trade_id AND t.id = ANY (p_ids);
    END IF;
    RETURN n;
END
$fn$;

-- The clock (clock_timestamp()) read strictly later than any reading taken before the
-- call: it waits, without sleeping, for the clock to move on (a microsecond at most), so
-- a mark taken with it is later than every timestamp written before it, and earlier
-- than every one written after.
CREATE FUNCTION tests.tick() RETURNS timestamptz
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    v_start timestamptz := clock_timestamp();
    v_now   timestamptz := clock_timestamp();
BEGIN
    WHILE v_now <= v_start LOOP
        v_now := clock_timestamp();
    END LOOP;
    RETURN v_now;
END
$fn$;

-- For a database that is not empty (a restored backup, tests/test_backup_restore.py):
-- every unfinished trade that was there before the test is moved to FAILED (rolled back
-- with the test), so that the test's claims, leases and in-flight counts see only its
-- own trades. Returns how many. Nothing to do on an empty database.
CREATE FUNCTION tests.finish_old_trades() RETURNS bigint
LANGUAGE sql SECURITY DEFINER AS $fn$
    SELECT count(*)
    FROM xorj.trades t,
         LATERAL api.mark_trade_failed(t.id, 'finished by the pgTAP suite (rolled back)', p_failure_basis => 'never_broadcast') f
    WHERE t.status IN ('PENDING', 'SUBMITTED')
$fn$;

-- EXPLAIN (COSTS OFF) of a query, as one text (the plan tests match it).
CREATE FUNCTION tests.plan_of(p_sql text) RETURNS text
LANGUAGE plpgsql AS $fn$
DECLARE
    v_line text;
    v_plan text := '';
BEGIN
    FOR v_line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || p_sql LOOP
        v_plan := v_plan || v_line || E'\n';
    END LOOP;
    RETURN v_plan;
END
$fn$;

GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA tests TO PUBLIC;
