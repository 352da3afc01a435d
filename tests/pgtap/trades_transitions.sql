-- The lifecycle through the api: allowed moves, idempotent repeats, refused moves, and
-- one audit event per status change.
BEGIN;
SELECT plan(23);

SELECT tests.enabled_vault(tests.addr(100), tests.addr(200));
CREATE TEMP TABLE j AS SELECT tests.running_job() AS id;
CREATE TEMP TABLE t AS SELECT
    tests.trade((SELECT id FROM j), tests.addr(200), 'a', 1000, 1, 2) AS a,
    tests.trade((SELECT id FROM j), tests.addr(200), 'b', 1000, 3, 4) AS b,
    tests.trade((SELECT id FROM j), tests.addr(200), 'c', 1000, 5, 6) AS c;
GRANT SELECT ON j, t TO PUBLIC;
SELECT tests.act_as('xorj_bot');

-- a: PENDING -> SUBMITTED -> CONFIRMED
SELECT is((SELECT changed FROM api.mark_trade_submitted((SELECT a FROM t), tests.sig(1))), true,
          'PENDING -> SUBMITTED with a signature');
SELECT is((SELECT trade->>'transaction_signature' FROM api.get_trade((SELECT a FROM t)) trade),
          tests.sig(1), 'the signature is recorded');
SELECT is((SELECT changed FROM api.mark_trade_submitted((SELECT a FROM t), tests.sig(1))), false,
          'submitting again with the same signature changes nothing');
SELECT throws_ok($$SELECT api.mark_trade_submitted((SELECT a FROM t), tests.sig(2))$$,
    'XJ423', NULL, 'a SUBMITTED trade cannot take another signature');
SELECT throws_ok($$SELECT api.mark_trade_submitted((SELECT b FROM t), tests.sig(1))$$,
    'XJ409', NULL, 'a signature recorded for one trade cannot be used by another');
SELECT is((SELECT changed FROM api.mark_trade_confirmed((SELECT a FROM t), 987654, 1.25, 5000)), true,
          'SUBMITTED -> CONFIRMED with the amounts');
SELECT ok((SELECT (trade->>'completed_at') IS NOT NULL AND trade->>'actual_amount_out' = '987654'
           FROM api.get_trade((SELECT a FROM t)) trade),
          'a confirmed trade has completed_at and actual_amount_out');
SELECT is((SELECT changed FROM api.mark_trade_confirmed((SELECT a FROM t), 987654, 1.25, 5000)), false,
          'confirming again with the same values changes nothing');
SELECT throws_ok($$SELECT api.mark_trade_confirmed((SELECT a FROM t), 1, 1.25, 5000)$$,
    'XJ423', NULL, 'confirming again with other values is refused');
SELECT throws_ok($$SELECT api.mark_trade_failed((SELECT a FROM t), 'late failure', p_failure_basis => 'never_broadcast')$$,
    'XJ423', NULL, 'FAILED cannot overwrite CONFIRMED');

-- b: PENDING -> FAILED
SELECT throws_ok($$SELECT api.mark_trade_confirmed((SELECT b FROM t), 1)$$,
    'XJ423', NULL, 'PENDING -> CONFIRMED is refused');
SELECT is((SELECT changed FROM api.mark_trade_failed((SELECT b FROM t), 'never sent', p_failure_basis => 'never_broadcast')), true,
          'PENDING -> FAILED with a reason');
SELECT is((SELECT changed FROM api.mark_trade_failed((SELECT b FROM t), 'never sent', p_failure_basis => 'never_broadcast')), false,
          'failing again with the same reason changes nothing');
SELECT throws_ok($$SELECT api.mark_trade_failed((SELECT b FROM t), 'another reason', p_failure_basis => 'never_broadcast')$$,
    'XJ423', NULL, 'failing again with another reason is refused');
SELECT throws_ok($$SELECT api.mark_trade_submitted((SELECT b FROM t), tests.sig(3))$$,
    'XJ423', NULL, 'FAILED -> SUBMITTED is refused');

-- c: PENDING -> SUBMITTED -> FAILED (on chain)
SELECT api.mark_trade_submitted((SELECT c FROM t), tests.sig(4));
SELECT is((SELECT trade->>'status' FROM api.mark_trade_failed((SELECT c FROM t), 'InstructionError', 5000, p_failure_basis => 'never_broadcast')),
          'FAILED', 'SUBMITTED -> FAILED, with the fee paid');
SELECT throws_ok($$SELECT api.mark_trade_confirmed((SELECT c FROM t), 1)$$,
    'XJ423', NULL, 'FAILED -> CONFIRMED is refused');

SELECT throws_ok($$SELECT api.mark_trade_failed((SELECT c FROM t), '', p_failure_basis => 'never_broadcast')$$,
    'XJ422', 'invalid error_message: must be 1 to 10000 characters', 'an empty reason is invalid');
SELECT throws_ok($$SELECT api.mark_trade_submitted(gen_random_uuid(), tests.sig(9))$$,
    'XJ404', NULL, 'an unknown trade is not found');
SELECT throws_ok($$SELECT * FROM api.trade_events(gen_random_uuid())$$,
    'XJ404', NULL, 'the events of an unknown trade: not found, not an empty list');
SELECT tests.act_as(NULL);

SELECT results_eq(
    $$SELECT from_status::text, to_status::text FROM xorj.trade_events
      WHERE trade_id = (SELECT a FROM t) ORDER BY id$$,
    $$VALUES (NULL, 'PENDING'), ('PENDING', 'SUBMITTED'), ('SUBMITTED', 'CONFIRMED')$$,
    'trade a has one event per status change, none for the repeats');
SELECT results_eq(
    $$SELECT from_status::text, to_status::text, detail->>'error_message' FROM xorj.trade_events
      WHERE trade_id = (SELECT c FROM t) ORDER BY id$$,
    $$VALUES (NULL, 'PENDING', NULL), ('PENDING', 'SUBMITTED', NULL), ('SUBMITTED', 'FAILED', 'InstructionError')$$,
    'the failure event carries the error');

SELECT tests.act_as('xorj_api');
SELECT throws_ok($$SELECT api.mark_trade_failed((SELECT a FROM t), 'x', p_failure_basis => 'never_broadcast')$$,
    '42501', NULL, 'the API role cannot move trades');
SELECT tests.act_as(NULL);

SELECT * FROM finish();
ROLLBACK;
