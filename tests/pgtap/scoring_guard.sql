-- xorj.scoring_runs against direct SQL (trigger scoring_runs_guard): a run is inserted
-- PENDING without error, whatever timestamps the INSERT gives; only PENDING -> RUNNING,
-- RUNNING -> COMPLETED and PENDING|RUNNING -> FAILED (with an error) are allowed, with
-- started_at/completed_at set by the database; a COMPLETED or FAILED row never changes;
-- DELETE and TRUNCATE are refused.
BEGIN;
SELECT plan(30);

-- insert
SELECT throws_ok($$INSERT INTO xorj.scoring_runs (status) VALUES ('COMPLETED')$$, 'XJ423',
    'a scoring run is created PENDING, not COMPLETED', 'a run cannot be inserted COMPLETED');
SELECT throws_ok($$INSERT INTO xorj.scoring_runs (status) VALUES ('RUNNING')$$, 'XJ423',
    'a scoring run is created PENDING, not RUNNING', 'a run cannot be inserted RUNNING');
SELECT throws_ok($$INSERT INTO xorj.scoring_runs (status, error_message) VALUES ('FAILED', 'x')$$, 'XJ423',
    'a scoring run is created PENDING, not FAILED', 'a run cannot be inserted FAILED');
SELECT throws_ok($$INSERT INTO xorj.scoring_runs (error_message) VALUES ('x')$$, 'XJ423',
    'a new scoring run has no error', 'a PENDING run cannot be inserted with an error');
INSERT INTO xorj.scoring_runs (id, started_at, completed_at)
VALUES ('00000000-0000-4000-8000-0000000000a1', '2001-01-01', '2001-01-02');
SELECT is((SELECT (status::text, started_at, completed_at) FROM xorj.scoring_runs
           WHERE id = '00000000-0000-4000-8000-0000000000a1'),
          ('PENDING'::text, NULL::timestamptz, NULL::timestamptz),
          'timestamps given to an INSERT are ignored: the new run has none');

-- PENDING -> RUNNING: started_at is the clock's, not the caller's
SELECT clock_timestamp() AS t0 \gset
UPDATE xorj.scoring_runs SET status = 'RUNNING', started_at = '2001-01-01', completed_at = '2001-01-02'
WHERE id = '00000000-0000-4000-8000-0000000000a1';
SELECT ok((SELECT started_at BETWEEN :'t0'::timestamptz AND clock_timestamp() AND completed_at IS NULL
           FROM xorj.scoring_runs WHERE id = '00000000-0000-4000-8000-0000000000a1'),
          'PENDING -> RUNNING sets started_at to the clock time, whatever the UPDATE says');
SELECT throws_ok($$UPDATE xorj.scoring_runs SET error_message = 'x' WHERE id = '00000000-0000-4000-8000-0000000000a1'$$,
    'XJ423', 'scoring run 00000000-0000-4000-8000-0000000000a1 is RUNNING: error_message is written only when it fails',
    'a RUNNING run takes no error without failing');
SELECT throws_ok($$UPDATE xorj.scoring_runs SET status = 'PENDING' WHERE id = '00000000-0000-4000-8000-0000000000a1'$$,
    'XJ423', 'scoring run 00000000-0000-4000-8000-0000000000a1: RUNNING -> PENDING is not allowed',
    'RUNNING -> PENDING is refused');
SELECT throws_ok($$UPDATE xorj.scoring_runs SET status = 'COMPLETED', error_message = 'x' WHERE id = '00000000-0000-4000-8000-0000000000a1'$$,
    'XJ423', 'scoring run 00000000-0000-4000-8000-0000000000a1: a COMPLETED run has no error',
    'a COMPLETED run has no error');
SELECT throws_ok($$UPDATE xorj.scoring_runs SET id = gen_random_uuid() WHERE id = '00000000-0000-4000-8000-0000000000a1'$$,
    'XJ423', 'scoring run 00000000-0000-4000-8000-0000000000a1: id and created_at cannot change',
    'the id of a run cannot change');

-- RUNNING -> COMPLETED: completed_at is the clock's
SELECT clock_timestamp() AS t1 \gset
UPDATE xorj.scoring_runs SET status = 'COMPLETED', completed_at = '2001-01-02', started_at = '2001-01-01'
WHERE id = '00000000-0000-4000-8000-0000000000a1';
SELECT ok((SELECT completed_at BETWEEN :'t1'::timestamptz AND clock_timestamp() AND started_at < :'t1'::timestamptz
                  AND started_at > '2001-01-01'::timestamptz
           FROM xorj.scoring_runs WHERE id = '00000000-0000-4000-8000-0000000000a1'),
          'RUNNING -> COMPLETED sets completed_at to the clock time and keeps started_at');

-- a COMPLETED run never changes
SELECT throws_ok($$UPDATE xorj.scoring_runs SET status = 'RUNNING' WHERE id = '00000000-0000-4000-8000-0000000000a1'$$,
    'XJ423', 'scoring run 00000000-0000-4000-8000-0000000000a1: COMPLETED -> RUNNING is not allowed',
    'COMPLETED -> RUNNING is refused');
SELECT throws_ok($$UPDATE xorj.scoring_runs SET status = 'FAILED', error_message = 'x' WHERE id = '00000000-0000-4000-8000-0000000000a1'$$,
    'XJ423', 'scoring run 00000000-0000-4000-8000-0000000000a1: COMPLETED -> FAILED is not allowed',
    'COMPLETED -> FAILED is refused');
SELECT throws_ok($$UPDATE xorj.scoring_runs SET completed_at = clock_timestamp() WHERE id = '00000000-0000-4000-8000-0000000000a1'$$,
    'XJ423', 'scoring run 00000000-0000-4000-8000-0000000000a1 is COMPLETED: it cannot change',
    'the completed_at of a COMPLETED run cannot change');
SELECT throws_ok($$UPDATE xorj.scoring_runs SET error_message = 'x' WHERE id = '00000000-0000-4000-8000-0000000000a1'$$,
    'XJ423', 'scoring run 00000000-0000-4000-8000-0000000000a1 is COMPLETED: it cannot change',
    'a COMPLETED run takes no error');
SELECT (SELECT to_jsonb(r) FROM xorj.scoring_runs r WHERE id = '00000000-0000-4000-8000-0000000000a1') AS before_noop \gset
UPDATE xorj.scoring_runs SET status = status, updated_at = '2001-01-01' WHERE id = '00000000-0000-4000-8000-0000000000a1';
SELECT is((SELECT to_jsonb(r) FROM xorj.scoring_runs r WHERE id = '00000000-0000-4000-8000-0000000000a1'),
          :'before_noop'::jsonb, 'an UPDATE that changes nothing leaves a COMPLETED row as it is, updated_at included');

-- PENDING -> COMPLETED is refused; PENDING -> FAILED needs an error
INSERT INTO xorj.scoring_runs (id) VALUES ('00000000-0000-4000-8000-0000000000b1');
SELECT throws_ok($$UPDATE xorj.scoring_runs SET status = 'COMPLETED' WHERE id = '00000000-0000-4000-8000-0000000000b1'$$,
    'XJ423', 'scoring run 00000000-0000-4000-8000-0000000000b1: PENDING -> COMPLETED is not allowed',
    'PENDING -> COMPLETED is refused');
SELECT throws_ok($$UPDATE xorj.scoring_runs SET status = 'FAILED' WHERE id = '00000000-0000-4000-8000-0000000000b1'$$,
    'XJ422', 'invalid error_message: is required when a run fails', 'FAILED without an error is refused');
SELECT throws_ok($$UPDATE xorj.scoring_runs SET status = 'FAILED', error_message = ' ' WHERE id = '00000000-0000-4000-8000-0000000000b1'$$,
    'XJ422', 'invalid error_message: is required when a run fails', 'FAILED with a blank error is refused');
SELECT clock_timestamp() AS t2 \gset
UPDATE xorj.scoring_runs SET status = 'FAILED', error_message = 'boom', started_at = '2001-01-01'
WHERE id = '00000000-0000-4000-8000-0000000000b1';
SELECT ok((SELECT status = 'FAILED' AND started_at IS NULL
                  AND completed_at BETWEEN :'t2'::timestamptz AND clock_timestamp()
           FROM xorj.scoring_runs WHERE id = '00000000-0000-4000-8000-0000000000b1'),
          'PENDING -> FAILED sets completed_at, leaves started_at NULL');
SELECT throws_ok($$UPDATE xorj.scoring_runs SET error_message = 'other' WHERE id = '00000000-0000-4000-8000-0000000000b1'$$,
    'XJ423', 'scoring run 00000000-0000-4000-8000-0000000000b1 is FAILED: it cannot change',
    'the error of a FAILED run cannot change');
SELECT throws_ok($$UPDATE xorj.scoring_runs SET status = 'PENDING' WHERE id = '00000000-0000-4000-8000-0000000000b1'$$,
    'XJ423', 'scoring run 00000000-0000-4000-8000-0000000000b1: FAILED -> PENDING is not allowed',
    'FAILED -> PENDING is refused');

-- RUNNING -> FAILED
INSERT INTO xorj.scoring_runs (id) VALUES ('00000000-0000-4000-8000-0000000000c1');
UPDATE xorj.scoring_runs SET status = 'RUNNING' WHERE id = '00000000-0000-4000-8000-0000000000c1';
SELECT lives_ok($$UPDATE xorj.scoring_runs SET status = 'FAILED', error_message = 'timeout' WHERE id = '00000000-0000-4000-8000-0000000000c1'$$,
    'RUNNING -> FAILED with an error is allowed');
SELECT ok((SELECT started_at IS NOT NULL AND completed_at > started_at FROM xorj.scoring_runs
           WHERE id = '00000000-0000-4000-8000-0000000000c1'),
          'RUNNING -> FAILED keeps started_at and sets completed_at after it');

-- a PENDING run stays PENDING without changes
INSERT INTO xorj.scoring_runs (id) VALUES ('00000000-0000-4000-8000-0000000000d1');
SELECT throws_ok($$UPDATE xorj.scoring_runs SET created_at = '2001-01-01' WHERE id = '00000000-0000-4000-8000-0000000000d1'$$,
    'XJ423', 'scoring run 00000000-0000-4000-8000-0000000000d1: id and created_at cannot change',
    'created_at cannot change');
UPDATE xorj.scoring_runs SET started_at = '2001-01-01' WHERE id = '00000000-0000-4000-8000-0000000000d1';
SELECT is((SELECT started_at FROM xorj.scoring_runs WHERE id = '00000000-0000-4000-8000-0000000000d1'),
          NULL::timestamptz, 'started_at cannot be set without starting the run');

-- never deleted
SELECT throws_ok($$DELETE FROM xorj.scoring_runs WHERE id = '00000000-0000-4000-8000-0000000000d1'$$,
    'XJ423', 'scoring runs are never deleted: DELETE is not allowed', 'a PENDING run cannot be deleted');
SELECT throws_ok($$DELETE FROM xorj.scoring_runs WHERE id = '00000000-0000-4000-8000-0000000000b1'$$,
    'XJ423', 'scoring runs are never deleted: DELETE is not allowed', 'a FAILED run cannot be deleted');
SET LOCAL client_min_messages = warning;  -- TRUNCATE ... CASCADE's notice
SELECT throws_ok($$TRUNCATE xorj.scoring_runs CASCADE$$,
    'XJ423', 'scoring runs are never deleted: TRUNCATE is not allowed', 'scoring_runs cannot be truncated');
SELECT is((SELECT count(*)::int FROM xorj.scoring_runs
           WHERE id::text LIKE '00000000-0000-4000-8000-0000000000_1'), 4, 'all four runs are still there');

SELECT * FROM finish();
ROLLBACK;
