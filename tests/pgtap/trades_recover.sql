-- FR-2.5: a restarted bot gets every SUBMITTED trade oldest first, then PENDING trades
-- older than the age it gives; nothing CONFIRMED or FAILED.
BEGIN;
SELECT plan(4);

SELECT tests.enabled_vault(tests.addr(100), tests.addr(200));
CREATE TEMP TABLE j AS SELECT tests.running_job() AS id;
CREATE TEMP TABLE t AS SELECT
    tests.trade((SELECT id FROM j), tests.addr(200), 'p1', 10, 1, 2) AS p1,
    tests.trade((SELECT id FROM j), tests.addr(200), 's1', 10, 3, 4) AS s1,
    tests.trade((SELECT id FROM j), tests.addr(200), 's2', 10, 5, 6) AS s2,
    tests.trade((SELECT id FROM j), tests.addr(200), 'c1', 10, 7, 8) AS c1,
    tests.trade((SELECT id FROM j), tests.addr(200), 'f1', 10, 9, 10) AS f1;
SELECT api.mark_trade_submitted((SELECT s2 FROM t), tests.sig(2));
SELECT api.mark_trade_submitted((SELECT s1 FROM t), tests.sig(1));
SELECT api.mark_trade_submitted((SELECT c1 FROM t), tests.sig(3));
SELECT api.mark_trade_confirmed((SELECT c1 FROM t), 5);
SELECT api.mark_trade_failed((SELECT f1 FROM t), 'x', p_failure_basis => 'never_broadcast');
GRANT SELECT ON t, j TO PUBLIC;
SELECT tests.act_as('xorj_bot');

SELECT results_eq(
    $$SELECT (r->>'id')::uuid FROM api.trades_to_recover(interval '1 hour') r
       WHERE (r->>'job_id')::uuid = (SELECT id FROM j)$$,
    $$SELECT s2 FROM t UNION ALL SELECT s1 FROM t$$,
    'SUBMITTED trades come oldest submission first; young PENDING trades are left alone');
-- p1 was created a minute ago (its timestamps moved into the past)
SELECT tests.backdate('trades', ARRAY[(SELECT p1 FROM t)], interval '1 minute');
SELECT results_eq(
    $$SELECT (r->>'id')::uuid FROM api.trades_to_recover(interval '30 seconds') r
       WHERE (r->>'job_id')::uuid = (SELECT id FROM j)$$,
    $$SELECT s2 FROM t UNION ALL SELECT s1 FROM t UNION ALL SELECT p1 FROM t$$,
    'PENDING trades older than the given age follow the SUBMITTED ones');
SELECT is((SELECT count(*) FROM api.trades_to_recover(interval '0', 1)), 1::bigint, 'the limit holds');
SELECT throws_ok($$SELECT api.trades_to_recover(interval '-1 second')$$, 'XJ422', NULL, 'a negative age is invalid');
SELECT tests.act_as(NULL);

SELECT * FROM finish();
ROLLBACK;
