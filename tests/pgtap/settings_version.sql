-- Optimistic locking of api.update_user_settings: p_expected_version must equal the
-- current version (0 for a wallet that never saved), else XJ412 with the current version
-- in DETAIL and nothing saved; without it no version is checked; a negative one is XJ422.
-- (Two concurrent updates on one version: tests/test_bot_state_concurrency.py.)
BEGIN;
SELECT plan(17);

-- As wallet So11..., as the API acts for a verified token of it.
SELECT tests.act_as('xorj_api', 'So11111111111111111111111111111111111111112');

-- Never saved: the current version is 0.
SELECT throws_ok(
    $$SELECT api.update_user_settings('{"maxDrawdownLimit": 20}', 1)$$,
    'XJ412',
    'stale version: the settings of wallet So11111111111111111111111111111111111111112 are at version 0, not 1',
    'a wallet that never saved is at version 0: expecting 1 is XJ412');
SELECT is(tests.error_of(
    $$SELECT api.update_user_settings('{"maxDrawdownLimit": 20}', 3)$$)
    ->> 'detail', 'current_version=0', 'the XJ412 DETAIL holds the current version 0');
SELECT is(api.get_user_settings(), NULL::jsonb,
          'a stale first save creates nothing');
SELECT is(api.update_user_settings('{"maxDrawdownLimit": 20}', 0)
          -> 'version', '1'::jsonb, 'expecting version 0 for a wallet that never saved creates version 1');

-- Saved, at version 1.
SELECT throws_ok(
    $$SELECT api.update_user_settings('{"maxDrawdownLimit": 30}', 0)$$,
    'XJ412',
    'stale version: the settings of wallet So11111111111111111111111111111111111111112 are at version 1, not 0',
    'a second "first save" (expecting 0) is XJ412');
SELECT is(tests.error_of(
    $$SELECT api.update_user_settings('{"maxDrawdownLimit": 30}', 0)$$)
    ->> 'detail', 'current_version=1', 'the XJ412 DETAIL holds the current version 1');
SELECT is(api.update_user_settings('{"maxDrawdownLimit": 30}', 1)
          -> 'version', '2'::jsonb, 'expecting the current version 1 succeeds: version 2');

-- Stale: an update based on version 1 after the row moved to 2.
SELECT throws_ok(
    $$SELECT api.update_user_settings('{"positionSizePercent": 9}', 1)$$,
    'XJ412',
    'stale version: the settings of wallet So11111111111111111111111111111111111111112 are at version 2, not 1',
    'an update based on an older version is XJ412');
SELECT is(tests.error_of(
    $$SELECT api.update_user_settings('{"positionSizePercent": 9}', 1)$$)
    ->> 'detail', 'current_version=2', 'the XJ412 DETAIL holds the current version 2');
SELECT throws_ok(
    $$SELECT api.update_user_settings('{"positionSizePercent": 9}', 3)$$,
    'XJ412', NULL, 'an update based on a future version is XJ412');
SELECT is(api.get_user_settings() - ARRAY['lastUpdated', 'createdAt'],
          '{"walletAddress": "So11111111111111111111111111111111111111112", "riskProfile": "Balanced",
            "maxDrawdownLimit": 30, "positionSizePercent": 5, "stopLossEnabled": true,
            "takeProfitEnabled": true, "investmentAmount": null, "version": 2}'::jsonb,
          'stale updates saved nothing');

-- A stale update is refused even when it would change nothing.
SELECT throws_ok(
    $$SELECT api.update_user_settings('{}', 1)$$,
    'XJ412', NULL, 'an empty patch on a stale version is XJ412 too');
SELECT is(api.update_user_settings('{}', 2) -> 'version',
          '2'::jsonb, 'an empty patch on the current version succeeds and keeps the version');

-- Without an expected version nothing is checked.
SELECT is(api.update_user_settings('{"positionSizePercent": 9}')
          -> 'version', '3'::jsonb, 'without an expected version the update applies: version 3');
SELECT is(api.update_user_settings('{"positionSizePercent": 10}', NULL)
          -> 'version', '4'::jsonb, 'an explicit NULL expected version is no check: version 4');

-- A negative version is invalid input.
SELECT throws_ok(
    $$SELECT api.update_user_settings('{}', -1)$$,
    'XJ422', 'invalid expectedVersion: -1 is not a version', 'a negative expected version is XJ422');
SELECT is(tests.error_of($$SELECT api.update_user_settings('{}', -1)$$)
          ->> 'column', 'expectedVersion', 'the XJ422 names expectedVersion');
SELECT tests.act_as(NULL);

SELECT * FROM finish();
ROLLBACK;
