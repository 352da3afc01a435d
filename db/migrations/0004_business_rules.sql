-- depends: 0003_trade_events
-- Tables and indexes the business rules of procedures/ rely on.

-- One row of settings, read by the rules (the duplicate window of trades).
CREATE TABLE xorj.settings (
    singleton        boolean PRIMARY KEY DEFAULT true,
    duplicate_window interval NOT NULL DEFAULT interval '5 minutes',
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT settings_one_row CHECK (singleton),
    CONSTRAINT settings_duplicate_window_range
        CHECK (duplicate_window > interval '0' AND duplicate_window <= interval '1 day')
);
INSERT INTO xorj.settings DEFAULT VALUES;
CREATE TRIGGER settings_touch BEFORE INSERT OR UPDATE ON xorj.settings
    FOR EACH ROW EXECUTE FUNCTION xorj.touch_updated_at();

-- At most one trade in flight (PENDING or SUBMITTED) per vault and token pair, even
-- against direct SQL: the in-flight rule's last line of defence.
CREATE UNIQUE INDEX trades_one_in_flight_per_pair_key
    ON xorj.trades (user_vault_address, from_token_address, to_token_address)
    WHERE status IN ('PENDING', 'SUBMITTED');

-- The audit trail of bot on/off changes and vault registrations.
CREATE TABLE xorj.bot_state_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       xorj.solana_address NOT NULL,
    enabled       boolean NOT NULL,
    vault_address xorj.solana_address,
    actor         text NOT NULL,
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT bot_state_events_actor_length CHECK (length(actor) BETWEEN 1 AND 200)
);
CREATE INDEX bot_state_events_user_idx ON xorj.bot_state_events (user_id, id);

CREATE INDEX trades_vault_confirmed_idx
    ON xorj.trades (user_vault_address, completed_at DESC)
    WHERE status = 'CONFIRMED';
