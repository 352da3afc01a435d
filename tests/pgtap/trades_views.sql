-- The seed's trade views, readable by xorj_readonly, which cannot read the table itself.
BEGIN;
SELECT plan(5);

SELECT tests.enabled_vault(tests.addr(100), tests.addr(200));
CREATE TEMP TABLE j AS SELECT tests.running_job() AS id;
CREATE TEMP TABLE t AS SELECT
    tests.trade((SELECT id FROM j), tests.addr(200), 'p', 10, 1, 2) AS p,
    tests.trade((SELECT id FROM j), tests.addr(200), 's', 10, 3, 4) AS s;
SELECT api.mark_trade_submitted((SELECT s FROM t), tests.sig(1));
GRANT SELECT ON t, j TO PUBLIC;

SELECT tests.act_as('xorj_readonly');
SELECT results_eq($$SELECT id FROM api.pending_trades WHERE job_id = (SELECT id FROM j)$$, $$SELECT p FROM t$$,
                  'pending_trades lists PENDING trades');
SELECT results_eq($$SELECT id FROM api.submitted_trades WHERE job_id = (SELECT id FROM j)$$, $$SELECT s FROM t$$,
                  'submitted_trades lists SUBMITTED trades');
SELECT throws_ok($$SELECT * FROM xorj.trades$$, '42501', NULL, 'xorj_readonly cannot read the table');
SELECT tests.act_as('xorj_bot');
SELECT throws_ok($$SELECT * FROM api.pending_trades$$, '42501', NULL, 'the views are not the bot''s');
SELECT tests.act_as(NULL);
SELECT has_view('api', 'submitted_trades', 'api.submitted_trades exists');

SELECT * FROM finish();
ROLLBACK;
