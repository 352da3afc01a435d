DROP INDEX IF EXISTS xorj.trades_vault_confirmed_idx;
DROP TABLE IF EXISTS xorj.bot_state_events CASCADE;
DROP INDEX IF EXISTS xorj.trades_one_in_flight_per_pair_key;
DROP TABLE IF EXISTS xorj.settings CASCADE;
