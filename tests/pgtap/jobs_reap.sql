-- Reaping: api.reap_execution_jobs(stale_after) fails every RUNNING job whose heartbeat
-- is older than clock_timestamp() - stale_after, with error 'stalled: no heartbeat since
-- <time> (worker <id>)', and returns them, oldest heartbeat first; fresh jobs, PENDING
-- and finished ones are left alone; stale_after must be > 0; a reaped worker's heartbeat
-- and completion are refused; concurrent reapers skip each other's jobs (SKIP LOCKED);
-- only xorj_bot may reap.
BEGIN;
SELECT plan(16);

SELECT tests.act_as('xorj_bot', NULL, 'bot:reaper');
-- In a database that is not empty (a restored backup), the jobs already RUNNING are
-- reaped first (rolled back with the rest), so that only this test's jobs are stale.
SELECT count(*) AS old_reaped FROM api.reap_execution_jobs('1 microsecond') \gset
-- a, b and c run and go silent for 600 ms (their timestamps moved into the past), then a
-- heartbeats again; d is started afterwards; e stays PENDING; f completed before
SELECT (api.create_execution_job('SCHEDULED_RUN')->>'id')::uuid AS a \gset
SELECT (api.create_execution_job('SCHEDULED_RUN')->>'id')::uuid AS b \gset
SELECT (api.create_execution_job('RECOVERY_RUN')->>'id')::uuid AS c \gset
SELECT (api.create_execution_job('MANUAL_TRIGGER')->>'id')::uuid AS d \gset
SELECT (api.create_execution_job('MANUAL_TRIGGER')->>'id')::uuid AS e \gset
SELECT (api.create_execution_job('MANUAL_TRIGGER')->>'id')::uuid AS f \gset
SELECT api.start_execution_job(:'a', 'w-a') \gset ignored_
SELECT api.start_execution_job(:'b', 'w-b') \gset ignored_
SELECT api.start_execution_job(:'c', 'w-c') \gset ignored_
SELECT api.start_execution_job(:'f', 'w-f') \gset ignored_
SELECT api.complete_execution_job(:'f', 'w-f') \gset ignored_
SELECT tests.backdate('execution_jobs', ARRAY[:'a', :'b', :'c', :'f']::uuid[], interval '600 milliseconds');
SELECT api.heartbeat_execution_job(:'a', 'w-a') \gset ignored_
SELECT api.start_execution_job(:'d', 'w-d') \gset ignored_
SELECT tests.act_as(NULL);
SELECT to_jsonb(j) AS b_run FROM xorj.execution_jobs j WHERE id = :'b' \gset
SELECT tests.act_as('xorj_bot', NULL, 'bot:reaper');

-- bounds
SELECT is(tests.error_fields('SELECT * FROM api.reap_execution_jobs(''0 seconds'')',
                             'sqlstate', 'message', 'column', 'constraint'),
    '{"sqlstate": "XJ422", "column": "stale_after", "message": "invalid stale_after: 00:00:00 must be greater than 0"}'::jsonb,
    'stale_after 0 is XJ422');
SELECT is(tests.error_of('SELECT * FROM api.reap_execution_jobs(''-5 minutes'')')->>'column', 'stale_after',
    'a negative stale_after is invalid');
SELECT is(tests.error_of('SELECT * FROM api.reap_execution_jobs(NULL)')->>'column', 'stale_after',
    'a NULL stale_after is invalid');

SELECT is_empty('SELECT * FROM api.reap_execution_jobs(''1 hour'')', 'nothing is an hour stale');
CREATE TEMP TABLE reaped ON COMMIT DROP AS
    SELECT r.job, r.ord FROM api.reap_execution_jobs('500 milliseconds') WITH ORDINALITY AS r(job, ord);
SELECT set_eq('SELECT (job->>''id'')::uuid FROM reaped', format('VALUES (%L::uuid), (%L::uuid)', :'b', :'c'),
    'the two jobs silent for 600 ms are reaped at 500 ms; the beating, the fresh, the PENDING and the COMPLETED are not');
SELECT is((SELECT array_agg(job->>'status') FROM reaped), ARRAY['FAILED', 'FAILED'], 'reaped jobs are returned FAILED');
SELECT is((SELECT job->>'error_message' FROM reaped WHERE job->>'id' = :'b'),
    format('stalled: no heartbeat since %s (worker w-b)',
           to_char((:'b_run'::jsonb->>'heartbeat_at')::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
    'the error names the last heartbeat (UTC) and the worker');
SELECT ok((SELECT (job->>'completed_at')::timestamptz > (job->>'heartbeat_at')::timestamptz FROM reaped WHERE job->>'id' = :'c'),
    'a reaped job has completed_at, after its last heartbeat');
SELECT is((SELECT array_agg(job->>'id' ORDER BY ord) FROM reaped),
          ARRAY[:'b', :'c'], 'returned oldest heartbeat first');
SELECT tests.act_as(NULL);
SELECT results_eq(
    format($$SELECT id, status::text FROM xorj.execution_jobs WHERE id IN (%L, %L, %L, %L, %L, %L) ORDER BY created_at$$,
           :'a', :'b', :'c', :'d', :'e', :'f'),
    format($$VALUES (%L::uuid, 'RUNNING'), (%L::uuid, 'FAILED'), (%L::uuid, 'FAILED'), (%L::uuid, 'COMPLETED'),
                    (%L::uuid, 'RUNNING'), (%L::uuid, 'PENDING')$$, :'a', :'b', :'c', :'f', :'d', :'e'),
    'stored: a and d RUNNING, b and c FAILED, e PENDING, f COMPLETED');
SELECT tests.act_as('xorj_bot', NULL, 'bot:reaper');
SELECT is_empty('SELECT * FROM api.reap_execution_jobs(''500 milliseconds'')', 'a second reap finds nothing more');

-- the reaped worker finds out
SELECT throws_ok(format('SELECT api.heartbeat_execution_job(%L, ''w-b'')', :'b'), 'XJ423',
    format('execution job %s is FAILED, not RUNNING: no heartbeat', :'b'), 'a reaped job takes no heartbeat');
SELECT throws_ok(format('SELECT api.complete_execution_job(%L, ''w-b'')', :'b'), 'XJ423',
    format('execution job %s: FAILED -> COMPLETED is not allowed', :'b'), 'a reaped job cannot be completed');

-- the reaper uses SKIP LOCKED
SELECT tests.act_as(NULL);
SELECT ok((SELECT prosrc ~ 'FOR UPDATE SKIP LOCKED' FROM pg_catalog.pg_proc
           WHERE oid = 'api.reap_execution_jobs(interval)'::regprocedure),
          'reap_execution_jobs locks with FOR UPDATE SKIP LOCKED (concurrent reapers skip each other''s jobs)');

-- only the bot
SELECT tests.act_as('xorj_engine');
SELECT throws_ok('SELECT * FROM api.reap_execution_jobs(''1 minute'')', '42501', NULL, 'xorj_engine cannot reap');
SELECT tests.act_as('xorj_api', tests.addr(1));
SELECT throws_ok('SELECT * FROM api.reap_execution_jobs(''1 minute'')', '42501', NULL, 'xorj_api cannot reap');
SELECT tests.act_as(NULL);

SELECT * FROM finish();
ROLLBACK;
