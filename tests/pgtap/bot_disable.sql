-- api.disable_bot: disabling an enabled bot is a change (stopped, cannot trade, the vault
-- kept) with one audit row by the actor; disabling it again changes nothing; disabling
-- a wallet never seen creates its row, disabled and without a vault, with no change
-- recorded (the state a reader sees is the same). One row per wallet. Only xorj_api may
-- disable a bot.
BEGIN;
SELECT plan(14);

CREATE TEMP TABLE r (step text PRIMARY KEY, result jsonb);
GRANT ALL ON r TO PUBLIC;

SELECT is_definer('api', 'disable_bot', ARRAY[]::text[], 'api.disable_bot is SECURITY DEFINER');

-- An enabled bot with its vault.
SELECT tests.act_as('xorj_api', 'So11111111111111111111111111111111111111112', 'api:tester');
SELECT api.enable_bot('EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v') \gset ignored_

-- 1. Disabling, twice.
INSERT INTO r VALUES ('disable', api.disable_bot());
INSERT INTO r VALUES ('disable again', api.disable_bot());
SELECT tests.act_as(NULL);
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
    $$SELECT enabled, vault_address::text, actor FROM xorj.bot_state_events
       WHERE user_id = 'So11111111111111111111111111111111111111112' ORDER BY id$$,
    $$VALUES (true, 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 'api:tester'),
             (false, 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 'api:tester')$$,
    'one audit row for the disable, none for the repeated disable');

-- 2. Disabling a wallet never seen: its row is created disabled, with no change recorded.
SELECT tests.act_as('xorj_api', 'DRiP2Pn2K6fuMLKQmt5rZWyHiUZ6WK3GChEySUpHSS4x', 'api:tester');
INSERT INTO r VALUES ('disable unseen', api.disable_bot());
SELECT tests.act_as(NULL);
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

-- 3. One row per wallet, whatever happened.
SELECT results_eq(
    $$SELECT user_id::text, count(*) FROM xorj.bot_states
       WHERE user_id IN ('DRiP2Pn2K6fuMLKQmt5rZWyHiUZ6WK3GChEySUpHSS4x', 'So11111111111111111111111111111111111111112')
       GROUP BY user_id ORDER BY user_id$$,
    $$VALUES ('DRiP2Pn2K6fuMLKQmt5rZWyHiUZ6WK3GChEySUpHSS4x', 1::bigint),
             ('So11111111111111111111111111111111111111112', 1::bigint)$$,
    'exactly one bot_states row per wallet');

-- 4. Grants: only xorj_api may disable.
SELECT tests.act_as('xorj_engine', 'So11111111111111111111111111111111111111112');
SELECT throws_ok($$SELECT api.disable_bot()$$, '42501', NULL, 'xorj_engine may not call api.disable_bot');
SELECT tests.act_as('xorj_bot', 'So11111111111111111111111111111111111111112');
SELECT throws_ok($$SELECT api.disable_bot()$$, '42501', NULL, 'xorj_bot may not call api.disable_bot');
SELECT tests.act_as(NULL);

SELECT * FROM finish();
ROLLBACK;
