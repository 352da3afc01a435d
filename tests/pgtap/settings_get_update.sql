-- api.get_user_settings / api.update_user_settings: NULL until saved; a first save is
-- the defaults plus the patch at version 1; a patch changes only its keys; a change
-- bumps the version by 1, a save that changes nothing keeps it (and lastUpdated);
-- investmentAmount null clears it; one row per wallet; the grants.
BEGIN;
SELECT plan(31);

CREATE TEMP TABLE r (step text PRIMARY KEY, result jsonb);
GRANT ALL ON r TO PUBLIC;

SELECT is_definer('api', 'get_user_settings', ARRAY[]::text[], 'api.get_user_settings is SECURITY DEFINER');
SELECT is_definer('api', 'update_user_settings', ARRAY['jsonb', 'bigint'],
                  'api.update_user_settings is SECURITY DEFINER');

SELECT tests.act_as('xorj_api');
SELECT is(tests.get_user_settings('So11111111111111111111111111111111111111112'), NULL::jsonb,
          'a wallet that never saved has no settings (NULL)');

-- First save: defaults plus the patch, version 1.
INSERT INTO r VALUES ('first', tests.update_user_settings('So11111111111111111111111111111111111111112',
                                                        '{"riskProfile": "Aggressive"}'));
SELECT is((SELECT result - ARRAY['lastUpdated', 'createdAt'] FROM r WHERE step = 'first'),
          '{"walletAddress": "So11111111111111111111111111111111111111112",
            "riskProfile": "Aggressive", "maxDrawdownLimit": 15, "positionSizePercent": 5,
            "stopLossEnabled": true, "takeProfitEnabled": true, "investmentAmount": null,
            "version": 1}'::jsonb,
          'a first save is the defaults plus the patch, at version 1');
SELECT ok((SELECT (result ->> 'createdAt')::timestamptz IS NOT NULL
              AND (result ->> 'lastUpdated')::timestamptz >= (result ->> 'createdAt')::timestamptz
             FROM r WHERE step = 'first'),
          'createdAt and lastUpdated are timestamps, lastUpdated not before createdAt');
SELECT is(tests.get_user_settings('So11111111111111111111111111111111111111112'),
          (SELECT result FROM r WHERE step = 'first'),
          'get_user_settings returns what the save returned');
SELECT is((SELECT array_agg(k ORDER BY k)
             FROM jsonb_object_keys(tests.get_user_settings('So11111111111111111111111111111111111111112')) k),
          ARRAY['createdAt', 'investmentAmount', 'lastUpdated', 'maxDrawdownLimit',
                'positionSizePercent', 'riskProfile', 'stopLossEnabled', 'takeProfitEnabled',
                'version', 'walletAddress'],
          'the settings have exactly the keys of the original API plus version');

-- A patch of every field.
INSERT INTO r VALUES ('all', tests.update_user_settings('So11111111111111111111111111111111111111112',
    '{"riskProfile": "Conservative", "maxDrawdownLimit": 12.5, "positionSizePercent": 3,
      "stopLossEnabled": false, "takeProfitEnabled": false, "investmentAmount": 999.99}'));
SELECT is((SELECT result -> 'riskProfile' FROM r WHERE step = 'all'), '"Conservative"'::jsonb, 'riskProfile saved');
SELECT is((SELECT result -> 'maxDrawdownLimit' FROM r WHERE step = 'all'), '12.5'::jsonb, 'maxDrawdownLimit saved (fractions kept)');
SELECT is((SELECT result -> 'positionSizePercent' FROM r WHERE step = 'all'), '3'::jsonb, 'positionSizePercent saved');
SELECT is((SELECT result -> 'stopLossEnabled' FROM r WHERE step = 'all'), 'false'::jsonb, 'stopLossEnabled saved');
SELECT is((SELECT result -> 'takeProfitEnabled' FROM r WHERE step = 'all'), 'false'::jsonb, 'takeProfitEnabled saved');
SELECT is((SELECT result -> 'investmentAmount' FROM r WHERE step = 'all'), '999.99'::jsonb, 'investmentAmount saved as a number');
SELECT is((SELECT result -> 'version' FROM r WHERE step = 'all'), '2'::jsonb, 'a change bumps the version to 2');
SELECT is((SELECT result -> 'createdAt' FROM r WHERE step = 'all'),
          (SELECT result -> 'createdAt' FROM r WHERE step = 'first'), 'createdAt never changes');

-- A patch changes only its keys.
INSERT INTO r VALUES ('one', tests.update_user_settings('So11111111111111111111111111111111111111112',
                                                      '{"positionSizePercent": 25}'));
SELECT is((SELECT result - ARRAY['positionSizePercent', 'version', 'lastUpdated'] FROM r WHERE step = 'one'),
          (SELECT result - ARRAY['positionSizePercent', 'version', 'lastUpdated'] FROM r WHERE step = 'all'),
          'a one-key patch leaves the other settings as they were');
SELECT is((SELECT result -> 'version' FROM r WHERE step = 'one'), '3'::jsonb, 'version 3');

-- investmentAmount null clears it.
INSERT INTO r VALUES ('clear', tests.update_user_settings('So11111111111111111111111111111111111111112',
                                                        '{"investmentAmount": null}'));
SELECT is((SELECT result -> 'investmentAmount' FROM r WHERE step = 'clear'), 'null'::jsonb,
          'investmentAmount null clears it');
SELECT is((SELECT result -> 'version' FROM r WHERE step = 'clear'), '4'::jsonb, 'clearing is a change: version 4');

-- Saves that change nothing: same values, and an empty patch.
INSERT INTO r VALUES ('same', tests.update_user_settings('So11111111111111111111111111111111111111112',
    '{"riskProfile": "Conservative", "positionSizePercent": 25.0, "investmentAmount": null}'));
INSERT INTO r VALUES ('empty', tests.update_user_settings('So11111111111111111111111111111111111111112', '{}'));
SELECT is((SELECT result FROM r WHERE step = 'same'), (SELECT result FROM r WHERE step = 'clear'),
          'a save of the current values changes nothing: same version, same lastUpdated');
SELECT is((SELECT result FROM r WHERE step = 'empty'), (SELECT result FROM r WHERE step = 'clear'),
          'an empty patch changes nothing');
SELECT tests.act_as(NULL);
SELECT is((SELECT version FROM xorj.user_settings
            WHERE wallet_address = 'So11111111111111111111111111111111111111112'), 4::bigint,
          'the stored version is 4');
SELECT is((SELECT count(*) FROM xorj.user_settings
            WHERE wallet_address = 'So11111111111111111111111111111111111111112'), 1::bigint,
          'one user_settings row for the wallet');

-- A first save with an empty patch stores the defaults.
SELECT tests.act_as('xorj_api');
SELECT is(tests.update_user_settings('EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', '{}')
              - ARRAY['lastUpdated', 'createdAt', 'walletAddress'],
          '{"riskProfile": "Balanced", "maxDrawdownLimit": 15, "positionSizePercent": 5,
            "stopLossEnabled": true, "takeProfitEnabled": true, "investmentAmount": null,
            "version": 1}'::jsonb,
          'a first save of an empty patch stores the defaults at version 1');

-- Invalid wallet.
SELECT throws_ok($$SELECT tests.get_user_settings('0x1234')$$, 'XJ422',
                 'invalid wallet: is not a Solana address', 'get: a malformed wallet is XJ422');
SELECT is(tests.error_of($$SELECT tests.update_user_settings('0x1234', '{}')$$) ->> 'column', 'wallet',
          'update: a malformed wallet is XJ422 naming the column wallet');
SELECT tests.act_as(NULL);

-- Grants: neither the bot (it reads settings through api.enabled_bots) nor the engine may
-- read or write a user's settings.
SELECT tests.act_as('xorj_bot');
SELECT throws_ok($$SELECT tests.get_user_settings('So11111111111111111111111111111111111111112')$$,
                 '42501', NULL, 'xorj_bot may not read settings one wallet at a time');
SELECT throws_ok($$SELECT tests.update_user_settings('So11111111111111111111111111111111111111112', '{}')$$,
                 '42501', NULL, 'xorj_bot may not update settings');
SELECT tests.act_as('xorj_engine');
SELECT throws_ok($$SELECT tests.get_user_settings('So11111111111111111111111111111111111111112')$$,
                 '42501', NULL, 'xorj_engine may not read settings');
SELECT throws_ok($$SELECT tests.update_user_settings('So11111111111111111111111111111111111111112', '{}')$$,
                 '42501', NULL, 'xorj_engine may not update settings');
SELECT tests.act_as(NULL);
SELECT function_privs_are('api', 'update_user_settings', ARRAY['jsonb', 'bigint'], 'public',
    ARRAY[]::text[], 'PUBLIC has no privilege on api.update_user_settings');

SELECT * FROM finish();
ROLLBACK;
