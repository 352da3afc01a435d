-- Unique constraints of 0002: the idempotency key of trades (vault, client_order_id),
-- one trade per signature, one bot per user and per vault, one settings row per wallet,
-- one score per trader per run. Each duplicate raises 23505 naming its constraint.
BEGIN;
SELECT plan(21);

-- Foundation alone: the business-rule triggers are disabled for this transaction
-- (tests/pgtap_helpers.sql says which and why).
SELECT tests.disable_rule_triggers();

-- Catalog: the unique constraints and their columns.
-- (Since 0011 the trade log is partitioned by month; its unique rules across months are
-- those of its key table, xorj.trade_keys, kept by a trigger with every trade write.)
SELECT col_is_unique('xorj', 'trade_keys', ARRAY['user_vault_address', 'client_order_id'],
    'xorj.trades is unique on (user_vault_address, client_order_id): xorj.trade_keys');
SELECT col_is_unique('xorj', 'trade_keys', ARRAY['transaction_signature'],
    'xorj.trades is unique on (transaction_signature): xorj.trade_keys');
SELECT col_is_unique('xorj', 'bot_states', ARRAY['user_id'], 'xorj.bot_states is unique on (user_id)');
SELECT col_is_unique('xorj', 'bot_states', ARRAY['vault_address'],
    'xorj.bot_states is unique on (vault_address)');
SELECT col_is_unique('xorj', 'user_settings', ARRAY['wallet_address'],
    'xorj.user_settings is unique on (wallet_address)');
SELECT col_is_unique('xorj', 'trader_scores', ARRAY['run_id', 'wallet_address'],
    'xorj.trader_scores is unique on (run_id, wallet_address)');

-- trades: the idempotency key (user_vault_address, client_order_id).
INSERT INTO xorj.execution_jobs (id, trigger_reason)
VALUES ('00000000-0000-4000-8000-00000000b001', 'SCHEDULED_RUN');
INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address,
                         to_token_address, amount_in, expected_amount_out)
VALUES ('00000000-0000-4000-8000-00000000b001', '11111111111111111111111111111111', 'order-1',
        'So11111111111111111111111111111111111111112',
        'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 1000000, 990000);

-- (The repeat uses the reverse token pair, so only the idempotency key is in the way.)
SELECT throws_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address,
                             to_token_address, amount_in, expected_amount_out)
    VALUES ('00000000-0000-4000-8000-00000000b001', '11111111111111111111111111111111', 'order-1',
            'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v',
            'So11111111111111111111111111111111111111112', 5, 5)
$$, '23505', 'duplicate key value violates unique constraint "trades_vault_client_order_key"',
    'a second trade with the same vault and client_order_id raises 23505 trades_vault_client_order_key');
SELECT lives_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address,
                             to_token_address, amount_in, expected_amount_out)
    VALUES ('00000000-0000-4000-8000-00000000b001', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB',
            'order-1', 'So11111111111111111111111111111111111111112',
            'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 1000000, 990000)
$$, 'the same client_order_id for another vault is accepted');
SELECT lives_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address,
                             to_token_address, amount_in, expected_amount_out)
    VALUES ('00000000-0000-4000-8000-00000000b001', '11111111111111111111111111111111', 'order-2',
            'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v',
            'So11111111111111111111111111111111111111112', 5, 5)
$$, 'another client_order_id for the same vault is accepted');
SELECT is((SELECT count(*)::int FROM xorj.trades WHERE client_order_id = 'order-1'),
          2, 'order-1 exists once per vault, twice in all');

-- trades: transaction_signature (NULL until submitted, so many NULLs are fine).
SELECT is((SELECT count(*)::int FROM xorj.trades
            WHERE transaction_signature IS NULL AND job_id = '00000000-0000-4000-8000-00000000b001'),
          3, 'several trades without a signature (NULL) coexist');
SELECT lives_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address,
                             to_token_address, amount_in, expected_amount_out, transaction_signature)
    VALUES ('00000000-0000-4000-8000-00000000b001', 'So11111111111111111111111111111111111111112',
            'sig-1', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB',
            'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 7, 7, repeat('5', 88))
$$, 'a trade with a signature is accepted');
SELECT throws_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address,
                             to_token_address, amount_in, expected_amount_out, transaction_signature)
    VALUES ('00000000-0000-4000-8000-00000000b001', 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v',
            'sig-2', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB',
            'So11111111111111111111111111111111111111112', 7, 7, repeat('5', 88))
$$, '23505', 'duplicate key value violates unique constraint "trades_transaction_signature_key"',
    'a second trade with the same transaction_signature raises 23505 trades_transaction_signature_key');

-- bot_states: one row per user, one per vault (a bot without a vault yet is fine).
INSERT INTO xorj.bot_states (user_id, vault_address)
VALUES ('So11111111111111111111111111111111111111112', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB');
SELECT throws_ok($$
    INSERT INTO xorj.bot_states (user_id, vault_address)
    VALUES ('So11111111111111111111111111111111111111112', 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v')
$$, '23505', 'duplicate key value violates unique constraint "bot_states_user_id_key"',
    'a second bot for the same user_id raises 23505 bot_states_user_id_key');
SELECT throws_ok($$
    INSERT INTO xorj.bot_states (user_id, vault_address)
    VALUES ('EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB')
$$, '23505', 'duplicate key value violates unique constraint "bot_states_vault_address_key"',
    'a second bot for the same vault_address raises 23505 bot_states_vault_address_key');
SELECT lives_ok($$
    INSERT INTO xorj.bot_states (user_id, vault_address)
    VALUES ('EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', NULL),
           ('11111111111111111111111111111111', NULL)
$$, 'two bots without a vault (NULL) are accepted');

-- user_settings: one row per wallet.
INSERT INTO xorj.user_settings (wallet_address) VALUES ('So11111111111111111111111111111111111111112');
SELECT throws_ok($$
    INSERT INTO xorj.user_settings (wallet_address) VALUES ('So11111111111111111111111111111111111111112')
$$, '23505', 'duplicate key value violates unique constraint "user_settings_wallet_address_key"',
    'a second settings row for the same wallet raises 23505 user_settings_wallet_address_key');
SELECT lives_ok($$
    INSERT INTO xorj.user_settings (wallet_address) VALUES ('EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v')
$$, 'settings for another wallet are accepted');

-- trader_scores: one score per trader per run.
INSERT INTO xorj.scoring_runs (id) VALUES
    ('00000000-0000-4000-8000-00000000a001'),
    ('00000000-0000-4000-8000-00000000a002');
INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score)
VALUES ('00000000-0000-4000-8000-00000000a001', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 80);
SELECT throws_ok($$
    INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score)
    VALUES ('00000000-0000-4000-8000-00000000a001', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 90)
$$, '23505', 'duplicate key value violates unique constraint "trader_scores_0000000000004000800000000000a001_run_wallet_key"',
    'a second score for the same trader in the same run raises 23505 (the run''s partition''s part of trader_scores_run_wallet_key)');
SELECT lives_ok($$
    INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score)
    VALUES ('00000000-0000-4000-8000-00000000a002', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 90)
$$, 'the same trader in another run is accepted');
SELECT lives_ok($$
    INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score)
    VALUES ('00000000-0000-4000-8000-00000000a001', 'So11111111111111111111111111111111111111112', 90)
$$, 'another trader in the same run is accepted');

SELECT * FROM finish();
ROLLBACK;
