-- depends: 0006_application_login
-- Where a trade was executed: 'live' (the real Solana chain, the only trades that count
-- in a user's performance), 'localnet' (a local validator) or 'simulated' (the simulated
-- chain of app/chain/sim.py). Set when the trade is created (api.create_trade's
-- p_venue), never changed (procedures/trades_guard.sql). The trades recorded before this
-- migration cannot be told apart (a bot of that time ran on the simulated chain by
-- default): they become 'live' (the default), counted as they were counted until now.

ALTER TABLE xorj.trades
    ADD COLUMN venue text NOT NULL DEFAULT 'live',
    ADD CONSTRAINT trades_venue_known CHECK (venue IN ('live', 'localnet', 'simulated'));

-- One trade in flight per vault and token pair, per venue: a trade on a local validator
-- or the simulated chain never blocks the live one (procedures/trades_create.sql's rules
-- in flight and recent repeat look at the same venue only).
DROP INDEX xorj.trades_one_in_flight_per_pair_key;
CREATE UNIQUE INDEX trades_one_in_flight_per_pair_key
    ON xorj.trades (user_vault_address, from_token_address, to_token_address, venue)
    WHERE status IN ('PENDING', 'SUBMITTED');
