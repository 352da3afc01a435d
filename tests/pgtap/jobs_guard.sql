-- xorj.execution_jobs against direct SQL (trigger execution_jobs_guard): inserted PENDING
-- without worker or error, whatever timestamps the INSERT gives; PENDING -> RUNNING
-- needs a worker and sets started_at and heartbeat_at; RUNNING -> COMPLETED, RUNNING ->
-- FAILED and PENDING -> FAILED set completed_at (FAILED needs an error); heartbeat_at
-- changes only while RUNNING, to the clock; trigger_reason, parameters and the worker
-- are fixed; COMPLETED and FAILED rows never change; DELETE and TRUNCATE are refused.
BEGIN;
SELECT plan(28);

-- insert
SELECT throws_ok($$INSERT INTO xorj.execution_jobs (trigger_reason, status) VALUES ('SCHEDULED_RUN', 'RUNNING')$$,
    'XJ423', 'an execution job is created PENDING, not RUNNING', 'a job cannot be inserted RUNNING');
SELECT throws_ok($$INSERT INTO xorj.execution_jobs (trigger_reason, status, completed_at) VALUES ('SCHEDULED_RUN', 'COMPLETED', clock_timestamp())$$,
    'XJ423', 'an execution job is created PENDING, not COMPLETED', 'a job cannot be inserted COMPLETED');
SELECT throws_ok($$INSERT INTO xorj.execution_jobs (trigger_reason, worker_id) VALUES ('SCHEDULED_RUN', 'w')$$,
    'XJ423', 'a new execution job has no worker or error yet', 'a job cannot be inserted with a worker');
SELECT throws_ok($$INSERT INTO xorj.execution_jobs (trigger_reason, error_message) VALUES ('SCHEDULED_RUN', 'e')$$,
    'XJ423', 'a new execution job has no worker or error yet', 'a job cannot be inserted with an error');
INSERT INTO xorj.execution_jobs (id, trigger_reason, started_at, heartbeat_at, completed_at)
VALUES ('00000000-0000-4000-8000-0000000000a1', 'SCHEDULED_RUN', '2001-01-01', '2001-01-01', '2001-01-01');
SELECT is((SELECT (status::text, started_at, heartbeat_at, completed_at) FROM xorj.execution_jobs
           WHERE id = '00000000-0000-4000-8000-0000000000a1'),
          ('PENDING'::text, NULL::timestamptz, NULL::timestamptz, NULL::timestamptz),
          'timestamps given to an INSERT are ignored');

-- PENDING: no heartbeat, no worker without starting
SELECT throws_ok($$UPDATE xorj.execution_jobs SET heartbeat_at = clock_timestamp() WHERE id = '00000000-0000-4000-8000-0000000000a1'$$,
    'XJ423', 'execution job 00000000-0000-4000-8000-0000000000a1 is PENDING: heartbeat_at changes only while it is RUNNING',
    'a PENDING job takes no heartbeat');
SELECT throws_ok($$UPDATE xorj.execution_jobs SET worker_id = 'w' WHERE id = '00000000-0000-4000-8000-0000000000a1'$$,
    'XJ423', 'execution job 00000000-0000-4000-8000-0000000000a1 is PENDING: worker_id and error_message change only with its status',
    'a worker is set only by the start');
SELECT throws_ok($$UPDATE xorj.execution_jobs SET status = 'RUNNING' WHERE id = '00000000-0000-4000-8000-0000000000a1'$$,
    'XJ422', 'invalid worker_id: is required to start a job (1 to 200 characters)', 'RUNNING needs a worker');
SELECT throws_ok($$UPDATE xorj.execution_jobs SET status = 'COMPLETED' WHERE id = '00000000-0000-4000-8000-0000000000a1'$$,
    'XJ423', 'execution job 00000000-0000-4000-8000-0000000000a1: PENDING -> COMPLETED is not allowed',
    'PENDING -> COMPLETED is refused');
SELECT throws_ok($$UPDATE xorj.execution_jobs SET parameters = '{"x": 1}' WHERE id = '00000000-0000-4000-8000-0000000000a1'$$,
    'XJ423', 'execution job 00000000-0000-4000-8000-0000000000a1: id, trigger_reason, parameters and created_at cannot change',
    'parameters are fixed');
SELECT throws_ok($$UPDATE xorj.execution_jobs SET trigger_reason = 'RECOVERY_RUN' WHERE id = '00000000-0000-4000-8000-0000000000a1'$$,
    'XJ423', 'execution job 00000000-0000-4000-8000-0000000000a1: id, trigger_reason, parameters and created_at cannot change',
    'the trigger reason is fixed');

-- PENDING -> RUNNING: the clock's timestamps
SELECT clock_timestamp() AS t0 \gset
UPDATE xorj.execution_jobs SET status = 'RUNNING', worker_id = 'w1', started_at = '2001-01-01', heartbeat_at = '2001-01-01'
WHERE id = '00000000-0000-4000-8000-0000000000a1';
SELECT ok((SELECT started_at BETWEEN :'t0'::timestamptz AND clock_timestamp() AND heartbeat_at = started_at
           FROM xorj.execution_jobs WHERE id = '00000000-0000-4000-8000-0000000000a1'),
          'PENDING -> RUNNING sets started_at and heartbeat_at to the clock time, whatever the UPDATE says');

-- RUNNING: a heartbeat is the clock's; the worker is fixed
SELECT clock_timestamp() AS t1 \gset
UPDATE xorj.execution_jobs SET heartbeat_at = '2001-01-01' WHERE id = '00000000-0000-4000-8000-0000000000a1';
SELECT ok((SELECT heartbeat_at BETWEEN :'t1'::timestamptz AND clock_timestamp()
           FROM xorj.execution_jobs WHERE id = '00000000-0000-4000-8000-0000000000a1'),
          'a heartbeat of a RUNNING job is the clock time, not the value the UPDATE gives');
SELECT throws_ok($$UPDATE xorj.execution_jobs SET worker_id = 'w2' WHERE id = '00000000-0000-4000-8000-0000000000a1'$$,
    'XJ423', 'execution job 00000000-0000-4000-8000-0000000000a1: its worker_id cannot change',
    'the worker of a RUNNING job cannot change');
SELECT throws_ok($$UPDATE xorj.execution_jobs SET status = 'PENDING' WHERE id = '00000000-0000-4000-8000-0000000000a1'$$,
    'XJ423', 'execution job 00000000-0000-4000-8000-0000000000a1: RUNNING -> PENDING is not allowed',
    'RUNNING -> PENDING is refused');
SELECT throws_ok($$UPDATE xorj.execution_jobs SET status = 'FAILED' WHERE id = '00000000-0000-4000-8000-0000000000a1'$$,
    'XJ422', 'invalid error_message: is required when a job fails', 'FAILED needs an error');

-- RUNNING -> COMPLETED
SELECT clock_timestamp() AS t2 \gset
UPDATE xorj.execution_jobs SET status = 'COMPLETED', completed_at = '2001-01-01', heartbeat_at = '2001-01-01'
WHERE id = '00000000-0000-4000-8000-0000000000a1';
SELECT ok((SELECT completed_at BETWEEN :'t2'::timestamptz AND clock_timestamp() AND heartbeat_at < :'t2'::timestamptz
                  AND heartbeat_at > '2001-01-02'::timestamptz
           FROM xorj.execution_jobs WHERE id = '00000000-0000-4000-8000-0000000000a1'),
          'RUNNING -> COMPLETED sets completed_at to the clock time and leaves the last heartbeat');

-- COMPLETED never changes
SELECT throws_ok($$UPDATE xorj.execution_jobs SET heartbeat_at = clock_timestamp() WHERE id = '00000000-0000-4000-8000-0000000000a1'$$,
    'XJ423', 'execution job 00000000-0000-4000-8000-0000000000a1 is COMPLETED: it cannot change',
    'a COMPLETED job takes no heartbeat');
SELECT throws_ok($$UPDATE xorj.execution_jobs SET status = 'RUNNING' WHERE id = '00000000-0000-4000-8000-0000000000a1'$$,
    'XJ423', 'execution job 00000000-0000-4000-8000-0000000000a1: COMPLETED -> RUNNING is not allowed',
    'COMPLETED -> RUNNING is refused');
SELECT throws_ok($$UPDATE xorj.execution_jobs SET status = 'FAILED', error_message = 'x' WHERE id = '00000000-0000-4000-8000-0000000000a1'$$,
    'XJ423', 'execution job 00000000-0000-4000-8000-0000000000a1: COMPLETED -> FAILED is not allowed',
    'COMPLETED -> FAILED is refused');
SELECT (SELECT to_jsonb(j) FROM xorj.execution_jobs j WHERE id = '00000000-0000-4000-8000-0000000000a1') AS before_noop \gset
UPDATE xorj.execution_jobs SET status = status, updated_at = '2001-01-01' WHERE id = '00000000-0000-4000-8000-0000000000a1';
SELECT is((SELECT to_jsonb(j) FROM xorj.execution_jobs j WHERE id = '00000000-0000-4000-8000-0000000000a1'),
          :'before_noop'::jsonb, 'an UPDATE that changes nothing leaves a COMPLETED job as it is');

-- PENDING -> FAILED, RUNNING -> FAILED
INSERT INTO xorj.execution_jobs (id, trigger_reason) VALUES ('00000000-0000-4000-8000-0000000000b1', 'MANUAL_TRIGGER');
SELECT throws_ok($$UPDATE xorj.execution_jobs SET status = 'FAILED', error_message = 'x', worker_id = 'w' WHERE id = '00000000-0000-4000-8000-0000000000b1'$$,
    'XJ423', 'execution job 00000000-0000-4000-8000-0000000000b1: a job that never started has no worker',
    'a PENDING job fails without a worker');
UPDATE xorj.execution_jobs SET status = 'FAILED', error_message = 'cancelled' WHERE id = '00000000-0000-4000-8000-0000000000b1';
SELECT ok((SELECT status = 'FAILED' AND completed_at IS NOT NULL AND started_at IS NULL
           FROM xorj.execution_jobs WHERE id = '00000000-0000-4000-8000-0000000000b1'),
          'PENDING -> FAILED sets completed_at');
SELECT throws_ok($$UPDATE xorj.execution_jobs SET error_message = 'other' WHERE id = '00000000-0000-4000-8000-0000000000b1'$$,
    'XJ423', 'execution job 00000000-0000-4000-8000-0000000000b1 is FAILED: it cannot change',
    'the error of a FAILED job cannot change');
INSERT INTO xorj.execution_jobs (id, trigger_reason) VALUES ('00000000-0000-4000-8000-0000000000c1', 'MANUAL_TRIGGER');
UPDATE xorj.execution_jobs SET status = 'RUNNING', worker_id = 'w' WHERE id = '00000000-0000-4000-8000-0000000000c1';
SELECT lives_ok($$UPDATE xorj.execution_jobs SET status = 'FAILED', error_message = 'crash' WHERE id = '00000000-0000-4000-8000-0000000000c1'$$,
    'RUNNING -> FAILED with an error is allowed');

-- never deleted
SELECT throws_ok($$DELETE FROM xorj.execution_jobs WHERE id = '00000000-0000-4000-8000-0000000000a1'$$,
    'XJ423', 'execution jobs are never deleted: DELETE is not allowed', 'a job cannot be deleted');
SET LOCAL client_min_messages = warning;  -- TRUNCATE ... CASCADE's notice
SELECT throws_ok($$TRUNCATE xorj.execution_jobs CASCADE$$,
    'XJ423', 'execution jobs are never deleted: TRUNCATE is not allowed', 'execution_jobs cannot be truncated');
SELECT is((SELECT count(*)::int FROM xorj.execution_jobs WHERE id::text LIKE '00000000-0000-4000-8000-0000000000_1'),
          3, 'the three jobs are still there');

SELECT * FROM finish();
ROLLBACK;
