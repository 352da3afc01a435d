-- api.claim_trades and api.trades_to_recover read the unfinished trades in claim order
-- from the partial index trades_claim_order_idx and stop at their limit: no Sort of the
-- unfinished set, no read of the finished log. The claim query is the body of
-- xorj.claim_batch, prepared here as it is written (with its LIMIT and FOR UPDATE SKIP
-- LOCKED, and its sorts off). Checked on 6,000 trades of which 300 are
-- unfinished, with fresh statistics, for a custom and a generic plan, with and without a
-- venue; a control query shows the check does see a Sort. Then the order itself:
-- SUBMITTED by submitted_at, then PENDING by created_at, ids breaking ties. (Since 0011
-- trades are partitioned by month: each month's partition of the index is read in order
-- and the months merged in order, a Merge Append, which is not a Sort.)
BEGIN;
SELECT plan(11);

SELECT tests.running_job() AS j \gset
-- a database that is not empty (a restored backup): its trades in flight are finished first
SELECT tests.finish_old_trades() AS old_finished \gset
INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address,
                         to_token_address, amount_in, expected_amount_out)
SELECT :'j', tests.addr(900 + g % 50), 'k' || g, tests.addr(1000000 + g), tests.addr(2000000 + g), 1000, 990
FROM generate_series(1, 6000) g;
-- 5,700 finished; of the 300 unfinished, 100 SUBMITTED
UPDATE xorj.trades SET status = 'FAILED', error_message = 'failed', failure_basis = 'never_broadcast'
 WHERE job_id = :'j' AND (substring(client_order_id FROM 2))::int % 20 <> 0;
UPDATE xorj.trades SET status = 'SUBMITTED', transaction_signature = tests.sig((substring(client_order_id FROM 2))::int)
 WHERE job_id = :'j' AND (substring(client_order_id FROM 2))::int % 60 = 0;
ANALYZE xorj.trades;

SELECT matches(tests.plan_of($$SELECT t.id FROM xorj.trades t WHERE t.status IN ('PENDING', 'SUBMITTED')
                                 ORDER BY t.amount_in, t.id LIMIT 10$$),
               '(^|->  )Sort\n', 'control: an order the index does not hold has a Sort node');

-- The body of xorj.claim_batch itself, prepared, with its own settings (enable_sort off).
SELECT is((SELECT proconfig FROM pg_catalog.pg_proc WHERE oid = 'xorj.claim_batch'::regproc),
          ARRAY['enable_sort=off', 'enable_incremental_sort=off'], 'xorj.claim_batch plans with no sort');
SET LOCAL enable_sort = off;
SET LOCAL enable_incremental_sort = off;
SELECT format('PREPARE claim(text, interval, uuid[], text, timestamptz, integer) AS %s',
              (SELECT prosrc FROM pg_catalog.pg_proc WHERE oid = 'xorj.claim_batch'::regproc)) AS prep \gset
:prep;
SELECT tests.plan_of($$EXECUTE claim('bot-a', interval '0', NULL, NULL, now(), 500)$$) AS p \gset
SELECT matches(:'p'::text, 'Index Scan using trades_\d{4}_\d{2}_status_coalesce_id_idx', 'claim: reads trades_claim_order_idx (each month''s partition of it)');
SELECT doesnt_match(:'p'::text, '(^|->  )(Incremental )?Sort\n', 'claim: no Sort (the months are merged in order: Merge Append)');
SELECT matches(:'p'::text, '^Limit\n\s*->  LockRows', 'claim: the lock is taken under the Limit (SKIP LOCKED rows do not count)');
SELECT tests.plan_of($$EXECUTE claim('bot-a', interval '30 seconds', ARRAY[gen_random_uuid()], 'live', now(), 500)$$) AS v \gset
SELECT ok(:'v'::text ~ 'Index Scan using trades_\d{4}_\d{2}_status_coalesce_id_idx' AND :'v'::text !~ '(^|->  )(Incremental )?Sort\n',
          'claim with a venue, an age and exclusions: the same ordered read');
SET LOCAL plan_cache_mode = force_generic_plan;
SELECT tests.plan_of($$EXECUTE claim('bot-a', interval '0', NULL, 'live', now(), 500)$$) AS g \gset
SELECT ok(:'g'::text ~ 'Index Scan using trades_\d{4}_\d{2}_status_coalesce_id_idx' AND :'g'::text !~ '(^|->  )(Incremental )?Sort\n',
          'the generic plan reads the index in order too');
RESET plan_cache_mode;

-- trades_to_recover: the same index, the same order
SELECT ok(tests.plan_of($$SELECT t.id FROM xorj.trades t WHERE t.status IN ('PENDING', 'SUBMITTED')
                             AND (t.status = 'SUBMITTED' OR t.created_at <= now() - interval '0')
                             ORDER BY t.status DESC, coalesce(t.submitted_at, t.created_at), t.id LIMIT 1000$$)
          ~ 'Index Scan using trades_\d{4}_\d{2}_status_coalesce_id_idx',
          'the recovery list''s query (api.trades_to_recover, enable_sort off) reads the same index in order');
RESET enable_sort;
RESET enable_incremental_sort;

-- The order: SUBMITTED by submitted_at, then PENDING by created_at.
SELECT is((SELECT array_agg(x.status ORDER BY x.n)
             FROM (SELECT (j->>'status') AS status, row_number() OVER () AS n
                     FROM api.claim_trades('bot-a', interval '1 minute', p_limit => 500) j) x
            WHERE x.n IN (1, 100, 101, 300)),
          ARRAY['SUBMITTED', 'SUBMITTED', 'PENDING', 'PENDING'], 'claims: 100 SUBMITTED first, then 200 PENDING');
SELECT is((SELECT array_agg(j->>'id') FROM api.trades_to_recover(p_limit => 1000) j),
          (SELECT array_agg(id::text ORDER BY status DESC, coalesce(submitted_at, created_at), id)
             FROM xorj.trades WHERE status IN ('PENDING', 'SUBMITTED')),
          'trades_to_recover: the same order, all 300');
SELECT is(api.release_trade_claims('bot-a'), 300, 'all 300 claimed, then released');

SELECT * FROM finish();
ROLLBACK;
