-- Rule 1: the same (vault, client_order_id) with the same parameters is a replay; with
-- other parameters it is a conflict. Creation writes the first audit event.
BEGIN;
SELECT plan(12);
SELECT count(*) AS trades_before FROM xorj.trades \gset

SELECT tests.enabled_vault(tests.addr(100), tests.addr(200));
CREATE TEMP TABLE j AS SELECT tests.running_job() AS id;
GRANT SELECT ON j TO PUBLIC;

SELECT tests.act_as('xorj_bot', NULL, 'bot:test-worker');
CREATE TEMP TABLE first AS
    SELECT * FROM api.create_trade((SELECT id FROM j), tests.addr(200), 'job1-order-1',
                                   tests.addr(1), tests.addr(2), 1000000, 990000);
CREATE TEMP TABLE again AS
    SELECT * FROM api.create_trade((SELECT id FROM j), tests.addr(200), 'job1-order-1',
                                   tests.addr(1), tests.addr(2), 1000000, 990000);
SELECT tests.act_as(NULL);

SELECT is((SELECT replay FROM first), false, 'a new trade is not a replay');
SELECT is((SELECT trade->>'status' FROM first), 'PENDING', 'a new trade is PENDING');
SELECT is((SELECT trade->>'amount_in' FROM first), '1000000', 'amount_in comes back exact, as a string');
SELECT is((SELECT replay FROM again), true, 'the same key and parameters again is a replay');
SELECT is((SELECT trade->>'id' FROM again), (SELECT trade->>'id' FROM first), 'the replay returns the existing trade');
SELECT is((SELECT count(*) FROM xorj.trades), :trades_before + 1::bigint, 'a replay creates no second trade');

SELECT is((SELECT count(*) FROM xorj.trade_events e JOIN first f ON e.trade_id = (f.trade->>'id')::uuid),
          1::bigint, 'creation writes one trade event (a replay writes none)');
SELECT results_eq(
    $$SELECT from_status::text, to_status::text, actor FROM xorj.trade_events
       WHERE trade_id = (SELECT (trade->>'id')::uuid FROM first)$$,
    $$VALUES (NULL::text, 'PENDING'::text, 'bot:test-worker'::text)$$,
    'the creation event goes from nothing to PENDING, by the actor of the transaction');

SELECT tests.act_as('xorj_bot', NULL, 'bot:test-worker');
SELECT throws_ok(
    $$SELECT * FROM api.create_trade((SELECT id FROM j), tests.addr(200), 'job1-order-1',
                                     tests.addr(1), tests.addr(2), 2000000, 990000)$$,
    'XJ409', NULL, 'the same key with another amount is a conflict');
SELECT throws_like(
    $$SELECT * FROM api.create_trade((SELECT id FROM j), tests.addr(200), 'job1-order-1',
                                     tests.addr(1), tests.addr(3), 1000000, 990000)$$,
    '%client_order_id job1-order-1 of vault % is already used by trade % with other parameters',
    'the conflict names the key and the trade holding it');
SELECT throws_ok(
    format($$SELECT * FROM api.create_trade(%L, tests.addr(200), 'job1-order-1',
                                     tests.addr(1), tests.addr(2), 1000000, 990000)$$,
           tests.running_job()),
    'XJ409', NULL, 'the same key from another job is a conflict');
SELECT tests.act_as(NULL);
SELECT is((SELECT count(*) FROM xorj.trades), :trades_before + 1::bigint, 'refused creations save nothing');

SELECT * FROM finish();
ROLLBACK;
