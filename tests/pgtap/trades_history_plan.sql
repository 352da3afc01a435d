-- A page of a user's trade history never reads or sorts the vault's whole history: the
-- query api.my_trades runs (xorj.vault_trades_page, an inlinable SQL function, so EXPLAIN
-- shows exactly its plan) reads index trades_vault_time_idx (user_vault_address,
-- created_at DESC) in order under a Limit, starting at the cursor's created_at (an Index
-- Cond, so a deep page costs what the first does), and puts only rows of equal created_at
-- in id order (an Incremental Sort, never a full Sort) — for the first page, a deep page,
-- a status filter and a generic plan. (Since 0011 trades are partitioned by month: the
-- months are read newest first, an ordered Append, each through its own partition of
-- the index.) Checked on 20 vaults of 300 trades with fresh
-- statistics; a control query shows the check does see a Sort.
BEGIN;
SELECT plan(14);

-- 6,000 trades over 20 vaults (each its own token pair), most of them FAILED.
SELECT tests.running_job() AS j \gset
INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address,
                         to_token_address, amount_in, expected_amount_out)
SELECT :'j', tests.addr(900 + g % 20), 'k' || g, tests.addr(1000000 + g), tests.addr(2000000 + g), 1000, 990
FROM generate_series(1, 6000) g;
UPDATE xorj.trades SET status = 'FAILED', error_message = 'failed', failure_basis = 'never_broadcast'
 WHERE job_id = :'j' AND client_order_id ~ '[1-8]$';
ANALYZE xorj.trades;
SELECT tests.enabled_vault(tests.addr(1), tests.addr(905));
-- a cursor in the middle of vault 905's history
SELECT id AS mid, created_at AS mid_at FROM xorj.trades WHERE user_vault_address = tests.addr(905)
 ORDER BY created_at DESC, id DESC OFFSET 150 LIMIT 1 \gset

-- the detector works: a vault's trades ordered by a column no index holds are sorted
SELECT matches(tests.plan_of(format($$SELECT * FROM xorj.trades WHERE user_vault_address = %L
                                        ORDER BY amount_in, id LIMIT 10$$, tests.addr(905))),
               '(^|->  )Sort\n', 'control: a query the index cannot order has a full Sort node');

-- api.my_trades plans its query per call with enable_sort off: so do these
SET LOCAL enable_sort = off;

SELECT tests.plan_of(format($$SELECT * FROM xorj.vault_trades_page(%L, NULL, 'infinity', NULL, 50)$$,
                              tests.addr(905))) AS p1 \gset
SELECT matches(:'p1'::text,
    '^Limit\n\s*->  Incremental Sort\n\s*Sort Key: t.created_at DESC, t.id DESC\n\s*Presorted Key: t.created_at\n\s*->  Append\n\s*->  Index Scan using trades_\d{4}_\d{2}_user_vault_address_created_at_idx on trades_\d{4}_\d{2} t',
    'first page: Limit over an Incremental Sort (of equal created_at only) over the index, read in order');
SELECT doesnt_match(:'p1'::text, '(^|->  )Sort\n', 'first page: no full Sort');
SELECT doesnt_match(:'p1'::text, 'Seq Scan|Bitmap', 'first page: no sequential or bitmap scan');

SELECT tests.plan_of(format($$SELECT * FROM xorj.vault_trades_page(%L, NULL, %L, %L, 50)$$,
                              tests.addr(905), :'mid_at', :'mid')) AS p2 \gset
SELECT matches(:'p2'::text, 'Index Scan using trades_\d{4}_\d{2}_user_vault_address_created_at_idx on trades_\d{4}_\d{2} t_\d+\n\s*Index Cond: \(.*user_vault_address.* AND \(created_at <= ',
    'a deep page: the scan starts at the cursor''s created_at (an Index Cond)');
SELECT doesnt_match(:'p2'::text, '(^|->  )Sort\n', 'a deep page: no full Sort');

SELECT tests.plan_of(format($$SELECT * FROM xorj.vault_trades_page(%L, 'PENDING', %L, %L, 200)$$,
                              tests.addr(905), :'mid_at', :'mid')) AS p3 \gset
SELECT matches(:'p3'::text, 'Index Scan using trades_\d{4}_\d{2}_user_vault_address_created_at_idx on trades_\d{4}_\d{2} t', 'status filter: reads the index');
SELECT doesnt_match(:'p3'::text, '(^|->  )Sort\n', 'status filter: no full Sort');

-- a generic plan (parameters unknown at planning) as well
PREPARE page(text, xorj.trade_status, timestamptz, uuid, integer) AS
    SELECT * FROM xorj.vault_trades_page($1, $2, $3, $4, $5);
SET LOCAL plan_cache_mode = force_generic_plan;
SELECT tests.plan_of(format($$EXECUTE page(%L, NULL, %L, %L, 50)$$, tests.addr(905), :'mid_at', :'mid')) AS p4 \gset
SELECT matches(:'p4'::text, 'Index Cond: \(\(\(user_vault_address\)::text = \$1\) AND \(created_at <= \$3\)\)',
               'generic plan: it is the generic one, bounded on the index');
SELECT doesnt_match(:'p4'::text, '(^|->  )Sort\n', 'generic plan: no full Sort');
RESET plan_cache_mode;
DEALLOCATE page;
RESET enable_sort;

-- api.my_trades runs exactly this query, planned per call with enable_sort off
SELECT ok((SELECT p.prosrc LIKE '%FROM xorj.vault_trades_page(%'
                  AND 'plan_cache_mode=force_custom_plan' = ANY (p.proconfig)
                  AND 'enable_sort=off' = ANY (p.proconfig)
           FROM pg_catalog.pg_proc p
           WHERE p.oid = 'api.my_trades(text, uuid, integer)'::regprocedure),
          'my_trades reads through xorj.vault_trades_page, planned per call without sorting');
SELECT tests.act_as('xorj_api', tests.addr(1));
CREATE TEMP TABLE answered AS
    SELECT (r->>'id')::uuid AS id, n FROM api.my_trades(NULL, :'mid', 200) WITH ORDINALITY x(r, n);
SELECT tests.act_as(NULL);
SELECT results_eq('SELECT id FROM answered ORDER BY n',
    format($$SELECT id FROM xorj.vault_trades_page(%L, NULL, %L, %L, 200)$$, tests.addr(905), :'mid_at', :'mid'),
    'my_trades returns what the explained query returns');
SELECT results_eq('SELECT id FROM answered ORDER BY n',
    format($$SELECT id FROM xorj.trades WHERE user_vault_address = %L AND (created_at, id) < (%L, %L)
             ORDER BY created_at DESC, id DESC LIMIT 200$$, tests.addr(905), :'mid_at', :'mid'),
    'and that is the page after the cursor in (created_at DESC, id DESC) order');
SELECT is((SELECT count(*) FROM answered), 149::bigint, 'the 149 trades older than the 151st newest');

SELECT * FROM finish();
ROLLBACK;
