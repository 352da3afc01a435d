-- The venue of each trade is forgotten. As with the other rollbacks, procedures/ stay as
-- they are: they name the column, and work again once it is back (`xorj db migrate`) or
-- once the previous release's procedures have replaced them (its `xorj db migrate`).
-- api.trades_held_by_others returns a row since 0007 (a bigint before): the previous
-- release's CREATE OR REPLACE cannot change a return type, so it is dropped here.
-- The in-flight key without the venue comes back (this fails, and the rollback with it,
-- while two venues hold the same vault and pair in flight: finish one first).
DROP FUNCTION IF EXISTS api.trades_held_by_others(text);
DROP FUNCTION IF EXISTS api.trades_held_by_others(text, text);
DROP INDEX IF EXISTS xorj.trades_one_in_flight_per_pair_key;
ALTER TABLE xorj.trades DROP COLUMN IF EXISTS venue CASCADE;
CREATE UNIQUE INDEX trades_one_in_flight_per_pair_key
    ON xorj.trades (user_vault_address, from_token_address, to_token_address)
    WHERE status IN ('PENDING', 'SUBMITTED');
