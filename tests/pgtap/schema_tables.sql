BEGIN;
SELECT plan(3);
SELECT has_schema('xorj');
SELECT has_schema('api');
SELECT tables_are('xorj', ARRAY['scoring_runs', 'trader_scores', 'execution_jobs', 'trades',
                                'bot_states', 'user_settings', 'trade_events']);
SELECT * FROM finish();
ROLLBACK;
