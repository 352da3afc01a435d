-- api.create_trade plans its statements once and reuses the plans (force_generic_plan
-- since issue 13; no plan_cache_mode = force_custom_plan since 0011): the generic plan of
-- its lookups reads indexes bounded by the call's own vault, whatever the size of the
-- log. Until 0011 the in-flight check read xorj.trades, and its generic plan preferred the
-- claim index (every unfinished trade of every vault), which grew with the unfinished
-- set; it now reads the partial unique index of xorj.trade_keys that is the rule itself.
-- Since issue 13 the three lookups and the job's lock are one statement. Each statement
-- is prepared here as the function writes it (its variables as parameters), on 6,000
-- trades of 20 vaults (300 unfinished, three months) with fresh statistics, and
-- EXPLAINed with a generic plan.
BEGIN;
SELECT plan(10);

SELECT tests.running_job() AS j \gset
SELECT tests.finish_old_trades() AS old_finished \gset
INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address,
                         to_token_address, amount_in, expected_amount_out)
SELECT :'j', tests.addr(900 + g % 20), 'p' || g, tests.addr(1000000 + g), tests.addr(2000000 + g), 1000, 990
FROM generate_series(1, 6000) g;
UPDATE xorj.trades SET status = 'FAILED', error_message = 'failed', failure_basis = 'never_broadcast'
 WHERE job_id = :'j' AND (substring(client_order_id FROM 2))::int % 20 <> 0;
-- a third of them two months back, a third one month back
SELECT tests.backdate('trades', ARRAY(SELECT id FROM xorj.trades WHERE job_id = :'j'
                                        AND (substring(client_order_id FROM 2))::int % 3 = 0),
                      interval '62 days');
SELECT tests.backdate('trades', ARRAY(SELECT id FROM xorj.trades WHERE job_id = :'j'
                                        AND (substring(client_order_id FROM 2))::int % 3 = 1),
                      interval '31 days');
ANALYZE xorj.trades;
ANALYZE xorj.trade_keys;

SELECT is((SELECT proconfig FROM pg_catalog.pg_proc
            WHERE oid = 'api.create_trade(uuid, text, text, text, text, numeric, numeric, text, interval, text)'::regprocedure),
          ARRAY['search_path=pg_catalog, xorj, pg_temp', 'plan_cache_mode=force_generic_plan'],
          'api.create_trade sets its search_path and force_generic_plan: the plans below are the ones it runs, planned once');

SET LOCAL plan_cache_mode = force_generic_plan;

-- 1-3. The one statement of the lookups, as the function writes it: the job FOR SHARE,
-- (1) the key of (vault, client_order_id), (2) the unfinished key of the vault's pair and
-- venue, (3) the vault's newest trade of the pair and amount since the window's start.
PREPARE lookups(uuid, text, text, text, text, text, numeric, timestamptz) AS
    SELECT (SELECT j.status FROM xorj.execution_jobs j WHERE j.id = $1 FOR SHARE OF j),
           k.id, k.created_at, f.id, f.created_at, r.id, r.created_at
      FROM (SELECT 1) one
      LEFT JOIN LATERAL (
            SELECT k.id, k.created_at FROM xorj.trade_keys k
             WHERE k.user_vault_address = $2 AND k.client_order_id = $3) k
        ON true
      LEFT JOIN LATERAL (
            SELECT k.id, k.created_at FROM xorj.trade_keys k
             WHERE k.user_vault_address = $2 AND k.from_token_address = $4
               AND k.to_token_address = $5 AND k.unfinished
               AND k.venue = $6) f
        ON true
      LEFT JOIN LATERAL (
            SELECT t.id, t.created_at FROM xorj.trades t
             WHERE t.user_vault_address = $2 AND t.from_token_address = $4
               AND t.to_token_address = $5 AND t.amount_in = $7 AND t.venue = $6
               AND t.status <> 'FAILED' AND t.created_at > $8
             ORDER BY t.created_at DESC
             LIMIT 1) r
        ON true;
SELECT tests.plan_of(format($$EXECUTE lookups(%L, tests.addr(905), 'p905', tests.addr(1), tests.addr(2),
                                              'live', 1000, clock_timestamp() - interval '5 minutes')$$, :'j')) AS p1 \gset
SELECT matches(:'p1'::text, 'Index Scan using trades_vault_client_order_key on trade_keys k\n\s*Index Cond: \(\(\(user_vault_address\)::text = \$2\) AND \(client_order_id = \$3\)\)',
               'idempotency: the unique index of (vault, client_order_id), in a generic plan');
SELECT matches(:'p1'::text, 'Index Scan using trades_one_in_flight_per_pair_key on trade_keys k_1',
               'in flight: the partial unique index of the unfinished pairs, in a generic plan');
-- (The job's row is read by its id: on a table of a few jobs, as here, the planner may
-- read it with a scan; the trade log's tables are never scanned.)
SELECT doesnt_match(:'p1'::text, 'claim_order|Seq Scan on trade|Bitmap',
                    'lookups: not the claim index (every unfinished trade), no scan of the trade log or the keys');
SELECT matches(:'p1'::text, 'Subplans Removed: [1-9]',
               'repeat: the months before the window are pruned when the statement starts');
SELECT matches(:'p1'::text, 'Index Scan using trades_\d{4}_\d{2}_user_vault_address_created_at_idx',
               'repeat: the vault''s index by time, in a generic plan');
SELECT doesnt_match(:'p1'::text, '(^|->  )Sort\n', 'repeat: no sort');

-- 4. The trade of a key: one month's primary key.
PREPARE trade_of(uuid, timestamptz) AS
    SELECT * FROM xorj.trades WHERE id = $1 AND created_at = $2;
SELECT tests.plan_of(format('EXECUTE trade_of(%L, %L)', k.id, k.created_at)) AS p4
  FROM xorj.trade_keys k LIMIT 1 \gset
SELECT matches(:'p4'::text, 'Subplans Removed: [1-9]', 'a trade by key: one partition is read');
SELECT matches(:'p4'::text, 'Index Scan using trades_\d{4}_\d{2}_pkey',
               'a trade by key: that month''s primary key');
RESET plan_cache_mode;

-- And the function answers as before with its cached plans: ten calls, one session.
SELECT tests.enabled_vault(tests.addr(1), tests.addr(905));
SELECT is((SELECT count(*)::int FROM generate_series(1, 10) n
            CROSS JOIN LATERAL api.create_trade(:'j', tests.addr(905), 'cached-' || n,
                                                tests.addr(3000000 + n), tests.addr(4000000 + n), 1000, 990) c
            WHERE NOT c.replay),
          10, 'ten creations in one session, each with its own pair: ten trades');

SELECT * FROM finish();
ROLLBACK;
