-- Invalid input names its field (XJ422); a vault without an enabled bot, or a job that is
-- not running, is refused (rule 5: a disabled bot trades nothing). When several rules
-- refuse one call, the answer is the first in the order 1 (the key), 5 (the bot), the
-- job, 2 (in flight), 3 (recent repeat) (procedures/trades_create.sql).
BEGIN;
SELECT plan(20);
SELECT count(*) AS trades_before FROM xorj.trades \gset

SELECT tests.enabled_vault(tests.addr(100), tests.addr(200));
SELECT tests.enabled_vault(tests.addr(101), tests.addr(201), false);
CREATE TEMP TABLE j AS SELECT tests.running_job() AS id;
GRANT SELECT ON j TO PUBLIC;
SELECT tests.act_as('xorj_bot');

SELECT throws_ok(format($$SELECT api.create_trade(%L, 'not-an-address', 'k', %L, %L, 1, 1)$$,
                        (SELECT id FROM j), tests.addr(1), tests.addr(2)),
    'XJ422', 'invalid user_vault_address: is not a Solana address', 'a bad vault address is invalid');
SELECT throws_ok(format($$SELECT api.create_trade(%L, %L, 'k', %L, %L, 1, 1)$$,
                        (SELECT id FROM j), tests.addr(200), 'O' || repeat('1', 40), tests.addr(2)),
    'XJ422', 'invalid from_token_address: is not a Solana address', 'a token with O is invalid');
SELECT throws_ok(format($$SELECT api.create_trade(%L, %L, 'k', %L, %L, 1, 1)$$,
                        (SELECT id FROM j), tests.addr(200), tests.addr(1), tests.addr(1)),
    'XJ422', 'invalid to_token_address: must differ from from_token_address', 'a pair of one token is invalid');
SELECT throws_ok(format($$SELECT api.create_trade(%L, %L, 'k', %L, %L, 0, 1)$$,
                        (SELECT id FROM j), tests.addr(200), tests.addr(1), tests.addr(2)),
    'XJ422', 'invalid amount_in: must be greater than 0', 'amount_in 0 is invalid');
SELECT throws_like(format($$SELECT api.create_trade(%L, %L, 'k', %L, %L, 1.5, 1)$$,
                        (SELECT id FROM j), tests.addr(200), tests.addr(1), tests.addr(2)),
    'invalid amount_in: 1.5 is not a whole number in 0..2^64-1', 'a fractional amount is refused, not rounded');
SELECT throws_like(format($$SELECT api.create_trade(%L, %L, 'k', %L, %L, 18446744073709551616, 1)$$,
                        (SELECT id FROM j), tests.addr(200), tests.addr(1), tests.addr(2)),
    'invalid amount_in: 18446744073709551616 is not%', 'an amount of 2^64 is refused');
SELECT lives_ok(format($$SELECT api.create_trade(%L, %L, 'max', %L, %L, 18446744073709551615, 18446744073709551615)$$,
                        (SELECT id FROM j), tests.addr(200), tests.addr(1), tests.addr(2)),
    'an amount of 2^64-1 is accepted');
SELECT throws_ok(format($$SELECT api.create_trade(%L, %L, 'has space', %L, %L, 1, 1)$$,
                        (SELECT id FROM j), tests.addr(200), tests.addr(3), tests.addr(4)),
    'XJ422', 'invalid client_order_id: must be 1 to 128 characters of A-Z a-z 0-9 . _ : -', 'a key with a space is invalid');

SELECT throws_ok(format($$SELECT api.create_trade(%L, %L, 'k', %L, %L, 1, 1)$$,
                        (SELECT id FROM j), tests.addr(201), tests.addr(3), tests.addr(4)),
    'XJ409', NULL, 'a vault whose bot is disabled trades nothing');
SELECT throws_like(format($$SELECT api.create_trade(%L, %L, 'k', %L, %L, 1, 1)$$,
                        (SELECT id FROM j), tests.addr(299), tests.addr(3), tests.addr(4)),
    'the bot of vault % is not enabled', 'a vault no user registered trades nothing');
SELECT throws_ok(format($$SELECT api.create_trade(%L, %L, 'k', %L, %L, 1, 1)$$,
                        gen_random_uuid(), tests.addr(200), tests.addr(3), tests.addr(4)),
    'XJ404', NULL, 'an unknown job is not found');
SELECT tests.act_as(NULL);
UPDATE xorj.execution_jobs SET status = 'COMPLETED', completed_at = clock_timestamp() WHERE id = (SELECT id FROM j);
SELECT tests.act_as('xorj_bot');
SELECT throws_like(format($$SELECT api.create_trade(%L, %L, 'k2', %L, %L, 1, 1)$$,
                        (SELECT id FROM j), tests.addr(200), tests.addr(3), tests.addr(4)),
    'execution job % is COMPLETED, not RUNNING', 'a finished job creates no trade');
SELECT tests.act_as('xorj_engine');
SELECT throws_ok(format($$SELECT api.create_trade(%L, %L, 'k3', %L, %L, 1, 1)$$,
                        (SELECT id FROM j), tests.addr(200), tests.addr(3), tests.addr(4)),
    '42501', NULL, 'the engine role cannot create trades');
SELECT tests.act_as(NULL);
SELECT is((SELECT count(*) FROM xorj.trades), :trades_before + 1::bigint, 'only the valid trade was saved');

-- The order of the answers. Vault 210: one trade (key 'o1', PENDING) of a running job;
-- then its bot is disabled.
SELECT tests.enabled_vault(tests.addr(110), tests.addr(210));
CREATE TEMP TABLE j2 AS SELECT tests.running_job() AS id;
GRANT SELECT ON j2 TO PUBLIC;
SELECT tests.act_as('xorj_bot');
SELECT lives_ok(format($$SELECT api.create_trade(%L, %L, 'o1', %L, %L, 7, 7)$$,
                       (SELECT id FROM j2), tests.addr(210), tests.addr(5), tests.addr(6)),
    'order: the first trade of vault 210');
-- 3 after 2: the same pair and amount again, while the first is PENDING: in flight, not
-- a recent repeat.
SELECT throws_like(format($$SELECT api.create_trade(%L, %L, 'o2', %L, %L, 7, 7)$$,
                          (SELECT id FROM j2), tests.addr(210), tests.addr(5), tests.addr(6)),
    'trade % for this vault and token pair is still PENDING',
    'order: in flight (2) before recent repeat (3)');
-- 2 after the job: the same pair with an unknown job is XJ404.
SELECT throws_ok(format($$SELECT api.create_trade(%L, %L, 'o3', %L, %L, 7, 7)$$,
                        gen_random_uuid(), tests.addr(210), tests.addr(5), tests.addr(6)),
    'XJ404', NULL, 'order: the job (not found) before in flight (2)');
SELECT tests.act_as(NULL);
UPDATE xorj.bot_states SET enabled = false WHERE vault_address = tests.addr(210);
SELECT tests.act_as('xorj_bot');
-- The job after 5: an unknown job on the disabled vault is bot_not_enabled.
SELECT throws_like(format($$SELECT api.create_trade(%L, %L, 'o4', %L, %L, 8, 8)$$,
                          gen_random_uuid(), tests.addr(210), tests.addr(7), tests.addr(8)),
    'the bot of vault % is not enabled', 'order: the bot (5) before the job');
-- 5 after 1: the retry of the first trade is its replay, the bot disabled or not; the
-- same key with other values is idempotency_key_reused.
SELECT is((SELECT replay FROM api.create_trade((SELECT id FROM j2), tests.addr(210), 'o1',
                                               tests.addr(5), tests.addr(6), 7, 7)),
          true, 'order: the replay (1) before the disabled bot (5)');
SELECT throws_like(format($$SELECT api.create_trade(%L, %L, 'o1', %L, %L, 9, 7)$$,
                          (SELECT id FROM j2), tests.addr(210), tests.addr(5), tests.addr(6)),
    'client_order_id o1 of vault % is already used by trade % with other parameters',
    'order: a key used with other values (1) before the disabled bot (5)');
SELECT tests.act_as(NULL);

SELECT * FROM finish();
ROLLBACK;
