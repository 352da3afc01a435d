-- api.my_trades: a user's own trade history, for the wallet of the claims only. It lists
-- the trades of the wallet's registered vault, newest first by (created_at DESC, id
-- DESC), with the u64 amounts as exact strings and without the bot's internals; filters
-- by status; pages by a keyset cursor that is stable when trades are created between
-- pages (no duplicate, no gap) and that is looked up among the caller's trades only (a
-- trade of another vault, or no trade at all, is the same XJ422 on cursor); a wallet
-- without a vault has an empty history; without a user's claims it is 42501, and only
-- xorj_api may call it.
--
--   wallet A = addr(1), vault 901: trades a1 (oldest) .. a5 (newest), a3 and a4 created
--     at the same instant; a1 and a2 CONFIRMED, a3 FAILED, a4 and a5 PENDING
--   wallet B = addr(2), vault 902: trades b1, b2
--   wallet C = addr(3): never seen; wallet D = addr(4): enabled, no vault
BEGIN;
SELECT plan(39);

SELECT tests.enabled_vault(tests.addr(1), tests.addr(901));
SELECT tests.enabled_vault(tests.addr(2), tests.addr(902));
SELECT tests.enabled_vault(tests.addr(4), NULL);
SELECT tests.running_job() AS j \gset

SELECT tests.act_as('xorj_bot', NULL, 'bot:tester');
SELECT tests.trade(:'j', tests.addr(901), 'a1', 18446744073709551615, 1, 2) AS a1 \gset
SELECT tests.trade(:'j', tests.addr(901), 'a2', 1000, 3, 4) AS a2 \gset
SELECT tests.trade(:'j', tests.addr(901), 'a3', 1000, 5, 6) AS a3 \gset
SELECT tests.trade(:'j', tests.addr(901), 'a4', 1000, 7, 8) AS a4 \gset
SELECT tests.trade(:'j', tests.addr(901), 'a5', 1000, 9, 10) AS a5 \gset
SELECT tests.trade(:'j', tests.addr(902), 'b1', 1000, 1, 2) AS b1 \gset
SELECT tests.trade(:'j', tests.addr(902), 'b2', 1000, 3, 4) AS b2 \gset
SELECT api.mark_trade_submitted(:'a1', tests.sig(1)) \gset ignored_
SELECT api.mark_trade_confirmed(:'a1', 18446744073709551615, NULL, 18446744073709551614) \gset ignored_
SELECT api.mark_trade_submitted(:'a2', tests.sig(2)) \gset ignored_
SELECT api.mark_trade_confirmed(:'a2', 980, NULL, 5000) \gset ignored_
SELECT api.mark_trade_failed(:'a3', 'slippage exceeded', p_failure_basis => 'never_broadcast') \gset ignored_
SELECT tests.act_as(NULL);

-- a certain order: a1 five hours ago ... a5 one hour ago, a4 at a3's very instant
SELECT tests.backdate('trades', ARRAY[:'a1']::uuid[], interval '5 hours');
SELECT tests.backdate('trades', ARRAY[:'a2']::uuid[], interval '4 hours');
SELECT tests.backdate('trades', ARRAY[:'a3']::uuid[], interval '3 hours');
SELECT tests.backdate('trades', ARRAY[:'a4']::uuid[], interval '2 hours');
SELECT tests.backdate('trades', ARRAY[:'a5']::uuid[], interval '1 hour');
SELECT tests.backdate('trades', ARRAY[:'a4']::uuid[],
    (SELECT x.created_at - y.created_at FROM xorj.trades x, xorj.trades y
      WHERE x.id = :'a4' AND y.id = :'a3'), ARRAY['created_at']);
-- of the tie, the greater id comes first
SELECT CASE WHEN :'a3'::uuid > :'a4'::uuid THEN 'a3' ELSE 'a4' END AS tie_first,
       CASE WHEN :'a3'::uuid > :'a4'::uuid THEN 'a4' ELSE 'a3' END AS tie_second \gset

-- As A ----------------------------------------------------------------------------------
SELECT tests.act_as('xorj_api', tests.addr(1), 'api:A');

SELECT results_eq(
    $$SELECT r->>'client_order_id' FROM api.my_trades() r$$,
    format($$VALUES ('a5'), (%L), (%L), ('a2'), ('a1')$$, :'tie_first', :'tie_second'),
    'A sees its vault''s trades, newest first, a tie of created_at by id descending');
SELECT is(
    (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys((SELECT r FROM api.my_trades() r LIMIT 1)) k),
    ARRAY['actual_amount_out', 'amount_in', 'client_order_id', 'completed_at', 'created_at',
          'error_message', 'expected_amount_out', 'from_token_address', 'gas_fee', 'id',
          'slippage_realized', 'status', 'submitted_at', 'to_token_address',
          'transaction_signature', 'updated_at', 'venue'],
    'a trade shows its user''s fields only (with its venue): no job, claim, worker or block height');
SELECT is(
    (SELECT jsonb_build_object('amount_in', r->'amount_in', 'actual_amount_out', r->'actual_amount_out',
                               'expected_amount_out', r->'expected_amount_out', 'gas_fee', r->'gas_fee')
       FROM api.my_trades() r WHERE r->>'id' = :'a1'),
    '{"amount_in": "18446744073709551615", "actual_amount_out": "18446744073709551615",
      "expected_amount_out": "990", "gas_fee": "18446744073709551614"}'::jsonb,
    'u64 amounts are exact decimal strings (2^64-1 included)');
SELECT is(
    (SELECT jsonb_build_object('status', r->'status', 'signature', r->'transaction_signature',
                               'slippage', r->'slippage_realized',
                               'times', (r->>'submitted_at') IS NOT NULL AND (r->>'completed_at') IS NOT NULL
                                        AND (r->>'created_at')::timestamptz < (r->>'submitted_at')::timestamptz)
       FROM api.my_trades() r WHERE r->>'id' = :'a2'),
    jsonb_build_object('status', 'CONFIRMED', 'signature', tests.sig(2), 'slippage', 1.0101, 'times', true),
    'a confirmed trade shows its signature, realized slippage and timestamps');
SELECT is(
    (SELECT r->>'error_message' FROM api.my_trades() r WHERE r->>'id' = :'a3'),
    'slippage exceeded', 'a failed trade shows its error');
SELECT is(
    (SELECT r->'id' FROM api.my_trades() r WHERE r->>'id' = :'a5'), to_jsonb(:'a5'::text),
    'the id is the trade''s (the cursor of a page ending with it)');

-- status filter
SELECT results_eq($$SELECT r->>'client_order_id' FROM api.my_trades('CONFIRMED') r$$,
    $$VALUES ('a2'), ('a1')$$, 'status CONFIRMED: A''s confirmed trades, newest first');
SELECT results_eq($$SELECT r->>'client_order_id' FROM api.my_trades('FAILED') r$$,
    $$VALUES ('a3')$$, 'status FAILED');
SELECT results_eq($$SELECT r->>'client_order_id' FROM api.my_trades('PENDING') r$$,
    $$VALUES ('a5'), ('a4')$$, 'status PENDING');
SELECT is_empty($$SELECT * FROM api.my_trades('SUBMITTED')$$, 'status SUBMITTED: none');

-- limit
SELECT results_eq($$SELECT r->>'client_order_id' FROM api.my_trades(NULL, NULL, 2) r$$,
    format($$VALUES ('a5'), (%L)$$, :'tie_first'), 'limit 2: the two newest');
SELECT is((SELECT count(*) FROM api.my_trades(NULL, NULL, 200)), 5::bigint, 'limit 200 is allowed');

-- refusals, each naming its field
SELECT is(tests.error_fields($$SELECT api.my_trades('DONE')$$, 'sqlstate', 'column', 'message'),
    '{"sqlstate": "XJ422", "column": "status",
      "message": "invalid status: DONE is not one of PENDING, SUBMITTED, CONFIRMED, FAILED"}'::jsonb,
    'an unknown status is XJ422 on status');
SELECT is(tests.error_fields($$SELECT api.my_trades('confirmed')$$, 'sqlstate', 'column'),
    '{"sqlstate": "XJ422", "column": "status"}'::jsonb, 'statuses are in capitals');
SELECT is(tests.error_fields($$SELECT api.my_trades(NULL, NULL, 0)$$, 'sqlstate', 'column', 'message'),
    '{"sqlstate": "XJ422", "column": "limit", "message": "invalid limit: must be 1..200"}'::jsonb,
    'limit 0 is XJ422 on limit');
SELECT is(tests.error_fields($$SELECT api.my_trades(NULL, NULL, 201)$$, 'sqlstate', 'column'),
    '{"sqlstate": "XJ422", "column": "limit"}'::jsonb, 'limit 201 is XJ422 on limit');
SELECT is(tests.error_fields($$SELECT api.my_trades(NULL, NULL, NULL)$$, 'sqlstate', 'column'),
    '{"sqlstate": "XJ422", "column": "limit"}'::jsonb, 'a NULL limit is XJ422 on limit');
SELECT is(tests.error_fields(format($$SELECT api.my_trades(NULL, %L)$$, :'b1'), 'sqlstate', 'column', 'message'),
    '{"sqlstate": "XJ422", "column": "cursor", "message": "invalid cursor: is not one of your trades"}'::jsonb,
    'a cursor that is another vault''s trade is XJ422 on cursor');
SELECT is(tests.error_of(format($$SELECT api.my_trades(NULL, %L)$$, :'b1')),
          tests.error_of(format($$SELECT api.my_trades(NULL, %L)$$, gen_random_uuid())),
    'the same refusal as for an id that is no trade at all: nothing is told of other vaults');

-- paging, with trades created and moved between the pages
SELECT coalesce(array_agg((x.r->>'id')::uuid ORDER BY x.n), '{}') AS p1 FROM api.my_trades(NULL, NULL, 2) WITH ORDINALITY x(r, n) \gset
SELECT tests.act_as('xorj_bot', NULL, 'bot:tester');
SELECT tests.trade(:'j', tests.addr(901), 'a6', 1000, 11, 12) AS a6 \gset
SELECT tests.trade(:'j', tests.addr(901), 'a7', 1000, 13, 14) AS a7 \gset
SELECT tests.act_as('xorj_api', tests.addr(1), 'api:A');
SELECT coalesce(array_agg((x.r->>'id')::uuid ORDER BY x.n), '{}') AS p2
  FROM api.my_trades(NULL, (:'p1'::uuid[])[2], 2) WITH ORDINALITY x(r, n) \gset
SELECT tests.act_as('xorj_bot', NULL, 'bot:tester');
SELECT api.mark_trade_submitted(:'a5', tests.sig(5)) \gset ignored_
SELECT tests.trade(:'j', tests.addr(901), 'a8', 1000, 15, 16) AS a8 \gset
SELECT tests.act_as('xorj_api', tests.addr(1), 'api:A');
SELECT coalesce(array_agg((x.r->>'id')::uuid ORDER BY x.n), '{}') AS p3
  FROM api.my_trades(NULL, (:'p2'::uuid[])[2], 2) WITH ORDINALITY x(r, n) \gset

SELECT is(cardinality(:'p3'::uuid[]), 1, 'the last page is not full');
SELECT is(:'p1'::uuid[] || :'p2'::uuid[] || :'p3'::uuid[],
          ARRAY[:'a5', CASE :'tie_first' WHEN 'a3' THEN :'a3' ELSE :'a4' END,
                CASE :'tie_second' WHEN 'a3' THEN :'a3' ELSE :'a4' END, :'a2', :'a1']::uuid[],
          'pages across creations: every trade that was there once, in order (no duplicate, no gap)');
SELECT results_eq($$SELECT r->>'client_order_id' FROM api.my_trades(NULL, NULL, 3) r$$,
    $$VALUES ('a8'), ('a7'), ('a6')$$, 'the trades created meanwhile come first on a new first page');
SELECT is_empty(format($$SELECT * FROM api.my_trades(NULL, %L)$$, :'a1'),
    'after the oldest trade: an empty page');

-- a cursor is a position, not a filter: its trade may have changed status since
SELECT results_eq($$SELECT r->>'client_order_id' FROM api.my_trades('PENDING', NULL, 1) r$$,
    $$VALUES ('a8')$$, 'PENDING, first page of one: a8');
SELECT tests.act_as('xorj_bot', NULL, 'bot:tester');
SELECT api.mark_trade_failed(:'a8', 'expired', p_failure_basis => 'never_broadcast') \gset ignored_
SELECT tests.act_as('xorj_api', tests.addr(1), 'api:A');
SELECT results_eq(format($$SELECT r->>'client_order_id' FROM api.my_trades('PENDING', %L) r$$, :'a8'),
    $$VALUES ('a7'), ('a6'), ('a4')$$,
    'the next PENDING page after a8, which is FAILED now (a5 was SUBMITTED meanwhile)');

-- As B: its own trades only ------------------------------------------------------------
SELECT tests.act_as('xorj_api', tests.addr(2), 'api:B');
SELECT results_eq($$SELECT r->>'client_order_id' FROM api.my_trades() r$$,
    $$VALUES ('b2'), ('b1')$$, 'B sees its own vault''s trades only');
SELECT is_empty(
    format($$SELECT 1 FROM api.my_trades(NULL, NULL, 200) r WHERE (r->>'id')::uuid = ANY (%L::uuid[])$$,
           ARRAY[:'a1', :'a2', :'a3', :'a4', :'a5', :'a6', :'a7', :'a8']),
    'none of A''s trades is in B''s history');
SELECT is(tests.error_fields(format($$SELECT api.my_trades(NULL, %L)$$, :'a1'), 'sqlstate', 'column'),
    '{"sqlstate": "XJ422", "column": "cursor"}'::jsonb, 'A''s trade as B''s cursor is XJ422 on cursor');
SELECT is(tests.error_fields(format($$SELECT api.my_trades('PENDING', %L)$$, :'a4'), 'sqlstate', 'column'),
    '{"sqlstate": "XJ422", "column": "cursor"}'::jsonb, 'with a status filter as well');

-- No vault -----------------------------------------------------------------------------
SELECT tests.act_as('xorj_api', tests.addr(3), 'api:C');
SELECT is_empty($$SELECT * FROM api.my_trades()$$, 'a wallet never seen has an empty history');
SELECT tests.act_as('xorj_api', tests.addr(4), 'api:D');
SELECT is_empty($$SELECT * FROM api.my_trades()$$, 'a wallet without a vault has an empty history');
SELECT is(tests.error_fields(format($$SELECT api.my_trades(NULL, %L)$$, :'a1'), 'sqlstate', 'column'),
    '{"sqlstate": "XJ422", "column": "cursor"}'::jsonb, 'without a vault, any cursor is XJ422 on cursor');

-- The registered vault is the history's: after A moves to another vault, A lists that one's
SELECT tests.act_as('xorj_api', tests.addr(1), 'api:A');
SELECT api.enable_bot(tests.addr(903)) \gset ignored_
SELECT is_empty($$SELECT * FROM api.my_trades()$$,
    'A, now registered to vault 903, lists 903''s trades (none), not 901''s');

-- Who may call -------------------------------------------------------------------------
SELECT tests.act_as('xorj_api', NULL);
SELECT throws_ok($$SELECT api.my_trades()$$, '42501',
    'no verified caller: request.jwt.claims is not set in this transaction', 'no claims: 42501');
SELECT set_config('request.jwt.claims', jsonb_build_object('role', 'bot', 'sub', tests.addr(1))::text, true);
SELECT throws_ok($$SELECT api.my_trades()$$, '42501',
    'request.jwt.claims are not the claims of a user token', 'a service token''s claims: 42501');
SELECT tests.act_as('xorj_bot', tests.addr(1));
SELECT throws_ok($$SELECT api.my_trades()$$, '42501', NULL, 'xorj_bot cannot call it, even with a user''s claims');
SELECT tests.act_as('xorj_engine', tests.addr(1));
SELECT throws_ok($$SELECT api.my_trades()$$, '42501', NULL, 'xorj_engine cannot call it');
SELECT tests.act_as('xorj_readonly', tests.addr(1));
SELECT throws_ok($$SELECT api.my_trades()$$, '42501', NULL, 'xorj_readonly cannot call it');
SELECT tests.act_as(NULL);
SELECT is_definer('api', 'my_trades', ARRAY['text', 'uuid', 'integer'], 'api.my_trades is SECURITY DEFINER');

SELECT * FROM finish();
ROLLBACK;
