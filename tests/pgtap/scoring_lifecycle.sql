-- Scoring runs through the api, as the engine: create (PENDING) -> start (RUNNING) ->
-- complete (COMPLETED) or fail (FAILED, from PENDING or RUNNING); started_at and
-- completed_at are the database's clock; every other move is XJ423 naming the move;
-- an unknown run is XJ404; the error of a failure is required and bounded; only
-- xorj_engine may call these functions.
BEGIN;
SELECT plan(47);

SELECT tests.act_as('xorj_engine');

-- create
SELECT clock_timestamp() AS t0 \gset
SELECT api.create_scoring_run() AS a \gset
SELECT is(:'a'::jsonb->>'status', 'PENDING', 'create_scoring_run returns a PENDING run');
SELECT ok((:'a'::jsonb->>'started_at') IS NULL AND (:'a'::jsonb->>'completed_at') IS NULL
          AND (:'a'::jsonb->>'error_message') IS NULL,
          'a new run has no started_at, completed_at or error');
SELECT ok((:'a'::jsonb->>'created_at')::timestamptz BETWEEN :'t0'::timestamptz AND clock_timestamp(),
          'created_at is the clock time of the creation');
SELECT is(array_length(ARRAY(SELECT jsonb_object_keys(:'a'::jsonb)), 1), 8,
          'the result has the 8 columns of the row');
SELECT tests.act_as(NULL);
SELECT is((SELECT status::text FROM xorj.scoring_runs WHERE id = (:'a'::jsonb->>'id')::uuid),
          'PENDING', 'the run is stored PENDING');
SELECT tests.act_as('xorj_engine');

-- start
SELECT clock_timestamp() AS t1 \gset
SELECT api.start_scoring_run((:'a'::jsonb->>'id')::uuid) AS a_run \gset
SELECT is(:'a_run'::jsonb->>'status', 'RUNNING', 'start_scoring_run: PENDING -> RUNNING');
SELECT ok((:'a_run'::jsonb->>'started_at')::timestamptz BETWEEN :'t1'::timestamptz AND clock_timestamp(),
          'started_at is the clock time of the start');
SELECT ok((:'a_run'::jsonb->>'completed_at') IS NULL, 'a RUNNING run has no completed_at');

-- complete (an empty batch, allowed: a run with no traders), a minute after the start
-- (the run's timestamps moved into the past): a completion that rewrote started_at
-- would show the clock's
SELECT tests.backdate('scoring_runs', ARRAY[(:'a'::jsonb->>'id')::uuid], interval '1 minute');
SELECT tests.act_as(NULL);
SELECT to_jsonb(r) AS a_run FROM xorj.scoring_runs r WHERE id = (:'a'::jsonb->>'id')::uuid \gset
SELECT tests.act_as('xorj_engine');
SELECT clock_timestamp() AS t2 \gset
SELECT api.complete_scoring_run((:'a'::jsonb->>'id')::uuid, '[]', p_allow_empty => true) AS a_done \gset
SELECT is(:'a_done'::jsonb->>'status', 'COMPLETED', 'complete_scoring_run: RUNNING -> COMPLETED');
SELECT is(:'a_done'::jsonb->'scores_inserted', '0'::jsonb, 'an empty batch inserts 0 scores');
SELECT ok((:'a_done'::jsonb->>'completed_at')::timestamptz BETWEEN :'t2'::timestamptz AND clock_timestamp(),
          'completed_at is the clock time of the completion');
SELECT is(:'a_done'::jsonb->>'started_at', :'a_run'::jsonb->>'started_at',
          'completing keeps started_at');

-- fail from RUNNING
SELECT (api.create_scoring_run()->>'id')::uuid AS b \gset
SELECT api.start_scoring_run(:'b') AS b_run \gset
SELECT clock_timestamp() AS t3 \gset
SELECT api.fail_scoring_run(:'b', 'source API down') AS b_failed \gset
SELECT is(:'b_failed'::jsonb->>'status', 'FAILED', 'fail_scoring_run: RUNNING -> FAILED');
SELECT is(:'b_failed'::jsonb->>'error_message', 'source API down', 'the error is recorded');
SELECT ok((:'b_failed'::jsonb->>'completed_at')::timestamptz BETWEEN :'t3'::timestamptz AND clock_timestamp(),
          'a failed run has completed_at, the clock time of the failure');
SELECT is(:'b_failed'::jsonb->>'started_at', :'b_run'::jsonb->>'started_at', 'failing keeps started_at');

-- fail from PENDING
SELECT (api.create_scoring_run()->>'id')::uuid AS c \gset
SELECT api.fail_scoring_run(:'c', 'cancelled') AS c_failed \gset
SELECT is(:'c_failed'::jsonb->>'status', 'FAILED', 'fail_scoring_run: PENDING -> FAILED');
SELECT ok((:'c_failed'::jsonb->>'started_at') IS NULL AND (:'c_failed'::jsonb->>'completed_at') IS NOT NULL,
          'a run failed before it started has completed_at and no started_at');

-- refused moves: XJ423 naming the run and the move
SELECT (api.create_scoring_run()->>'id')::uuid AS p \gset
SELECT throws_ok(format('SELECT api.complete_scoring_run(%L, ''[]'')', :'p'), 'XJ423',
    format('scoring run %s: PENDING -> COMPLETED is not allowed', :'p'),
    'PENDING -> COMPLETED is refused');
SELECT api.start_scoring_run(:'p') \gset ignored_
SELECT throws_ok(format('SELECT api.start_scoring_run(%L)', :'p'), 'XJ423',
    format('scoring run %s: RUNNING -> RUNNING is not allowed', :'p'),
    'starting a RUNNING run is refused');
SELECT throws_ok(format('SELECT api.start_scoring_run(%L)', :'a'::jsonb->>'id'), 'XJ423',
    format('scoring run %s: COMPLETED -> RUNNING is not allowed', :'a'::jsonb->>'id'),
    'COMPLETED -> RUNNING is refused');
SELECT throws_ok(format('SELECT api.complete_scoring_run(%L, ''[]'')', :'a'::jsonb->>'id'), 'XJ423',
    format('scoring run %s: COMPLETED -> COMPLETED is not allowed', :'a'::jsonb->>'id'),
    'completing a COMPLETED run again is refused');
SELECT throws_ok(format('SELECT api.fail_scoring_run(%L, ''late'')', :'a'::jsonb->>'id'), 'XJ423',
    format('scoring run %s: COMPLETED -> FAILED is not allowed', :'a'::jsonb->>'id'),
    'COMPLETED -> FAILED is refused');
SELECT throws_ok(format('SELECT api.start_scoring_run(%L)', :'b'), 'XJ423',
    format('scoring run %s: FAILED -> RUNNING is not allowed', :'b'),
    'FAILED -> RUNNING is refused');
SELECT throws_ok(format('SELECT api.complete_scoring_run(%L, ''[]'')', :'b'), 'XJ423',
    format('scoring run %s: FAILED -> COMPLETED is not allowed', :'b'),
    'FAILED -> COMPLETED is refused');
SELECT throws_ok(format('SELECT api.fail_scoring_run(%L, ''again'')', :'b'), 'XJ423',
    format('scoring run %s: FAILED -> FAILED is not allowed', :'b'),
    'failing a FAILED run again is refused');
SELECT is((SELECT count(*)::int FROM api.run_scores(:'b')), 0, 'the failed run has no scores');
SELECT is(api.fail_scoring_run(:'p', 'x')->>'status', 'FAILED', 'the RUNNING run p can still fail');

-- unknown run: XJ404; NULL id: XJ422
SELECT throws_ok('SELECT api.start_scoring_run(''00000000-0000-4000-8000-000000000404'')', 'XJ404',
    'scoring run 00000000-0000-4000-8000-000000000404 not found', 'start: an unknown run is not found');
SELECT throws_ok('SELECT api.complete_scoring_run(''00000000-0000-4000-8000-000000000404'', ''[]'')', 'XJ404',
    'scoring run 00000000-0000-4000-8000-000000000404 not found', 'complete: an unknown run is not found');
SELECT throws_ok('SELECT api.fail_scoring_run(''00000000-0000-4000-8000-000000000404'', ''e'')', 'XJ404',
    'scoring run 00000000-0000-4000-8000-000000000404 not found', 'fail: an unknown run is not found');
SELECT throws_ok('SELECT api.start_scoring_run(NULL)', 'XJ422', 'invalid run_id: is required',
    'a NULL run id is invalid');

-- the error of a failure: required, not blank, at most 10,000 characters
SELECT (api.create_scoring_run()->>'id')::uuid AS e \gset
SELECT is(tests.error_fields(format('SELECT api.fail_scoring_run(%L, NULL)', :'e'), 'sqlstate', 'column'),
          '{"sqlstate": "XJ422", "column": "error"}'::jsonb, 'a NULL error is XJ422 on column error');
SELECT throws_ok(format('SELECT api.fail_scoring_run(%L, %L)', :'e', '   '), 'XJ422',
    'invalid error: is required', 'a blank error is invalid');
SELECT is(tests.error_fields(format('SELECT api.fail_scoring_run(%L, %L)', :'e', repeat('x', 10001)),
                             'sqlstate', 'column'),
          '{"sqlstate": "XJ422", "column": "error"}'::jsonb, 'an error of 10,001 characters is XJ422 on column error');
SELECT is(tests.error_of(format('SELECT api.fail_scoring_run(%L, %L)', :'e', repeat('x', 10001)))->>'message',
          'invalid error: is 10001 characters long; at most 10000', 'the message gives the length');
SELECT is(api.fail_scoring_run(:'e', repeat('x', 10000))->>'status', 'FAILED',
          'an error of exactly 10,000 characters is accepted');

-- what is stored is what was returned
SELECT tests.act_as(NULL);
SELECT is((SELECT to_jsonb(r) FROM xorj.scoring_runs r WHERE r.id = (:'a'::jsonb->>'id')::uuid),
          :'a_done'::jsonb - 'scores_inserted', 'the stored COMPLETED row is the one returned');
SELECT is((SELECT count(*)::int FROM xorj.scoring_runs WHERE status = 'FAILED'), 4,
          'four runs failed (b, c, p, e)');
SELECT ok((SELECT bool_and(completed_at >= created_at) FROM xorj.scoring_runs WHERE completed_at IS NOT NULL),
          'completed_at never precedes created_at');

-- grants: only the engine creates and moves runs
SELECT tests.act_as('xorj_api');
SELECT throws_ok('SELECT api.create_scoring_run()', '42501', NULL, 'xorj_api cannot create a scoring run');
SELECT throws_ok(format('SELECT api.start_scoring_run(%L)', :'p'), '42501', NULL, 'xorj_api cannot start a run');
SELECT throws_ok(format('SELECT api.complete_scoring_run(%L, ''[]'')', :'p'), '42501', NULL, 'xorj_api cannot complete a run');
SELECT throws_ok(format('SELECT api.fail_scoring_run(%L, ''x'')', :'p'), '42501', NULL, 'xorj_api cannot fail a run');
SELECT tests.act_as('xorj_bot');
SELECT throws_ok('SELECT api.create_scoring_run()', '42501', NULL, 'xorj_bot cannot create a scoring run');
SELECT tests.act_as('xorj_readonly');
SELECT throws_ok('SELECT api.create_scoring_run()', '42501', NULL, 'xorj_readonly cannot create a scoring run');
SELECT tests.act_as('xorj_engine');
SELECT throws_ok('SELECT * FROM xorj.scoring_runs', '42501', NULL, 'the engine has no direct access to the tables');
SELECT tests.act_as(NULL);

SELECT * FROM finish();
ROLLBACK;
