DROP TABLE IF EXISTS xorj.user_settings;
DROP TABLE IF EXISTS xorj.bot_states;
DROP TABLE IF EXISTS xorj.trades;
DROP TABLE IF EXISTS xorj.execution_jobs;
DROP TABLE IF EXISTS xorj.trader_scores;
DROP TABLE IF EXISTS xorj.scoring_runs;
DROP FUNCTION IF EXISTS xorj.touch_updated_at();
