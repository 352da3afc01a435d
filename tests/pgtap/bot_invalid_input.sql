-- api.enable_bot / api.disable_bot refuse invalid input with XJ422 naming the field: a
-- vault that is not a Solana address (vaultAddress), a claimed wallet that is not one
-- (wallet).
BEGIN;
SELECT plan(6);
SELECT count(*) AS states_before FROM xorj.bot_states \gset

SELECT tests.act_as('xorj_api', 'So11111111111111111111111111111111111111112', 'api:tester');
SELECT throws_ok($$SELECT api.enable_bot('vault-0OIl')$$,
    'XJ422', 'invalid vaultAddress: is not a Solana address', 'a malformed vault is XJ422');
SELECT is(tests.error_of($$SELECT api.enable_bot('vault-0OIl')$$)
          ->> 'column', 'vaultAddress', 'the XJ422 names the column vaultAddress');
SELECT tests.act_as('xorj_api', 'bad wallet', 'api:tester');
SELECT throws_ok($$SELECT api.enable_bot()$$,
    'XJ422', 'invalid wallet: is not a Solana address', 'enable: a malformed wallet is XJ422');
SELECT throws_ok($$SELECT api.disable_bot()$$,
    'XJ422', 'invalid wallet: is not a Solana address', 'disable: a malformed wallet is XJ422');
SELECT is(tests.error_of($$SELECT api.disable_bot()$$) ->> 'column', 'wallet',
          'the XJ422 of disable names the column wallet');
SELECT tests.act_as(NULL);
SELECT is((SELECT count(*) FROM xorj.bot_states), :states_before::bigint, 'nothing was saved');

SELECT * FROM finish();
ROLLBACK;
