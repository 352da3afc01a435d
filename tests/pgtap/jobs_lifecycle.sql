-- Execution jobs through the api, as the bot: created (PENDING; its validation:
-- jobs_create.sql) -> start by a worker (RUNNING, started_at = heartbeat_at = the
-- clock) -> complete by that worker, or fail (from PENDING or RUNNING). A repeated
-- complete/fail with the same values returns the job unchanged; any other move out of
-- COMPLETED or FAILED is XJ423; another worker is XJ409 job_worker_mismatch; an unknown
-- job XJ404. Only xorj_bot may call these functions.
BEGIN;
SELECT plan(42);

SELECT tests.act_as('xorj_bot', NULL, 'bot:tester');

-- a: the job the lifecycle follows
SELECT api.create_execution_job('SCHEDULED_RUN', '{"vaults": 3}') AS a \gset

-- start
SELECT clock_timestamp() AS t1 \gset
SELECT api.start_execution_job((:'a'::jsonb->>'id')::uuid, 'worker-1') AS a_run \gset
SELECT is(:'a_run'::jsonb->>'status', 'RUNNING', 'start: PENDING -> RUNNING');
SELECT is(:'a_run'::jsonb->>'worker_id', 'worker-1', 'held by the worker');
SELECT ok((:'a_run'::jsonb->>'started_at')::timestamptz BETWEEN :'t1'::timestamptz AND clock_timestamp(),
          'started_at is the clock time of the start');
SELECT is(:'a_run'::jsonb->>'heartbeat_at', :'a_run'::jsonb->>'started_at', 'the start is the first heartbeat');
SELECT throws_ok(format('SELECT api.start_execution_job(%L, ''worker-2'')', :'a'::jsonb->>'id'), 'XJ423',
    format('execution job %s: RUNNING -> RUNNING is not allowed', :'a'::jsonb->>'id'),
    'a RUNNING job cannot be started again (by another worker)');
SELECT throws_ok(format('SELECT api.start_execution_job(%L, ''worker-1'')', :'a'::jsonb->>'id'), 'XJ423',
    format('execution job %s: RUNNING -> RUNNING is not allowed', :'a'::jsonb->>'id'),
    'nor by the same worker');
SELECT (api.create_execution_job('MANUAL_TRIGGER')->>'id')::uuid AS b \gset
SELECT is(tests.error_of(format('SELECT api.start_execution_job(%L, NULL)', :'b'))->>'column', 'worker_id',
    'a start without worker is XJ422 on worker_id');
SELECT is(tests.error_of(format('SELECT api.start_execution_job(%L, %L)', :'b', repeat('w', 201)))->>'column', 'worker_id',
    'a worker id of 201 characters is invalid');
SELECT is(tests.error_of(format('SELECT api.start_execution_job(%L, ''  '')', :'b'))->>'column', 'worker_id',
    'a blank worker id is invalid');

-- complete
SELECT is(tests.error_fields(format('SELECT api.complete_execution_job(%L, ''worker-2'')', :'a'::jsonb->>'id'),
                             'sqlstate', 'column', 'constraint'),
    '{"sqlstate": "XJ409", "constraint": "job_worker_mismatch"}'::jsonb,
    'another worker cannot complete the job: XJ409 job_worker_mismatch');
SELECT throws_ok(format('SELECT api.complete_execution_job(%L, ''worker-1'')', :'b'), 'XJ423',
    format('execution job %s: PENDING -> COMPLETED is not allowed', :'b'), 'a PENDING job cannot be completed');
SELECT clock_timestamp() AS t2 \gset
SELECT api.complete_execution_job((:'a'::jsonb->>'id')::uuid, 'worker-1') AS a_done \gset
SELECT is(:'a_done'::jsonb->>'status', 'COMPLETED', 'complete: RUNNING -> COMPLETED');
SELECT ok((:'a_done'::jsonb->>'completed_at')::timestamptz BETWEEN :'t2'::timestamptz AND clock_timestamp(),
          'completed_at is the clock time of the completion');
SELECT is(:'a_done'::jsonb - 'completed_at' - 'updated_at' - 'status',
          :'a_run'::jsonb - 'completed_at' - 'updated_at' - 'status',
          'completing keeps worker, start and heartbeat');
-- completed a minute ago (its timestamps moved into the past): a repeat that wrote the
-- row would show the clock's updated_at
SELECT tests.backdate('execution_jobs', ARRAY[(:'a'::jsonb->>'id')::uuid], interval '1 minute');
SELECT tests.act_as(NULL);
SELECT to_jsonb(j) AS a_done FROM xorj.execution_jobs j WHERE id = (:'a'::jsonb->>'id')::uuid \gset
SELECT tests.act_as('xorj_bot', NULL, 'bot:tester');
SELECT is(api.complete_execution_job((:'a'::jsonb->>'id')::uuid, 'worker-1'), :'a_done'::jsonb,
          'completing again by the same worker returns the job unchanged');
SELECT throws_ok(format('SELECT api.complete_execution_job(%L, ''worker-2'')', :'a'::jsonb->>'id'), 'XJ423',
    format('execution job %s: COMPLETED -> COMPLETED is not allowed', :'a'::jsonb->>'id'),
    'completing again as another worker is refused');
SELECT throws_ok(format('SELECT api.fail_execution_job(%L, ''late'', ''worker-1'')', :'a'::jsonb->>'id'), 'XJ423',
    format('execution job %s: COMPLETED -> FAILED is not allowed', :'a'::jsonb->>'id'), 'COMPLETED -> FAILED is refused');
SELECT throws_ok(format('SELECT api.fail_execution_job(%L, ''late'')', :'a'::jsonb->>'id'), 'XJ423',
    format('execution job %s: COMPLETED -> FAILED is not allowed', :'a'::jsonb->>'id'), 'also without a worker');
SELECT throws_ok(format('SELECT api.start_execution_job(%L, ''worker-1'')', :'a'::jsonb->>'id'), 'XJ423',
    format('execution job %s: COMPLETED -> RUNNING is not allowed', :'a'::jsonb->>'id'), 'COMPLETED -> RUNNING is refused');

-- fail from PENDING (no worker)
SELECT clock_timestamp() AS t3 \gset
SELECT api.fail_execution_job(:'b', 'cancelled by operator') AS b_failed \gset
SELECT is(:'b_failed'::jsonb->>'status', 'FAILED', 'fail: PENDING -> FAILED');
SELECT ok((:'b_failed'::jsonb->>'completed_at')::timestamptz BETWEEN :'t3'::timestamptz AND clock_timestamp()
          AND (:'b_failed'::jsonb->>'started_at') IS NULL,
          'a job failed before it started has completed_at and no started_at');
SELECT is(api.fail_execution_job(:'b', 'cancelled by operator'), :'b_failed'::jsonb,
          'failing again with the same error returns the job unchanged');
SELECT throws_ok(format('SELECT api.fail_execution_job(%L, ''another reason'')', :'b'), 'XJ423',
    format('execution job %s: FAILED -> FAILED is not allowed', :'b'), 'failing again with another error is refused');
SELECT throws_ok(format('SELECT api.start_execution_job(%L, ''worker-1'')', :'b'), 'XJ423',
    format('execution job %s: FAILED -> RUNNING is not allowed', :'b'), 'FAILED -> RUNNING is refused');
SELECT throws_ok(format('SELECT api.complete_execution_job(%L, ''worker-1'')', :'b'), 'XJ423',
    format('execution job %s: FAILED -> COMPLETED is not allowed', :'b'), 'FAILED -> COMPLETED is refused');
SELECT (api.create_execution_job('MANUAL_TRIGGER')->>'id')::uuid AS b2 \gset
SELECT is(tests.error_fields(format('SELECT api.fail_execution_job(%L, ''x'', ''worker-1'')', :'b2'),
                             'sqlstate', 'column', 'constraint'),
    '{"sqlstate": "XJ409", "constraint": "job_worker_mismatch"}'::jsonb,
    'a worker cannot fail a PENDING job it does not hold');

-- fail from RUNNING
SELECT (api.create_execution_job('SCHEDULED_RUN')->>'id')::uuid AS c \gset
SELECT api.start_execution_job(:'c', 'worker-3') AS c_run \gset
SELECT is(tests.error_fields(format('SELECT api.fail_execution_job(%L, ''boom'', ''worker-1'')', :'c'),
                             'sqlstate', 'column', 'constraint'),
    '{"sqlstate": "XJ409", "constraint": "job_worker_mismatch"}'::jsonb,
    'another worker cannot fail the job');
SELECT api.fail_execution_job(:'c', 'RPC timeout', 'worker-3') AS c_failed \gset
SELECT is(:'c_failed'::jsonb->>'status', 'FAILED', 'fail: RUNNING -> FAILED by its worker');
SELECT is(:'c_failed'::jsonb->>'error_message', 'RPC timeout', 'with the error');
SELECT ok(:'c_failed'::jsonb->>'started_at' = :'c_run'::jsonb->>'started_at'
          AND (:'c_failed'::jsonb->>'completed_at')::timestamptz >= (:'c_run'::jsonb->>'started_at')::timestamptz,
          'failing keeps started_at and sets completed_at');
SELECT is(api.fail_execution_job(:'c', 'RPC timeout', 'worker-3'), :'c_failed'::jsonb,
          'a repeat with the same error and worker is unchanged');
SELECT is(api.fail_execution_job(:'c', 'RPC timeout'), :'c_failed'::jsonb,
          'a repeat with the same error and no worker is unchanged');
SELECT throws_ok(format('SELECT api.fail_execution_job(%L, ''RPC timeout'', ''worker-1'')', :'c'), 'XJ423',
    format('execution job %s: FAILED -> FAILED is not allowed', :'c'), 'a repeat naming another worker is refused');

-- the error: required, not blank, at most 10,000 characters
SELECT (api.create_execution_job('SCHEDULED_RUN')->>'id')::uuid AS d \gset
SELECT is(tests.error_fields(format('SELECT api.fail_execution_job(%L, NULL)', :'d'),
                             'sqlstate', 'message', 'column', 'constraint'),
    '{"sqlstate": "XJ422", "column": "error", "message": "invalid error: is required"}'::jsonb, 'a NULL error is invalid');
SELECT is(tests.error_of(format('SELECT api.fail_execution_job(%L, '' '')', :'d'))->>'column', 'error', 'a blank error is invalid');
SELECT is(tests.error_of(format('SELECT api.fail_execution_job(%L, %L)', :'d', repeat('e', 10001)))->>'column', 'error',
    'an error of 10,001 characters is invalid');
SELECT is(api.fail_execution_job(:'d', repeat('e', 10000))->>'status', 'FAILED', 'an error of 10,000 characters is accepted');

-- unknown job
SELECT throws_ok('SELECT api.start_execution_job(''00000000-0000-4000-8000-000000000404'', ''w'')', 'XJ404',
    'execution job 00000000-0000-4000-8000-000000000404 not found', 'start: an unknown job is not found');
SELECT throws_ok('SELECT api.complete_execution_job(''00000000-0000-4000-8000-000000000404'', ''w'')', 'XJ404',
    NULL, 'complete: an unknown job is not found');
SELECT throws_ok('SELECT api.fail_execution_job(''00000000-0000-4000-8000-000000000404'', ''e'')', 'XJ404',
    NULL, 'fail: an unknown job is not found');

-- only the bot
SELECT tests.act_as('xorj_engine');
SELECT throws_ok('SELECT api.create_execution_job(''SCHEDULED_RUN'')', '42501', NULL, 'xorj_engine cannot create a job');
SELECT tests.act_as('xorj_api', tests.addr(1));
SELECT throws_ok(format('SELECT api.start_execution_job(%L, ''w'')', :'b2'), '42501', NULL, 'xorj_api cannot start a job');
SELECT tests.act_as(NULL);

SELECT * FROM finish();
ROLLBACK;
