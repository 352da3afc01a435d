-- api.list_trades: trades newest first (created_at, then id), optionally of one status
-- and/or one vault, paged by limit (1..1000) and offset (>= 0); a status that is not a
-- trade status, a vault that is not an address, or a page out of bounds is XJ422.
BEGIN;
SELECT plan(8);

SELECT tests.enabled_vault(tests.addr(100), tests.addr(200));
SELECT tests.enabled_vault(tests.addr(101), tests.addr(201));
SELECT tests.running_job() AS j \gset
SELECT tests.act_as('xorj_bot', NULL, 'bot:tester');
SELECT tests.trade(:'j', tests.addr(200), 'p1', 10, 1, 2) AS p1 \gset
SELECT tests.trade(:'j', tests.addr(200), 's1', 10, 3, 4) AS s1 \gset
SELECT tests.trade(:'j', tests.addr(200), 's2', 10, 5, 6) AS s2 \gset
SELECT tests.trade(:'j', tests.addr(201), 'o1', 10, 1, 2) AS o1 \gset
SELECT api.mark_trade_submitted(:'s2', tests.sig(2)) \gset ignored_
SELECT api.mark_trade_submitted(:'s1', tests.sig(1)) \gset ignored_
-- the creations moved 3, 2 and 1 ms back (p1 oldest), so the order is certain; these
-- four stay the newest trades of a database that is not empty (a restored backup)
SELECT tests.backdate('trades', ARRAY[:'p1']::uuid[], interval '3 milliseconds');
SELECT tests.backdate('trades', ARRAY[:'s1']::uuid[], interval '2 milliseconds');
SELECT tests.backdate('trades', ARRAY[:'s2']::uuid[], interval '1 millisecond');

SELECT results_eq(
    $$SELECT r->>'client_order_id' FROM api.list_trades('SUBMITTED', NULL, 2, 0) r ORDER BY 1$$,
    $$VALUES ('s1'), ('s2')$$,
    'list_trades filters by status');
SELECT results_eq(
    format($$SELECT r->>'client_order_id' FROM api.list_trades(NULL, %L, 10, 0) r$$, tests.addr(200)),
    $$VALUES ('s2'), ('s1'), ('p1')$$,
    'by vault, newest first');
SELECT results_eq(
    $$SELECT r->>'client_order_id' FROM api.list_trades(NULL, NULL, 2, 1) r$$,
    $$VALUES ('s2'), ('s1')$$,
    'a page: limit 2 after the newest (o1)');
SELECT results_eq(
    format($$SELECT r->>'client_order_id' FROM api.list_trades('PENDING', %L) r$$, tests.addr(201)),
    $$VALUES ('o1')$$,
    'status and vault together');
SELECT is(tests.error_fields($$SELECT api.list_trades('DONE')$$, 'sqlstate', 'column'),
          '{"sqlstate": "XJ422", "column": "status"}'::jsonb, 'an unknown status is XJ422 on status');
SELECT is(tests.error_fields($$SELECT api.list_trades(NULL, 'not-a-vault')$$, 'sqlstate', 'column'),
          '{"sqlstate": "XJ422", "column": "vault"}'::jsonb, 'a vault that is not an address is XJ422 on vault');
SELECT is(tests.error_fields($$SELECT api.list_trades(NULL, NULL, 1001)$$, 'sqlstate', 'column', 'message'),
          '{"sqlstate": "XJ422", "column": "limit", "message": "invalid limit: must be 1..1000"}'::jsonb,
          'a limit above 1000 is XJ422');
SELECT is(tests.error_fields($$SELECT api.list_trades(NULL, NULL, 10, -1)$$, 'sqlstate', 'column', 'message'),
          '{"sqlstate": "XJ422", "column": "offset", "message": "invalid offset: must be 0 or more"}'::jsonb,
          'a negative offset is XJ422');
SELECT tests.act_as(NULL);

SELECT * FROM finish();
ROLLBACK;
