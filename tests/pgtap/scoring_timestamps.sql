-- The timestamps of a score are a clock time of the statement that inserts it (trigger
-- trader_scores_touch, with its WHEN of migration 0012): a row that already holds one
-- (created_at = updated_at, between statement_timestamp() and clock_timestamp(): what the
-- set-based insert of a batch gives) is left as it is, any other row is stamped by
-- xorj.touch_updated_at(): a time of an earlier statement, a future time, two different
-- times. And the run's RUNNING check on its partition holds for every statement naming
-- the partition, even one of no row.
BEGIN;
SELECT plan(9);

SELECT tests.act_as('xorj_engine');
SELECT (api.create_scoring_run()->>'id')::uuid AS r \gset
SELECT api.start_scoring_run(:'r') \gset ignored_
SELECT tests.act_as(NULL);
SELECT format('xorj.trader_scores_%s', replace(:'r', '-', '')) AS part \gset

SELECT trigger_is('xorj', 'trader_scores', 'trader_scores_touch', 'xorj', 'touch_updated_at',
    'trader_scores_touch still runs xorj.touch_updated_at()');
SELECT ok((SELECT pg_catalog.pg_get_triggerdef(t.oid) LIKE '%WHEN (%statement_timestamp()%clock_timestamp()%'
           FROM pg_catalog.pg_trigger t
           WHERE t.tgrelid = :'part'::regclass AND t.tgname = 'trader_scores_touch'),
          'on the run''s partition too, with the WHEN of 0012');

-- a time of an earlier statement of the transaction (now() is the transaction's start)
SELECT tests.tick() AS t0 \gset
INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score, created_at, updated_at)
VALUES (:'r', tests.addr(1), 1, now(), now());
SELECT ok((SELECT created_at = updated_at AND created_at >= :'t0'::timestamptz
           FROM xorj.trader_scores WHERE run_id = :'r' AND wallet_address = tests.addr(1)),
          'created_at = updated_at = now() of an earlier statement is replaced by the clock time');

-- a future time, equal on both columns
INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score, created_at, updated_at)
VALUES (:'r', tests.addr(2), 1, clock_timestamp() + interval '1 day', clock_timestamp() + interval '1 day');
SELECT ok((SELECT created_at = updated_at AND created_at <= clock_timestamp()
           FROM xorj.trader_scores WHERE run_id = :'r' AND wallet_address = tests.addr(2)),
          'a future time is replaced by the clock time');

-- two different times of the statement (the columns' defaults are two clock readings)
INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score)
VALUES (:'r', tests.addr(3), 1);
SELECT ok((SELECT created_at = updated_at AND created_at >= :'t0'::timestamptz
           FROM xorj.trader_scores WHERE run_id = :'r' AND wallet_address = tests.addr(3)),
          'the defaults (two readings) become one: created_at = updated_at');

-- one reading of the statement, on both columns: kept as it is
INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score, created_at, updated_at)
SELECT :'r', tests.addr(g), 1, b.at, b.at
FROM (SELECT clock_timestamp() AS at) AS b, generate_series(4, 6) AS g;
SELECT is((SELECT count(DISTINCT created_at)::int FROM xorj.trader_scores
           WHERE run_id = :'r' AND wallet_address IN (tests.addr(4), tests.addr(5), tests.addr(6))),
          1, 'a clock reading of the inserting statement is kept: the rows share it');

-- the api's batches: one reading per batch, equal on both columns, during the call
SELECT tests.act_as('xorj_engine');
SELECT tests.tick() AS t1 \gset
SELECT api.add_scoring_scores(:'r', (SELECT jsonb_agg(jsonb_build_object('wallet_address', tests.addr(g),
                                                                         'xorj_trust_score', g))
                                     FROM generate_series(10, 1009) AS g), 9) \gset ignored_
SELECT tests.act_as(NULL);
SELECT ok((SELECT count(DISTINCT created_at) = 1 AND bool_and(created_at = updated_at)
                  AND min(created_at) >= :'t1'::timestamptz AND max(created_at) <= clock_timestamp()
           FROM xorj.trader_scores WHERE run_id = :'r' AND xorj_trust_score >= 10),
          'a batch of 1,000 scores shares one clock reading of the call');
SELECT is((SELECT count(DISTINCT id)::int FROM xorj.trader_scores WHERE run_id = :'r'), 1006,
          'every score has an id of its own');

-- a statement of no row naming a COMPLETED run's partition is refused
SELECT tests.act_as('xorj_engine');
SELECT api.complete_scoring_run(:'r', '[]') \gset ignored_
SELECT tests.act_as(NULL);
SELECT throws_ok(format('INSERT INTO %s (run_id, wallet_address, xorj_trust_score) SELECT %L, %L, 1 WHERE false',
                        :'part', :'r', tests.addr(99)),
    'XJ423', format('scoring run %s is COMPLETED: scores are added only while it is RUNNING', :'r'),
    'an INSERT naming a COMPLETED run''s partition is refused, even of no row');

SELECT * FROM finish();
ROLLBACK;
