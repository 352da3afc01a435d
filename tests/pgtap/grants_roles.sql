-- Each role can EXECUTE exactly its functions and nothing else; only xorj_readonly reads
-- the views; every api function is SECURITY DEFINER with a pinned search_path; a role
-- calling what is not its own is refused with 42501.
BEGIN;
SELECT plan(14);

CREATE TEMP VIEW can_execute AS
    SELECT r.rolname, p.oid::regprocedure::text AS fn
    FROM pg_proc p
    CROSS JOIN (VALUES ('xorj_api'), ('xorj_engine'), ('xorj_bot'), ('xorj_readonly')) r(rolname)
    WHERE p.pronamespace = 'api'::regnamespace
      AND has_function_privilege(r.rolname, p.oid, 'EXECUTE');

SELECT set_eq($$SELECT fn FROM can_execute WHERE rolname = 'xorj_api'$$,
    ARRAY['api.bot_status()', 'api.enable_bot(text)', 'api.disable_bot()',
          'api.get_user_settings()', 'api.update_user_settings(jsonb,bigint)',
          'api.my_trades(text,uuid,integer)',
          'api.ranked_traders(integer,integer)', 'api.run_scores(uuid,integer,integer)'],
    'xorj_api executes exactly the user functions and the rankings');
SELECT set_eq($$SELECT fn FROM can_execute WHERE rolname = 'xorj_engine'$$,
    ARRAY['api.create_scoring_run()', 'api.start_scoring_run(uuid)',
          'api.complete_scoring_run(uuid,jsonb,boolean)', 'api.fail_scoring_run(uuid,text)',
          'api.add_scoring_scores(uuid,jsonb,integer)',
          'api.open_scoring_copy(uuid)', 'api.add_scoring_copy(uuid)',
          'api.ranked_traders(integer,integer)', 'api.run_scores(uuid,integer,integer)'],
    'xorj_engine executes exactly the scoring functions');
SELECT set_eq($$SELECT fn FROM can_execute WHERE rolname = 'xorj_bot'$$,
    ARRAY['api.create_execution_job(text,jsonb)', 'api.start_execution_job(uuid,text)',
          'api.heartbeat_execution_job(uuid,text)', 'api.complete_execution_job(uuid,text)',
          'api.fail_execution_job(uuid,text,text)', 'api.reap_execution_jobs(interval)',
          'api.create_trade(uuid,text,text,text,text,numeric,numeric,text,interval,text)',
          'api.mark_trade_submitted(uuid,text,bigint,text)', 'api.mark_trade_confirmed(uuid,numeric,numeric,numeric)',
          'api.mark_trade_failed(uuid,text,numeric,text,text,bigint)', 'api.trades_to_recover(interval,integer)',
          'api.start_trade_search(uuid,bigint)',
          'api.claim_trades(text,interval,interval,integer,uuid[],text)', 'api.renew_trade_claims(text,interval)',
          'api.release_trade_claims(text,uuid[])', 'api.trades_held_by_others(text,text)',
          'api.list_execution_jobs(text,integer,integer)',
          'api.get_trade(uuid)', 'api.list_trades(text,text,integer,integer)', 'api.trade_events(uuid)',
          'api.enabled_bots()', 'api.bot_state_changes(text,integer)',
          'api.ranked_traders(integer,integer)', 'api.run_scores(uuid,integer,integer)'],
    'xorj_bot executes exactly the job, trade and planning functions');
SELECT set_eq($$SELECT fn FROM can_execute WHERE rolname = 'xorj_readonly'$$,
    ARRAY['api.applied_migrations()', 'api.metrics()'],
    'xorj_readonly executes only the readiness and metrics readers');

SELECT is_empty(
    $$SELECT p.oid::regprocedure FROM pg_proc p
      WHERE p.pronamespace = 'api'::regnamespace AND NOT p.prosecdef$$,
    'every api function is SECURITY DEFINER');
SELECT is_empty(
    $$SELECT p.oid::regprocedure FROM pg_proc p
      WHERE p.pronamespace IN ('api'::regnamespace, 'xorj'::regnamespace)
        AND p.prosecdef
        AND NOT coalesce(p.proconfig, '{}') @> ARRAY['search_path=pg_catalog, xorj, pg_temp']$$,
    'every SECURITY DEFINER function pins search_path to pg_catalog, xorj, pg_temp');
SELECT is_empty(
    $$SELECT p.oid::regprocedure FROM pg_proc p
      WHERE p.pronamespace = 'xorj'::regnamespace
        AND (has_function_privilege('xorj_api', p.oid, 'EXECUTE')
          OR has_function_privilege('xorj_engine', p.oid, 'EXECUTE')
          OR has_function_privilege('xorj_bot', p.oid, 'EXECUTE')
          OR has_function_privilege('xorj_readonly', p.oid, 'EXECUTE'))$$,
    'no role executes an internal xorj function');

SELECT set_eq(
    $$SELECT c.relname::text FROM pg_class c
      WHERE c.relnamespace = 'api'::regnamespace AND has_table_privilege('xorj_readonly', c.oid, 'SELECT')$$,
    ARRAY['active_scoring_runs', 'latest_trader_scores', 'active_execution_jobs',
          'pending_trades', 'submitted_trades'],
    'xorj_readonly reads the five views of the original system');
SELECT is_empty(
    $$SELECT r.rolname, c.relname FROM pg_class c
      CROSS JOIN (VALUES ('xorj_api'), ('xorj_engine'), ('xorj_bot')) r(rolname)
      WHERE c.relnamespace IN ('api'::regnamespace, 'xorj'::regnamespace)
        AND c.relkind IN ('r', 'v', 'm', 'p')
        AND has_table_privilege(r.rolname, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')$$,
    'the api, engine and bot roles have no privilege on any table or view');

SELECT tests.act_as('xorj_api');
SELECT throws_ok($$SELECT api.create_scoring_run()$$, '42501', NULL, 'xorj_api cannot create a scoring run');
SELECT tests.act_as('xorj_engine');
SELECT throws_ok($$SELECT tests.enable_bot(tests.addr(1))$$, '42501', NULL, 'xorj_engine cannot enable a bot');
SELECT tests.act_as('xorj_bot');
SELECT throws_ok($$SELECT tests.update_user_settings(tests.addr(1), '{}')$$, '42501', NULL,
    'xorj_bot cannot change user settings');
SELECT throws_ok($$SELECT * FROM xorj.trades$$, '42501', NULL, 'xorj_bot cannot read the trades table');
SELECT tests.act_as('xorj_readonly');
SELECT throws_ok($$SELECT tests.bot_status(tests.addr(1))$$, '42501', NULL, 'xorj_readonly cannot read a bot status');
SELECT tests.act_as(NULL);

SELECT * FROM finish();
ROLLBACK;
