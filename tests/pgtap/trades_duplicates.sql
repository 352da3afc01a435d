-- Rules 2 and 3: one trade in flight per vault and token pair; the same trade again within
-- the duplicate window is refused unless the earlier one FAILED.
BEGIN;
SELECT plan(11);

SELECT tests.enabled_vault(tests.addr(100), tests.addr(200));
CREATE TEMP TABLE j AS SELECT tests.running_job() AS id;
CREATE TEMP TABLE t1 AS SELECT tests.trade((SELECT id FROM j), tests.addr(200), 'k1', 1000) AS id;
GRANT SELECT ON j, t1 TO PUBLIC;

SELECT tests.act_as('xorj_bot');
SELECT throws_ok(
    $$SELECT tests.trade((SELECT id FROM j), tests.addr(200), 'k2', 5000)$$,
    'XJ409', NULL, 'a second trade for a pair with one PENDING is refused');
SELECT throws_like(
    $$SELECT tests.trade((SELECT id FROM j), tests.addr(200), 'k2', 5000)$$,
    format('trade %s for this vault and token pair is still PENDING', (SELECT id FROM t1)),
    'the in-flight refusal names the trade in flight');
SELECT lives_ok(
    $$SELECT tests.trade((SELECT id FROM j), tests.addr(200), 'k3', 1000, 2, 1)$$,
    'the reverse pair is another pair');
SELECT lives_ok(
    $$SELECT tests.trade((SELECT id FROM j), tests.addr(200), 'k4', 1000, 1, 3)$$,
    'another to-token is another pair');

SELECT api.mark_trade_submitted((SELECT id FROM t1), tests.sig(1));
SELECT throws_ok(
    $$SELECT tests.trade((SELECT id FROM j), tests.addr(200), 'k5', 5000)$$,
    'XJ409', NULL, 'a SUBMITTED trade is still in flight');

SELECT api.mark_trade_confirmed((SELECT id FROM t1), 990, 0.5, 5000);
SELECT throws_like(
    $$SELECT tests.trade((SELECT id FROM j), tests.addr(200), 'k6', 1000)$$,
    'trade ' || (SELECT id FROM t1) || ' with the same vault, tokens and amount was created % ago',
    'the same vault, pair and amount within the window is a recent repeat');
SELECT lives_ok(
    $$SELECT tests.trade((SELECT id FROM j), tests.addr(200), 'k7', 1001)$$,
    'another amount is not a repeat');
SELECT tests.act_as(NULL);

-- A FAILED trade does not block its repeat.
CREATE TEMP TABLE t8 AS SELECT tests.trade((SELECT id FROM j), tests.addr(200), 'k8', 7000, 5, 6) AS id;
SELECT api.mark_trade_failed((SELECT id FROM t8), 'quote expired', p_failure_basis => 'never_broadcast');
SELECT lives_ok(
    $$SELECT tests.trade((SELECT id FROM j), tests.addr(200), 'k9', 7000, 5, 6)$$,
    'after a FAILED trade the same trade may be created again');

-- The window comes from xorj.settings: 1 minute here, and the last trade was created 2
-- minutes ago (its timestamps moved into the past: within the default 5 minutes, it
-- would still be a repeat).
CREATE TEMP TABLE t10 AS SELECT tests.trade((SELECT id FROM j), tests.addr(200), 'k10', 8000, 7, 8) AS id;
SELECT api.mark_trade_failed((SELECT id FROM t10), 'x', p_failure_basis => 'never_broadcast');
UPDATE xorj.settings SET duplicate_window = interval '1 minute';
CREATE TEMP TABLE t11 AS SELECT tests.trade((SELECT id FROM j), tests.addr(200), 'k11', 9000, 7, 8) AS id;
SELECT api.mark_trade_submitted((SELECT id FROM t11), tests.sig(11));
SELECT api.mark_trade_confirmed((SELECT id FROM t11), 1);
SELECT tests.backdate('trades', ARRAY[(SELECT id FROM t11)], interval '2 minutes');
SELECT lives_ok(
    $$SELECT tests.trade((SELECT id FROM j), tests.addr(200), 'k12', 9000, 7, 8)$$,
    'past the duplicate window the same trade is allowed');

-- Against direct SQL, the partial unique index keeps one trade in flight per pair.
SELECT throws_ok(
    format($$INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id,
              from_token_address, to_token_address, amount_in, expected_amount_out)
             VALUES (%L, %L, 'direct', %L, %L, 1, 1)$$,
           (SELECT id FROM j), tests.addr(200), tests.addr(7), tests.addr(8)),
    '23505', NULL, 'a direct insert of a second in-flight trade breaks the unique index');
SELECT is((SELECT count(*) FROM xorj.trades WHERE client_order_id IN ('k2', 'k5', 'k6', 'direct')),
          0::bigint, 'refused creations left no row');

SELECT * FROM finish();
ROLLBACK;
