-- Vault registration by api.enable_bot: re-enabling keeps the registered vault; a vault
-- given to an enabled bot replaces it (a change, with its audit row); a vault registered
-- to another wallet is XJ409 vault_in_use and leaves the wallet's vault as it was; a
-- vault given up may be registered by another wallet, and then not taken back.
BEGIN;
SELECT plan(11);

CREATE TEMP TABLE r (step text PRIMARY KEY, result jsonb);
GRANT ALL ON r TO PUBLIC;

-- Wallet So11...: enabled with vault EPj..., then disabled (two audit rows).
SELECT tests.act_as('xorj_api', 'So11111111111111111111111111111111111111112', 'api:tester');
SELECT api.enable_bot('EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v') \gset ignored_
SELECT api.disable_bot() \gset ignored_

-- 1. Re-enabling, then changing the vault of the enabled bot.
INSERT INTO r VALUES ('re-enable', api.enable_bot());
INSERT INTO r VALUES ('change vault', api.enable_bot('Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB'));
SELECT tests.act_as(NULL);
SELECT is((SELECT result -> 'changed' FROM r WHERE step = 're-enable'), 'true'::jsonb,
          're-enabling a disabled bot is a change');
SELECT is((SELECT result -> 'status' ->> 'vaultAddress' FROM r WHERE step = 're-enable'),
          'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 're-enabling keeps the vault');
SELECT is((SELECT result -> 'changed' FROM r WHERE step = 'change vault'), 'true'::jsonb,
          'registering another vault on an enabled bot is a change');
SELECT is((SELECT result -> 'status' ->> 'vaultAddress' FROM r WHERE step = 'change vault'),
          'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 'the new vault is registered');
SELECT results_eq(
    $$SELECT enabled, vault_address::text FROM xorj.bot_state_events
       WHERE user_id = 'So11111111111111111111111111111111111111112' ORDER BY id OFFSET 2$$,
    $$VALUES (true, 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v'),
             (true, 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB')$$,
    'the re-enable and the vault change each wrote an audit row');

-- 2. Another wallet may not take it; the vault given up is free.
SELECT tests.act_as('xorj_api', '11111111111111111111111111111111', 'api:tester');
SELECT throws_ok(
    $$SELECT api.enable_bot('Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB')$$,
    'XJ409', 'vault Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB is registered to another wallet',
    'a vault registered to another wallet is XJ409');
SELECT is(tests.error_of($$SELECT api.enable_bot('Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB')$$)
    ->> 'constraint', 'vault_in_use', 'the XJ409 names the rule vault_in_use');
SELECT lives_ok(
    $$SELECT api.enable_bot('EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v')$$,
    'the vault the first wallet gave up may be registered by another');
SELECT tests.act_as('xorj_api', 'So11111111111111111111111111111111111111112', 'api:tester');
SELECT throws_ok(
    $$SELECT api.enable_bot('EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v')$$,
    'XJ409', NULL, 'and then the first wallet may not take it back');
SELECT tests.act_as(NULL);
SELECT is((SELECT vault_address::text FROM xorj.bot_states
            WHERE user_id = 'So11111111111111111111111111111111111111112'),
          'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB',
          'a refused registration leaves the wallet''s vault as it was');
SELECT results_eq(
    $$SELECT user_id::text, count(*) FROM xorj.bot_states
       WHERE user_id IN ('11111111111111111111111111111111', 'So11111111111111111111111111111111111111112')
       GROUP BY user_id ORDER BY user_id$$,
    $$VALUES ('11111111111111111111111111111111', 1::bigint),
             ('So11111111111111111111111111111111111111112', 1::bigint)$$,
    'exactly one bot_states row per wallet');

SELECT * FROM finish();
ROLLBACK;
