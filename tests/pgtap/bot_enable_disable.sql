-- api.enable_bot / api.disable_bot: one row per wallet, idempotent calls change nothing,
-- every change writes one audit row with the actor, vault registration (kept, changed,
-- refused when another wallet holds it), and the grants.
BEGIN;
SELECT plan(46);

-- Results of calls made as xorj_api, read back as the owner.
CREATE TEMP TABLE r (step text PRIMARY KEY, result jsonb);
GRANT ALL ON r TO PUBLIC;

SELECT is_definer('api', 'enable_bot', ARRAY['text'], 'api.enable_bot is SECURITY DEFINER');
SELECT is_definer('api', 'disable_bot', ARRAY[]::text[], 'api.disable_bot is SECURITY DEFINER');

DO $$ BEGIN PERFORM set_config('xorj.actor', 'api:tester', true); END $$;
SET LOCAL ROLE xorj_api;

-- 1. Enabling a wallet never seen, with a vault.
INSERT INTO r VALUES ('enable', tests.enable_bot('So11111111111111111111111111111111111111112',
                                               'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v'));
SELECT is((SELECT result -> 'changed' FROM r WHERE step = 'enable'), 'true'::jsonb,
          'enabling a new wallet is a change');
SELECT is((SELECT result -> 'status' ->> 'status' FROM r WHERE step = 'enable'), 'active',
          'the returned status is active');
SELECT is((SELECT result -> 'status' -> 'isBotActive' FROM r WHERE step = 'enable'), 'true'::jsonb,
          'isBotActive is true');
SELECT is((SELECT result -> 'status' ->> 'vaultAddress' FROM r WHERE step = 'enable'),
          'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 'the vault is registered');
SELECT is((SELECT result -> 'status' -> 'canTrade' FROM r WHERE step = 'enable'), 'true'::jsonb,
          'enabled with a vault: canTrade');
SELECT is(tests.bot_status('So11111111111111111111111111111111111111112') ->> 'status', 'active',
          'a later status read sees the bot active');

RESET ROLE;
SELECT is((SELECT count(*) FROM xorj.bot_states
            WHERE user_id = 'So11111111111111111111111111111111111111112'), 1::bigint,
          'one bot_states row for the wallet');
SELECT results_eq(
    $$SELECT user_id::text, enabled, vault_address::text, actor FROM xorj.bot_state_events ORDER BY id$$,
    $$VALUES ('So11111111111111111111111111111111111111112', true,
              'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 'api:tester')$$,
    'the enable wrote one audit row: wallet, enabled, vault and the actor');
CREATE TEMP TABLE before_noop AS
    SELECT updated_at, last_updated FROM xorj.bot_states
     WHERE user_id = 'So11111111111111111111111111111111111111112';

-- 2. Enabling again (without a vault, then with its own vault): nothing changes.
SET LOCAL ROLE xorj_api;
INSERT INTO r VALUES ('enable again', tests.enable_bot('So11111111111111111111111111111111111111112'));
INSERT INTO r VALUES ('enable same vault', tests.enable_bot('So11111111111111111111111111111111111111112',
                                                          'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v'));
RESET ROLE;
SELECT is((SELECT result -> 'changed' FROM r WHERE step = 'enable again'), 'false'::jsonb,
          'enabling an enabled bot is not a change');
SELECT is((SELECT result -> 'status' ->> 'vaultAddress' FROM r WHERE step = 'enable again'),
          'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v',
          'enabling without a vault keeps the registered vault');
SELECT is((SELECT result -> 'changed' FROM r WHERE step = 'enable same vault'), 'false'::jsonb,
          'enabling with the vault already registered is not a change');
SELECT is((SELECT count(*) FROM xorj.bot_state_events), 1::bigint,
          'calls that change nothing write no audit row');
SELECT is((SELECT (updated_at, last_updated)::text FROM xorj.bot_states
            WHERE user_id = 'So11111111111111111111111111111111111111112'),
          (SELECT (updated_at, last_updated)::text FROM before_noop),
          'calls that change nothing do not write the row (timestamps unchanged)');

-- 3. Disabling, twice.
SET LOCAL ROLE xorj_api;
INSERT INTO r VALUES ('disable', tests.disable_bot('So11111111111111111111111111111111111111112'));
INSERT INTO r VALUES ('disable again', tests.disable_bot('So11111111111111111111111111111111111111112'));
RESET ROLE;
SELECT is((SELECT result -> 'changed' FROM r WHERE step = 'disable'), 'true'::jsonb,
          'disabling an enabled bot is a change');
SELECT is((SELECT result -> 'status' ->> 'status' FROM r WHERE step = 'disable'), 'stopped',
          'the returned status is stopped');
SELECT is((SELECT result -> 'status' -> 'canTrade' FROM r WHERE step = 'disable'), 'false'::jsonb,
          'a disabled bot cannot trade');
SELECT is((SELECT result -> 'status' ->> 'vaultAddress' FROM r WHERE step = 'disable'),
          'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 'disabling keeps the registered vault');
SELECT is((SELECT result -> 'changed' FROM r WHERE step = 'disable again'), 'false'::jsonb,
          'disabling a disabled bot is not a change');
SELECT results_eq(
    $$SELECT enabled, vault_address::text, actor FROM xorj.bot_state_events ORDER BY id$$,
    $$VALUES (true, 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 'api:tester'),
             (false, 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 'api:tester')$$,
    'one audit row for the disable, none for the repeated disable');

-- 4. Changing the vault of an enabled bot; another wallet may not take it.
SET LOCAL ROLE xorj_api;
INSERT INTO r VALUES ('re-enable', tests.enable_bot('So11111111111111111111111111111111111111112'));
INSERT INTO r VALUES ('change vault', tests.enable_bot('So11111111111111111111111111111111111111112',
                                                     'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB'));
RESET ROLE;
SELECT is((SELECT result -> 'changed' FROM r WHERE step = 're-enable'), 'true'::jsonb,
          're-enabling a disabled bot is a change');
SELECT is((SELECT result -> 'status' ->> 'vaultAddress' FROM r WHERE step = 're-enable'),
          'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 're-enabling keeps the vault');
SELECT is((SELECT result -> 'changed' FROM r WHERE step = 'change vault'), 'true'::jsonb,
          'registering another vault on an enabled bot is a change');
SELECT is((SELECT result -> 'status' ->> 'vaultAddress' FROM r WHERE step = 'change vault'),
          'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 'the new vault is registered');
SELECT results_eq(
    $$SELECT enabled, vault_address::text FROM xorj.bot_state_events ORDER BY id OFFSET 2$$,
    $$VALUES (true, 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v'),
             (true, 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB')$$,
    'the re-enable and the vault change each wrote an audit row');

SET LOCAL ROLE xorj_api;
SELECT throws_ok(
    $$SELECT tests.enable_bot('11111111111111111111111111111111', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB')$$,
    'XJ409', 'vault Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB is registered to another wallet',
    'a vault registered to another wallet is XJ409');
SELECT is(tests.error_of(
    $$SELECT tests.enable_bot('11111111111111111111111111111111', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB')$$)
    ->> 'constraint', 'vault_in_use', 'the XJ409 names the rule vault_in_use');
SELECT lives_ok(
    $$SELECT tests.enable_bot('11111111111111111111111111111111', 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v')$$,
    'the vault the first wallet gave up may be registered by another');
SELECT throws_ok(
    $$SELECT tests.enable_bot('So11111111111111111111111111111111111111112', 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v')$$,
    'XJ409', NULL, 'and then the first wallet may not take it back');
RESET ROLE;
SELECT is((SELECT vault_address::text FROM xorj.bot_states
            WHERE user_id = 'So11111111111111111111111111111111111111112'),
          'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB',
          'a refused registration leaves the wallet''s vault as it was');

-- 5. Disabling a wallet never seen: its row is created disabled, with no change recorded.
SET LOCAL ROLE xorj_api;
INSERT INTO r VALUES ('disable unseen', tests.disable_bot('DRiP2Pn2K6fuMLKQmt5rZWyHiUZ6WK3GChEySUpHSS4x'));
RESET ROLE;
SELECT is((SELECT result -> 'changed' FROM r WHERE step = 'disable unseen'), 'false'::jsonb,
          'disabling a wallet never seen is not a change');
SELECT is((SELECT result -> 'status' ->> 'status' FROM r WHERE step = 'disable unseen'), 'stopped',
          'its status is stopped');
SELECT results_eq(
    $$SELECT enabled, vault_address::text FROM xorj.bot_states
       WHERE user_id = 'DRiP2Pn2K6fuMLKQmt5rZWyHiUZ6WK3GChEySUpHSS4x'$$,
    $$VALUES (false, NULL::text)$$,
    'its row now exists, disabled and without a vault');
SELECT is((SELECT count(*) FROM xorj.bot_state_events
            WHERE user_id = 'DRiP2Pn2K6fuMLKQmt5rZWyHiUZ6WK3GChEySUpHSS4x'), 0::bigint,
          'and no audit row was written for it');

-- 6. Invalid input.
SET LOCAL ROLE xorj_api;
SELECT throws_ok($$SELECT tests.enable_bot('So11111111111111111111111111111111111111112', 'vault-0OIl')$$,
    'XJ422', 'invalid vaultAddress: is not a Solana address', 'a malformed vault is XJ422');
SELECT is(tests.error_of($$SELECT tests.enable_bot('So11111111111111111111111111111111111111112', 'vault-0OIl')$$)
          ->> 'column', 'vaultAddress', 'the XJ422 names the column vaultAddress');
SELECT throws_ok($$SELECT tests.enable_bot('bad wallet')$$,
    'XJ422', 'invalid wallet: is not a Solana address', 'enable: a malformed wallet is XJ422');
SELECT throws_ok($$SELECT tests.disable_bot('bad wallet')$$,
    'XJ422', 'invalid wallet: is not a Solana address', 'disable: a malformed wallet is XJ422');
SELECT is(tests.error_of($$SELECT tests.disable_bot('bad wallet')$$) ->> 'column', 'wallet',
          'the XJ422 of disable names the column wallet');
RESET ROLE;

-- 7. One row per wallet, whatever happened.
SELECT results_eq(
    $$SELECT user_id::text, count(*) FROM xorj.bot_states GROUP BY user_id ORDER BY user_id$$,
    $$VALUES ('11111111111111111111111111111111', 1::bigint),
             ('DRiP2Pn2K6fuMLKQmt5rZWyHiUZ6WK3GChEySUpHSS4x', 1::bigint),
             ('So11111111111111111111111111111111111111112', 1::bigint)$$,
    'exactly one bot_states row per wallet');

-- 8. Grants: only xorj_api may enable or disable.
SET LOCAL ROLE xorj_engine;
SELECT throws_ok($$SELECT tests.enable_bot('So11111111111111111111111111111111111111112')$$,
    '42501', NULL, 'xorj_engine may not call api.enable_bot');
SELECT throws_ok($$SELECT tests.disable_bot('So11111111111111111111111111111111111111112')$$,
    '42501', NULL, 'xorj_engine may not call api.disable_bot');
RESET ROLE;
SET LOCAL ROLE xorj_bot;
SELECT throws_ok($$SELECT tests.enable_bot('So11111111111111111111111111111111111111112')$$,
    '42501', NULL, 'xorj_bot may not call api.enable_bot');
SELECT throws_ok($$SELECT tests.disable_bot('So11111111111111111111111111111111111111112')$$,
    '42501', NULL, 'xorj_bot may not call api.disable_bot');
RESET ROLE;
SELECT function_privs_are('api', 'enable_bot', ARRAY['text'], 'public', ARRAY[]::text[],
    'PUBLIC has no privilege on api.enable_bot');

SELECT * FROM finish();
ROLLBACK;
