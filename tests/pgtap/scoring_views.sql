-- The reporting views of scoring: api.active_scoring_runs lists PENDING and RUNNING runs
-- only; api.latest_trader_scores the ranked scores of the latest COMPLETED run only.
-- xorj_readonly, and only it, may read them.
BEGIN;
SELECT plan(13);

SELECT columns_are('api', 'active_scoring_runs',
    ARRAY['id', 'status', 'started_at', 'completed_at', 'error_message', 'created_at', 'updated_at'],
    'api.active_scoring_runs has the run columns');
SELECT columns_are('api', 'latest_trader_scores',
    ARRAY['rank', 'wallet_address', 'xorj_trust_score', 'metrics', 'run_id', 'completed_at'],
    'api.latest_trader_scores has the columns of api.ranked_traders');

SELECT count(*) AS old_completed FROM xorj.scoring_runs WHERE status = 'COMPLETED' \gset
SELECT tests.act_as('xorj_readonly');
SELECT CASE WHEN :old_completed = 0
            THEN is_empty('SELECT * FROM api.latest_trader_scores', 'no completed run: no scores')
            ELSE skip('a completed run exists already (a database that is not empty)', 1) END;
SELECT tests.act_as(NULL);

-- p PENDING, r RUNNING (with a score), c1 COMPLETED earlier, c2 COMPLETED later, f FAILED
SELECT tests.act_as('xorj_engine');
SELECT (api.create_scoring_run()->>'id')::uuid AS p \gset
SELECT (api.create_scoring_run()->>'id')::uuid AS r \gset
SELECT (api.create_scoring_run()->>'id')::uuid AS c1 \gset
SELECT (api.create_scoring_run()->>'id')::uuid AS c2 \gset
SELECT (api.create_scoring_run()->>'id')::uuid AS f \gset
SELECT api.start_scoring_run(:'r') \gset ignored_
SELECT api.start_scoring_run(:'c1') \gset ignored_
SELECT api.start_scoring_run(:'c2') \gset ignored_
SELECT api.complete_scoring_run(:'c2', '[
    {"wallet_address": "So11111111111111111111111111111111111111112", "xorj_trust_score": 10},
    {"wallet_address": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "xorj_trust_score": 20, "metrics": {"roi": 2}},
    {"wallet_address": "11111111111111111111111111111111", "xorj_trust_score": 10}
]') \gset ignored_
SELECT api.complete_scoring_run(:'c1', '[
    {"wallet_address": "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB", "xorj_trust_score": 5}
]') AS c1_done \gset
SELECT api.fail_scoring_run(:'f', 'no data') \gset ignored_
SELECT tests.act_as(NULL);
INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score)
VALUES (:'r', 'So11111111111111111111111111111111111111112', 999);

SELECT tests.act_as('xorj_readonly');
SELECT set_eq('SELECT id, status::text FROM api.active_scoring_runs',
    format('VALUES (%L::uuid, ''PENDING''), (%L::uuid, ''RUNNING'')', :'p', :'r'),
    'active_scoring_runs: the PENDING and the RUNNING run, not the COMPLETED or FAILED ones');
SELECT results_eq('SELECT rank, wallet_address, xorj_trust_score, metrics, run_id, completed_at FROM api.latest_trader_scores',
    format($$VALUES (1::bigint, 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 5::numeric, '{}'::jsonb, %L::uuid, %L::timestamptz)$$,
           :'c1', :'c1_done'::jsonb->>'completed_at'),
    'latest_trader_scores: the run completed last (c1), with rank, run and completed_at');
SELECT tests.act_as(NULL);

-- another completion takes over; ties by wallet
SELECT tests.act_as('xorj_engine');
SELECT (api.create_scoring_run()->>'id')::uuid AS c3 \gset
SELECT api.start_scoring_run(:'c3') \gset ignored_
SELECT api.complete_scoring_run(:'c3', '[
    {"wallet_address": "So11111111111111111111111111111111111111112", "xorj_trust_score": 10},
    {"wallet_address": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "xorj_trust_score": 20, "metrics": {"roi": 2}},
    {"wallet_address": "11111111111111111111111111111111", "xorj_trust_score": 10}
]') \gset ignored_
SELECT tests.act_as('xorj_readonly');
SELECT results_eq('SELECT rank, wallet_address, xorj_trust_score, metrics FROM api.latest_trader_scores',
    $$VALUES (1::bigint, 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 20::numeric, '{"roi": 2}'::jsonb),
             (2::bigint, '11111111111111111111111111111111', 10::numeric, '{}'::jsonb),
             (3::bigint, 'So11111111111111111111111111111111111111112', 10::numeric, '{}'::jsonb)$$,
    'latest_trader_scores follows the latest completion, best first, ties by wallet, in rank order');
SELECT is_empty(format('SELECT * FROM api.latest_trader_scores WHERE run_id <> %L', :'c3'),
    'only the latest run''s scores');
SELECT set_eq('SELECT id FROM api.active_scoring_runs', format('VALUES (%L::uuid), (%L::uuid)', :'p', :'r'),
    'a completed run leaves active_scoring_runs');
SELECT tests.act_as(NULL);
SELECT results_eq('SELECT rank, wallet_address, xorj_trust_score FROM api.latest_trader_scores',
    'SELECT rank, wallet_address, xorj_trust_score FROM api.ranked_traders()',
    'the view agrees with api.ranked_traders');

-- only xorj_readonly reads them
SELECT tests.act_as('xorj_engine');
SELECT throws_ok('SELECT * FROM api.active_scoring_runs', '42501', NULL, 'xorj_engine cannot read active_scoring_runs');
SELECT throws_ok('SELECT * FROM api.latest_trader_scores', '42501', NULL, 'xorj_engine cannot read latest_trader_scores');
SELECT tests.act_as('xorj_api');
SELECT throws_ok('SELECT * FROM api.latest_trader_scores', '42501', NULL, 'xorj_api cannot read latest_trader_scores');
SELECT tests.act_as('xorj_bot');
SELECT throws_ok('SELECT * FROM api.active_scoring_runs', '42501', NULL, 'xorj_bot cannot read active_scoring_runs');
SELECT tests.act_as(NULL);

SELECT * FROM finish();
ROLLBACK;
