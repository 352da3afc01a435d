-- Guards on xorj.trades that hold against direct SQL by the owner.
BEGIN;
SELECT plan(13);

SELECT tests.enabled_vault(tests.addr(100), tests.addr(200));
CREATE TEMP TABLE j AS SELECT tests.running_job() AS id;
CREATE TEMP TABLE t AS SELECT tests.trade((SELECT id FROM j), tests.addr(200), 'a') AS a;

SELECT throws_ok(
    format($$INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, status,
              from_token_address, to_token_address, amount_in, expected_amount_out,
              transaction_signature, submitted_at, actual_amount_out, completed_at)
             VALUES (%L, %L, 'direct', 'CONFIRMED', %L, %L, 1, 1, %L, now(), 1, now())$$,
           (SELECT id FROM j), tests.addr(201), tests.addr(1), tests.addr(2), tests.sig(1)),
    'XJ423', 'a trade is created PENDING, not CONFIRMED', 'a trade cannot be inserted CONFIRMED');
SELECT throws_ok(
    format($$INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id,
              from_token_address, to_token_address, amount_in, expected_amount_out, error_message)
             VALUES (%L, %L, 'direct', %L, %L, 1, 1, 'x')$$,
           (SELECT id FROM j), tests.addr(201), tests.addr(1), tests.addr(2)),
    'XJ423', NULL, 'a new trade cannot carry an error');

SELECT throws_ok($$UPDATE xorj.trades SET amount_in = 5 WHERE id = (SELECT a FROM t)$$,
    'XJ423', NULL, 'amount_in cannot change');
SELECT throws_ok(format($$UPDATE xorj.trades SET user_vault_address = %L WHERE id = (SELECT a FROM t)$$, tests.addr(300)),
    'XJ423', NULL, 'the vault cannot change');
SELECT throws_ok($$UPDATE xorj.trades SET client_order_id = 'other' WHERE id = (SELECT a FROM t)$$,
    'XJ423', NULL, 'client_order_id cannot change');
SELECT throws_ok($$UPDATE xorj.trades SET job_id = tests.running_job() WHERE id = (SELECT a FROM t)$$,
    'XJ423', NULL, 'job_id cannot change');
SELECT throws_ok($$UPDATE xorj.trades SET status = 'CONFIRMED', actual_amount_out = 1 WHERE id = (SELECT a FROM t)$$,
    'XJ423', NULL, 'PENDING -> CONFIRMED by direct SQL is refused');
SELECT throws_ok($$UPDATE xorj.trades SET error_message = 'x' WHERE id = (SELECT a FROM t)$$,
    'XJ423', NULL, 'result columns do not change without a transition');

UPDATE xorj.trades SET status = 'SUBMITTED', transaction_signature = tests.sig(5) WHERE id = (SELECT a FROM t);
SELECT ok((SELECT submitted_at IS NOT NULL FROM xorj.trades WHERE id = (SELECT a FROM t)),
          'a direct PENDING -> SUBMITTED sets submitted_at');
SELECT is((SELECT count(*) FROM xorj.trade_events WHERE trade_id = (SELECT a FROM t) AND to_status = 'SUBMITTED'),
          1::bigint, 'a direct status change writes its trade event');
UPDATE xorj.trades SET status = 'FAILED', error_message = 'dropped' WHERE id = (SELECT a FROM t);
SELECT throws_ok($$UPDATE xorj.trades SET status = 'CONFIRMED', actual_amount_out = 1, error_message = NULL WHERE id = (SELECT a FROM t)$$,
    'XJ423', NULL, 'a FAILED trade is final, even by direct SQL');

SELECT throws_ok($$DELETE FROM xorj.trades$$, 'XJ423', 'trades are never deleted: DELETE is not allowed',
    'DELETE is refused');
SELECT throws_ok($$TRUNCATE xorj.trades CASCADE$$, 'XJ423', NULL, 'TRUNCATE is refused');

SELECT * FROM finish();
ROLLBACK;
