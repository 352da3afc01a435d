-- Heartbeats: only the worker holding a RUNNING job may heartbeat it (XJ409
-- job_worker_mismatch; XJ423 when the job is PENDING, COMPLETED or FAILED; XJ422 without
-- a worker; XJ404 for an unknown job), which moves heartbeat_at to the clock and changes
-- nothing else; only xorj_bot may heartbeat.
BEGIN;
SELECT plan(10);

SELECT tests.act_as('xorj_bot', NULL, 'bot:w-a');
SELECT (api.create_execution_job('SCHEDULED_RUN')->>'id')::uuid AS a \gset
SELECT throws_ok(format('SELECT api.heartbeat_execution_job(%L, ''w-a'')', :'a'), 'XJ423',
    format('execution job %s is PENDING, not RUNNING: no heartbeat', :'a'), 'a PENDING job takes no heartbeat');
SELECT api.start_execution_job(:'a', 'w-a') \gset ignored_
-- started a minute ago (its timestamps moved into the past), as stored
SELECT tests.backdate('execution_jobs', ARRAY[:'a']::uuid[], interval '1 minute');
SELECT tests.act_as(NULL);
SELECT to_jsonb(j) AS a_run FROM xorj.execution_jobs j WHERE id = :'a' \gset
SELECT tests.act_as('xorj_bot', NULL, 'bot:w-a');

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

-- finished jobs take no heartbeat
SELECT (api.create_execution_job('MANUAL_TRIGGER')->>'id')::uuid AS f \gset
SELECT api.start_execution_job(:'f', 'w-f') \gset ignored_
SELECT api.complete_execution_job(:'f', 'w-f') \gset ignored_
SELECT throws_ok(format('SELECT api.heartbeat_execution_job(%L, ''w-f'')', :'f'), 'XJ423',
    format('execution job %s is COMPLETED, not RUNNING: no heartbeat', :'f'), 'a COMPLETED job takes no heartbeat');
SELECT api.fail_execution_job(:'a', 'stopped', 'w-a') \gset ignored_
SELECT throws_ok(format('SELECT api.heartbeat_execution_job(%L, ''w-a'')', :'a'), 'XJ423',
    format('execution job %s is FAILED, not RUNNING: no heartbeat', :'a'), 'a FAILED job takes no heartbeat');

-- only the bot
SELECT tests.act_as('xorj_api', tests.addr(1));
SELECT throws_ok(format('SELECT api.heartbeat_execution_job(%L, ''w-a'')', :'a'), '42501', NULL, 'xorj_api cannot heartbeat');
SELECT tests.act_as(NULL);

SELECT * FROM finish();
ROLLBACK;
