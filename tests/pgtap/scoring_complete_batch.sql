-- api.complete_scoring_run validates the whole batch before saving any of it: the first
-- invalid element (lowest index) rejects the batch with XJ422 whose DETAIL and COLUMN
-- name scores[<index>].<field>; a wallet twice is invalid at its second occurrence;
-- nothing is saved and the run stays RUNNING. A valid batch is saved whole and the run
-- becomes COMPLETED, in the caller's transaction.
BEGIN;
SELECT plan(40);

-- The error of completing run :r with this batch: sqlstate, column and detail.
CREATE FUNCTION pg_temp.batch_err(p_run uuid, p_scores text) RETURNS text
LANGUAGE sql AS $fn$
    SELECT e->>'sqlstate' || ' ' || (e->>'column') || ' | ' || (e->>'detail')
    FROM tests.error_of(format('SELECT api.complete_scoring_run(%L, %L)', p_run, p_scores)) AS e
$fn$;

SELECT tests.act_as('xorj_engine');
SELECT (api.create_scoring_run()->>'id')::uuid AS r \gset
SELECT api.start_scoring_run(:'r') \gset ignored_

-- not an array
SELECT is(pg_temp.batch_err(:'r', '{"wallet_address": "So11111111111111111111111111111111111111112"}'),
          'XJ422 scores | field: scores', 'an object instead of an array is XJ422 on column scores');
SELECT is(tests.error_of(format('SELECT api.complete_scoring_run(%L, NULL)', :'r'))->>'column', 'scores',
          'a NULL batch is XJ422 on column scores');

-- each kind of invalid element (the valid first element shows the index is counted)
\set ok0 '{"wallet_address": "So11111111111111111111111111111111111111112", "xorj_trust_score": 1}'
SELECT is(pg_temp.batch_err(:'r', format('[%s, 5]', :'ok0')),
           'XJ422 scores[1] | scores[1]: is not a JSON object but number', 'an element that is not an object');
SELECT is(pg_temp.batch_err(:'r', format('[%s, {"wallet_address": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "xorj_trust_score": 1, "rank": 3, "extra": 1}]', :'ok0')),
          'XJ422 scores[1].extra | scores[1].extra: is not a known field (wallet_address, xorj_trust_score, metrics)',
          'an unknown key is named');
SELECT is(pg_temp.batch_err(:'r', format('[%s, {"xorj_trust_score": 1}]', :'ok0')),
          'XJ422 scores[1].wallet_address | scores[1].wallet_address: is required', 'a missing wallet');
SELECT is(pg_temp.batch_err(:'r', format('[%s, {"wallet_address": 12345, "xorj_trust_score": 1}]', :'ok0')),
          'XJ422 scores[1].wallet_address | scores[1].wallet_address: must be a string, not number', 'a wallet that is a number');
SELECT is(pg_temp.batch_err(:'r', format('[%s, {"wallet_address": "0PjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "xorj_trust_score": 1}]', :'ok0')),
          'XJ422 scores[1].wallet_address | scores[1].wallet_address: not a Solana address', 'a wallet with a 0 (not base58)');
SELECT is(pg_temp.batch_err(:'r', format('[%s, {"wallet_address": "1111111111111111111111111111111", "xorj_trust_score": 1}]', :'ok0')),
          'XJ422 scores[1].wallet_address | scores[1].wallet_address: not a Solana address', 'a wallet of 31 characters');
SELECT is(pg_temp.batch_err(:'r', format('[%s, {"wallet_address": "%s", "xorj_trust_score": 1}]', :'ok0', repeat('2', 45))),
          'XJ422 scores[1].wallet_address | scores[1].wallet_address: not a Solana address', 'a wallet of 45 characters');
SELECT is(pg_temp.batch_err(:'r', format('[%s, {"wallet_address": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"}]', :'ok0')),
          'XJ422 scores[1].xorj_trust_score | scores[1].xorj_trust_score: is required', 'a missing score');
SELECT is(pg_temp.batch_err(:'r', format('[%s, {"wallet_address": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "xorj_trust_score": "5"}]', :'ok0')),
          'XJ422 scores[1].xorj_trust_score | scores[1].xorj_trust_score: must be a number, not string', 'a score as a string');
SELECT is(pg_temp.batch_err(:'r', format('[%s, {"wallet_address": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "xorj_trust_score": null}]', :'ok0')),
          'XJ422 scores[1].xorj_trust_score | scores[1].xorj_trust_score: must be a number, not null', 'a null score');
SELECT is(pg_temp.batch_err(:'r', format('[%s, {"wallet_address": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "xorj_trust_score": -0.001}]', :'ok0')),
          'XJ422 scores[1].xorj_trust_score | scores[1].xorj_trust_score: must be 0 or more', 'a negative score');
SELECT is(pg_temp.batch_err(:'r', format('[%s, {"wallet_address": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "xorj_trust_score": 1, "metrics": [1]}]', :'ok0')),
          'XJ422 scores[1].metrics | scores[1].metrics: must be a JSON object, not array', 'metrics as an array');
SELECT is(pg_temp.batch_err(:'r', format('[%s, {"wallet_address": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "xorj_trust_score": 1, "metrics": null}]', :'ok0')),
          'XJ422 scores[1].metrics | scores[1].metrics: must be a JSON object, not null', 'metrics null');

-- duplicates: the second occurrence is named, with the first
SELECT is(pg_temp.batch_err(:'r', format('[%s, {"wallet_address": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "xorj_trust_score": 2}, %s]', :'ok0', :'ok0')),
          'XJ422 scores[2].wallet_address | scores[2].wallet_address: duplicates scores[0].wallet_address',
          'a wallet twice in the batch is invalid at its second occurrence');
SELECT is(tests.error_of(format('SELECT api.complete_scoring_run(%L, %L)', :'r', format('[%s, %s]', :'ok0', :'ok0')))->>'message',
          'invalid scores[1].wallet_address: duplicates scores[0].wallet_address', 'the message names the element too');

-- the first invalid element wins, whatever its kind
SELECT is(pg_temp.batch_err(:'r', format('[%s, %s, {"wallet_address": "x", "xorj_trust_score": 1}, {"wallet_address": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "xorj_trust_score": -1}]', :'ok0', :'ok0')),
          'XJ422 scores[1].wallet_address | scores[1].wallet_address: duplicates scores[0].wallet_address',
          'a duplicate at 1 is reported before a bad address at 2');
SELECT is(pg_temp.batch_err(:'r', format('[{"wallet_address": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "xorj_trust_score": -1}, %s, %s]', :'ok0', :'ok0')),
          'XJ422 scores[0].xorj_trust_score | scores[0].xorj_trust_score: must be 0 or more',
          'a bad score at 0 is reported before a duplicate at 2');
SELECT is(pg_temp.batch_err(:'r',
          (SELECT jsonb_agg(jsonb_build_object('wallet_address', 'Tst' || lpad(translate(g::text, '0', 'z'), 40, 'x'),
                                               'xorj_trust_score', CASE WHEN g = 1500 THEN -1 ELSE g END)
                            ORDER BY g)::text
           FROM generate_series(1, 2000) g)),
          'XJ422 scores[1499].xorj_trust_score | scores[1499].xorj_trust_score: must be 0 or more',
          'in 2,000 elements the bad one is found at its index');

-- nothing was saved by any of the refusals; the run is still RUNNING
SELECT tests.act_as(NULL);
SELECT is((SELECT count(*)::int FROM xorj.trader_scores WHERE run_id = :'r'), 0, 'no score saved by a refused batch');
SELECT is((SELECT status::text FROM xorj.scoring_runs WHERE id = :'r'), 'RUNNING', 'the run is still RUNNING');
SELECT tests.act_as('xorj_engine');

-- error fields in full for one case
SELECT is(tests.error_fields(format('SELECT api.complete_scoring_run(%L, %L)', :'r',
              format('[%s, %s, {"wallet_address": "O1111111111111111111111111111111", "xorj_trust_score": 1}]',
                     :'ok0', '{"wallet_address": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "xorj_trust_score": 1}')),
              'sqlstate', 'message', 'detail', 'column'),
          '{"sqlstate": "XJ422", "column": "scores[2].wallet_address",
            "message": "invalid scores[2].wallet_address: not a Solana address",
            "detail": "scores[2].wallet_address: not a Solana address"}'::jsonb,
          'XJ422 with COLUMN scores[2].wallet_address, DETAIL and MESSAGE naming it');

-- the caller's transaction: a completion rolled back saves nothing
SAVEPOINT before_complete;
SELECT is(api.complete_scoring_run(:'r', format('[%s]', :'ok0')::jsonb)->'scores_inserted', '1'::jsonb,
          'inside a savepoint the run completes with 1 score');
ROLLBACK TO SAVEPOINT before_complete;
SELECT tests.act_as(NULL);
SELECT is((SELECT (status::text, (SELECT count(*) FROM xorj.trader_scores WHERE run_id = :'r'))
           FROM xorj.scoring_runs WHERE id = :'r'),
          ('RUNNING'::text, 0::bigint), 'rolled back by the caller: the run is RUNNING with no score');
SELECT tests.act_as('xorj_engine');

-- a valid batch
SELECT clock_timestamp() AS t0 \gset
SELECT api.complete_scoring_run(:'r', '[
    {"wallet_address": "So11111111111111111111111111111111111111112", "xorj_trust_score": 87.25, "metrics": {"roi": 0.31, "trades": 42}},
    {"wallet_address": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "xorj_trust_score": 0},
    {"wallet_address": "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB", "xorj_trust_score": 1e3, "metrics": {}},
    {"wallet_address": "11111111111111111111111111111111", "xorj_trust_score": 0.000001}
]') AS done \gset
SELECT is(:'done'::jsonb->'scores_inserted', '4'::jsonb, 'scores_inserted counts the batch');
SELECT is(:'done'::jsonb->>'status', 'COMPLETED', 'the run is COMPLETED');
SELECT ok((:'done'::jsonb->>'completed_at')::timestamptz BETWEEN :'t0'::timestamptz AND clock_timestamp(),
          'completed_at is the clock time of the completion');
SELECT is((:'done'::jsonb->>'id')::uuid, :'r'::uuid, 'the run row is returned');
SELECT tests.act_as(NULL);
SELECT results_eq(
    format($$SELECT wallet_address::text, xorj_trust_score, metrics FROM xorj.trader_scores
             WHERE run_id = %L ORDER BY wallet_address$$, :'r'),
    $$VALUES ('11111111111111111111111111111111', 0.000001, '{}'::jsonb),
             ('EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 0, '{}'::jsonb),
             ('Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 1000, '{}'::jsonb),
             ('So11111111111111111111111111111111111111112', 87.25, '{"roi": 0.31, "trades": 42}'::jsonb)$$,
    'every score is saved with its value and metrics (missing metrics are {})');
SELECT is((SELECT status::text FROM xorj.scoring_runs WHERE id = :'r'), 'COMPLETED', 'the stored run is COMPLETED');
SELECT tests.act_as('xorj_engine');

-- a run with no score at all is refused, unless allow_empty: a completed empty run would
-- become the latest and leave ranked_traders empty
SELECT (api.create_scoring_run()->>'id')::uuid AS r2 \gset
SELECT api.start_scoring_run(:'r2') \gset ignored_
SELECT is(tests.error_fields(format('SELECT api.complete_scoring_run(%L, ''[]'')', :'r2'),
                             'sqlstate', 'message', 'column', 'constraint'),
    '{"sqlstate": "XJ422", "column": "scores",
      "message": "invalid scores: a scoring run cannot complete with no score"}'::jsonb,
    'an empty batch on a run with no score is XJ422 on scores');
SELECT ok(tests.error_of(format('SELECT api.complete_scoring_run(%L, ''[]'', false)', :'r2'))->>'hint'
          LIKE '%allow_empty%', 'the hint names allow_empty');
SELECT tests.act_as(NULL);
SELECT is((SELECT status::text FROM xorj.scoring_runs WHERE id = :'r2'), 'RUNNING', 'the refused run stays RUNNING');
SELECT tests.act_as('xorj_engine');
SELECT is(api.complete_scoring_run(:'r2', '[]', p_allow_empty => true)->>'status', 'COMPLETED',
          'with allow_empty an empty batch completes a run with no traders');
SELECT is((SELECT count(*)::int FROM api.run_scores(:'r2')), 0, 'with no scores');

-- the same wallet in two runs is fine
SELECT (api.create_scoring_run()->>'id')::uuid AS r3 \gset
SELECT api.start_scoring_run(:'r3') \gset ignored_
SELECT is(api.complete_scoring_run(:'r3', format('[%s]', :'ok0')::jsonb)->'scores_inserted', '1'::jsonb,
          'a wallet scored in an earlier run can be scored again in a new run');

-- a score on a run that is not RUNNING: XJ423 before any validation
SELECT (api.create_scoring_run()->>'id')::uuid AS r4 \gset
SELECT throws_ok(format('SELECT api.complete_scoring_run(%L, %L)', :'r4', '"not even an array"'), 'XJ423',
    format('scoring run %s: PENDING -> COMPLETED is not allowed', :'r4'),
    'a PENDING run cannot be completed, whatever the batch');
SELECT throws_ok(format('SELECT api.complete_scoring_run(%L, ''[]'')', '00000000-0000-4000-8000-000000000404'),
    'XJ404', NULL, 'an unknown run is not found');

-- the engine, and only the engine
SELECT tests.act_as('xorj_bot');
SELECT throws_ok(format('SELECT api.complete_scoring_run(%L, ''[]'')', :'r4'), '42501', NULL,
    'xorj_bot cannot complete a run');
SELECT tests.act_as(NULL);

SELECT * FROM finish();
ROLLBACK;
