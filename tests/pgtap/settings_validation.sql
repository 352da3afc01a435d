-- api.update_user_settings validates the whole patch: for each field a wrong JSON type,
-- a null where null is not allowed and a value out of range, and any unknown key, is
-- XJ422 with COLUMN naming the field and a message naming it (the allowed range in the
-- hint); nothing of a refused patch is saved; the edges of every range are accepted.
BEGIN;
SELECT plan(110);
SELECT count(*) AS settings_before FROM xorj.user_settings \gset

-- patch, the field COLUMN must name, the exact message, a fragment the hint must hold.
CREATE TEMP TABLE cases (n serial, patch text, field text, message text, hint text);
GRANT ALL ON cases TO PUBLIC;
INSERT INTO cases (patch, field, message, hint) VALUES
    -- riskProfile
    ('{"riskProfile": 1}', 'riskProfile',
     'invalid riskProfile: must be one of Conservative, Balanced, Aggressive, not 1', 'Conservative, Balanced or Aggressive'),
    ('{"riskProfile": "Reckless"}', 'riskProfile',
     'invalid riskProfile: must be one of Conservative, Balanced, Aggressive, not "Reckless"', 'Conservative, Balanced or Aggressive'),
    ('{"riskProfile": "balanced"}', 'riskProfile',
     'invalid riskProfile: must be one of Conservative, Balanced, Aggressive, not "balanced"', 'Conservative, Balanced or Aggressive'),
    ('{"riskProfile": null}', 'riskProfile',
     'invalid riskProfile: must be one of Conservative, Balanced, Aggressive, not null', 'Conservative, Balanced or Aggressive'),
    ('{"riskProfile": ["Balanced"]}', 'riskProfile',
     'invalid riskProfile: must be one of Conservative, Balanced, Aggressive, not ["Balanced"]', 'Conservative, Balanced or Aggressive'),
    -- maxDrawdownLimit: 1..50
    ('{"maxDrawdownLimit": "10"}', 'maxDrawdownLimit',
     'invalid maxDrawdownLimit: must be a number, not string', 'from 1 to 50'),
    ('{"maxDrawdownLimit": true}', 'maxDrawdownLimit',
     'invalid maxDrawdownLimit: must be a number, not boolean', 'from 1 to 50'),
    ('{"maxDrawdownLimit": null}', 'maxDrawdownLimit',
     'invalid maxDrawdownLimit: must be a number, not null', 'from 1 to 50'),
    ('{"maxDrawdownLimit": 0.99}', 'maxDrawdownLimit',
     'invalid maxDrawdownLimit: 0.99 is out of range: it must be from 1 to 50', 'from 1 to 50'),
    ('{"maxDrawdownLimit": 50.01}', 'maxDrawdownLimit',
     'invalid maxDrawdownLimit: 50.01 is out of range: it must be from 1 to 50', 'from 1 to 50'),
    ('{"maxDrawdownLimit": -15}', 'maxDrawdownLimit',
     'invalid maxDrawdownLimit: -15 is out of range: it must be from 1 to 50', 'from 1 to 50'),
    -- positionSizePercent: 1..25
    ('{"positionSizePercent": "5"}', 'positionSizePercent',
     'invalid positionSizePercent: must be a number, not string', 'from 1 to 25'),
    ('{"positionSizePercent": {"value": 5}}', 'positionSizePercent',
     'invalid positionSizePercent: must be a number, not object', 'from 1 to 25'),
    ('{"positionSizePercent": null}', 'positionSizePercent',
     'invalid positionSizePercent: must be a number, not null', 'from 1 to 25'),
    ('{"positionSizePercent": 0}', 'positionSizePercent',
     'invalid positionSizePercent: 0 is out of range: it must be from 1 to 25', 'from 1 to 25'),
    ('{"positionSizePercent": 26}', 'positionSizePercent',
     'invalid positionSizePercent: 26 is out of range: it must be from 1 to 25', 'from 1 to 25'),
    -- stopLossEnabled, takeProfitEnabled: booleans
    ('{"stopLossEnabled": "true"}', 'stopLossEnabled',
     'invalid stopLossEnabled: must be true or false, not string', 'boolean'),
    ('{"stopLossEnabled": 1}', 'stopLossEnabled',
     'invalid stopLossEnabled: must be true or false, not number', 'boolean'),
    ('{"stopLossEnabled": null}', 'stopLossEnabled',
     'invalid stopLossEnabled: must be true or false, not null', 'boolean'),
    ('{"takeProfitEnabled": "false"}', 'takeProfitEnabled',
     'invalid takeProfitEnabled: must be true or false, not string', 'boolean'),
    ('{"takeProfitEnabled": 0}', 'takeProfitEnabled',
     'invalid takeProfitEnabled: must be true or false, not number', 'boolean'),
    ('{"takeProfitEnabled": null}', 'takeProfitEnabled',
     'invalid takeProfitEnabled: must be true or false, not null', 'boolean'),
    -- investmentAmount: > 0 and <= 1000000, or null
    ('{"investmentAmount": "100"}', 'investmentAmount',
     'invalid investmentAmount: must be a number, not string', 'greater than 0 and at most 1000000, or null'),
    ('{"investmentAmount": false}', 'investmentAmount',
     'invalid investmentAmount: must be a number, not boolean', 'greater than 0 and at most 1000000, or null'),
    ('{"investmentAmount": 0}', 'investmentAmount',
     'invalid investmentAmount: 0 is out of range: it must be greater than 0 and at most 1000000',
     'greater than 0 and at most 1000000, or null'),
    ('{"investmentAmount": -5}', 'investmentAmount',
     'invalid investmentAmount: -5 is out of range: it must be greater than 0 and at most 1000000',
     'greater than 0 and at most 1000000, or null'),
    ('{"investmentAmount": 1000000.01}', 'investmentAmount',
     'invalid investmentAmount: 1000000.01 is out of range: it must be greater than 0 and at most 1000000',
     'greater than 0 and at most 1000000, or null'),
    -- unknown keys (snake_case, a typo, the wallet, the original's nested object)
    ('{"max_drawdown_limit": 10}', 'max_drawdown_limit',
     'invalid max_drawdown_limit: is not a known setting', 'Known settings: riskProfile'),
    ('{"maxDrawdown": 10}', 'maxDrawdown',
     'invalid maxDrawdown: is not a known setting', 'Known settings: riskProfile'),
    ('{"riskProfile": "Balanced", "walletAddress": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"}', 'walletAddress',
     'invalid walletAddress: is not a known setting', 'Known settings: riskProfile'),
    ('{"settings": {"maxDrawdownLimit": 10}}', 'settings',
     'invalid settings: is not a known setting', 'Known settings: riskProfile'),
    -- the patch itself
    ('[{"maxDrawdownLimit": 10}]', 'patch',
     'invalid patch: must be a JSON object, not array', 'Send an object'),
    ('"maxDrawdownLimit"', 'patch',
     'invalid patch: must be a JSON object, not string', 'Send an object');

SELECT is((SELECT count(*) FROM cases), 33::bigint, '33 refused patches');

SELECT tests.act_as('xorj_api');

-- For a wallet that never saved, then for a saved one.
SELECT throws_ok(
    format('SELECT tests.update_user_settings(%L, %L::jsonb)', 'So11111111111111111111111111111111111111112', patch),
    'XJ422', message, format('never saved, %s: XJ422 %s', patch, message))
  FROM cases ORDER BY n;
SELECT is(tests.error_of(format('SELECT tests.update_user_settings(%L, %L::jsonb)',
                                  'So11111111111111111111111111111111111111112', patch)) ->> 'column',
          field, format('%s: COLUMN is %s', patch, field))
  FROM cases ORDER BY n;
SELECT ok(strpos(tests.error_of(format('SELECT tests.update_user_settings(%L, %L::jsonb)',
                                         'So11111111111111111111111111111111111111112', patch)) ->> 'hint',
                 hint) > 0,
          format('%s: the hint says %s', patch, hint))
  FROM cases ORDER BY n;
SELECT throws_ok($$SELECT tests.update_user_settings('So11111111111111111111111111111111111111112', NULL)$$,
    'XJ422', 'invalid patch: must be a JSON object, not missing', 'a NULL patch is XJ422');
SELECT tests.act_as(NULL);
SELECT is((SELECT count(*) FROM xorj.user_settings), :settings_before::bigint,
          'no refused patch created a row');

-- A saved wallet: a refused patch saves none of its keys, not even the valid ones.
SELECT tests.act_as('xorj_api');
DO $$ BEGIN
    PERFORM tests.update_user_settings('So11111111111111111111111111111111111111112', '{}');
END $$;
SELECT throws_ok(
    $$SELECT tests.update_user_settings('So11111111111111111111111111111111111111112',
                                      '{"riskProfile": "Aggressive", "maxDrawdownLimit": 99}')$$,
    'XJ422', 'invalid maxDrawdownLimit: 99 is out of range: it must be from 1 to 50',
    'a patch with one bad field is refused whole');
SELECT throws_ok(
    $$SELECT tests.update_user_settings('So11111111111111111111111111111111111111112',
                                      '{"riskProfile": "Aggressive", "colour": "red"}')$$,
    'XJ422', 'invalid colour: is not a known setting',
    'a patch with one unknown key is refused whole');
SELECT is(tests.get_user_settings('So11111111111111111111111111111111111111112') ->> 'riskProfile', 'Balanced',
          'the valid key of a refused patch was not saved');
SELECT is(tests.get_user_settings('So11111111111111111111111111111111111111112') -> 'version', '1'::jsonb,
          'a refused patch does not bump the version');

-- The edges of every range are accepted.
SELECT lives_ok($$SELECT tests.update_user_settings('So11111111111111111111111111111111111111112',
    '{"maxDrawdownLimit": 1, "positionSizePercent": 1, "investmentAmount": 0.01}')$$,
    'the lower edges are accepted: maxDrawdownLimit 1, positionSizePercent 1, investmentAmount 0.01');
SELECT is(tests.get_user_settings('So11111111111111111111111111111111111111112') - ARRAY['lastUpdated', 'createdAt', 'walletAddress', 'version'],
          '{"riskProfile": "Balanced", "maxDrawdownLimit": 1, "positionSizePercent": 1,
            "stopLossEnabled": true, "takeProfitEnabled": true, "investmentAmount": 0.01}'::jsonb,
          'the lower edges are saved');
SELECT lives_ok($$SELECT tests.update_user_settings('So11111111111111111111111111111111111111112',
    '{"maxDrawdownLimit": 50, "positionSizePercent": 25, "investmentAmount": 1000000}')$$,
    'the upper edges are accepted: maxDrawdownLimit 50, positionSizePercent 25, investmentAmount 1000000');
SELECT is(tests.get_user_settings('So11111111111111111111111111111111111111112') - ARRAY['lastUpdated', 'createdAt', 'walletAddress', 'version'],
          '{"riskProfile": "Balanced", "maxDrawdownLimit": 50, "positionSizePercent": 25,
            "stopLossEnabled": true, "takeProfitEnabled": true, "investmentAmount": 1000000}'::jsonb,
          'the upper edges are saved');
SELECT tests.act_as(NULL);

SELECT * FROM finish();
ROLLBACK;
