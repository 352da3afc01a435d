-- api.enable_bot: enabling a wallet never seen (here with a vault) creates its one row,
-- active, and writes one audit row with the actor; enabling again, without a vault or
-- with the vault it already has, changes nothing (no audit row, no write, the vault
-- kept). Only xorj_api may enable a bot.
BEGIN;
SELECT plan(17);

-- Results of calls made as xorj_api, read back as the owner.
CREATE TEMP TABLE r (step text PRIMARY KEY, result jsonb);
GRANT ALL ON r TO PUBLIC;

SELECT is_definer('api', 'enable_bot', ARRAY['text'], 'api.enable_bot is SECURITY DEFINER');

-- 1. Enabling a wallet never seen, with a vault.
SELECT tests.act_as('xorj_api', 'So11111111111111111111111111111111111111112', 'api:tester');
INSERT INTO r VALUES ('enable', api.enable_bot('EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v'));
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
SELECT is(api.bot_status() ->> 'status', 'active', 'a later status read sees the bot active');

SELECT tests.act_as(NULL);
SELECT is((SELECT count(*) FROM xorj.bot_states
            WHERE user_id = 'So11111111111111111111111111111111111111112'), 1::bigint,
          'one bot_states row for the wallet');
SELECT results_eq(
    $$SELECT user_id::text, enabled, vault_address::text, actor FROM xorj.bot_state_events
       WHERE user_id = 'So11111111111111111111111111111111111111112' ORDER BY id$$,
    $$VALUES ('So11111111111111111111111111111111111111112', true,
              'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 'api:tester')$$,
    'the enable wrote one audit row: wallet, enabled, vault and the actor');
CREATE TEMP TABLE before_noop AS
    SELECT updated_at, last_updated FROM xorj.bot_states
     WHERE user_id = 'So11111111111111111111111111111111111111112';

-- 2. Enabling again (without a vault, then with its own vault): nothing changes.
SELECT tests.act_as('xorj_api', 'So11111111111111111111111111111111111111112', 'api:tester');
INSERT INTO r VALUES ('enable again', api.enable_bot());
INSERT INTO r VALUES ('enable same vault', api.enable_bot('EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v'));
SELECT tests.act_as(NULL);
SELECT is((SELECT result -> 'changed' FROM r WHERE step = 'enable again'), 'false'::jsonb,
          'enabling an enabled bot is not a change');
SELECT is((SELECT result -> 'status' ->> 'vaultAddress' FROM r WHERE step = 'enable again'),
          'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v',
          'enabling without a vault keeps the registered vault');
SELECT is((SELECT result -> 'changed' FROM r WHERE step = 'enable same vault'), 'false'::jsonb,
          'enabling with the vault already registered is not a change');
SELECT is((SELECT count(*) FROM xorj.bot_state_events
            WHERE user_id = 'So11111111111111111111111111111111111111112'), 1::bigint,
          'calls that change nothing write no audit row');
SELECT is((SELECT (updated_at, last_updated)::text FROM xorj.bot_states
            WHERE user_id = 'So11111111111111111111111111111111111111112'),
          (SELECT (updated_at, last_updated)::text FROM before_noop),
          'calls that change nothing do not write the row (timestamps unchanged)');

-- 3. Grants: only xorj_api may enable.
SELECT tests.act_as('xorj_engine', 'So11111111111111111111111111111111111111112');
SELECT throws_ok($$SELECT api.enable_bot()$$, '42501', NULL, 'xorj_engine may not call api.enable_bot');
SELECT tests.act_as('xorj_bot', 'So11111111111111111111111111111111111111112');
SELECT throws_ok($$SELECT api.enable_bot()$$, '42501', NULL, 'xorj_bot may not call api.enable_bot');
SELECT tests.act_as(NULL);
SELECT function_privs_are('api', 'enable_bot', ARRAY['text'], 'public', ARRAY[]::text[],
    'PUBLIC has no privilege on api.enable_bot');

SELECT * FROM finish();
ROLLBACK;
