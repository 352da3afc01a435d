-- Scoring runs and scores for reporting. Read by xorj_readonly only.

CREATE OR REPLACE VIEW api.active_scoring_runs AS
    SELECT r.id, r.status, r.started_at, r.completed_at, r.error_message,
           r.created_at, r.updated_at
    FROM xorj.scoring_runs r
    WHERE r.status IN ('PENDING', 'RUNNING');
COMMENT ON VIEW api.active_scoring_runs IS 'Scoring runs not yet finished (PENDING or RUNNING)';

-- The scores of the latest COMPLETED run only (the view xorj.latest_completed_run: newest
-- completed_at, then highest id, as api.ranked_traders), ranked: best score first, ties
-- by wallet_address, in rank order. The run is found by uncorrelated scalar subqueries
-- (computed once, from index scoring_runs_latest_completed_idx), so the scores are read
-- in the order of trader_scores_run_rank_idx: `SELECT ... LIMIT n` stops after n rows.
CREATE OR REPLACE VIEW api.latest_trader_scores AS
    SELECT row_number() OVER (ORDER BY s.xorj_trust_score DESC, s.wallet_address) AS rank,
           s.wallet_address::text AS wallet_address,
           s.xorj_trust_score,
           s.metrics,
           s.run_id,
           (SELECT l.completed_at FROM xorj.latest_completed_run l) AS completed_at
    FROM xorj.trader_scores s
    WHERE s.run_id = (SELECT l.id FROM xorj.latest_completed_run l)
    ORDER BY s.xorj_trust_score DESC, s.wallet_address;
COMMENT ON VIEW api.latest_trader_scores IS
    'Ranked trader scores of the latest COMPLETED scoring run';

REVOKE ALL ON api.active_scoring_runs, api.latest_trader_scores FROM PUBLIC;
GRANT SELECT ON api.active_scoring_runs, api.latest_trader_scores TO xorj_readonly;
