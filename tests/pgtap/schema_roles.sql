-- The four roles of 0001 exist, cannot log in, are not superusers, and have no privilege
-- at all on schema xorj or its tables: the tables are reached only through the
-- SECURITY DEFINER functions of schema api.
BEGIN;
SELECT plan(51);

-- xorj_api
SELECT has_role('xorj_api', 'role xorj_api exists');
SELECT isnt_superuser('xorj_api', 'role xorj_api is not a superuser');
SELECT is((SELECT rolcanlogin FROM pg_catalog.pg_roles WHERE rolname = 'xorj_api'),
          false, 'role xorj_api is NOLOGIN (pg_roles.rolcanlogin = false)');
SELECT schema_privs_are('xorj', 'xorj_api', ARRAY[]::name[], 'role xorj_api has no USAGE or CREATE on schema xorj');
SELECT table_privs_are('xorj', 'scoring_runs', 'xorj_api', ARRAY[]::name[],
    'role xorj_api has no privilege on table xorj.scoring_runs');
SELECT table_privs_are('xorj', 'trader_scores', 'xorj_api', ARRAY[]::name[],
    'role xorj_api has no privilege on table xorj.trader_scores');
SELECT table_privs_are('xorj', 'execution_jobs', 'xorj_api', ARRAY[]::name[],
    'role xorj_api has no privilege on table xorj.execution_jobs');
SELECT table_privs_are('xorj', 'trades', 'xorj_api', ARRAY[]::name[],
    'role xorj_api has no privilege on table xorj.trades');
SELECT table_privs_are('xorj', 'bot_states', 'xorj_api', ARRAY[]::name[],
    'role xorj_api has no privilege on table xorj.bot_states');
SELECT table_privs_are('xorj', 'user_settings', 'xorj_api', ARRAY[]::name[],
    'role xorj_api has no privilege on table xorj.user_settings');
SELECT table_privs_are('xorj', 'trade_events', 'xorj_api', ARRAY[]::name[],
    'role xorj_api has no privilege on table xorj.trade_events');
SELECT is_empty($$
    SELECT c.oid::regclass::text
    FROM pg_catalog.pg_class c
    WHERE c.relnamespace = 'xorj'::regnamespace
      AND ((c.relkind IN ('r', 'p', 'v', 'm', 'f')
            AND (has_table_privilege('xorj_api', c.oid,
                     'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
                 OR has_any_column_privilege('xorj_api', c.oid, 'SELECT, INSERT, UPDATE, REFERENCES')))
        OR (c.relkind = 'S'
            AND has_sequence_privilege('xorj_api', c.oid, 'USAGE, SELECT, UPDATE')))
$$, 'role xorj_api has no table, column or sequence privilege on anything in schema xorj');

-- xorj_engine
SELECT has_role('xorj_engine', 'role xorj_engine exists');
SELECT isnt_superuser('xorj_engine', 'role xorj_engine is not a superuser');
SELECT is((SELECT rolcanlogin FROM pg_catalog.pg_roles WHERE rolname = 'xorj_engine'),
          false, 'role xorj_engine is NOLOGIN (pg_roles.rolcanlogin = false)');
SELECT schema_privs_are('xorj', 'xorj_engine', ARRAY[]::name[], 'role xorj_engine has no USAGE or CREATE on schema xorj');
SELECT table_privs_are('xorj', 'scoring_runs', 'xorj_engine', ARRAY[]::name[],
    'role xorj_engine has no privilege on table xorj.scoring_runs');
SELECT table_privs_are('xorj', 'trader_scores', 'xorj_engine', ARRAY[]::name[],
    'role xorj_engine has no privilege on table xorj.trader_scores');
SELECT table_privs_are('xorj', 'execution_jobs', 'xorj_engine', ARRAY[]::name[],
    'role xorj_engine has no privilege on table xorj.execution_jobs');
SELECT table_privs_are('xorj', 'trades', 'xorj_engine', ARRAY[]::name[],
    'role xorj_engine has no privilege on table xorj.trades');
SELECT table_privs_are('xorj', 'bot_states', 'xorj_engine', ARRAY[]::name[],
    'role xorj_engine has no privilege on table xorj.bot_states');
SELECT table_privs_are('xorj', 'user_settings', 'xorj_engine', ARRAY[]::name[],
    'role xorj_engine has no privilege on table xorj.user_settings');
SELECT table_privs_are('xorj', 'trade_events', 'xorj_engine', ARRAY[]::name[],
    'role xorj_engine has no privilege on table xorj.trade_events');
SELECT is_empty($$
    SELECT c.oid::regclass::text
    FROM pg_catalog.pg_class c
    WHERE c.relnamespace = 'xorj'::regnamespace
      AND ((c.relkind IN ('r', 'p', 'v', 'm', 'f')
            AND (has_table_privilege('xorj_engine', c.oid,
                     'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
                 OR has_any_column_privilege('xorj_engine', c.oid, 'SELECT, INSERT, UPDATE, REFERENCES')))
        OR (c.relkind = 'S'
            AND has_sequence_privilege('xorj_engine', c.oid, 'USAGE, SELECT, UPDATE')))
$$, 'role xorj_engine has no table, column or sequence privilege on anything in schema xorj');

-- xorj_bot
SELECT has_role('xorj_bot', 'role xorj_bot exists');
SELECT isnt_superuser('xorj_bot', 'role xorj_bot is not a superuser');
SELECT is((SELECT rolcanlogin FROM pg_catalog.pg_roles WHERE rolname = 'xorj_bot'),
          false, 'role xorj_bot is NOLOGIN (pg_roles.rolcanlogin = false)');
SELECT schema_privs_are('xorj', 'xorj_bot', ARRAY[]::name[], 'role xorj_bot has no USAGE or CREATE on schema xorj');
SELECT table_privs_are('xorj', 'scoring_runs', 'xorj_bot', ARRAY[]::name[],
    'role xorj_bot has no privilege on table xorj.scoring_runs');
SELECT table_privs_are('xorj', 'trader_scores', 'xorj_bot', ARRAY[]::name[],
    'role xorj_bot has no privilege on table xorj.trader_scores');
SELECT table_privs_are('xorj', 'execution_jobs', 'xorj_bot', ARRAY[]::name[],
    'role xorj_bot has no privilege on table xorj.execution_jobs');
SELECT table_privs_are('xorj', 'trades', 'xorj_bot', ARRAY[]::name[],
    'role xorj_bot has no privilege on table xorj.trades');
SELECT table_privs_are('xorj', 'bot_states', 'xorj_bot', ARRAY[]::name[],
    'role xorj_bot has no privilege on table xorj.bot_states');
SELECT table_privs_are('xorj', 'user_settings', 'xorj_bot', ARRAY[]::name[],
    'role xorj_bot has no privilege on table xorj.user_settings');
SELECT table_privs_are('xorj', 'trade_events', 'xorj_bot', ARRAY[]::name[],
    'role xorj_bot has no privilege on table xorj.trade_events');
SELECT is_empty($$
    SELECT c.oid::regclass::text
    FROM pg_catalog.pg_class c
    WHERE c.relnamespace = 'xorj'::regnamespace
      AND ((c.relkind IN ('r', 'p', 'v', 'm', 'f')
            AND (has_table_privilege('xorj_bot', c.oid,
                     'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
                 OR has_any_column_privilege('xorj_bot', c.oid, 'SELECT, INSERT, UPDATE, REFERENCES')))
        OR (c.relkind = 'S'
            AND has_sequence_privilege('xorj_bot', c.oid, 'USAGE, SELECT, UPDATE')))
$$, 'role xorj_bot has no table, column or sequence privilege on anything in schema xorj');

-- xorj_readonly
SELECT has_role('xorj_readonly', 'role xorj_readonly exists');
SELECT isnt_superuser('xorj_readonly', 'role xorj_readonly is not a superuser');
SELECT is((SELECT rolcanlogin FROM pg_catalog.pg_roles WHERE rolname = 'xorj_readonly'),
          false, 'role xorj_readonly is NOLOGIN (pg_roles.rolcanlogin = false)');
SELECT schema_privs_are('xorj', 'xorj_readonly', ARRAY[]::name[], 'role xorj_readonly has no USAGE or CREATE on schema xorj');
SELECT table_privs_are('xorj', 'scoring_runs', 'xorj_readonly', ARRAY[]::name[],
    'role xorj_readonly has no privilege on table xorj.scoring_runs');
SELECT table_privs_are('xorj', 'trader_scores', 'xorj_readonly', ARRAY[]::name[],
    'role xorj_readonly has no privilege on table xorj.trader_scores');
SELECT table_privs_are('xorj', 'execution_jobs', 'xorj_readonly', ARRAY[]::name[],
    'role xorj_readonly has no privilege on table xorj.execution_jobs');
SELECT table_privs_are('xorj', 'trades', 'xorj_readonly', ARRAY[]::name[],
    'role xorj_readonly has no privilege on table xorj.trades');
SELECT table_privs_are('xorj', 'bot_states', 'xorj_readonly', ARRAY[]::name[],
    'role xorj_readonly has no privilege on table xorj.bot_states');
SELECT table_privs_are('xorj', 'user_settings', 'xorj_readonly', ARRAY[]::name[],
    'role xorj_readonly has no privilege on table xorj.user_settings');
SELECT table_privs_are('xorj', 'trade_events', 'xorj_readonly', ARRAY[]::name[],
    'role xorj_readonly has no privilege on table xorj.trade_events');
SELECT is_empty($$
    SELECT c.oid::regclass::text
    FROM pg_catalog.pg_class c
    WHERE c.relnamespace = 'xorj'::regnamespace
      AND ((c.relkind IN ('r', 'p', 'v', 'm', 'f')
            AND (has_table_privilege('xorj_readonly', c.oid,
                     'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
                 OR has_any_column_privilege('xorj_readonly', c.oid, 'SELECT, INSERT, UPDATE, REFERENCES')))
        OR (c.relkind = 'S'
            AND has_sequence_privilege('xorj_readonly', c.oid, 'USAGE, SELECT, UPDATE')))
$$, 'role xorj_readonly has no table, column or sequence privilege on anything in schema xorj');

-- Nor does PUBLIC, through which every role would inherit them.
SELECT schema_privs_are('xorj', 'public', ARRAY[]::name[], 'PUBLIC has no USAGE or CREATE on schema xorj');
SELECT is_empty($$
    SELECT c.relname::text, a.privilege_type
    FROM pg_catalog.pg_class c, aclexplode(c.relacl) a
    WHERE c.relnamespace = 'xorj'::regnamespace AND a.grantee = 0
$$, 'PUBLIC is granted nothing on any table or sequence of schema xorj');

SELECT is_empty(
    $$SELECT p.oid FROM pg_proc p
      WHERE p.pronamespace IN ('xorj'::regnamespace, 'api'::regnamespace)
        AND has_function_privilege('public', p.oid, 'EXECUTE')$$,
    'PUBLIC executes no function of xorj or api');

SELECT * FROM finish();
ROLLBACK;
