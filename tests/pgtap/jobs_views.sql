-- api.active_execution_jobs lists PENDING and RUNNING jobs only, with their worker and
-- heartbeat; xorj_readonly, and only it, may read it.
BEGIN;
SELECT plan(8);

SELECT columns_are('api', 'active_execution_jobs',
    ARRAY['id', 'status', 'trigger_reason', 'parameters', 'worker_id', 'started_at', 'heartbeat_at',
          'completed_at', 'error_message', 'created_at', 'updated_at'],
    'api.active_execution_jobs has the job columns');

-- Jobs of a database that is not empty (a restored backup) are left out of the checks.
CREATE TEMP TABLE old_jobs AS SELECT id FROM xorj.execution_jobs;
GRANT SELECT ON old_jobs TO PUBLIC;

SELECT tests.act_as('xorj_bot');
SELECT (api.create_execution_job('SCHEDULED_RUN')->>'id')::uuid AS p \gset
SELECT (api.create_execution_job('MANUAL_TRIGGER', '{"vault": "So11111111111111111111111111111111111111112"}')->>'id')::uuid AS r \gset
SELECT (api.create_execution_job('RECOVERY_RUN')->>'id')::uuid AS c \gset
SELECT (api.create_execution_job('SCHEDULED_RUN')->>'id')::uuid AS f \gset
SELECT api.start_execution_job(:'r', 'w-r') AS r_run \gset
SELECT api.start_execution_job(:'c', 'w-c') \gset ignored_
SELECT api.complete_execution_job(:'c', 'w-c') \gset ignored_
SELECT api.fail_execution_job(:'f', 'cancelled') \gset ignored_
SELECT tests.act_as(NULL);

SELECT tests.act_as('xorj_readonly');
SELECT set_eq('SELECT id, status::text FROM api.active_execution_jobs WHERE id NOT IN (SELECT id FROM old_jobs)',
    format('VALUES (%L::uuid, ''PENDING''), (%L::uuid, ''RUNNING'')', :'p', :'r'),
    'the PENDING and the RUNNING job, not the COMPLETED or FAILED ones');
SELECT is((SELECT to_jsonb(v) FROM api.active_execution_jobs v WHERE id = :'r'), :'r_run'::jsonb,
    'a RUNNING job is shown as the api returned it (worker, heartbeat, parameters)');
SELECT tests.act_as(NULL);

SELECT tests.act_as('xorj_bot');
SELECT api.complete_execution_job(:'r', 'w-r') \gset ignored_
SELECT tests.act_as('xorj_readonly');
SELECT set_eq('SELECT id FROM api.active_execution_jobs WHERE id NOT IN (SELECT id FROM old_jobs)', format('VALUES (%L::uuid)', :'p'),
    'a completed job leaves the view');
SELECT tests.act_as(NULL);

SELECT tests.act_as('xorj_bot');
SELECT throws_ok('SELECT * FROM api.active_execution_jobs', '42501', NULL, 'xorj_bot cannot read the view');
SELECT tests.act_as('xorj_api');
SELECT throws_ok('SELECT * FROM api.active_execution_jobs', '42501', NULL, 'xorj_api cannot read the view');
SELECT tests.act_as('xorj_engine');
SELECT throws_ok('SELECT * FROM api.active_execution_jobs', '42501', NULL, 'xorj_engine cannot read the view');
SELECT tests.act_as('xorj_readonly');
SELECT throws_ok('SELECT api.create_execution_job(''SCHEDULED_RUN'')', '42501', NULL,
    'xorj_readonly cannot call the bot''s functions');
SELECT tests.act_as(NULL);

SELECT * FROM finish();
ROLLBACK;
