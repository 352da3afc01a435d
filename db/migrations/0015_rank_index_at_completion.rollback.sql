-- Back to 0014: trader_scores_run_rank_idx, a partitioned index again. CREATE INDEX on
-- the partitioned table takes each partition's own index of the same definition as its
-- part (those built by 0015 and at completion), and builds it where a partition has none
-- (a RUNNING run's). The trigger that built the index at completion goes with its
-- function.
DROP TRIGGER IF EXISTS scoring_runs_rank_index ON xorj.scoring_runs;
DROP FUNCTION IF EXISTS xorj.scoring_runs_rank_index();
CREATE INDEX trader_scores_run_rank_idx
    ON xorj.trader_scores (run_id, xorj_trust_score DESC, wallet_address);
