-- Back to the indexes of 0007 and the figures computed from the whole log. As with the
-- other rollbacks, procedures/ stay as they are (api.bot_status names
-- xorj.vault_trade_stats and works again once it is back, or once the previous release's
-- procedures have replaced it); the triggers that keep the figures are dropped here, or
-- every write of a trade would fail without their table.
DROP TRIGGER IF EXISTS trades_stats_insert ON xorj.trades;
DROP TRIGGER IF EXISTS trades_stats_move ON xorj.trades;
DROP FUNCTION IF EXISTS xorj.trades_stats();
DROP TABLE IF EXISTS xorj.vault_trade_stats;
DROP INDEX IF EXISTS xorj.trades_claim_order_idx;
DROP INDEX IF EXISTS xorj.trades_vault_failed_idx;
CREATE INDEX trades_pending_idx ON xorj.trades (created_at) WHERE status = 'PENDING';
CREATE INDEX trades_submitted_idx ON xorj.trades (submitted_at) WHERE status = 'SUBMITTED';
CREATE INDEX trades_job_idx ON xorj.trades (job_id);
CREATE INDEX trades_vault_pair_amount_time_idx
    ON xorj.trades (user_vault_address, from_token_address, to_token_address,
                    amount_in, created_at DESC);
CREATE INDEX trades_vault_confirmed_idx
    ON xorj.trades (user_vault_address, completed_at DESC)
    WHERE status = 'CONFIRMED';
CREATE INDEX trades_unfinished_claim_idx
    ON xorj.trades (claim_expires_at NULLS FIRST)
    WHERE status IN ('PENDING', 'SUBMITTED');
