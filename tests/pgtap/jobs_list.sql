-- api.list_execution_jobs: jobs newest first (created_at, then id), optionally of one
-- status, paged by limit (1..1000) and offset (>= 0); a status that is not a job status,
-- a limit or offset out of range is XJ422 naming the field. Only xorj_bot may call it.
BEGIN;
SELECT plan(17);

-- Jobs of a database that is not empty (a restored backup) are older than this test's
-- and left out of the checks.
CREATE TEMP TABLE old_jobs AS SELECT id FROM xorj.execution_jobs;
GRANT SELECT ON old_jobs TO PUBLIC;
SELECT count(*) FILTER (WHERE status = 'COMPLETED') AS old_completed FROM xorj.execution_jobs \gset

SELECT tests.act_as('xorj_bot');
SELECT (api.create_execution_job('SCHEDULED_RUN')->>'id')::uuid AS j1 \gset
SELECT (api.create_execution_job('MANUAL_TRIGGER', '{"wallet": "x"}')->>'id')::uuid AS j2 \gset
SELECT api.start_execution_job(:'j2', 'worker-2') \gset ignored_
SELECT (api.create_execution_job('SCHEDULED_RUN')->>'id')::uuid AS j3 \gset
SELECT api.start_execution_job(:'j3', 'worker-3') \gset ignored_
SELECT api.complete_execution_job(:'j3', 'worker-3') \gset ignored_
SELECT (api.create_execution_job('RECOVERY_RUN')->>'id')::uuid AS j4 \gset
SELECT api.fail_execution_job(:'j4', 'RPC node unreachable') \gset ignored_

SELECT results_eq(
    $$SELECT (j->>'id')::uuid FROM api.list_execution_jobs() AS j
       WHERE (j->>'id')::uuid NOT IN (SELECT id FROM old_jobs)$$,
    format($$VALUES (%L::uuid), (%L::uuid), (%L::uuid), (%L::uuid)$$, :'j4', :'j3', :'j2', :'j1'),
    'every job, newest first');
SELECT results_eq(
    $$SELECT j->>'status' FROM api.list_execution_jobs() AS j
       WHERE (j->>'id')::uuid NOT IN (SELECT id FROM old_jobs)$$,
    $$VALUES ('FAILED'), ('COMPLETED'), ('RUNNING'), ('PENDING')$$,
    'with their statuses');
SELECT is(
    (SELECT j FROM api.list_execution_jobs('RUNNING', 1) AS j) - 'started_at' - 'heartbeat_at' - 'created_at' - 'updated_at',
    jsonb_build_object('id', :'j2', 'status', 'RUNNING', 'trigger_reason', 'MANUAL_TRIGGER',
                       'parameters', '{"wallet": "x"}'::jsonb, 'worker_id', 'worker-2',
                       'completed_at', NULL, 'error_message', NULL),
    'a job is its row as JSON (the columns of the table)');
SELECT results_eq(
    $$SELECT (j->>'id')::uuid FROM api.list_execution_jobs('FAILED') AS j
       WHERE (j->>'id')::uuid NOT IN (SELECT id FROM old_jobs)$$,
    format($$VALUES (%L::uuid)$$, :'j4'),
    'status FAILED: the failed job only');
SELECT is((SELECT j->>'error_message' FROM api.list_execution_jobs('FAILED', 1) AS j), 'RPC node unreachable',
    'with its error');
SELECT is((SELECT count(*)::int FROM api.list_execution_jobs('PENDING') AS j
            WHERE (j->>'id')::uuid NOT IN (SELECT id FROM old_jobs)), 1, 'status PENDING: one job');
SELECT results_eq(
    $$SELECT (j->>'id')::uuid FROM api.list_execution_jobs(NULL, 2, 1) AS j$$,
    format($$VALUES (%L::uuid), (%L::uuid)$$, :'j3', :'j2'),
    'limit 2 offset 1: the second and third newest');
SELECT is((SELECT count(*)::int FROM api.list_execution_jobs('COMPLETED', 10, :old_completed + 1)), 0,
    'an offset past the end: no rows');

-- refusals
SELECT is(tests.error_fields($$SELECT api.list_execution_jobs('DONE')$$, 'sqlstate', 'column', 'message'),
    '{"sqlstate": "XJ422", "column": "status",
      "message": "invalid status: DONE is not one of PENDING, RUNNING, COMPLETED, FAILED"}'::jsonb,
    'an unknown status is XJ422 on status, listing the statuses');
SELECT is(tests.error_of($$SELECT api.list_execution_jobs('running')$$)->>'column', 'status',
    'statuses are upper case');
SELECT is(tests.error_of($$SELECT api.list_execution_jobs(NULL, 0)$$)->>'column', 'limit', 'limit 0 is XJ422 on limit');
SELECT is(tests.error_of($$SELECT api.list_execution_jobs(NULL, 1001)$$)->>'column', 'limit', 'limit 1001 is XJ422 on limit');
SELECT is(tests.error_of($$SELECT api.list_execution_jobs(NULL, NULL)$$)->>'column', 'limit', 'a NULL limit is XJ422 on limit');
SELECT is(tests.error_of($$SELECT api.list_execution_jobs(NULL, 10, -1)$$)->>'column', 'offset', 'a negative offset is XJ422 on offset');

-- the bot, and only the bot
SELECT tests.act_as(NULL);
SELECT ok(has_function_privilege('xorj_bot', 'api.list_execution_jobs(text,integer,integer)', 'EXECUTE'),
    'xorj_bot may list jobs');
SELECT tests.act_as('xorj_engine');
SELECT throws_ok($$SELECT api.list_execution_jobs()$$, '42501', NULL, 'xorj_engine cannot list jobs');
SELECT tests.act_as('xorj_api');
SELECT throws_ok($$SELECT api.list_execution_jobs()$$, '42501', NULL, 'xorj_api cannot list jobs');
SELECT tests.act_as(NULL);

SELECT * FROM finish();
ROLLBACK;
