-- The ranked lists never sort a whole run: the query api.ranked_traders and
-- api.run_scores run (xorj.scoring_ranking, an inlinable SQL function, so EXPLAIN shows
-- exactly its plan) reads index trader_scores_run_rank_idx in order under a Limit, with
-- no Sort node, for custom and generic plans and deep offsets; the latest completed run
-- is read from index scoring_runs_latest_completed_idx. trader_scores is partitioned by
-- run (migration 0008): the index read is the run's partition's part of
-- trader_scores_run_rank_idx, and no other partition is read. Checked on runs of 20,000
-- scores with fresh statistics; a control query shows the check does see a Sort.
BEGIN;
SELECT plan(19);

-- 300 completed runs, two of them with 20,000 scores each.
INSERT INTO xorj.scoring_runs (id) SELECT gen_random_uuid() FROM generate_series(1, 298);
INSERT INTO xorj.scoring_runs (id) VALUES ('00000000-0000-4000-8000-0000000000a1'),
                                          ('00000000-0000-4000-8000-0000000000b1');
UPDATE xorj.scoring_runs SET status = 'RUNNING' WHERE status = 'PENDING';
INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score, metrics)
SELECT r.id, 'Tst' || lpad(translate(g::text, '0', 'z'), 40, 'x'), (g * 7919) % 1000 / 10.0,
       jsonb_build_object('n', g)
FROM generate_series(1, 20000) g
CROSS JOIN (VALUES ('00000000-0000-4000-8000-0000000000a1'::uuid),
                   ('00000000-0000-4000-8000-0000000000b1'::uuid)) AS r(id);
UPDATE xorj.scoring_runs SET status = 'COMPLETED' WHERE status = 'RUNNING' AND id <> '00000000-0000-4000-8000-0000000000b1';
UPDATE xorj.scoring_runs SET status = 'COMPLETED' WHERE id = '00000000-0000-4000-8000-0000000000b1';
ANALYZE xorj.scoring_runs;
ANALYZE xorj.trader_scores;

SELECT is((SELECT id FROM xorj.latest_completed_scoring_run()), '00000000-0000-4000-8000-0000000000b1'::uuid,
          'run b, completed last, is the latest');

-- run b's partition, and its part of the rank index
\set part_b 'trader_scores_000000000000400080000000000000b1'
SELECT is((SELECT x.indrelid::regclass::text FROM pg_catalog.pg_index x
           WHERE x.indexrelid = to_regclass(format('xorj.%s_run_rank_idx', :'part_b'))),
          'xorj.' || :'part_b',
          'run b''s partition has its rank index, built when it was completed by direct SQL');

-- the detector works: ordering by an unindexed expression does sort
SELECT matches(tests.plan_of($$SELECT * FROM xorj.trader_scores WHERE run_id = '00000000-0000-4000-8000-0000000000b1'
                                  ORDER BY metrics->>'n' LIMIT 10$$),
               'Sort', 'control: a query the index cannot order has a Sort node');

-- the first page, with the default settings
SELECT tests.plan_of($$SELECT * FROM xorj.scoring_ranking('00000000-0000-4000-8000-0000000000b1', 100, 0)$$) AS p1 \gset
SELECT doesnt_match(:'p1'::text, 'Sort', 'first page: no Sort node');
SELECT matches(:'p1'::text, format('Index (Only )?Scan using %1$s_run_rank_idx on %1$s s\n', :'part_b'),
               'first page: reads run b''s part of trader_scores_run_rank_idx');
SELECT matches(:'p1'::text, format('Limit\n\s*->  WindowAgg\n\s*->  Index (Only )?Scan using %s_run_rank_idx', :'part_b'),
               'first page: Limit over the ranking over the index scan, which stops after the page');
SELECT doesnt_match(:'p1'::text, 'Append|trader_scores_000000000000400080000000000000a1',
                    'first page: run b''s partition only (pruned at planning)');
SELECT doesnt_match(:'p1'::text, 'Seq Scan', 'first page: no sequential scan');

-- the api functions plan with enable_sort off and per-call (custom) plans; under those
-- settings a deep page, which a cost estimate alone would rather sort, reads the index
SET LOCAL enable_sort = off;
SELECT tests.plan_of($$SELECT * FROM xorj.scoring_ranking('00000000-0000-4000-8000-0000000000b1', 1000, 15000)$$) AS p2 \gset
SELECT doesnt_match(:'p2'::text, 'Sort', 'offset 15,000: no Sort node');
SELECT matches(:'p2'::text, format('Index (Only )?Scan using %s_run_rank_idx', :'part_b'),
               'offset 15,000: reads the index in order');

-- a generic plan (parameters unknown at planning) as well
PREPARE ranking(uuid, integer, integer) AS SELECT * FROM xorj.scoring_ranking($1, $2, $3);
SET LOCAL plan_cache_mode = force_generic_plan;
SELECT tests.plan_of($$EXECUTE ranking('00000000-0000-4000-8000-0000000000b1', 100, 0)$$) AS p3 \gset
SELECT doesnt_match(:'p3'::text, 'Sort', 'generic plan: no Sort node');
SELECT matches(:'p3'::text, 'Index Cond: \(run_id = \$1\)', 'generic plan: it is the generic one, on the index');
SELECT matches(:'p3'::text, 'Subplans Removed: [1-9]',
               'generic plan: the other runs'' partitions are pruned when it starts');
RESET plan_cache_mode;
RESET enable_sort;
DEALLOCATE ranking;

-- the latest completed run from its partial index
SELECT tests.plan_of('SELECT * FROM xorj.latest_completed_scoring_run()') AS p4 \gset
SELECT matches(:'p4'::text, 'Index (Only )?Scan using scoring_runs_latest_completed_idx',
               'the latest completed run is read from scoring_runs_latest_completed_idx');
SELECT doesnt_match(:'p4'::text, 'Sort', 'the latest completed run: no Sort node');

-- the reporting view reads the index in order too
SELECT doesnt_match(tests.plan_of('SELECT * FROM api.latest_trader_scores LIMIT 10'), 'Sort',
                    'api.latest_trader_scores LIMIT 10: no Sort node');

-- the api functions run exactly these queries, and plan them with their own limit and offset
SELECT ok((SELECT bool_and(p.prosrc LIKE '%FROM xorj.scoring_ranking(%'
                           AND 'plan_cache_mode=force_custom_plan' = ANY (p.proconfig)
                           AND 'enable_sort=off' = ANY (p.proconfig))
           FROM pg_catalog.pg_proc p
           WHERE p.oid IN ('api.ranked_traders(integer, integer)'::regprocedure,
                           'api.run_scores(uuid, integer, integer)'::regprocedure)),
          'ranked_traders and run_scores read through xorj.scoring_ranking, planned per call');
SELECT results_eq('SELECT rank, wallet_address, xorj_trust_score, metrics FROM api.ranked_traders(1000, 19500)',
    $$SELECT s.rank, s.wallet_address, s.xorj_trust_score, s.metrics
      FROM xorj.scoring_ranking('00000000-0000-4000-8000-0000000000b1', 1000, 19500) s$$,
    'ranked_traders returns what the explained query returns');
SELECT results_eq(
    $$SELECT wallet_address FROM api.ranked_traders(1000, 0)$$,
    $$SELECT wallet_address::text FROM xorj.trader_scores WHERE run_id = '00000000-0000-4000-8000-0000000000b1'
      ORDER BY xorj_trust_score DESC, wallet_address LIMIT 1000$$,
    'the index order is the ranking order (score descending, wallet ascending)');

SELECT * FROM finish();
ROLLBACK;
