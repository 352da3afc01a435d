-- Where a trade is executed (migration 0007, api.create_trade's p_venue): xorj.trades.venue
-- is text NOT NULL DEFAULT 'live', one of live, localnet, simulated (CHECK); create_trade
-- records the venue it is given ('live' when none is), refuses any other value with
-- XJ422 on venue, and compares it in an idempotent replay (the same key with another
-- venue is idempotency_key_reused); the guard keeps it from ever changing; every trade
-- JSON (the bot's and the user's history) shows it.
BEGIN;
SELECT plan(37);

SELECT tests.enabled_vault(tests.addr(100), tests.addr(200));
SELECT tests.running_job() AS j \gset
-- a database that is not empty (a restored backup): its trades in flight are finished first
SELECT tests.finish_old_trades() AS old_finished, (SELECT count(*) FROM xorj.trades) AS trades_before \gset

-- the column
SELECT col_type_is('xorj', 'trades', 'venue', 'text', 'xorj.trades.venue is text');
SELECT col_not_null('xorj', 'trades', 'venue', 'xorj.trades.venue is NOT NULL');
SELECT col_default_is('xorj', 'trades', 'venue', 'live'::text, 'xorj.trades.venue defaults to live');
SELECT throws_ok(
    format($$INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address,
              to_token_address, amount_in, expected_amount_out, venue)
             VALUES (%L, %L, 'direct', %L, %L, 1, 1, 'mainnet')$$,
           :'j', tests.addr(200), tests.addr(1), tests.addr(2)),
    '23514', 'new row for relation "' || tests.month_partition('trades') || '" violates check constraint "trades_venue_known"',
    'a venue other than live, localnet, simulated is refused by the CHECK');

-- create_trade
SELECT tests.act_as('xorj_bot', NULL, 'bot:tester');
CREATE TEMP TABLE live AS
    SELECT * FROM api.create_trade(:'j', tests.addr(200), 'k-live', tests.addr(1), tests.addr(2), 1000, 990);
SELECT is((SELECT trade ->> 'venue' FROM live), 'live', 'without a venue, the trade JSON says live');
SELECT tests.act_as(NULL);
SELECT is((SELECT venue FROM xorj.trades WHERE client_order_id = 'k-live'), 'live',
          'without a venue, the trade is recorded live');

SELECT tests.act_as('xorj_bot', NULL, 'bot:tester');
CREATE TEMP TABLE sim AS
    SELECT * FROM api.create_trade(:'j', tests.addr(200), 'k-sim', tests.addr(3), tests.addr(4), 1000, 990,
                                   p_venue => 'simulated');
CREATE TEMP TABLE loc AS
    SELECT * FROM api.create_trade(:'j', tests.addr(200), 'k-loc', tests.addr(5), tests.addr(6), 1000, 990,
                                   'worker-1', interval '30 seconds', 'localnet');
SELECT is((SELECT trade ->> 'venue' FROM sim), 'simulated', 'the trade JSON shows the venue given (simulated)');
SELECT is((SELECT trade ->> 'venue' FROM loc), 'localnet', 'the trade JSON shows the venue given (localnet)');
SELECT is((SELECT trade ->> 'claimed_by' FROM loc), 'worker-1', 'a venue goes with a claim');

-- refusals: XJ422 on venue
SELECT is(tests.error_fields(
    format($$SELECT * FROM api.create_trade(%L, %L, 'k-bad', %L, %L, 1000, 990, p_venue => 'mainnet')$$,
           :'j', tests.addr(200), tests.addr(7), tests.addr(8)), 'sqlstate', 'column', 'message'),
    '{"sqlstate": "XJ422", "column": "venue", "message": "invalid venue: ''mainnet'' is not one of live, localnet, simulated"}'::jsonb,
    'an unknown venue is XJ422 on venue');
SELECT is(tests.error_fields(
    format($$SELECT * FROM api.create_trade(%L, %L, 'k-bad', %L, %L, 1000, 990, p_venue => 'Live')$$,
           :'j', tests.addr(200), tests.addr(7), tests.addr(8)), 'sqlstate', 'column'),
    '{"sqlstate": "XJ422", "column": "venue"}'::jsonb, 'venues are lower case: Live is refused');
SELECT is(tests.error_fields(
    format($$SELECT * FROM api.create_trade(%L, %L, 'k-bad', %L, %L, 1000, 990, p_venue => NULL)$$,
           :'j', tests.addr(200), tests.addr(7), tests.addr(8)), 'sqlstate', 'column', 'message'),
    '{"sqlstate": "XJ422", "column": "venue", "message": "invalid venue: null is not one of live, localnet, simulated"}'::jsonb,
    'an explicit NULL venue is refused (leave it out for live)');

-- idempotent replays compare the venue
CREATE TEMP TABLE again AS
    SELECT * FROM api.create_trade(:'j', tests.addr(200), 'k-sim', tests.addr(3), tests.addr(4), 1000, 990,
                                   p_venue => 'simulated');
SELECT is((SELECT replay FROM again), true, 'the same key, content and venue again is a replay');
SELECT is((SELECT trade ->> 'id' FROM again), (SELECT trade ->> 'id' FROM sim), 'the replay returns the existing trade');
SELECT is(tests.error_fields(
    format($$SELECT * FROM api.create_trade(%L, %L, 'k-sim', %L, %L, 1000, 990, p_venue => 'live')$$,
           :'j', tests.addr(200), tests.addr(3), tests.addr(4)), 'sqlstate', 'constraint'),
    '{"sqlstate": "XJ409", "constraint": "idempotency_key_reused"}'::jsonb,
    'the same key and content with another venue is idempotency_key_reused');
SELECT is(tests.error_fields(
    format($$SELECT * FROM api.create_trade(%L, %L, 'k-sim', %L, %L, 1000, 990)$$,
           :'j', tests.addr(200), tests.addr(3), tests.addr(4)), 'sqlstate', 'constraint'),
    '{"sqlstate": "XJ409", "constraint": "idempotency_key_reused"}'::jsonb,
    'a retry of a simulated trade that leaves the venue out (live) is idempotency_key_reused too');
SELECT is((tests.error_of(
    format($$SELECT * FROM api.create_trade(%L, %L, 'k-live', %L, %L, 1000, 990, p_venue => 'localnet')$$,
           :'j', tests.addr(200), tests.addr(1), tests.addr(2))) -> 'facts' ->> 'conflicting_trade_id'),
    (SELECT trade ->> 'id' FROM live),
    'the conflict names the trade holding the key');
SELECT is((SELECT replay FROM api.create_trade(:'j', tests.addr(200), 'k-live', tests.addr(1), tests.addr(2),
                                               1000, 990, p_venue => 'live')),
          true, 'a live trade created without a venue replays with venue live given');

-- the other readers show it
SELECT is(api.get_trade((SELECT (trade ->> 'id')::uuid FROM sim)) ->> 'venue', 'simulated',
          'get_trade shows the venue');
SELECT is((SELECT array_agg(t ->> 'venue' ORDER BY t ->> 'client_order_id')
           FROM api.list_trades(NULL, tests.addr(200)) t),
          ARRAY['live', 'localnet', 'simulated'], 'list_trades shows each trade''s venue');
SELECT is((SELECT array_agg(t ->> 'venue' ORDER BY t ->> 'client_order_id')
           FROM api.claim_trades('worker-2', interval '30 seconds', interval '0') t),
          ARRAY['live', 'simulated'], 'claim_trades shows the venue (the localnet trade is worker-1''s)');
SELECT tests.act_as('xorj_api', tests.addr(100));
SELECT is((SELECT array_agg(t ->> 'venue' ORDER BY t ->> 'client_order_id') FROM api.my_trades() t),
          ARRAY['live', 'localnet', 'simulated'],
          'the user''s history lists the trades of every venue, each with its venue');
SELECT tests.act_as(NULL);
SELECT is((SELECT count(*) FROM xorj.trades), :trades_before + 3::bigint,
          'refused creations and replays save nothing');

-- the guard: set at creation, never changed
SELECT is((tests.error_of(
    $$UPDATE xorj.trades SET venue = 'live' WHERE client_order_id = 'k-sim'$$) ->> 'sqlstate'),
    'XJ423', 'the venue of a PENDING trade cannot change, even by the owner');
SELECT is((tests.error_of(
    $$UPDATE xorj.trades SET venue = 'simulated' WHERE client_order_id = 'k-live'$$) ->> 'hint'),
    'Create a new trade instead.', 'it is an identity column, refused as the others are');
UPDATE xorj.trades SET status = 'FAILED', error_message = 'x', failure_basis = 'never_broadcast'
 WHERE client_order_id = 'k-sim';
SELECT is((tests.error_of(
    $$UPDATE xorj.trades SET venue = 'live' WHERE client_order_id = 'k-sim'$$) ->> 'sqlstate'),
    'XJ423', 'nor the venue of a finished trade');
SELECT is((SELECT venue FROM xorj.trades WHERE client_order_id = 'k-sim'), 'simulated',
          'the venue is as created');
SELECT lives_ok($$UPDATE xorj.trades SET last_valid_block_height = NULL
                  WHERE client_order_id = 'k-loc'$$,
                'an update that leaves the venue as it is passes the guard');
INSERT INTO xorj.trade_claims (trade_id, claimed_by, claim_expires_at)
SELECT id, 'w', now() + interval '1 minute' FROM xorj.trades WHERE client_order_id = 'k-loc'
ON CONFLICT (trade_id) DO UPDATE SET claimed_by = 'w', claim_expires_at = EXCLUDED.claim_expires_at;


-- claim_trades(p_venue): a bot takes only the trades of its own chain
SELECT is((SELECT array_agg(j ->> 'client_order_id')
           FROM api.claim_trades('worker-2', interval '1 minute', p_venue => 'live') j),
          ARRAY['k-live'], 'a live bot claims the live trade, not the localnet one');
SELECT is((SELECT array_agg(j ->> 'client_order_id')
           FROM api.claim_trades('w', interval '1 minute', p_venue => 'localnet') j),
          ARRAY['k-loc'], 'a localnet bot claims only the localnet trade');
SELECT is((tests.error_of($$SELECT api.claim_trades('w', interval '1 minute', p_venue => 'mainnet')$$)
           ->> 'column'), 'venue', 'an unknown venue is XJ422 on venue');

-- the duplicate rules look at one venue: a test chain's trade never blocks a live one
SELECT tests.act_as('xorj_bot', NULL, 'bot:tester');
SELECT is((SELECT trade ->> 'venue' FROM api.create_trade(:'j', tests.addr(200), 'k-loc-2',
              tests.addr(1), tests.addr(2), 1000, 990, p_venue => 'localnet')),
          'localnet', 'a localnet trade of the pair the live k-live holds in flight is created');
SELECT is((tests.error_of(format($$SELECT * FROM api.create_trade(%L, %L, 'k-live-2', %L, %L, 1000, 990)$$,
              :'j', tests.addr(200), tests.addr(1), tests.addr(2))) ->> 'constraint'),
          'trade_in_flight', 'a second live trade of that pair is still refused (in flight)');
SELECT tests.act_as(NULL);

-- trades_held_by_others(p_venue): what a bot of that venue could take once the leases end
SELECT is((SELECT held FROM api.trades_held_by_others('w3')), 2::bigint,
          'every venue: the live trade held by worker-2 and the localnet one held by w');
SELECT is((SELECT held FROM api.trades_held_by_others('w3', 'localnet')), 1::bigint,
          'localnet: only the localnet trade');
SELECT is((SELECT held FROM api.trades_held_by_others('w3', 'simulated')), 0::bigint,
          'simulated: none in flight');
SELECT is((tests.error_of($$SELECT * FROM api.trades_held_by_others('w3', 'devnet')$$) ->> 'column'),
          'venue', 'an unknown venue is XJ422 on venue');

SELECT * FROM finish();
ROLLBACK;
