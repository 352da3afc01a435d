-- Trades waiting on the bot (views of the original system). Read by xorj_readonly.

CREATE OR REPLACE VIEW api.pending_trades AS
    SELECT t.id, t.job_id, t.user_vault_address, t.client_order_id, t.status,
           t.from_token_address, t.to_token_address, t.amount_in, t.expected_amount_out,
           t.created_at, t.updated_at
    FROM xorj.trades t
    WHERE t.status = 'PENDING';
COMMENT ON VIEW api.pending_trades IS 'Trades created and not yet submitted, oldest first by created_at';

CREATE OR REPLACE VIEW api.submitted_trades AS
    SELECT t.id, t.job_id, t.user_vault_address, t.client_order_id, t.status,
           t.from_token_address, t.to_token_address, t.amount_in, t.expected_amount_out,
           t.transaction_signature, t.submitted_at, t.created_at, t.updated_at
    FROM xorj.trades t
    WHERE t.status = 'SUBMITTED';
COMMENT ON VIEW api.submitted_trades IS 'Trades broadcast and awaiting confirmation';

REVOKE ALL ON api.pending_trades, api.submitted_trades FROM PUBLIC;
GRANT SELECT ON api.pending_trades, api.submitted_trades TO xorj_readonly;
