-- Scores at COPY speed (api.open_scoring_copy, COPY, api.add_scoring_copy): the engine
-- COPYs the lines of its file into a TEMP staging table the api makes for the run and
-- the transaction; api.add_scoring_copy validates and inserts them with the rule of
-- api.add_scoring_scores. The staging path refuses the same bad input with the same
-- XJ422 (line n is scores[n - 1]), a line that is not JSON too; saves nothing of a
-- refused batch; needs a RUNNING run; the engine can only add lines (no read, change,
-- delete), a run's lines go to that run only, and only the engine may call it.
BEGIN;
SELECT plan(47);

-- The error of staging p_lines for a new RUNNING run and adding them: sqlstate, column
-- and detail (the run and its table are made as the calling role, the engine).
CREATE FUNCTION pg_temp.copy_err(p_lines text[]) RETURNS text
LANGUAGE plpgsql AS $fn$
DECLARE
    v_run   uuid := (api.create_scoring_run()->>'id')::uuid;
    v_table text;
    v_err   jsonb;
BEGIN
    PERFORM api.start_scoring_run(v_run);
    v_table := api.open_scoring_copy(v_run);
    EXECUTE format('INSERT INTO %s (doc) SELECT unnest($1)', v_table) USING p_lines;
    v_err := tests.error_of(format('SELECT api.add_scoring_copy(%L)', v_run));
    RETURN v_err->>'sqlstate' || ' ' || coalesce(v_err->>'column', '') || ' | ' || (v_err->>'detail');
END
$fn$;

\set ok0 '{"wallet_address": "So11111111111111111111111111111111111111112", "xorj_trust_score": 1}'
\set ok1 '{"wallet_address": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "xorj_trust_score": 2, "metrics": {"trades": 3}}'
\set ok2 '{"wallet_address": "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB", "xorj_trust_score": 0.5}'

SELECT tests.act_as('xorj_engine');

-- the same refusals as the jsonb path, line n being scores[n - 1]
SELECT is(pg_temp.copy_err(ARRAY[:'ok0', '5']),
          'XJ422 scores[1] | scores[1]: is not a JSON object but number', 'an element that is not an object');
SELECT is(pg_temp.copy_err(ARRAY[:'ok0', '{"wallet_address": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "xorj_trust_score": 1, "rank": 3, "extra": 1}']),
          'XJ422 scores[1].extra | scores[1].extra: is not a known field (wallet_address, xorj_trust_score, metrics)',
          'an unknown key is named');
SELECT is(pg_temp.copy_err(ARRAY[:'ok0', '{"xorj_trust_score": 1}']),
          'XJ422 scores[1].wallet_address | scores[1].wallet_address: is required', 'a missing wallet');
SELECT is(pg_temp.copy_err(ARRAY[:'ok0', '{"wallet_address": 12345678912345678912345678912345, "xorj_trust_score": 1}']),
          'XJ422 scores[1].wallet_address | scores[1].wallet_address: must be a string, not number',
          'a wallet that is a number (even one of 32 base58 digits)');
SELECT is(pg_temp.copy_err(ARRAY[:'ok0', '{"wallet_address": "0PjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "xorj_trust_score": 1}']),
          'XJ422 scores[1].wallet_address | scores[1].wallet_address: not a Solana address', 'a wallet with a 0');
SELECT is(pg_temp.copy_err(ARRAY[:'ok0', '{"wallet_address": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"}']),
          'XJ422 scores[1].xorj_trust_score | scores[1].xorj_trust_score: is required', 'a missing score');
SELECT is(pg_temp.copy_err(ARRAY[:'ok0', '{"wallet_address": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "xorj_trust_score": "5"}']),
          'XJ422 scores[1].xorj_trust_score | scores[1].xorj_trust_score: must be a number, not string', 'a score as a string');
SELECT is(pg_temp.copy_err(ARRAY[:'ok0', '{"wallet_address": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "xorj_trust_score": -0.001}']),
          'XJ422 scores[1].xorj_trust_score | scores[1].xorj_trust_score: must be 0 or more', 'a negative score');
SELECT is(pg_temp.copy_err(ARRAY[:'ok0', '{"wallet_address": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "xorj_trust_score": 1e309}']),
          'XJ422 scores[1].xorj_trust_score | scores[1].xorj_trust_score: must be at most 1.7976931348623157e308, the largest double',
          'a score beyond a double');
SELECT is(pg_temp.copy_err(ARRAY[:'ok0', '{"wallet_address": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "xorj_trust_score": 1, "metrics": [1]}']),
          'XJ422 scores[1].metrics | scores[1].metrics: must be a JSON object, not array', 'metrics as an array');
SELECT is(pg_temp.copy_err(ARRAY[:'ok0', '{"wallet_address": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "xorj_trust_score": 1, "metrics": null}']),
          'XJ422 scores[1].metrics | scores[1].metrics: must be a JSON object, not null', 'metrics null');
SELECT is(pg_temp.copy_err(ARRAY[:'ok0', :'ok1', :'ok0']),
          'XJ422 scores[2].wallet_address | scores[2].wallet_address: duplicates scores[0].wallet_address',
          'a wallet twice is invalid at its second occurrence');
SELECT is(pg_temp.copy_err(ARRAY[:'ok0', :'ok0', '{"wallet_address": "x", "xorj_trust_score": 1}']),
          'XJ422 scores[1].wallet_address | scores[1].wallet_address: duplicates scores[0].wallet_address',
          'the first invalid line wins: a duplicate at 1 before a bad address at 2');

-- lines that are not JSON, and blank lines
SELECT ok(pg_temp.copy_err(ARRAY[:'ok0', :'ok1', '{"wallet_address": ']) LIKE
          'XJ422 scores[2] | scores[2]: not JSON (invalid input syntax for type json%',
          'a truncated line is XJ422 not JSON at its index, in the parser''s words');
SELECT ok(pg_temp.copy_err(ARRAY[:'ok0', 'NaN']) LIKE 'XJ422 scores[1] | scores[1]: not JSON (%',
          'NaN is not JSON');
SELECT is(pg_temp.copy_err(ARRAY['{"wallet_address": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "xorj_trust_score": -1}', :'ok0', '{]']),
          'XJ422 scores[0].xorj_trust_score | scores[0].xorj_trust_score: must be 0 or more',
          'a negative score before a line that is not JSON is reported first');
SELECT ok(pg_temp.copy_err(ARRAY[:'ok0', '{]', '{"wallet_address": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "xorj_trust_score": -1}'])
          LIKE 'XJ422 scores[1] | scores[1]: not JSON (%',
          'a line that is not JSON before a negative score is reported first');
SELECT is(pg_temp.copy_err(ARRAY[:'ok0', '', E' \t\r', '{"wallet_address": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "xorj_trust_score": "x"}']),
          'XJ422 scores[3].xorj_trust_score | scores[3].xorj_trust_score: must be a number, not string',
          'blank lines are skipped and keep their numbers');
SELECT is(pg_temp.copy_err((SELECT array_agg(CASE WHEN g = 1500 THEN '{"wallet_address": 1' ELSE
                                    jsonb_build_object('wallet_address', tests.addr(g), 'xorj_trust_score', g)::text END
                                    ORDER BY g)
                            FROM generate_series(1, 3000) g))
          ~ '^XJ422 scores\[1499\] \| scores\[1499\]: not JSON', true,
          'in 3,000 lines the one that is not JSON is found at its index');

-- a valid file: COPY as the engine, then add and complete
SELECT (api.create_scoring_run()->>'id')::uuid AS r \gset
SELECT api.start_scoring_run(:'r') \gset ignored_
SELECT api.open_scoring_copy(:'r') AS staging \gset
SELECT is(:'staging', format('pg_temp.scoring_copy_%s', replace(:'r', '-', '')),
          'api.open_scoring_copy names the run''s staging table');
SELECT is(api.open_scoring_copy(:'r'), :'staging', 'opening it again gives the same table');
COPY :staging (doc) FROM STDIN;
{"wallet_address": "So11111111111111111111111111111111111111112", "xorj_trust_score": 87.25, "metrics": {"roi": 0.31, "note": "a\\\\b\\tc"}}

{"wallet_address": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "xorj_trust_score": 0}
\.
SELECT throws_ok(format('SELECT * FROM %s', :'staging'), '42501', NULL, 'the engine cannot read staged lines');
SELECT throws_ok(format('UPDATE %s SET doc = %L', :'staging', :'ok0'), '42501', NULL, 'nor change them');
SELECT throws_ok(format('DELETE FROM %s', :'staging'), '42501', NULL, 'nor delete them');
SELECT throws_ok(format('TRUNCATE %s', :'staging'), '42501', NULL, 'nor truncate them');
SELECT throws_ok(format('INSERT INTO %s (line, doc) VALUES (7, %L)', :'staging', :'ok2'), '428C9', NULL,
                 'nor number them (the line numbers are the database''s)');

-- another run's lines stay with it
SELECT (api.create_scoring_run()->>'id')::uuid AS r2 \gset
SELECT api.start_scoring_run(:'r2') \gset ignored_
SELECT api.open_scoring_copy(:'r2') AS staging2 \gset
SELECT lives_ok(format('INSERT INTO %s (doc) VALUES (%L)', :'staging2', :'ok2'), 'a line for run 2');
SELECT is(api.add_scoring_copy(:'r2'), 1::bigint, 'run 2 takes its one line, not run 1''s');
SELECT clock_timestamp() AS t0 \gset
SELECT is(api.add_scoring_copy(:'r'), 2::bigint, 'run 1 takes its two (the blank line skipped)');
SELECT tests.act_as(NULL);
SELECT results_eq(
    format($$SELECT wallet_address::text, xorj_trust_score, metrics FROM xorj.trader_scores
             WHERE run_id = %L ORDER BY wallet_address$$, :'r'),
    $$VALUES ('EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 0::numeric, '{}'::jsonb),
             ('So11111111111111111111111111111111111111112', 87.25, '{"roi": 0.31, "note": "a\\b\tc"}'::jsonb)$$,
    'the lines are saved as they were written (backslashes and tabs included), metrics {} when missing');
SELECT is((SELECT array_agg(wallet_address::text) FROM xorj.trader_scores WHERE run_id = :'r2'),
          ARRAY['Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB'], 'run 2 holds its own line only');
SELECT ok((SELECT bool_and(created_at = updated_at AND created_at BETWEEN :'t0'::timestamptz AND clock_timestamp())
           FROM xorj.trader_scores WHERE run_id = :'r'),
          'created_at = updated_at = a clock time of the insert');
SELECT is((SELECT relpersistence::text FROM pg_catalog.pg_class WHERE oid = :'staging'::regclass), 't',
          'the staging table is TEMP: only this session sees it, and it goes with the transaction');
SELECT tests.act_as('xorj_engine');
SELECT is(api.add_scoring_copy(:'r'), 0::bigint, 'the added lines left the staging table');
SELECT is(api.complete_scoring_run(:'r', '[]')->>'status', 'COMPLETED', 'the run completes');
SELECT throws_ok(format('SELECT api.open_scoring_copy(%L)', :'r'), 'XJ423',
    format('scoring run %s is COMPLETED: scores are added only while it is RUNNING', :'r'),
    'no staging for a COMPLETED run');
SELECT throws_ok(format('SELECT api.add_scoring_copy(%L)', :'r'), 'XJ423',
    format('scoring run %s is COMPLETED: scores are added only while it is RUNNING', :'r'),
    'no adding to a COMPLETED run');

-- nothing half-written: a refused batch leaves the run RUNNING with what it had
SELECT api.open_scoring_copy(:'r2') AS staging2 \gset
SELECT lives_ok(format('INSERT INTO %s (doc) VALUES (%L), (%L), (%L)', :'staging2', :'ok0', :'ok1', :'ok2'),
                'three more lines for run 2, the last one already scored');
SELECT is(tests.error_fields(format('SELECT api.add_scoring_copy(%L)', :'r2'), 'sqlstate', 'column'),
          '{"sqlstate": "XJ422", "column": "scores[3].wallet_address"}'::jsonb,
          'a wallet of an earlier batch is refused at its line (line numbers go on across adds)');
SELECT tests.act_as(NULL);
SELECT is((SELECT (status::text, count(s.*)::int) FROM xorj.scoring_runs r
           LEFT JOIN xorj.trader_scores s ON s.run_id = r.id WHERE r.id = :'r2' GROUP BY r.status),
          ('RUNNING'::text, 1), 'the refused batch saved nothing: run 2 is RUNNING with its one score');
SELECT tests.act_as('xorj_engine');

-- no staging table, or one the api did not make
SELECT (api.create_scoring_run()->>'id')::uuid AS r3 \gset
SELECT api.start_scoring_run(:'r3') \gset ignored_
SELECT is(tests.error_fields(format('SELECT api.add_scoring_copy(%L)', :'r3'), 'sqlstate', 'column'),
          '{"sqlstate": "XJ422", "column": "run_id"}'::jsonb, 'adding without api.open_scoring_copy is XJ422 on run_id');
SELECT tests.act_as(NULL);
SELECT lives_ok(format('CREATE TEMP TABLE %I (line bigint, doc text)', 'scoring_copy_' || replace(:'r3', '-', '')),
                'someone else makes a table of that name');
SELECT tests.act_as('xorj_engine');
SELECT throws_ok(format('SELECT api.add_scoring_copy(%L)', :'r3'), '42501', NULL,
                 'the api refuses a staging table it did not make');
SELECT throws_ok(format('SELECT api.open_scoring_copy(%L)', :'r3'), '42501', NULL, 'and does not adopt it');

-- the engine, and only the engine
SELECT tests.act_as('xorj_bot');
SELECT throws_ok(format('SELECT api.open_scoring_copy(%L)', :'r2'), '42501', NULL, 'xorj_bot cannot stage scores');
SELECT throws_ok(format('SELECT api.add_scoring_copy(%L)', :'r2'), '42501', NULL, 'nor add them');
SELECT tests.act_as('xorj_api');
SELECT throws_ok(format('SELECT api.open_scoring_copy(%L)', :'r2'), '42501', NULL, 'xorj_api cannot stage scores');
SELECT tests.act_as(NULL);

SELECT * FROM finish();
ROLLBACK;
