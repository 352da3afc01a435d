-- The own-wallet rule, in the database: the user functions (role xorj_api) act for the
-- wallet of the verified token's claims in the transaction (request.jwt.claims), never
-- for a wallet given as a parameter. As xorj_api with wallet A's claims, nothing reads or
-- changes wallet B's bot state or settings; without a user's claims, every user function
-- refuses with 42501.
BEGIN;
SELECT plan(24);

-- Wallet B: enabled with its vault, settings saved (version 1).
SELECT tests.act_as('xorj_api', tests.addr(2));
SELECT api.enable_bot(tests.addr(902));
SELECT api.update_user_settings('{"riskProfile": "Aggressive", "maxDrawdownLimit": 40}');
SELECT tests.act_as(NULL);
CREATE TEMP TABLE b_before AS
    SELECT (SELECT to_jsonb(b) FROM xorj.bot_states b WHERE user_id = tests.addr(2)) AS bot,
           (SELECT to_jsonb(s) FROM xorj.user_settings s WHERE wallet_address = tests.addr(2)) AS settings,
           (SELECT count(*) FROM xorj.bot_state_events WHERE user_id = tests.addr(2)) AS events;

-- No function of xorj_api takes a wallet: its arguments are a vault, a patch and a
-- version, pages and a run, and a trade status and cursor (api.my_trades, which looks
-- the cursor up among the caller's own trades only).
SELECT is_empty(
    $$SELECT p.oid::regprocedure, a.name
        FROM pg_proc p
        CROSS JOIN LATERAL unnest(coalesce(p.proargnames, '{}'),
                                  coalesce(p.proargmodes::text[],
                                           array_fill('i'::text, ARRAY[cardinality(coalesce(p.proargnames, '{}'))])))
                   AS a(name, mode)
       WHERE p.pronamespace = 'api'::regnamespace
         AND has_function_privilege('xorj_api', p.oid, 'EXECUTE')
         AND a.mode IN ('i', 'b', 'v')
         AND a.name NOT IN ('p_vault_address', 'p_patch', 'p_expected_version',
                            'p_limit', 'p_offset', 'p_run_id', 'p_status', 'p_cursor')$$,
    'no function xorj_api may call takes a wallet (or any other caller-chosen identity) as an argument');

-- As A.
SELECT tests.act_as('xorj_api', tests.addr(1));
SELECT is(api.bot_status() ->> 'user_id', tests.addr(1), 'bot_status reads the wallet of the claims (A)');
SELECT is(api.bot_status() ->> 'vaultAddress', NULL, 'A sees its own (unregistered) vault, not B''s');
SELECT is(api.get_user_settings(), NULL::jsonb, 'get_user_settings reads A''s settings (never saved), not B''s');
SELECT throws_ok($$SELECT api.enable_bot(tests.addr(902))$$, 'XJ409',
    format('vault %s is registered to another wallet', tests.addr(902)),
    'A cannot take B''s vault');
SELECT is(api.enable_bot() #>> '{status,user_id}', tests.addr(1), 'enable_bot enables A');
SELECT is(api.disable_bot() #>> '{status,user_id}', tests.addr(1), 'disable_bot disables A');
SELECT is(api.update_user_settings('{"riskProfile": "Conservative"}') ->> 'walletAddress', tests.addr(1),
          'update_user_settings saves A''s settings');
SELECT is(api.update_user_settings('{"maxDrawdownLimit": 5}', 1) ->> 'version', '2',
          'the expected version is A''s own');
-- The sub claim stands in for wallet_address, as in the original system.
SELECT set_config('request.jwt.claims', jsonb_build_object('sub', tests.addr(3))::text, true);
SELECT is(api.bot_status() ->> 'user_id', tests.addr(3), 'without wallet_address, sub names the wallet');
SELECT tests.act_as(NULL);

SELECT is((SELECT to_jsonb(b) FROM xorj.bot_states b WHERE user_id = tests.addr(2)),
          (SELECT bot FROM b_before), 'B''s bot state is unchanged by everything A did');
SELECT is((SELECT to_jsonb(s) FROM xorj.user_settings s WHERE wallet_address = tests.addr(2)),
          (SELECT settings FROM b_before), 'B''s settings are unchanged');
SELECT is((SELECT count(*) FROM xorj.bot_state_events WHERE user_id = tests.addr(2)),
          (SELECT events FROM b_before), 'no audit row was written for B');
SELECT is((SELECT enabled FROM xorj.bot_states WHERE user_id = tests.addr(1)), false,
          'A''s own state did change (enabled, then disabled)');

-- Without a user's claims: 42501 from every user function.
SELECT tests.act_as('xorj_api', NULL);
SELECT throws_ok($$SELECT api.bot_status()$$, '42501',
    'no verified caller: request.jwt.claims is not set in this transaction', 'no claims: bot_status refused');
SELECT throws_ok($$SELECT api.enable_bot()$$, '42501', NULL, 'no claims: enable_bot refused');
SELECT throws_ok($$SELECT api.disable_bot()$$, '42501', NULL, 'no claims: disable_bot refused');
SELECT throws_ok($$SELECT api.get_user_settings()$$, '42501', NULL, 'no claims: get_user_settings refused');
SELECT throws_ok($$SELECT api.update_user_settings('{}')$$, '42501', NULL, 'no claims: update_user_settings refused');
SELECT set_config('request.jwt.claims', jsonb_build_object('role', 'bot', 'sub', tests.addr(2))::text, true);
SELECT throws_ok($$SELECT api.bot_status()$$, '42501',
    'request.jwt.claims are not the claims of a user token', 'a service token''s claims do not act for a wallet');
SELECT set_config('request.jwt.claims', '["not", "an", "object"]', true);
SELECT throws_ok($$SELECT api.get_user_settings()$$, '42501', NULL, 'claims that are not a JSON object are refused');
SELECT set_config('request.jwt.claims', '{"wallet_address": 12345}', true);
SELECT throws_ok($$SELECT api.disable_bot()$$, '42501',
    'request.jwt.claims name no wallet (wallet_address or sub)', 'a wallet that is not a string is refused');
SELECT set_config('request.jwt.claims', '{"wallet_address": "0x1234"}', true);
SELECT throws_ok($$SELECT api.bot_status()$$, 'XJ422', 'invalid wallet: is not a Solana address',
    'a claimed wallet that is not a Solana address is XJ422');
SELECT tests.act_as(NULL);
SELECT is((SELECT to_jsonb(b) FROM xorj.bot_states b WHERE user_id = tests.addr(2)),
          (SELECT bot FROM b_before), 'B is still unchanged after the refusals');

SELECT * FROM finish();
ROLLBACK;
