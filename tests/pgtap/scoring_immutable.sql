-- xorj.trader_scores against direct SQL: a score is inserted only while its run is
-- RUNNING (triggers trader_scores_run_running), and never updated, deleted or truncated
-- (trader_scores_immutable, trader_scores_no_truncate): XJ423. A COMPLETED run cannot be
-- inserted directly either, so scores only come with api.complete_scoring_run.
BEGIN;
SELECT plan(19);

INSERT INTO xorj.scoring_runs (id) VALUES
    ('00000000-0000-4000-8000-00000000000a'),   -- stays PENDING
    ('00000000-0000-4000-8000-00000000000b'),   -- RUNNING
    ('00000000-0000-4000-8000-00000000000c'),   -- COMPLETED
    ('00000000-0000-4000-8000-00000000000d');   -- FAILED
UPDATE xorj.scoring_runs SET status = 'RUNNING'
WHERE id IN ('00000000-0000-4000-8000-00000000000b', '00000000-0000-4000-8000-00000000000c',
             '00000000-0000-4000-8000-00000000000d');
INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score) VALUES
    ('00000000-0000-4000-8000-00000000000c', 'So11111111111111111111111111111111111111112', 80),
    ('00000000-0000-4000-8000-00000000000c', 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 70);
UPDATE xorj.scoring_runs SET status = 'COMPLETED' WHERE id = '00000000-0000-4000-8000-00000000000c';
UPDATE xorj.scoring_runs SET status = 'FAILED', error_message = 'x' WHERE id = '00000000-0000-4000-8000-00000000000d';

-- a COMPLETED run only by completing a RUNNING one
SELECT throws_ok($$INSERT INTO xorj.scoring_runs (status, completed_at) VALUES ('COMPLETED', clock_timestamp())$$,
    'XJ423', 'a scoring run is created PENDING, not COMPLETED', 'a COMPLETED run cannot be inserted directly');

-- inserts only while the run is RUNNING
SELECT lives_ok($$INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score)
                  VALUES ('00000000-0000-4000-8000-00000000000b', 'So11111111111111111111111111111111111111112', 1)$$,
    'a score is inserted into a RUNNING run');
SELECT throws_ok($$INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score)
                   VALUES ('00000000-0000-4000-8000-00000000000a', 'So11111111111111111111111111111111111111112', 1)$$,
    'XJ423', 'scoring run 00000000-0000-4000-8000-00000000000a is PENDING: scores are added only while it is RUNNING',
    'no score for a PENDING run');
SELECT throws_ok($$INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score)
                   VALUES ('00000000-0000-4000-8000-00000000000c', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 1)$$,
    'XJ423', 'scoring run 00000000-0000-4000-8000-00000000000c is COMPLETED: scores are added only while it is RUNNING',
    'no score added to a COMPLETED run');
SELECT throws_ok($$INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score)
                   VALUES ('00000000-0000-4000-8000-00000000000d', 'So11111111111111111111111111111111111111112', 1)$$,
    'XJ423', 'scoring run 00000000-0000-4000-8000-00000000000d is FAILED: scores are added only while it is RUNNING',
    'no score for a FAILED run');
SELECT throws_ok($$INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score) VALUES
                   ('00000000-0000-4000-8000-00000000000b', 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 1),
                   ('00000000-0000-4000-8000-00000000000c', '11111111111111111111111111111111', 1)$$,
    'XJ423', NULL, 'one statement touching a RUNNING and a COMPLETED run is refused whole');
SELECT is((SELECT count(*)::int FROM xorj.trader_scores WHERE run_id = '00000000-0000-4000-8000-00000000000b'), 1,
    'the refused statement saved nothing for the RUNNING run');
SELECT throws_ok($$INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score)
                   VALUES ('00000000-0000-4000-8000-00000000000b', 'So11111111111111111111111111111111111111112', 2)$$,
    '23505', NULL, 'one score per wallet and run (unique key)');

-- never updated
SELECT throws_ok($$UPDATE xorj.trader_scores SET xorj_trust_score = 99 WHERE run_id = '00000000-0000-4000-8000-00000000000c'$$,
    'XJ423', 'trader scores are immutable: UPDATE is not allowed', 'a score of a COMPLETED run cannot be updated');
SELECT throws_ok($$UPDATE xorj.trader_scores SET metrics = '{"a": 1}' WHERE run_id = '00000000-0000-4000-8000-00000000000b'$$,
    'XJ423', 'trader scores are immutable: UPDATE is not allowed', 'a score of a RUNNING run cannot be updated');
SELECT throws_ok($$UPDATE xorj.trader_scores SET xorj_trust_score = xorj_trust_score WHERE false$$,
    'XJ423', 'trader scores are immutable: UPDATE is not allowed', 'even an UPDATE of no row is refused');
-- never deleted
SELECT throws_ok($$DELETE FROM xorj.trader_scores WHERE run_id = '00000000-0000-4000-8000-00000000000c'$$,
    'XJ423', 'trader scores are immutable: DELETE is not allowed', 'a score cannot be deleted');
SELECT throws_ok($$DELETE FROM xorj.trader_scores$$,
    'XJ423', 'trader scores are immutable: DELETE is not allowed', 'the scores cannot be deleted all at once');
SELECT throws_ok($$TRUNCATE xorj.trader_scores$$,
    'XJ423', 'trader scores are immutable: TRUNCATE is not allowed', 'trader_scores cannot be truncated');

SELECT results_eq(
    $$SELECT wallet_address::text, xorj_trust_score FROM xorj.trader_scores
      WHERE run_id = '00000000-0000-4000-8000-00000000000c' ORDER BY xorj_trust_score DESC$$,
    $$VALUES ('So11111111111111111111111111111111111111112', 80::numeric),
             ('EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 70::numeric)$$,
    'the COMPLETED run''s scores are unchanged');

-- the triggers themselves
SELECT trigger_is('xorj', 'trader_scores', 'trader_scores_immutable', 'xorj', 'trader_scores_refuse_change',
    'trader_scores has the immutability trigger');
SELECT trigger_is('xorj', 'trader_scores', 'trader_scores_run_running', 'xorj', 'trader_scores_check_run',
    'trader_scores checks the run of inserted scores');

-- through the api, the engine cannot change a score either (it has no table privilege)
SELECT tests.act_as('xorj_engine');
SELECT throws_ok($$UPDATE xorj.trader_scores SET xorj_trust_score = 0$$, '42501', NULL,
    'the engine has no privilege on xorj.trader_scores');
SELECT throws_ok(format('SELECT api.complete_scoring_run(%L, %L)', '00000000-0000-4000-8000-00000000000c',
                        '[{"wallet_address": "So11111111111111111111111111111111111111112", "xorj_trust_score": 1}]'),
    'XJ423', 'scoring run 00000000-0000-4000-8000-00000000000c: COMPLETED -> COMPLETED is not allowed',
    'scores cannot be replaced by completing the run again');
SELECT tests.act_as(NULL);

SELECT * FROM finish();
ROLLBACK;
