-- The leases live in xorj.trade_claims (migration 0010), not in xorj.trades: a claim
-- inserts a row, a renewal updates it, a release and the trade's move to CONFIRMED or
-- FAILED delete it; a lease on a finished trade is refused even to the owner
-- (trigger trade_claims_unfinished, XJ423); its trade never changes; the trade's JSON
-- shows the lease. The table keeps half of each page free and indexes only columns a
-- renewal leaves alone (trade_id, claimed_by).
BEGIN;
SELECT plan(17);
SELECT tests.finish_old_trades() \gset ignored_

SELECT tests.enabled_vault(tests.addr(100), tests.addr(200));
SELECT tests.running_job() AS j \gset
SELECT (trade ->> 'id')::uuid AS a FROM api.create_trade(:'j', tests.addr(200), 'a', tests.addr(1), tests.addr(2),
                                                        1000, 990, 'bot-a', interval '30 seconds') trade \gset
SELECT (trade ->> 'id')::uuid AS b FROM api.create_trade(:'j', tests.addr(200), 'b', tests.addr(3), tests.addr(4),
                                                        1000, 990) trade \gset

SELECT hasnt_column('xorj', 'trades', 'claimed_by', 'xorj.trades has no claimed_by');
SELECT hasnt_column('xorj', 'trades', 'claim_expires_at', 'xorj.trades has no claim_expires_at');
SELECT is((SELECT reloptions FROM pg_catalog.pg_class WHERE oid = 'xorj.trade_claims'::regclass),
          ARRAY['fillfactor=50'], 'trade_claims keeps half of each page free');
SELECT set_eq($$SELECT pg_catalog.pg_get_indexdef(indexrelid) ~ '\((trade_id|claimed_by)\)$'
                FROM pg_catalog.pg_index WHERE indrelid = 'xorj.trade_claims'::regclass$$,
              ARRAY[true], 'its indexes hold trade_id or claimed_by alone (never claim_expires_at)');

SELECT is((SELECT (claimed_by, claim_expires_at > now())::text FROM xorj.trade_claims WHERE trade_id = :'a'),
          '(bot-a,t)', 'a trade created with a lease has its row');
SELECT is((SELECT count(*)::int FROM xorj.trade_claims WHERE trade_id = :'b'), 0, 'one created without has none');
SELECT is((api.get_trade(:'a') ->> 'claimed_by'), 'bot-a', 'the JSON of a trade shows its holder');
SELECT is((api.get_trade(:'b') -> 'claimed_by'), 'null'::jsonb, 'and null when nobody holds it');
SELECT is((api.get_trade(:'a') ->> 'claim_expires_at')::timestamptz,
          (SELECT claim_expires_at FROM xorj.trade_claims WHERE trade_id = :'a'), 'and the end of the lease');

UPDATE xorj.trade_claims SET claim_expires_at = now() - interval '1 second' WHERE trade_id = :'a';
SELECT j AS took FROM api.claim_trades('bot-z', interval '1 minute', p_limit => 1) j \gset
SELECT is((SELECT (:'took'::jsonb ->> 'claimed_by', (:'took'::jsonb ->> 'claim_expires_at')::timestamptz)::text),
          (SELECT (claimed_by, claim_expires_at)::text FROM xorj.trade_claims WHERE trade_id = :'a'),
          'a claim (here a takeover of an expired lease) answers with the lease it wrote');
UPDATE xorj.trade_claims SET claimed_by = 'bot-a' WHERE trade_id = :'a';
SELECT api.mark_trade_submitted(:'a', tests.sig(1), 100, 'bot-a') \gset ignored_
SELECT is((SELECT count(*)::int FROM xorj.trade_claims WHERE trade_id = :'a'), 1, 'a SUBMITTED trade keeps its lease');
SELECT api.mark_trade_confirmed(:'a', 990) \gset ignored_
SELECT is((SELECT count(*)::int FROM xorj.trade_claims WHERE trade_id = :'a'), 0, 'a CONFIRMED trade has none');
SELECT api.mark_trade_failed(:'b', 'never broadcast', p_failure_basis => 'never_broadcast') \gset ignored_

SELECT tests.error_of(format($$INSERT INTO xorj.trade_claims VALUES (%L, 'bot-x', now() + interval '1 minute')$$, :'a')) AS err \gset
SELECT is(concat_ws(' ', :'err'::jsonb ->> 'sqlstate', :'err'::jsonb -> 'facts' ->> 'table', :'err'::jsonb -> 'facts' ->> 'from'),
          'XJ423 trade_claims CONFIRMED', 'no lease on a CONFIRMED trade, even by the owner');
SELECT is(tests.error_of(format($$INSERT INTO xorj.trade_claims VALUES (%L, 'bot-x', now() + interval '1 minute')$$, :'b'))
            ->> 'sqlstate', 'XJ423', 'nor on a FAILED one');
SELECT is((SELECT count(*)::int FROM api.claim_trades('bot-x', interval '1 minute')), 0,
          'and api.claim_trades hands out neither');

SELECT (trade ->> 'id')::uuid AS c FROM api.create_trade(:'j', tests.addr(200), 'c', tests.addr(5), tests.addr(6),
                                                        1000, 990, 'bot-c', interval '30 seconds') trade \gset
SELECT is(tests.error_of(format($$UPDATE xorj.trade_claims SET trade_id = %L WHERE trade_id = %L$$, :'b', :'c'))
            ->> 'sqlstate', 'XJ423', 'a lease never moves to another trade');
SELECT throws_ok(format($$INSERT INTO xorj.trade_claims VALUES (%L, '', now())$$, :'c'), '23514', NULL,
                 'a blank holder is refused (trade_claims_claimed_by_length)');

SELECT * FROM finish();
ROLLBACK;
