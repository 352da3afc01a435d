-- The retention of scores, xorj.prune_scores(keep_runs, keep_days, max_partitions): the
-- scores of the finished runs outside both limits (not among the last keep_runs
-- COMPLETED runs, finished keep_days days ago or more) leave with their partition,
-- dropped (not deleted row by row); those runs are marked (scores_pruned_at) and stay as
-- history. Never pruned: the latest completed run, a PENDING or RUNNING run, however old.
-- The limits default to xorj.settings (48 runs, 7 days; CHECKed). A second call finds
-- nothing to do. Reading a pruned run's scores (api.run_scores) is XJ404 saying they were
-- pruned. scores_pruned_at is the database's, set only once the run holds no score.
-- Only the owner may prune (no api role has EXECUTE).
BEGIN;
SELECT plan(48);

-- A database that is not empty (a restored backup) keeps its runs out of this test: they
-- are removed for this transaction only (rolled back at the end), by the superuser with
-- the triggers off.
SET LOCAL session_replication_role = replica;
DELETE FROM xorj.trader_scores;
DELETE FROM xorj.scoring_runs;
SET LOCAL session_replication_role = origin;

-- A run through the api: created, started, given p_scores scores, then COMPLETED or
-- FAILED (p_fail); backdated so that it finished p_ago ago.
CREATE FUNCTION pg_temp.run(p_scores integer, p_ago interval, p_fail boolean DEFAULT false)
RETURNS uuid
LANGUAGE plpgsql AS $fn$
DECLARE
    v uuid := (api.create_scoring_run() ->> 'id')::uuid;
    v_scores jsonb := coalesce((SELECT jsonb_agg(jsonb_build_object('wallet_address', tests.addr(g),
                                                                    'xorj_trust_score', g))
                                FROM generate_series(1, p_scores) g), '[]');
BEGIN
    PERFORM api.start_scoring_run(v);
    IF p_fail THEN
        PERFORM api.add_scoring_scores(v, v_scores);
        PERFORM api.fail_scoring_run(v, 'test failure');
    ELSE
        PERFORM api.complete_scoring_run(v, v_scores, p_allow_empty => true);
    END IF;
    PERFORM tests.backdate('scoring_runs', ARRAY[v], p_ago);
    RETURN v;
END
$fn$;
-- The partition of run p_run (NULL once dropped).
CREATE FUNCTION pg_temp.part(p_run uuid) RETURNS regclass
LANGUAGE sql AS $fn$
    SELECT to_regclass(format('xorj.trader_scores_%s', replace(p_run::text, '-', '')))
$fn$;

-- the settings
SELECT col_default_is('xorj', 'settings', 'score_keep_runs', '48', 'score_keep_runs defaults to 48');
SELECT col_default_is('xorj', 'settings', 'score_keep_days', '7', 'score_keep_days defaults to 7');
SELECT throws_ok($$UPDATE xorj.settings SET score_keep_runs = 0$$, '23514', NULL,
                 'score_keep_runs below 1 is refused: the latest completed run is always kept');
SELECT throws_ok($$UPDATE xorj.settings SET score_keep_days = -1$$, '23514', NULL,
                 'score_keep_days below 0 is refused');
SELECT has_index('xorj', 'scoring_runs', 'scoring_runs_unpruned_idx', ARRAY['completed_at'],
                 'the runs retention looks at are read from index scoring_runs_unpruned_idx');

-- Runs, oldest first: six COMPLETED with 2 scores (c1..c6, finished 10, 9, 8, 6, 2 days
-- and 1 hour ago), one FAILED after 1 score (f1) and one FAILED before it started (f0),
-- 20 days ago; one PENDING and one RUNNING with 1 score, created 30 days ago.
SELECT pg_temp.run(2, interval '10 days') AS c1 \gset
SELECT pg_temp.run(2, interval '9 days') AS c2 \gset
SELECT pg_temp.run(2, interval '8 days') AS c3 \gset
SELECT pg_temp.run(2, interval '6 days') AS c4 \gset
SELECT pg_temp.run(2, interval '2 days') AS c5 \gset
SELECT pg_temp.run(2, interval '1 hour') AS c6 \gset
SELECT pg_temp.run(1, interval '20 days', p_fail => true) AS f1 \gset
SELECT (api.create_scoring_run() ->> 'id')::uuid AS f0 \gset
SELECT api.fail_scoring_run(:'f0', 'never started') \gset ignored_
SELECT tests.backdate('scoring_runs', ARRAY[:'f0'::uuid], interval '20 days') \gset ignored_
SELECT (api.create_scoring_run() ->> 'id')::uuid AS p1 \gset
SELECT (api.create_scoring_run() ->> 'id')::uuid AS r1 \gset
SELECT api.start_scoring_run(:'r1') \gset ignored_
SELECT api.add_scoring_scores(:'r1', jsonb_build_array(jsonb_build_object('wallet_address', tests.addr(1),
                                                                         'xorj_trust_score', 1))) \gset ignored_
SELECT tests.backdate('scoring_runs', ARRAY[:'p1'::uuid, :'r1'::uuid], interval '30 days') \gset ignored_
SELECT oid AS c1_oid FROM pg_catalog.pg_class WHERE oid = pg_temp.part(:'c1') \gset

SELECT is((SELECT id FROM xorj.latest_completed_scoring_run()), :'c6'::uuid, 'c6 is the latest completed run');

-- The arguments are checked.
SELECT throws_ok($$SELECT * FROM xorj.prune_scores(0, 7)$$, 'XJ422', 'invalid keep_runs: 0 must be 1 or more',
                 'keep_runs 0 is refused: the latest completed run is always kept');
SELECT throws_ok($$SELECT * FROM xorj.prune_scores(2, -1)$$, 'XJ422', 'invalid keep_days: -1 must be 0 or more',
                 'keep_days below 0 is refused');
SELECT throws_ok($$SELECT * FROM xorj.prune_scores(2, 7, 0)$$, 'XJ422', 'invalid max_partitions: 0 must be 1 or more',
                 'max_partitions below 1 is refused');

-- keep the last 4, and 7 days: c3 is 8 days old but among the last 4: kept
SELECT results_eq($$SELECT runs_pruned, rows_dropped, partitions_dropped, runs_kept, runs_left,
                           keep_runs, keep_days, busy FROM xorj.prune_scores(4, 7)$$,
                  $$VALUES (4, 5::bigint, 4, 4, 0, 4, 7, false)$$,
                  'keep 4 runs and 7 days: c1, c2 (old, outside the last 4), f1 and f0 (old, failed) are pruned, 5 rows in 4 partitions; 4 runs kept');
SELECT ok(pg_temp.part(:'c1') IS NULL AND pg_temp.part(:'c2') IS NULL
          AND pg_temp.part(:'f1') IS NULL AND pg_temp.part(:'f0') IS NULL,
          'their partitions are dropped');
SELECT ok(NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid = :'c1_oid'),
          'c1''s partition is gone from the catalog: dropped whole, not emptied row by row');
SELECT is((SELECT count(*)::int FROM xorj.trader_scores WHERE run_id IN (:'c1', :'c2', :'f1', :'f0')), 0,
          'none of their scores is left');
SELECT is((SELECT count(*)::int FROM xorj.scoring_runs
           WHERE id IN (:'c1', :'c2', :'f1', :'f0') AND scores_pruned_at IS NOT NULL), 4,
          'the four runs stay, marked pruned');
SELECT is((SELECT status::text FROM xorj.scoring_runs WHERE id = :'c1'), 'COMPLETED',
          'a pruned run keeps its status (history)');
SELECT ok(pg_temp.part(:'c3') IS NOT NULL
          AND (SELECT scores_pruned_at FROM xorj.scoring_runs WHERE id = :'c3') IS NULL,
          'c3, 8 days old but among the last 4 completed, is kept');
SELECT is((SELECT count(*)::int FROM xorj.trader_scores WHERE run_id IN (:'c3', :'c4', :'c5', :'c6')), 8,
          'the kept runs keep all their scores');

-- keep the last 2, and 7 days: c4 is outside the last 2 but 6 days old: kept
SELECT results_eq($$SELECT runs_pruned, rows_dropped, partitions_dropped, runs_kept, runs_left
                    FROM xorj.prune_scores(2, 7)$$,
                  $$VALUES (1, 2::bigint, 1, 3, 0)$$,
                  'keep 2 runs and 7 days: c3 (8 days, outside the last 2) is pruned, 2 rows');
SELECT ok(pg_temp.part(:'c3') IS NULL, 'c3''s partition is dropped');
SELECT ok(pg_temp.part(:'c4') IS NOT NULL
          AND (SELECT scores_pruned_at FROM xorj.scoring_runs WHERE id = :'c4') IS NULL,
          'c4, outside the last 2 but younger than 7 days, is kept');

-- again: nothing left to do
SELECT results_eq($$SELECT runs_pruned, rows_dropped, partitions_dropped, runs_kept, runs_left
                    FROM xorj.prune_scores(2, 7)$$,
                  $$VALUES (0, 0::bigint, 0, 3, 0)$$, 'a second call prunes nothing');

-- at most max_partitions partitions a call, oldest first; the rest is left for the next
SELECT results_eq($$SELECT runs_pruned, rows_dropped, partitions_dropped, runs_kept, runs_left
                    FROM xorj.prune_scores(1, 0, 1)$$,
                  $$VALUES (1, 2::bigint, 1, 2, 1)$$,
                  'keep 1 run and 0 days, one partition a call: c4 is pruned, c5 left for the next call');
SELECT ok(pg_temp.part(:'c4') IS NULL AND pg_temp.part(:'c5') IS NOT NULL, 'the older of the two went first');

-- the limits of xorj.settings when none is given
UPDATE xorj.settings SET score_keep_runs = 1, score_keep_days = 0;
SELECT results_eq($$SELECT runs_pruned, rows_dropped, runs_kept, keep_runs, keep_days FROM xorj.prune_scores()$$,
                  $$VALUES (1, 2::bigint, 1, 1, 0)$$,
                  'without arguments, the limits of xorj.settings (1 run, 0 days): c5 is pruned');

-- never the latest completed run, never an unfinished one
SELECT ok(pg_temp.part(:'c6') IS NOT NULL
          AND (SELECT scores_pruned_at FROM xorj.scoring_runs WHERE id = :'c6') IS NULL,
          'the latest completed run is kept, whatever the limits');
SELECT ok(pg_temp.part(:'p1') IS NOT NULL AND pg_temp.part(:'r1') IS NOT NULL
          AND (SELECT count(*) FROM xorj.scoring_runs
               WHERE id IN (:'p1', :'r1') AND scores_pruned_at IS NULL) = 2,
          'a PENDING and a RUNNING run of 30 days are kept');
SELECT is((SELECT count(*)::int FROM xorj.trader_scores WHERE run_id = :'r1'), 1,
          'the RUNNING run keeps its score');
SELECT results_eq($$SELECT runs_pruned, partitions_dropped FROM xorj.prune_scores(1, 0)$$,
                  $$VALUES (0, 0)$$, 'with the tightest limits, nothing else is pruned');

-- the run keeps loading and completes; then the previous latest may go
SELECT api.complete_scoring_run(:'r1', '[]') \gset ignored_
SELECT results_eq($$SELECT runs_pruned, rows_dropped FROM xorj.prune_scores(1, 0)$$,
                  $$VALUES (1, 2::bigint)$$,
                  'once r1 completes it is the latest: c6 is pruned');
SELECT is((SELECT wallet_address FROM api.ranked_traders(10, 0)), tests.addr(1),
          'api.ranked_traders reads the latest completed run, kept');

-- one call at a time: the advisory lock of the retention is held until the end of the
-- transaction
SELECT is((SELECT count(*)::int FROM pg_catalog.pg_locks
           WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
             AND classid = 2020569706 AND objid = 1935896434 AND objsubid = 2),
          1, 'prune_scores holds its transaction-level advisory lock');

-- reading a pruned run's scores: XJ404 saying so
SELECT tests.act_as('xorj_api');
SELECT throws_ok(format('SELECT * FROM api.run_scores(%L)', :'c1'), 'XJ404',
                 format('scoring run %s: its scores were pruned', :'c1'),
                 'api.run_scores of a pruned run is XJ404, saying its scores were pruned');
SELECT tests.error_of(format('SELECT * FROM api.run_scores(%L)', :'c1')) -> 'facts' AS facts \gset
SELECT is(:'facts'::jsonb - 'text' - 'scores_pruned_at',
          jsonb_build_object('what', 'scores of scoring run', 'key', :'c1', 'reason', 'scores_pruned'),
          'its facts: what, key (the run) and reason scores_pruned');
SELECT ok((:'facts'::jsonb ->> 'scores_pruned_at')::timestamptz IS NOT NULL, 'and when they were pruned');
SELECT throws_ok(format('SELECT * FROM api.run_scores(%L)', :'f0'), 'XJ404',
                 format('scoring run %s: its scores were pruned', :'f0'),
                 'a failed run with no score, pruned, answers the same');
SELECT is((SELECT count(*)::int FROM api.run_scores(:'r1')), 1, 'a kept run is read as before');
SELECT throws_ok('SELECT * FROM api.run_scores(''00000000-0000-4000-8000-0000000000ff'')', 'XJ404',
                 'scoring run 00000000-0000-4000-8000-0000000000ff not found',
                 'a run that does not exist is still "not found"');
SELECT tests.act_as(NULL);

-- scores_pruned_at against direct SQL
SELECT throws_ok(format('UPDATE xorj.scoring_runs SET scores_pruned_at = now() WHERE id = %L', :'r1'), 'XJ423',
                 format('scoring run %s still holds scores: scores_pruned_at is set once they are dropped', :'r1'),
                 'a run that holds scores cannot be marked pruned');
SELECT throws_ok(format('UPDATE xorj.scoring_runs SET scores_pruned_at = now() WHERE id = %L', :'p1'), 'XJ423',
                 format('scoring run %s is PENDING: only the scores of a finished run are pruned', :'p1'),
                 'an unfinished run cannot be marked pruned');
SELECT throws_ok(format('UPDATE xorj.scoring_runs SET scores_pruned_at = NULL WHERE id = %L', :'c1'), 'XJ423',
                 format('scoring run %s: its scores were pruned; scores_pruned_at cannot change', :'c1'),
                 'a pruned run stays pruned');
SELECT throws_ok(format('UPDATE xorj.scoring_runs SET scores_pruned_at = now() - interval ''1 day'' WHERE id = %L', :'c1'),
                 'XJ423', format('scoring run %s: its scores were pruned; scores_pruned_at cannot change', :'c1'),
                 'nor is its time rewritten');
INSERT INTO xorj.scoring_runs (id, scores_pruned_at) VALUES ('00000000-0000-4000-8000-0000000000f1', now());
SELECT is((SELECT scores_pruned_at FROM xorj.scoring_runs WHERE id = '00000000-0000-4000-8000-0000000000f1'), NULL,
          'a new run is not pruned, whatever the INSERT says');
SELECT throws_ok(format('UPDATE xorj.scoring_runs SET error_message = ''x'' WHERE id = %L', :'c1'), 'XJ423', NULL,
                 'a pruned (COMPLETED) run is otherwise as final as before');

-- the scores still never leave another way
SELECT throws_ok(format('DELETE FROM xorj.trader_scores WHERE run_id = %L', :'r1'), 'XJ423',
                 'trader scores are immutable: DELETE is not allowed', 'DELETE of scores is still refused');

-- only the owner prunes
SELECT ok(NOT has_function_privilege(r, 'xorj.prune_scores(integer, integer, integer)', 'EXECUTE'),
          format('%s may not call xorj.prune_scores', r))
FROM unnest(ARRAY['xorj_api', 'xorj_engine', 'xorj_bot', 'xorj_readonly']) AS r;

SELECT * FROM finish();
ROLLBACK;
