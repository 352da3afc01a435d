-- Primary and foreign keys of 0002/0003 (and 0011: trades and trade_events partitioned
-- by month, their keys across months in xorj.trade_keys). The foreign keys are ON DELETE RESTRICT: a
-- referenced execution job or trade cannot be deleted (23503), so no delete ever
-- cascades a trade away. Scores have no foreign key since 0014 (it cost a look-up per
-- row): every score still belongs to an existing run, proven below without it (the
-- partition routing, the guard of score inserts, and the run guard that refuses DELETE).
BEGIN;
SELECT plan(41);

-- Foundation alone: the business-rule triggers are disabled for this transaction
-- (tests/pgtap_helpers.sql says which and why).
SELECT tests.disable_rule_triggers();

-- Primary keys: every table is keyed by its id.
SELECT has_pk('xorj', 'scoring_runs', 'xorj.scoring_runs has a primary key');
SELECT col_is_pk('xorj', 'scoring_runs', 'id', 'xorj.scoring_runs primary key is (id)');
SELECT has_pk('xorj', 'trader_scores', 'xorj.trader_scores has a primary key');
SELECT col_is_pk('xorj', 'trader_scores', ARRAY['id', 'run_id'],
    'xorj.trader_scores primary key is (id, run_id): a partitioned table''s keys hold its partition key (0008)');
SELECT has_pk('xorj', 'execution_jobs', 'xorj.execution_jobs has a primary key');
SELECT col_is_pk('xorj', 'execution_jobs', 'id', 'xorj.execution_jobs primary key is (id)');
SELECT has_pk('xorj', 'trades', 'xorj.trades has a primary key');
SELECT col_is_pk('xorj', 'trades', ARRAY['id', 'created_at'],
    'xorj.trades primary key is (id, created_at): partitioned by month of created_at (0011)');
SELECT has_pk('xorj', 'trade_keys', 'xorj.trade_keys has a primary key');
SELECT col_is_pk('xorj', 'trade_keys', 'id',
    'xorj.trade_keys primary key is (id): a trade id is unique across every month (0011)');
SELECT has_pk('xorj', 'bot_states', 'xorj.bot_states has a primary key');
SELECT col_is_pk('xorj', 'bot_states', 'id', 'xorj.bot_states primary key is (id)');
SELECT has_pk('xorj', 'user_settings', 'xorj.user_settings has a primary key');
SELECT col_is_pk('xorj', 'user_settings', 'id', 'xorj.user_settings primary key is (id)');
SELECT has_pk('xorj', 'trade_events', 'xorj.trade_events has a primary key');
SELECT col_is_pk('xorj', 'trade_events', ARRAY['id', 'trade_created_at'],
    'xorj.trade_events primary key is (id, trade_created_at): partitioned by its trade''s month (0011)');

-- Foreign keys: which column references what.
SELECT hasnt_fk('xorj', 'trader_scores',
    'xorj.trader_scores has no foreign key (0014: the per-row check went, the partitions hold the rule)');
SELECT is((SELECT count(*)::int FROM pg_catalog.pg_constraint c
            WHERE c.contype = 'f' AND c.conname = 'trader_scores_run_id_fkey'),
          0, 'trader_scores_run_id_fkey is on no table: neither the parent nor any partition (0014)');
SELECT has_fk('xorj', 'trades', 'xorj.trades has a foreign key');
SELECT fk_ok('xorj', 'trades', 'job_id', 'xorj', 'execution_jobs', 'id',
    'xorj.trades.job_id references xorj.execution_jobs(id)');
SELECT has_fk('xorj', 'trade_events', 'xorj.trade_events has a foreign key');
SELECT fk_ok('xorj', 'trade_events', ARRAY['trade_id', 'trade_created_at'],
             'xorj', 'trade_keys', ARRAY['id', 'created_at'],
    'xorj.trade_events (trade_id, trade_created_at) references xorj.trade_keys (id, created_at): its trade, in its trade''s month');

-- The catalog says RESTRICT (confdeltype 'r'), not CASCADE, SET NULL or NO ACTION.
SELECT is((SELECT confdeltype::text FROM pg_catalog.pg_constraint
            WHERE contype = 'f' AND conrelid = 'xorj.trades'::regclass
              AND confrelid = 'xorj.execution_jobs'::regclass),
          'r', 'trades -> execution_jobs is ON DELETE RESTRICT (pg_constraint.confdeltype)');
SELECT is((SELECT confdeltype::text FROM pg_catalog.pg_constraint
            WHERE contype = 'f' AND conrelid = 'xorj.trade_events'::regclass
              AND confrelid = 'xorj.trade_keys'::regclass),
          'r', 'trade_events -> trade_keys is ON DELETE RESTRICT (pg_constraint.confdeltype)');

-- Behaviour. Rows: a completed run with one score, a job with one trade and one event,
-- and a second run and job that nothing references.
INSERT INTO xorj.scoring_runs (id, status, completed_at) VALUES
    ('00000000-0000-4000-8000-00000000a001', 'COMPLETED', clock_timestamp()),
    ('00000000-0000-4000-8000-00000000a002', 'PENDING', NULL);
INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score)
VALUES ('00000000-0000-4000-8000-00000000a001', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 87.5);
INSERT INTO xorj.execution_jobs (id, trigger_reason) VALUES
    ('00000000-0000-4000-8000-00000000b001', 'SCHEDULED_RUN'),
    ('00000000-0000-4000-8000-00000000b002', 'MANUAL_TRIGGER');
INSERT INTO xorj.trades (id, job_id, user_vault_address, client_order_id, from_token_address,
                         to_token_address, amount_in, expected_amount_out)
VALUES ('00000000-0000-4000-8000-00000000c001', '00000000-0000-4000-8000-00000000b001',
        '11111111111111111111111111111111', 'order-1',
        'So11111111111111111111111111111111111111112',
        'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 1000000, 990000);
INSERT INTO xorj.trade_events (trade_id, trade_created_at, from_status, to_status, actor)
VALUES ('00000000-0000-4000-8000-00000000c001', xorj.trade_created_at('00000000-0000-4000-8000-00000000c001'), NULL, 'PENDING', 'test');

-- A run never leaves, so its scores never lose it: the run's guard (off above, back on
-- here) refuses DELETE, of a run with scores as of any other (XJ423). Without it nothing
-- would stop the delete now: no foreign key since 0014.
ALTER TABLE xorj.scoring_runs ENABLE TRIGGER scoring_runs_guard;
SELECT throws_ok($$DELETE FROM xorj.scoring_runs WHERE id = '00000000-0000-4000-8000-00000000a001'$$,
    'XJ423', 'scoring runs are never deleted: DELETE is not allowed',
    'deleting a scoring run that has scores is refused by its guard (XJ423)');
SELECT is((SELECT count(*)::int FROM xorj.trader_scores
            WHERE run_id = '00000000-0000-4000-8000-00000000a001'),
          1, 'the run''s score is still there');
SELECT is((SELECT count(*)::int FROM xorj.scoring_runs
            WHERE id = '00000000-0000-4000-8000-00000000a001'),
          1, 'and so is the run');
SELECT throws_ok($$DELETE FROM xorj.execution_jobs WHERE id = '00000000-0000-4000-8000-00000000b001'$$,
    '23503',
    'update or delete on table "execution_jobs" violates foreign key constraint "trades_job_id_fkey" on table "trades"',
    'deleting an execution job that has trades raises 23503 foreign_key_violation');
SELECT is((SELECT count(*)::int FROM xorj.trades
            WHERE job_id = '00000000-0000-4000-8000-00000000b001'),
          1, 'the job''s trade is still there');
-- (The key row's own guard, trade_keys_guard, would refuse first with XJ423: off here.)
ALTER TABLE xorj.trade_keys DISABLE TRIGGER trade_keys_guard;
SELECT throws_ok($$DELETE FROM xorj.trade_keys WHERE id = '00000000-0000-4000-8000-00000000c001'$$,
    '23503',
    'update or delete on table "trade_keys" violates foreign key constraint "trade_events_trade_id_fkey" on table "trade_events"',
    'deleting the key of a trade that has events raises 23503 foreign_key_violation');
SELECT is((SELECT count(*)::int FROM xorj.trade_events
            WHERE trade_id = '00000000-0000-4000-8000-00000000c001'),
          1, 'the trade''s event is still there');

-- A referencing row needs its parent. A score for a run that does not exist finds no
-- partition of trader_scores (one per run since 0008, created only by the insert of a
-- run; no DEFAULT partition): refused, by the superuser (here) as by the owner.
SELECT throws_ok($$
    INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score)
    VALUES ('00000000-0000-4000-8000-00000000a0ff', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 1)
$$, '23514', 'no partition of relation "trader_scores" found for row',
    'a score for a run that does not exist is refused: no partition holds it (23514)');
SET LOCAL ROLE xorj_owner;
SELECT throws_ok($$
    INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score)
    VALUES ('00000000-0000-4000-8000-00000000a0ff', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 1)
$$, '23514', 'no partition of relation "trader_scores" found for row',
    'the owner of trader_scores cannot store a score for a run that does not exist either (23514)');
-- Written into a partition directly, a row must fit the partition's bound: its run only.
-- The refusal is 23514 (the partition constraint), or 0A000 ("moving row to another
-- partition during a BEFORE FOR EACH ROW trigger") when the touch trigger ran first: it
-- runs when the row's two default clock readings differ, which depends on timing.
SELECT ok((tests.error_fields(format($$
    INSERT INTO xorj.%I (run_id, wallet_address, xorj_trust_score)
    VALUES ('00000000-0000-4000-8000-00000000a0ff', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 1)
$$, 'trader_scores_0000000000004000800000000000a001'), 'sqlstate') ->> 'sqlstate') IN ('23514', '0A000'),
    'a partition takes no score of another run, not even from the owner (23514 or 0A000)');
RESET ROLE;
-- Even a partition made by hand for a run that does not exist takes no score: the guard
-- of every INSERT of scores (xorj.trader_scores_check_run, once per statement) refuses a
-- run without a row (23503), through the parent and, once the partition has its guards,
-- directly.
ALTER TABLE xorj.trader_scores ENABLE TRIGGER trader_scores_run_running;
CREATE TABLE xorj.trader_scores_handmade (LIKE xorj.trader_scores INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE xorj.trader_scores ATTACH PARTITION xorj.trader_scores_handmade
    FOR VALUES IN ('00000000-0000-4000-8000-00000000a0fe');
SELECT throws_ok($$
    INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score)
    VALUES ('00000000-0000-4000-8000-00000000a0fe', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 1)
$$, '23503', 'scoring run 00000000-0000-4000-8000-00000000a0fe does not exist: a score belongs to an existing run',
    'a score for an unknown run is refused by the insert guard even where a partition lists it (23503)');
SELECT xorj.trader_scores_install_guards('xorj.trader_scores_handmade');
SELECT throws_ok($$
    INSERT INTO xorj.trader_scores_handmade (run_id, wallet_address, xorj_trust_score)
    VALUES ('00000000-0000-4000-8000-00000000a0fe', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 1)
$$, '23503', 'scoring run 00000000-0000-4000-8000-00000000a0fe does not exist: a score belongs to an existing run',
    'and into that partition directly (its guard names its one run)');
SELECT is((SELECT count(*)::int FROM xorj.trader_scores
            WHERE run_id = '00000000-0000-4000-8000-00000000a0fe'),
          0, 'no score of an unknown run was stored');
SELECT throws_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address,
                             to_token_address, amount_in, expected_amount_out)
    VALUES ('00000000-0000-4000-8000-00000000b0ff', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 'order-2',
            'So11111111111111111111111111111111111111112',
            'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 1, 1)
$$, '23503', NULL, 'a trade for a job that does not exist raises 23503');
SELECT throws_ok($$
    INSERT INTO xorj.trade_events (trade_id, trade_created_at, to_status, actor)
    VALUES ('00000000-0000-4000-8000-00000000c0ff', clock_timestamp(), 'PENDING', 'test')
$$, '23503', NULL, 'an event for a trade that does not exist raises 23503');

-- Only the referenced rows are protected: an unreferenced job deletes normally (a run
-- never does: its guard, on again above).
SELECT throws_ok($$DELETE FROM xorj.scoring_runs WHERE id = '00000000-0000-4000-8000-00000000a002'$$,
    'XJ423', 'scoring runs are never deleted: DELETE is not allowed',
    'a scoring run without scores is never deleted either (its guard, XJ423)');
SELECT lives_ok($$DELETE FROM xorj.execution_jobs WHERE id = '00000000-0000-4000-8000-00000000b002'$$,
    'an execution job without trades can be deleted');

SELECT * FROM finish();
ROLLBACK;
