-- api.bot_status of a wallet never seen: the well-defined default (bot disabled, no
-- vault, zero performance, default configuration), and a status read writes nothing.
-- Invalid wallets are XJ422 naming 'wallet'; only xorj_api may call it.
BEGIN;
SELECT plan(14);
SELECT (SELECT count(*) FROM xorj.bot_states) AS states_before,
       (SELECT count(*) FROM xorj.bot_state_events) AS events_before,
       (SELECT count(*) FROM xorj.user_settings) AS settings_before \gset

SELECT is_definer('api', 'bot_status', ARRAY[]::text[], 'api.bot_status is SECURITY DEFINER');

SELECT tests.act_as('xorj_api');

SELECT is(
    tests.bot_status('So11111111111111111111111111111111111111112'),
    '{"user_id": "So11111111111111111111111111111111111111112",
      "status": "stopped", "isBotActive": false, "vaultAddress": null, "canTrade": false,
      "last_execution": null,
      "configuration": {"risk_profile": "Balanced", "slippage_tolerance": 1.0,
                        "enabled": false, "max_trade_amount": null},
      "performance": {"total_trades": 0, "confirmed_trades": 0, "failed_trades": 0,
                      "pending_trades": 0, "success_rate": 0, "total_volume": "0",
                      "last_trade_at": null},
      "circuit_breakers": {"trading_halted": true, "vault_registered": false,
                           "in_flight_trades": 0, "consecutive_failures": 0,
                           "last_failure_at": null, "max_drawdown_limit": 15,
                           "stop_loss_enabled": true, "take_profit_enabled": true}}'::jsonb,
    'a wallet never seen: stopped, no vault, cannot trade, zero performance, default configuration');

SELECT is(tests.bot_status('So11111111111111111111111111111111111111112') -> 'performance' ->> 'total_volume',
          '0', 'total_volume is the JSON string "0" (u64 kept exact as a string)');

SELECT throws_ok($$SELECT tests.bot_status('not-a-wallet')$$, 'XJ422',
    'invalid wallet: is not a Solana address', 'a malformed wallet is XJ422');
SELECT is(tests.error_of($$SELECT tests.bot_status('0OIl0OIl0OIl0OIl0OIl0OIl0OIl0OIl')$$) ->> 'column',
          'wallet', 'the XJ422 of a non-base58 wallet names the column wallet');
SELECT throws_ok($$SELECT tests.bot_status(NULL)$$, '42501',
    'no verified caller: request.jwt.claims is not set in this transaction',
    'without claims (no verified wallet) the status is refused with 42501');

SELECT tests.act_as(NULL);

SELECT is((SELECT count(*) FROM xorj.bot_states), :states_before::bigint,
          'a status read creates no bot_states row');
SELECT is((SELECT count(*) FROM xorj.bot_state_events), :events_before::bigint,
          'a status read writes no audit row');
SELECT is((SELECT count(*) FROM xorj.user_settings), :settings_before::bigint,
          'a status read creates no user_settings row');

-- The defaults of xorj.effective_settings (used for a wallet that never saved settings)
-- are the column defaults of xorj.user_settings.
INSERT INTO xorj.user_settings (wallet_address) VALUES ('EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v');
SELECT is(
    (SELECT to_jsonb(e) - ARRAY['id', 'wallet_address', 'version', 'created_at', 'updated_at']
       FROM xorj.effective_settings('So11111111111111111111111111111111111111112') e),
    (SELECT to_jsonb(s) - ARRAY['id', 'wallet_address', 'version', 'created_at', 'updated_at']
       FROM xorj.user_settings s WHERE wallet_address = 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v'),
    'the default settings of an unsaved wallet equal the column defaults of user_settings');

-- Only xorj_api may read a bot's status.
SELECT tests.act_as('xorj_engine');
SELECT throws_ok($$SELECT tests.bot_status('So11111111111111111111111111111111111111112')$$,
    '42501', NULL, 'xorj_engine may not call api.bot_status');
SELECT tests.act_as('xorj_bot');
SELECT throws_ok($$SELECT tests.bot_status('So11111111111111111111111111111111111111112')$$,
    '42501', NULL, 'xorj_bot may not call api.bot_status');
SELECT tests.act_as('xorj_readonly');
SELECT throws_ok($$SELECT tests.bot_status('So11111111111111111111111111111111111111112')$$,
    '42501', NULL, 'xorj_readonly may not call api.bot_status');
SELECT tests.act_as(NULL);
SELECT function_privs_are('api', 'bot_status', ARRAY[]::text[], 'public', ARRAY[]::text[],
    'PUBLIC has no privilege on api.bot_status');

SELECT * FROM finish();
ROLLBACK;
