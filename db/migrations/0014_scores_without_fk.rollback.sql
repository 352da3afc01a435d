-- Back to 0013: the foreign key of the scores to their run, as 0008 defined it (ON
-- DELETE RESTRICT), added to the partitioned table and so cloned onto every partition,
-- each row checked once.
ALTER TABLE xorj.trader_scores
    ADD CONSTRAINT trader_scores_run_id_fkey FOREIGN KEY (run_id)
        REFERENCES xorj.scoring_runs (id) ON DELETE RESTRICT;
