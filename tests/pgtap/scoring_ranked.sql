-- api.ranked_traders: the scores of the latest COMPLETED run (by completed_at, not by
-- creation), best first, ties by wallet_address ascending, rank = offset + position;
-- RUNNING and FAILED runs are ignored; no completed run -> no rows; limit 1..1000 and
-- offset >= 0. api.run_scores: the same for one run of any status; XJ404 for an unknown
-- run. Callable by xorj_engine, xorj_bot and xorj_api; not by xorj_readonly.
BEGIN;
SELECT plan(29);
SELECT count(*) AS old_completed FROM xorj.scoring_runs WHERE status = 'COMPLETED' \gset

SELECT tests.act_as('xorj_engine');
SELECT CASE WHEN :old_completed = 0
            THEN is_empty('SELECT * FROM api.ranked_traders()', 'no completed run: no rows')
            ELSE skip('a completed run exists already (a database that is not empty)', 1) END;

-- run a: created first, completed LAST; run b: created second, completed first.
SELECT (api.create_scoring_run()->>'id')::uuid AS a \gset
SELECT (api.create_scoring_run()->>'id')::uuid AS b \gset
SELECT api.start_scoring_run(:'a') \gset ignored_
SELECT api.start_scoring_run(:'b') \gset ignored_
SELECT api.complete_scoring_run(:'b', '[
    {"wallet_address": "So11111111111111111111111111111111111111112", "xorj_trust_score": 99}
]') \gset ignored_
SELECT is((SELECT array_agg(wallet_address) FROM api.ranked_traders()),
          ARRAY['So11111111111111111111111111111111111111112'], 'with one completed run, its scores');
SELECT is_empty(format('SELECT * FROM api.ranked_traders() WHERE run_id <> %L', :'b'), 'all rows name run b');
SELECT api.complete_scoring_run(:'a', '[
    {"wallet_address": "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB", "xorj_trust_score": 50, "metrics": {"roi": 1}},
    {"wallet_address": "So11111111111111111111111111111111111111112", "xorj_trust_score": 70},
    {"wallet_address": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "xorj_trust_score": 70},
    {"wallet_address": "11111111111111111111111111111111", "xorj_trust_score": 70.5},
    {"wallet_address": "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263", "xorj_trust_score": 0}
]') AS a_done \gset

-- a RUNNING run with scores and a FAILED one with scores, both newer: ignored
SELECT (api.create_scoring_run()->>'id')::uuid AS c \gset
SELECT api.start_scoring_run(:'c') \gset ignored_
SELECT tests.act_as(NULL);
INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score)
VALUES (:'c', 'So11111111111111111111111111111111111111112', 1000);
SELECT tests.act_as('xorj_engine');
SELECT (api.create_scoring_run()->>'id')::uuid AS d \gset
SELECT api.start_scoring_run(:'d') \gset ignored_
SELECT tests.act_as(NULL);
INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score)
VALUES (:'d', 'So11111111111111111111111111111111111111112', 2000);
SELECT tests.act_as('xorj_engine');
SELECT api.fail_scoring_run(:'d', 'crashed') \gset ignored_

SELECT results_eq(
    'SELECT rank, wallet_address, xorj_trust_score, metrics, run_id, completed_at FROM api.ranked_traders()',
    format($$VALUES (1::bigint, '11111111111111111111111111111111', 70.5, '{}'::jsonb, %1$L::uuid, %2$L::timestamptz),
                    (2::bigint, 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 70::numeric, '{}'::jsonb, %1$L::uuid, %2$L::timestamptz),
                    (3::bigint, 'So11111111111111111111111111111111111111112', 70::numeric, '{}'::jsonb, %1$L::uuid, %2$L::timestamptz),
                    (4::bigint, 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 50::numeric, '{"roi": 1}'::jsonb, %1$L::uuid, %2$L::timestamptz),
                    (5::bigint, 'DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263', 0::numeric, '{}'::jsonb, %1$L::uuid, %2$L::timestamptz)$$,
           :'a', :'a_done'::jsonb->>'completed_at'),
    'the latest completed run (a, completed last though created first): best first, ties by wallet, with its run and completed_at');

-- pages: rank = offset + position
SELECT results_eq('SELECT rank, wallet_address FROM api.ranked_traders(2, 1)',
    $$VALUES (2::bigint, 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v'), (3::bigint, 'So11111111111111111111111111111111111111112')$$,
    'limit 2 offset 1: ranks 2 and 3');
SELECT results_eq('SELECT rank, wallet_address FROM api.ranked_traders(1)',
    $$VALUES (1::bigint, '11111111111111111111111111111111')$$, 'limit 1: the best');
SELECT results_eq('SELECT rank FROM api.ranked_traders(1000, 4)', $$VALUES (5::bigint)$$, 'offset 4: rank 5 only');
SELECT is_empty('SELECT * FROM api.ranked_traders(10, 5)', 'an offset past the end: no rows');
SELECT is((SELECT count(*)::int FROM api.ranked_traders()), 5, 'the default limit returns the whole small run');

-- bounds
SELECT is(tests.error_fields('SELECT * FROM api.ranked_traders(0)', 'sqlstate', 'message', 'column'),
    '{"sqlstate": "XJ422", "column": "limit", "message": "invalid limit: 0 is not in 1..1000"}'::jsonb, 'limit 0 is invalid');
SELECT is(tests.error_of('SELECT * FROM api.ranked_traders(1001)')->>'column', 'limit', 'limit 1001 is invalid');
SELECT is(tests.error_of('SELECT * FROM api.ranked_traders(NULL)')->>'column', 'limit', 'limit NULL is invalid');
SELECT is(tests.error_fields('SELECT * FROM api.ranked_traders(10, -1)', 'sqlstate', 'message', 'column'),
    '{"sqlstate": "XJ422", "column": "offset", "message": "invalid offset: -1 must be 0 or more"}'::jsonb, 'offset -1 is invalid');
SELECT is(tests.error_of('SELECT * FROM api.ranked_traders(10, NULL)')->>'column', 'offset', 'offset NULL is invalid');
SELECT lives_ok('SELECT * FROM api.ranked_traders(1000, 2147483647)', 'limit 1000 and the largest offset are valid');

-- run_scores: any status
SELECT results_eq(format('SELECT rank, wallet_address, xorj_trust_score, run_id, completed_at FROM api.run_scores(%L)', :'c'),
    format($$VALUES (1::bigint, 'So11111111111111111111111111111111111111112', 1000::numeric, %L::uuid, NULL::timestamptz)$$, :'c'),
    'run_scores of a RUNNING run: its scores, completed_at NULL');
SELECT results_eq(format('SELECT wallet_address, xorj_trust_score FROM api.run_scores(%L)', :'d'),
    $$VALUES ('So11111111111111111111111111111111111111112', 2000::numeric)$$, 'run_scores of a FAILED run');
SELECT results_eq(format('SELECT rank, wallet_address FROM api.run_scores(%L)', :'b'),
    $$VALUES (1::bigint, 'So11111111111111111111111111111111111111112')$$, 'run_scores of an older COMPLETED run');
SELECT results_eq(format('SELECT rank, wallet_address FROM api.run_scores(%L, 2, 2)', :'a'),
    $$VALUES (3::bigint, 'So11111111111111111111111111111111111111112'), (4::bigint, 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB')$$,
    'run_scores pages like ranked_traders');
SELECT throws_ok('SELECT * FROM api.run_scores(''00000000-0000-4000-8000-000000000404'')', 'XJ404',
    'scoring run 00000000-0000-4000-8000-000000000404 not found', 'run_scores of an unknown run: XJ404');
SELECT is(tests.error_of(format('SELECT * FROM api.run_scores(%L, 1001)', :'a'))->>'column', 'limit',
    'run_scores checks the limit');
SELECT is(tests.error_of(format('SELECT * FROM api.run_scores(%L, 1, -5)', :'a'))->>'column', 'offset',
    'run_scores checks the offset');

-- a newer completion takes over; equal completed_at cannot happen by the api, the id breaks ties
SELECT (api.create_scoring_run()->>'id')::uuid AS e \gset
SELECT api.start_scoring_run(:'e') \gset ignored_
SELECT api.complete_scoring_run(:'e', '[]', p_allow_empty => true) \gset ignored_
SELECT is_empty('SELECT * FROM api.ranked_traders()', 'the latest completed run has no traders: no rows');

-- who may read
SELECT tests.act_as('xorj_bot');
SELECT lives_ok('SELECT * FROM api.ranked_traders(10, 0)', 'xorj_bot may call ranked_traders');
SELECT lives_ok(format('SELECT * FROM api.run_scores(%L)', :'a'), 'xorj_bot may call run_scores');
SELECT tests.act_as('xorj_api');
SELECT lives_ok('SELECT * FROM api.ranked_traders()', 'xorj_api may call ranked_traders');
SELECT results_eq(format('SELECT count(*)::int FROM api.run_scores(%L)', :'a'), 'VALUES (5)', 'xorj_api reads run_scores');
SELECT tests.act_as('xorj_readonly');
SELECT throws_ok('SELECT * FROM api.ranked_traders()', '42501', NULL, 'xorj_readonly cannot call ranked_traders');
SELECT throws_ok(format('SELECT * FROM api.run_scores(%L)', :'a'), '42501', NULL, 'xorj_readonly cannot call run_scores');
SELECT tests.act_as(NULL);

SELECT * FROM finish();
ROLLBACK;
