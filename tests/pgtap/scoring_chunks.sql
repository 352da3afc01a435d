-- api.add_scoring_scores: a RUNNING run's scores in chunks, validated exactly as by
-- api.complete_scoring_run (the same internal function), with error indexes counted from
-- p_first_index; a wallet sent by an earlier chunk is XJ422 at its index; the run stays
-- RUNNING until api.complete_scoring_run(run, '[]') publishes every chunk at once. Only
-- a RUNNING run takes chunks (XJ423); only xorj_engine may call it.
BEGIN;
SELECT plan(34);

-- The error of adding this chunk to run p_run at p_first: sqlstate, column and detail.
CREATE FUNCTION pg_temp.chunk_err(p_run uuid, p_scores text, p_first integer) RETURNS text
LANGUAGE sql AS $fn$
    SELECT e->>'sqlstate' || ' ' || coalesce(e->>'column', '-') || ' | ' || (e->>'detail')
    FROM tests.error_of(format('SELECT api.add_scoring_scores(%L, %L, %s)', p_run, p_scores, p_first)) AS e
$fn$;

-- A JSON array of scores for tests.addr(a) .. tests.addr(b), score = n.
CREATE FUNCTION pg_temp.scores(a integer, b integer) RETURNS text
LANGUAGE sql AS $fn$
    SELECT jsonb_agg(jsonb_build_object('wallet_address', tests.addr(g), 'xorj_trust_score', g,
                                        'metrics', jsonb_build_object('n', g)) ORDER BY g)::text
    FROM generate_series(a, b) g
$fn$;

SELECT tests.act_as('xorj_engine');
SELECT (api.create_scoring_run()->>'id')::uuid AS r \gset
SELECT api.start_scoring_run(:'r') \gset ignored_

-- chunks add up
SELECT is(api.add_scoring_scores(:'r', pg_temp.scores(1, 3)::jsonb, 0), 3, 'a first chunk of 3 inserts 3');
SELECT is(api.add_scoring_scores(:'r', pg_temp.scores(4, 5)::jsonb, 3), 2, 'a second chunk of 2 inserts 2');
SELECT is(api.add_scoring_scores(:'r', pg_temp.scores(6, 6)::jsonb), 1, 'p_first_index defaults to 0');
SELECT is(api.add_scoring_scores(:'r', '[]', 6), 0, 'an empty chunk inserts nothing');
SELECT is((SELECT count(*)::int FROM api.run_scores(:'r', 1000, 0)), 6, 'the run holds the 6 scores of the chunks');
SELECT tests.act_as(NULL);
SELECT is((SELECT status::text FROM xorj.scoring_runs WHERE id = :'r'), 'RUNNING', 'the run is still RUNNING after its chunks');
SELECT tests.act_as('xorj_engine');
SELECT is((SELECT count(*)::int FROM api.ranked_traders(1000, 0) WHERE run_id = :'r'), 0,
          'chunks of a RUNNING run are not ranked');

-- a wallet of an earlier chunk: XJ422 at its index in the whole list
SELECT is(pg_temp.chunk_err(:'r', format('[%s, %s]', pg_temp.scores(7, 7)::jsonb->0, pg_temp.scores(2, 2)::jsonb->0), 6),
          'XJ422 scores[7].wallet_address | scores[7].wallet_address: is already scored in this run (sent by an earlier batch)',
          'a wallet sent by an earlier chunk is invalid at its index, first_index + position');
SELECT is(tests.error_of(format('SELECT api.add_scoring_scores(%L, %L, 6)', :'r',
              format('[%s]', pg_temp.scores(2, 2)::jsonb->0)))->>'message',
          'invalid scores[6].wallet_address: is already scored in this run (sent by an earlier batch)',
          'the message names the index');

-- the batch rules with the offset
SELECT is(pg_temp.chunk_err(:'r', '[{"wallet_address": "So11111111111111111111111111111111111111112", "xorj_trust_score": 1},
                                    {"wallet_address": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "xorj_trust_score": -1}]', 100),
          'XJ422 scores[101].xorj_trust_score | scores[101].xorj_trust_score: must be 0 or more',
          'a bad element is named by first_index + position');
SELECT is(pg_temp.chunk_err(:'r', format('[%s, %s]', pg_temp.scores(8, 8)::jsonb->0, pg_temp.scores(8, 8)::jsonb->0), 10),
          'XJ422 scores[11].wallet_address | scores[11].wallet_address: duplicates scores[10].wallet_address',
          'a wallet twice in a chunk: both indexes are offset');
SELECT is(pg_temp.chunk_err(:'r', '[{"wallet_address": "So11111111111111111111111111111111111111112", "xorj_trust_score": 1, "rank": 1}]', 41),
          'XJ422 scores[41].rank | scores[41].rank: is not a known field (wallet_address, xorj_trust_score, metrics)',
          'an unknown key is named with the offset index');
SELECT is(pg_temp.chunk_err(:'r', format('[%s, {"wallet_address": "x", "xorj_trust_score": 1}]', pg_temp.scores(1, 1)::jsonb->0), 20),
          'XJ422 scores[20].wallet_address | scores[20].wallet_address: is already scored in this run (sent by an earlier batch)',
          'a wallet of an earlier chunk at 20 is reported before a bad address at 21');
SELECT is(pg_temp.chunk_err(:'r', format('[{"wallet_address": "x", "xorj_trust_score": 1}, %s]', pg_temp.scores(1, 1)::jsonb->0), 20),
          'XJ422 scores[20].wallet_address | scores[20].wallet_address: not a Solana address',
          'a bad address at 20 is reported before a wallet of an earlier chunk at 21');
SELECT is(pg_temp.chunk_err(:'r', '{"wallet_address": "So11111111111111111111111111111111111111112"}', 0),
          'XJ422 scores | field: scores', 'a chunk that is not an array is XJ422 on scores');
SELECT is(pg_temp.chunk_err(:'r', '[]', -1),
          'XJ422 first_index | field: first_index', 'a negative first_index is XJ422 on first_index');

-- a large chunk: the repeated wallet found among 2,000 at its index
SELECT is(pg_temp.chunk_err(:'r',
              (SELECT jsonb_agg(jsonb_build_object('wallet_address', tests.addr(CASE WHEN g = 1700 THEN 5 ELSE 10000 + g END),
                                                   'xorj_trust_score', g) ORDER BY g)::text
               FROM generate_series(1, 2000) g), 1000000),
          'XJ422 scores[1001699].wallet_address | scores[1001699].wallet_address: is already scored in this run (sent by an earlier batch)',
          'in a chunk of 2,000 at 1,000,000 the wallet of an earlier chunk is found at its index');

-- nothing of a refused chunk was saved; the run is still RUNNING
SELECT is((SELECT count(*)::int FROM api.run_scores(:'r', 1000, 0)), 6, 'refused chunks saved nothing');

-- chunks rolled back by the caller are gone: all or nothing in the caller's transaction
SAVEPOINT before_chunk;
SELECT is(api.add_scoring_scores(:'r', pg_temp.scores(50, 59)::jsonb, 6), 10, 'inside a savepoint a chunk of 10 is added');
ROLLBACK TO SAVEPOINT before_chunk;
SELECT is((SELECT count(*)::int FROM api.run_scores(:'r', 1000, 0)), 6, 'rolled back by the caller: the chunk is gone');

-- completion with [] publishes the chunks, ranked best first
SELECT is(api.complete_scoring_run(:'r', '[]')->'scores_inserted', '0'::jsonb,
          'complete_scoring_run(run, []) inserts nothing more');
SELECT results_eq(
    format($$SELECT rank::int, wallet_address, xorj_trust_score::int, metrics FROM api.ranked_traders(10, 0) WHERE run_id = %L$$, :'r'),
    $$SELECT (7 - g)::int, tests.addr(g), g, jsonb_build_object('n', g) FROM generate_series(6, 1, -1) g$$,
    'the completed run ranks the scores of every chunk, best first');

-- the completion's own batch is checked against the chunks too
SELECT (api.create_scoring_run()->>'id')::uuid AS r2 \gset
SELECT api.start_scoring_run(:'r2') \gset ignored_
SELECT is(api.add_scoring_scores(:'r2', pg_temp.scores(1, 2)::jsonb, 0), 2, 'a wallet of another run can be scored again');
SELECT is(tests.error_of(format('SELECT api.complete_scoring_run(%L, %L)', :'r2',
              format('[%s, %s]', pg_temp.scores(3, 3)::jsonb->0, pg_temp.scores(1, 1)::jsonb->0)))->>'column',
          'scores[1].wallet_address', 'complete_scoring_run refuses a wallet its run got in a chunk');
SELECT is(api.complete_scoring_run(:'r2', pg_temp.scores(3, 3)::jsonb)->'scores_inserted', '1'::jsonb,
          'complete_scoring_run adds its own batch to the chunks');
SELECT is((SELECT count(*)::int FROM api.run_scores(:'r2', 1000, 0)), 3, 'the run holds chunks and batch');

-- only a RUNNING run takes chunks: XJ423 before any validation
SELECT (api.create_scoring_run()->>'id')::uuid AS p \gset
SELECT throws_ok(format('SELECT api.add_scoring_scores(%L, %L)', :'p', '"not even an array"'), 'XJ423',
    format('scoring run %s is PENDING: scores are added only while it is RUNNING', :'p'),
    'a PENDING run takes no chunk, whatever the chunk');
SELECT throws_ok(format('SELECT api.add_scoring_scores(%L, %L)', :'r', pg_temp.scores(90, 90)), 'XJ423',
    format('scoring run %s is COMPLETED: scores are added only while it is RUNNING', :'r'),
    'a COMPLETED run takes no chunk');
SELECT (api.create_scoring_run()->>'id')::uuid AS f \gset
SELECT api.fail_scoring_run(:'f', 'cancelled') \gset ignored_
SELECT throws_ok(format('SELECT api.add_scoring_scores(%L, %L)', :'f', pg_temp.scores(90, 90)), 'XJ423',
    format('scoring run %s is FAILED: scores are added only while it is RUNNING', :'f'),
    'a FAILED run takes no chunk');
SELECT throws_ok($$SELECT api.add_scoring_scores('00000000-0000-4000-8000-000000000404', '[]')$$,
    'XJ404', NULL, 'an unknown run is not found');
SELECT is(tests.error_of($$SELECT api.add_scoring_scores(NULL, '[]')$$)->>'column', 'run_id',
    'a NULL run is XJ422 on run_id');

-- the engine, and only the engine
SELECT tests.act_as(NULL);
SELECT ok(has_function_privilege('xorj_engine', 'api.add_scoring_scores(uuid,jsonb,integer)', 'EXECUTE'),
    'xorj_engine may add chunks');
SELECT (api.create_scoring_run()->>'id')::uuid AS g \gset
SELECT api.start_scoring_run(:'g') \gset ignored_
SELECT tests.act_as('xorj_bot');
SELECT throws_ok(format('SELECT api.add_scoring_scores(%L, ''[]'')', :'g'), '42501', NULL,
    'xorj_bot cannot add chunks');
SELECT tests.act_as('xorj_api');
SELECT throws_ok(format('SELECT api.add_scoring_scores(%L, ''[]'')', :'g'), '42501', NULL,
    'xorj_api cannot add chunks');
SELECT tests.act_as(NULL);

SELECT * FROM finish();
ROLLBACK;
