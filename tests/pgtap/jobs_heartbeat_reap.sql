-- Heartbeats and reaping: only the worker holding a RUNNING job may heartbeat it
-- (XJ409 job_worker_mismatch; XJ423 when the job is not RUNNING), which moves
-- heartbeat_at to the clock; api.reap_execution_jobs(stale_after) fails every RUNNING
-- job whose heartbeat is older than clock_timestamp() - stale_after, with error
-- 'stalled: no heartbeat since <time> (worker <id>)', and returns them; fresh jobs,
-- PENDING and finished ones are left alone; stale_after must be > 0.
BEGIN;
SELECT plan(24);

SET LOCAL ROLE xorj_bot;

-- heartbeat
SELECT (api.create_execution_job('SCHEDULED_RUN')->>'id')::uuid AS a \gset
SELECT throws_ok(format('SELECT api.heartbeat_execution_job(%L, ''w-a'')', :'a'), 'XJ423',
    format('execution job %s is PENDING, not RUNNING: no heartbeat', :'a'), 'a PENDING job takes no heartbeat');
SELECT api.start_execution_job(:'a', 'w-a') AS a_run \gset
SELECT pg_sleep(0.02) \gset
SELECT clock_timestamp() AS t0 \gset
SELECT api.heartbeat_execution_job(:'a', 'w-a') AS a_beat \gset
SELECT ok((:'a_beat'::jsonb->>'heartbeat_at')::timestamptz BETWEEN :'t0'::timestamptz AND clock_timestamp(),
          'a heartbeat sets heartbeat_at to the clock time');
SELECT ok((:'a_beat'::jsonb->>'heartbeat_at')::timestamptz > (:'a_run'::jsonb->>'heartbeat_at')::timestamptz,
          'heartbeat_at moved forward from the start');
SELECT is(:'a_beat'::jsonb - 'heartbeat_at' - 'updated_at', :'a_run'::jsonb - 'heartbeat_at' - 'updated_at',
          'a heartbeat changes nothing else');
SELECT is(tests.error_fields(format('SELECT api.heartbeat_execution_job(%L, ''w-other'')', :'a'),
                             'sqlstate', 'message', 'column', 'constraint'),
    jsonb_build_object('sqlstate', 'XJ409', 'constraint', 'job_worker_mismatch',
                       'message', format('execution job %s is held by worker w-a, not by worker w-other', :'a')),
    'another worker''s heartbeat is XJ409 job_worker_mismatch');
SELECT is(tests.error_of(format('SELECT api.heartbeat_execution_job(%L, NULL)', :'a'))->>'column', 'worker_id',
    'a heartbeat without worker is XJ422 on worker_id');
SELECT throws_ok('SELECT api.heartbeat_execution_job(''00000000-0000-4000-8000-000000000404'', ''w'')', 'XJ404',
    NULL, 'a heartbeat of an unknown job: XJ404');

-- reaping: b and c go stale, a keeps beating, d is started late, e stays PENDING,
-- f completed before
SELECT (api.create_execution_job('SCHEDULED_RUN')->>'id')::uuid AS b \gset
SELECT (api.create_execution_job('RECOVERY_RUN')->>'id')::uuid AS c \gset
SELECT (api.create_execution_job('MANUAL_TRIGGER')->>'id')::uuid AS d \gset
SELECT (api.create_execution_job('MANUAL_TRIGGER')->>'id')::uuid AS e \gset
SELECT (api.create_execution_job('MANUAL_TRIGGER')->>'id')::uuid AS f \gset
SELECT api.start_execution_job(:'b', 'w-b') AS b_run \gset
SELECT api.start_execution_job(:'c', 'w-c') AS c_run \gset
SELECT api.start_execution_job(:'f', 'w-f') \gset ignored_
SELECT api.complete_execution_job(:'f', 'w-f') \gset ignored_
SELECT pg_sleep(0.6) \gset
SELECT api.heartbeat_execution_job(:'a', 'w-a') \gset ignored_
SELECT api.start_execution_job(:'d', 'w-d') \gset ignored_

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
RESET ROLE;
SELECT results_eq(
    format($$SELECT id, status::text FROM xorj.execution_jobs WHERE id IN (%L, %L, %L, %L, %L, %L) ORDER BY created_at$$,
           :'a', :'b', :'c', :'d', :'e', :'f'),
    format($$VALUES (%L::uuid, 'RUNNING'), (%L::uuid, 'FAILED'), (%L::uuid, 'FAILED'), (%L::uuid, 'RUNNING'),
                    (%L::uuid, 'PENDING'), (%L::uuid, 'COMPLETED')$$, :'a', :'b', :'c', :'d', :'e', :'f'),
    'stored: a and d RUNNING, b and c FAILED, e PENDING, f COMPLETED');
SET LOCAL ROLE xorj_bot;
SELECT is_empty('SELECT * FROM api.reap_execution_jobs(''500 milliseconds'')', 'a second reap finds nothing more');

-- the reaped worker finds out
SELECT throws_ok(format('SELECT api.heartbeat_execution_job(%L, ''w-b'')', :'b'), 'XJ423',
    format('execution job %s is FAILED, not RUNNING: no heartbeat', :'b'), 'a reaped job takes no heartbeat');
SELECT throws_ok(format('SELECT api.complete_execution_job(%L, ''w-b'')', :'b'), 'XJ423',
    format('execution job %s: FAILED -> COMPLETED is not allowed', :'b'), 'a reaped job cannot be completed');
SELECT throws_ok(format('SELECT api.heartbeat_execution_job(%L, ''w-f'')', :'f'), 'XJ423',
    format('execution job %s is COMPLETED, not RUNNING: no heartbeat', :'f'), 'a COMPLETED job takes no heartbeat');

-- the reaper uses SKIP LOCKED
RESET ROLE;
SELECT ok((SELECT prosrc ~ 'FOR UPDATE SKIP LOCKED' FROM pg_catalog.pg_proc
           WHERE oid = 'api.reap_execution_jobs(interval)'::regprocedure),
          'reap_execution_jobs locks with FOR UPDATE SKIP LOCKED (concurrent reapers skip each other''s jobs)');

-- only the bot
SET LOCAL ROLE xorj_engine;
SELECT throws_ok('SELECT * FROM api.reap_execution_jobs(''1 minute'')', '42501', NULL, 'xorj_engine cannot reap');
SET LOCAL ROLE xorj_api;
SELECT throws_ok(format('SELECT api.heartbeat_execution_job(%L, ''w-a'')', :'a'), '42501', NULL, 'xorj_api cannot heartbeat');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
