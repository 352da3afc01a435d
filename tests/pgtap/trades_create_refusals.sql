-- Invalid input names its field (XJ422); a vault without an enabled bot, or a job that is
-- not running, is refused (rule 5: a disabled bot trades nothing).
BEGIN;
SELECT plan(14);
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

SELECT * FROM finish();
ROLLBACK;
