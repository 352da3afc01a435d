DROP TABLE IF EXISTS xorj.user_settings CASCADE;
DROP TABLE IF EXISTS xorj.bot_states CASCADE;
DROP TABLE IF EXISTS xorj.trades CASCADE;
DROP TABLE IF EXISTS xorj.execution_jobs CASCADE;
DROP TABLE IF EXISTS xorj.trader_scores CASCADE;
DROP TABLE IF EXISTS xorj.scoring_runs CASCADE;
DROP FUNCTION IF EXISTS xorj.touch_updated_at();
