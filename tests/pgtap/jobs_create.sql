-- api.create_execution_job, as the bot: a new job is PENDING, with a valid trigger
-- reason (SCHEDULED_RUN, MANUAL_TRIGGER, RECOVERY_RUN; case-sensitive) and parameters
-- that are a JSON object (default {}), no worker, start, heartbeat or completion, and
-- created_at the clock time of the creation; anything else is XJ422 naming the field.
BEGIN;
SELECT plan(12);

SELECT tests.act_as('xorj_bot', NULL, 'bot:tester');

SELECT clock_timestamp() AS t0 \gset
SELECT api.create_execution_job('SCHEDULED_RUN', '{"vaults": 3}') AS a \gset
SELECT is(:'a'::jsonb->>'status', 'PENDING', 'create_execution_job returns a PENDING job');
SELECT is(:'a'::jsonb->'parameters', '{"vaults": 3}'::jsonb, 'with its parameters');
SELECT is(:'a'::jsonb->>'trigger_reason', 'SCHEDULED_RUN', 'and its trigger reason');
SELECT ok((:'a'::jsonb->>'worker_id') IS NULL AND (:'a'::jsonb->>'started_at') IS NULL
          AND (:'a'::jsonb->>'heartbeat_at') IS NULL AND (:'a'::jsonb->>'completed_at') IS NULL,
          'a new job has no worker, start, heartbeat or completion');
SELECT ok((:'a'::jsonb->>'created_at')::timestamptz BETWEEN :'t0'::timestamptz AND clock_timestamp(),
          'created_at is the clock time of the creation');
SELECT is(api.create_execution_job('MANUAL_TRIGGER')->'parameters', '{}'::jsonb, 'parameters default to {}');
SELECT is(api.create_execution_job('RECOVERY_RUN', '{}')->>'trigger_reason', 'RECOVERY_RUN', 'RECOVERY_RUN is a reason');
SELECT is(tests.error_fields($$SELECT api.create_execution_job('NIGHTLY')$$,
                             'sqlstate', 'message', 'column', 'constraint'),
    '{"sqlstate": "XJ422", "column": "trigger_reason",
      "message": "invalid trigger_reason: ''NIGHTLY'' is not one of SCHEDULED_RUN, MANUAL_TRIGGER, RECOVERY_RUN"}'::jsonb,
    'an unknown trigger reason is XJ422 listing the allowed ones');
SELECT is(tests.error_of($$SELECT api.create_execution_job(NULL)$$)->>'column', 'trigger_reason', 'a NULL reason is invalid');
SELECT is(tests.error_of($$SELECT api.create_execution_job('scheduled_run')$$)->>'column', 'trigger_reason',
    'reasons are case-sensitive');
SELECT is(tests.error_fields($$SELECT api.create_execution_job('SCHEDULED_RUN', '[1]')$$,
                             'sqlstate', 'message', 'column', 'constraint'),
    '{"sqlstate": "XJ422", "column": "parameters", "message": "invalid parameters: must be a JSON object, not array"}'::jsonb,
    'parameters that are not an object are XJ422');
SELECT is(tests.error_of($$SELECT api.create_execution_job('SCHEDULED_RUN', NULL)$$)->>'column', 'parameters',
    'NULL parameters are invalid');

SELECT tests.act_as(NULL);

SELECT * FROM finish();
ROLLBACK;
