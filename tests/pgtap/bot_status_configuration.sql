-- api.bot_status: the configuration block comes from the data: risk_profile from the
-- user's settings (Balanced when never saved), slippage_tolerance from
-- bot_states.configuration (1.0 percent when absent), max_trade_amount from
-- bot_states.configuration, else the user's investmentAmount, else null; the circuit
-- breakers carry the user's limits.
BEGIN;
SELECT plan(12);

DO $$ BEGIN
    PERFORM tests.enable_bot('So11111111111111111111111111111111111111112',
                           'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v');
END $$;

SELECT tests.act_as('xorj_api');
SELECT is(tests.bot_status('So11111111111111111111111111111111111111112') -> 'configuration',
          '{"risk_profile": "Balanced", "slippage_tolerance": 1.0, "enabled": true,
            "max_trade_amount": null}'::jsonb,
          'no settings, no configuration: Balanced, 1.0 % slippage, no max trade amount');

DO $$ BEGIN
    PERFORM tests.update_user_settings('So11111111111111111111111111111111111111112',
        '{"riskProfile": "Aggressive", "investmentAmount": 2500, "maxDrawdownLimit": 30,
          "stopLossEnabled": false}');
END $$;
SELECT is(tests.bot_status('So11111111111111111111111111111111111111112') -> 'configuration' ->> 'risk_profile',
          'Aggressive', 'risk_profile comes from the saved settings');
SELECT is(tests.bot_status('So11111111111111111111111111111111111111112') -> 'configuration' -> 'max_trade_amount',
          '2500'::jsonb, 'max_trade_amount falls back to the investmentAmount');
SELECT is(tests.bot_status('So11111111111111111111111111111111111111112') -> 'circuit_breakers' -> 'max_drawdown_limit',
          '30'::jsonb, 'the circuit breakers carry the saved maxDrawdownLimit');
SELECT is(tests.bot_status('So11111111111111111111111111111111111111112') -> 'circuit_breakers' -> 'stop_loss_enabled',
          'false'::jsonb, 'the circuit breakers carry the saved stopLossEnabled');
SELECT is(tests.bot_status('So11111111111111111111111111111111111111112') -> 'circuit_breakers' -> 'take_profit_enabled',
          'true'::jsonb, 'takeProfitEnabled not saved: its default');
SELECT tests.act_as(NULL);

UPDATE xorj.bot_states SET configuration = '{"slippage_tolerance": 0.5, "max_trade_amount": 100}'
 WHERE user_id = 'So11111111111111111111111111111111111111112';
SELECT tests.act_as('xorj_api');
SELECT is(tests.bot_status('So11111111111111111111111111111111111111112') -> 'configuration' -> 'slippage_tolerance',
          '0.5'::jsonb, 'slippage_tolerance comes from the bot''s configuration');
SELECT is(tests.bot_status('So11111111111111111111111111111111111111112') -> 'configuration' -> 'max_trade_amount',
          '100'::jsonb, 'the bot''s max_trade_amount takes precedence over the investmentAmount');
SELECT is(tests.bot_status('So11111111111111111111111111111111111111112') -> 'configuration' -> 'enabled',
          'true'::jsonb, 'configuration.enabled is the bot''s enabled');
SELECT tests.act_as(NULL);

UPDATE xorj.bot_states SET configuration = '{"slippage_tolerance": null, "max_trade_amount": null}'
 WHERE user_id = 'So11111111111111111111111111111111111111112';
SELECT tests.act_as('xorj_api');
SELECT is(tests.bot_status('So11111111111111111111111111111111111111112') -> 'configuration' -> 'slippage_tolerance',
          '1.0'::jsonb, 'a JSON null slippage_tolerance falls back to 1.0');
SELECT is(tests.bot_status('So11111111111111111111111111111111111111112') -> 'configuration' -> 'max_trade_amount',
          '2500'::jsonb, 'a JSON null max_trade_amount falls back to the investmentAmount');

DO $$ BEGIN
    PERFORM tests.disable_bot('So11111111111111111111111111111111111111112');
END $$;
SELECT is(tests.bot_status('So11111111111111111111111111111111111111112') -> 'configuration' -> 'enabled',
          'false'::jsonb, 'configuration.enabled follows a disable');
SELECT tests.act_as(NULL);

SELECT * FROM finish();
ROLLBACK;
