-- api.enabled_bots: the execution bot's planner input. Every enabled bot with a
-- registered vault, with the settings it trades with (saved, else the defaults), by
-- wallet; disabled bots and bots without a vault are left out. Only xorj_bot may call it.
BEGIN;
SELECT plan(8);

SELECT is_definer('api', 'enabled_bots', ARRAY[]::text[], 'api.enabled_bots is SECURITY DEFINER');

-- Bots of a database that is not empty (a restored backup) are left out of the checks.
CREATE TEMP TABLE pre_existing_bots AS SELECT user_id FROM xorj.bot_states;
GRANT SELECT ON pre_existing_bots TO PUBLIC;

-- As the API would: four wallets in different states.
SELECT tests.act_as('xorj_api');
DO $$ BEGIN
    -- enabled with a vault, settings saved
    PERFORM tests.enable_bot('So11111111111111111111111111111111111111112',
                           'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v');
    PERFORM tests.update_user_settings('So11111111111111111111111111111111111111112',
        '{"riskProfile": "Conservative", "investmentAmount": 1234.5, "maxDrawdownLimit": 10,
          "positionSizePercent": 2}');
    -- enabled with a vault, never saved settings
    PERFORM tests.enable_bot('11111111111111111111111111111111',
                           'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB');
    -- enabled without a vault
    PERFORM tests.enable_bot('9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM');
    -- disabled with a vault
    PERFORM tests.enable_bot('DRiP2Pn2K6fuMLKQmt5rZWyHiUZ6WK3GChEySUpHSS4x',
                           '4k3Dyjzvzp8eMZWUXbBCjEvwSkkk59S5iCNLY3QrkX6R');
    PERFORM tests.disable_bot('DRiP2Pn2K6fuMLKQmt5rZWyHiUZ6WK3GChEySUpHSS4x');
END $$;
SELECT throws_ok($$SELECT * FROM api.enabled_bots()$$, '42501', NULL,
                 'xorj_api may not call api.enabled_bots');
SELECT tests.act_as(NULL);

SELECT tests.act_as('xorj_bot');
SELECT results_eq(
    $$SELECT * FROM api.enabled_bots()
       WHERE user_id NOT IN (SELECT user_id FROM pre_existing_bots)$$,
    $$VALUES ('11111111111111111111111111111111', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB',
              'Balanced', NULL::numeric, 15::numeric, 5::numeric),
             ('So11111111111111111111111111111111111111112', 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v',
              'Conservative', 1234.5, 10, 2)$$,
    'enabled bots with a vault, by wallet, with their settings or the defaults');
SELECT ok(NOT EXISTS (SELECT 1 FROM api.enabled_bots()
                       WHERE user_id = '9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM'),
          'an enabled bot without a vault is not planned');
SELECT ok(NOT EXISTS (SELECT 1 FROM api.enabled_bots()
                       WHERE user_id = 'DRiP2Pn2K6fuMLKQmt5rZWyHiUZ6WK3GChEySUpHSS4x'),
          'a disabled bot is not planned');
SELECT tests.act_as(NULL);

-- Registering the vault makes the third wallet plannable.
SELECT tests.act_as('xorj_api');
DO $$ BEGIN
    PERFORM tests.enable_bot('9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM',
                           'DRiP2Pn2K6fuMLKQmt5rZWyHiUZ6WK3GChEySUpHSS4x');
END $$;
SELECT tests.act_as('xorj_bot');
SELECT is((SELECT vault_address FROM api.enabled_bots()
            WHERE user_id = '9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM'),
          'DRiP2Pn2K6fuMLKQmt5rZWyHiUZ6WK3GChEySUpHSS4x',
          'once its vault is registered the bot is planned');
SELECT tests.act_as(NULL);

SELECT tests.act_as('xorj_engine');
SELECT throws_ok($$SELECT * FROM api.enabled_bots()$$, '42501', NULL,
                 'xorj_engine may not call api.enabled_bots');
SELECT tests.act_as(NULL);
SELECT function_privs_are('api', 'enabled_bots', ARRAY[]::text[], 'public', ARRAY[]::text[],
    'PUBLIC has no privilege on api.enabled_bots');

SELECT * FROM finish();
ROLLBACK;
