-- depends: 0014_scores_without_fk

-- The rank index of the scores is built once a run's scores are all in, not row by row.
--
-- trader_scores_run_rank_idx (run_id, xorj_trust_score DESC, wallet_address: the order
-- of api.ranked_traders and api.run_scores) was a partitioned index (0008): every
-- partition held its part from the moment the run was created, so each score loaded
-- went into it at a random place (scores arrive in the engine's order, not in rank
-- order). Measured on 1,000,000 scores of one run, with the run's keys: 25.4 s with that
-- index filled row by row, 12.3 s without it plus 3.6 s to build it afterwards in one
-- sorted pass.
--
-- From here on the index of each run is its partition's own index,
-- trader_scores_<run>_run_rank_idx (the name its part had), built when the run is
-- COMPLETED, in the same transaction, whoever completes it: trigger
-- scoring_runs_rank_index (procedures/scoring.sql). A RUNNING run's partition has its
-- keys (the primary key and one score per wallet) and no rank index; nothing ranks a
-- run before it completes (api.ranked_traders reads the latest COMPLETED run), and
-- api.run_scores of a RUNNING run sorts what it has. A COMPLETED run takes no more
-- scores (its guard), so its index never changes after that.
--
-- The index is a speed, not a rule: the keys and checks of the scores stay where they
-- were, on the partitioned table and so on every partition.
--
-- Dropping the partitioned index drops its part on every partition; each is built again
-- here under the same name, on every partition there is (the runs already COMPLETED,
-- trader_scores_legacy, and a RUNNING run's, which then keeps it).
DROP INDEX xorj.trader_scores_run_rank_idx;

DO $$
DECLARE
    v_part regclass;
BEGIN
    FOR v_part IN
        SELECT i.inhrelid::regclass FROM pg_catalog.pg_inherits i
        WHERE i.inhparent = 'xorj.trader_scores'::regclass
        ORDER BY 1
    LOOP
        EXECUTE format('CREATE INDEX %I ON %s (run_id, xorj_trust_score DESC, wallet_address)',
                       (SELECT c.relname FROM pg_catalog.pg_class c WHERE c.oid = v_part)
                           || '_run_rank_idx',
                       v_part);
    END LOOP;
END
$$;
