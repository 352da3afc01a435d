-- api.trades_held_by_others(worker): one row (held, first_claim_expires_at): how many
-- unfinished trades (PENDING or SUBMITTED) another worker holds with a claim that has not
-- expired, what the bot computed itself over api.trades_to_recover(interval '0', 10000)
-- (claimed_by IS DISTINCT FROM the worker and claim_expires_at after now), and the
-- earliest end of those claims (NULL when none is held). Its own claims, expired claims,
-- unclaimed and finished trades do not count, nor give the first end; the worker id is
-- checked (XJ422 on worker_id); it reads the live leases (xorj.trade_claims, 0010) and
-- their trades by key, so its cost does not grow with the trade log; only xorj_bot may
-- call it. The version that
-- returned the count alone (bigint) is gone.
BEGIN;
SELECT plan(27);

SELECT tests.enabled_vault(tests.addr(100), tests.addr(200));
SELECT tests.running_job() AS j \gset

-- A trade of pair p_pair, claimed by p_worker (NULL: unclaimed) for 30 seconds; its id.
CREATE FUNCTION pg_temp.trade(p_job uuid, p_key text, p_pair integer, p_worker text)
RETURNS uuid LANGUAGE sql AS $fn$
    SELECT (trade ->> 'id')::uuid
    FROM api.create_trade(p_job, tests.addr(200), p_key, tests.addr(2 * p_pair), tests.addr(2 * p_pair + 1),
                          1000, 990, p_worker, CASE WHEN p_worker IS NOT NULL THEN interval '30 seconds' END)
$fn$;

-- What the bot computed before this function existed.
CREATE FUNCTION pg_temp.bot_formula(p_worker text) RETURNS bigint
LANGUAGE sql AS $fn$
    SELECT count(*) FROM api.trades_to_recover(interval '0', 10000) t
    WHERE t->>'claimed_by' IS DISTINCT FROM p_worker
      AND (t->>'claim_expires_at')::timestamptz > clock_timestamp()
$fn$;

SELECT tests.act_as('xorj_bot', NULL, 'bot:tester');
-- a: PENDING, held by bot-b; b: SUBMITTED, bot-b; c: PENDING, bot-a; d: PENDING, bot-c,
-- whose claim expires (moved into the past below); e: PENDING, nobody's; f: FAILED.
SELECT pg_temp.trade(:'j', 'a', 1, 'bot-b') AS a \gset
SELECT pg_temp.trade(:'j', 'b', 2, 'bot-b') AS b \gset
SELECT api.mark_trade_submitted(:'b', tests.sig(2), 100, 'bot-b') \gset ignored_
SELECT pg_temp.trade(:'j', 'c', 3, 'bot-a') AS c \gset
SELECT pg_temp.trade(:'j', 'd', 4, 'bot-c') AS d \gset
SELECT pg_temp.trade(:'j', 'e', 5, NULL) AS e \gset
SELECT pg_temp.trade(:'j', 'f', 6, 'bot-b') AS f \gset
SELECT api.mark_trade_failed(:'f', 'never broadcast', p_failure_basis => 'never_broadcast') \gset ignored_
-- d's lease runs out (moved into the past, not waited for)
SELECT tests.act_as(NULL);
UPDATE xorj.trade_claims SET claim_expires_at = claim_expires_at - interval '1 minute' WHERE trade_id = :'d';
-- a finished trade that still has a live lease (only direct SQL past the guard can do it)
SET LOCAL session_replication_role = replica;
INSERT INTO xorj.trade_claims (trade_id, claimed_by, claim_expires_at)
VALUES (:'f', 'bot-b', clock_timestamp() + interval '5 seconds');
SET LOCAL session_replication_role = origin;
SELECT tests.act_as('xorj_bot', NULL, 'bot:tester');

CREATE FUNCTION pg_temp.held(p_worker text) RETURNS bigint
LANGUAGE sql AS $fn$ SELECT held FROM api.trades_held_by_others(p_worker) $fn$;
CREATE FUNCTION pg_temp.first_end(p_worker text) RETURNS timestamptz
LANGUAGE sql AS $fn$ SELECT first_claim_expires_at FROM api.trades_held_by_others(p_worker) $fn$;
-- The claim ends of the live claims: b's the earliest, then a's; c's (bot-a's) the
-- latest. (f's, 5 seconds, is earlier still, but f is finished; d's has passed.)
SELECT tests.act_as(NULL);
UPDATE xorj.trade_claims SET claim_expires_at = clock_timestamp() + interval '10 seconds' WHERE trade_id = :'b';
UPDATE xorj.trade_claims SET claim_expires_at = clock_timestamp() + interval '20 seconds' WHERE trade_id = :'a';
UPDATE xorj.trade_claims SET claim_expires_at = clock_timestamp() + interval '40 seconds' WHERE trade_id = :'c';
SELECT tests.act_as('xorj_bot', NULL, 'bot:tester');
CREATE FUNCTION pg_temp.claim_end(p_trade uuid) RETURNS timestamptz
LANGUAGE sql AS $fn$ SELECT (api.get_trade(p_trade) ->> 'claim_expires_at')::timestamptz $fn$;

SELECT is(pg_temp.held('bot-a'), 2::bigint,
          'bot-a: the PENDING and the SUBMITTED trade bot-b holds');
SELECT is(pg_temp.held('bot-b'), 1::bigint, 'bot-b: the trade bot-a holds');
SELECT is(pg_temp.held('bot-c'), 3::bigint,
          'bot-c: the three live claims of the others (its own claim has expired)');
SELECT is(pg_temp.held('bot-new'), 3::bigint,
          'a worker holding nothing: every live claim; expired, unclaimed and finished trades do not count');
SELECT is(pg_temp.held('bot-a'), pg_temp.bot_formula('bot-a'),
          'the same count as the bot''s own query over trades_to_recover (bot-a)');
SELECT is(pg_temp.held('bot-c'), pg_temp.bot_formula('bot-c'),
          'the same count as the bot''s own query over trades_to_recover (bot-c)');
SELECT is(pg_temp.held('bot-new'), pg_temp.bot_formula('bot-new'),
          'the same count as the bot''s own query over trades_to_recover (another worker)');
SELECT is((SELECT count(*) FROM api.trades_held_by_others('bot-a')), 1::bigint, 'one row');
SELECT is(pg_temp.first_end('bot-a'), pg_temp.claim_end(:'b'),
          'bot-a: the first lease to end is that of b (SUBMITTED, bot-b''s)');
SELECT is(pg_temp.first_end('bot-b'), pg_temp.claim_end(:'c'),
          'bot-b: the end of bot-a''s lease, not of its own earlier ones');
SELECT is(pg_temp.first_end('bot-new'), pg_temp.claim_end(:'b'),
          'another worker: the earliest of every live claim');
SELECT ok(pg_temp.first_end('bot-new') > clock_timestamp(), 'a live lease ends in the future');
SELECT is(pg_temp.first_end('bot-c'), pg_temp.claim_end(:'b'),
          'bot-c: b''s too; neither the finished f (its claim ends first) nor d (expired) counts');
SELECT is(api.release_trade_claims('bot-b'), 3, 'bot-b releases its leases: a''s and b''s, and the one left on the finished f');
SELECT is(pg_temp.held('bot-a'), 0::bigint, 'a released claim is not held any more');
SELECT is(pg_temp.first_end('bot-a'), NULL::timestamptz, 'nothing held: no first end');
SELECT is(pg_temp.first_end('bot-new'), pg_temp.claim_end(:'c'),
          'the first end moves to the next live claim');

-- the worker id
SELECT is(tests.error_fields('SELECT * FROM api.trades_held_by_others(NULL)', 'sqlstate', 'column'),
          '{"sqlstate": "XJ422", "column": "worker_id"}'::jsonb, 'a NULL worker id is XJ422 on worker_id');
SELECT is(tests.error_of('SELECT * FROM api.trades_held_by_others(''  '')') ->> 'column', 'worker_id',
          'a blank worker id is invalid');
SELECT is(tests.error_of(format('SELECT * FROM api.trades_held_by_others(%L)', repeat('w', 201))) ->> 'column', 'worker_id',
          'a worker id of 201 characters is invalid');

-- the plan: the live leases, then their trades' keys, with 5,000 finished trades around
SELECT tests.act_as(NULL);
SELECT tests.disable_rule_triggers();
INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, status, from_token_address,
                         to_token_address, amount_in, expected_amount_out, transaction_signature,
                         submitted_at, actual_amount_out, completed_at)
SELECT :'j', tests.addr(200), 'old-' || g, 'CONFIRMED', tests.addr(1), tests.addr(2), 1000, 990,
       tests.sig(100000 + g), clock_timestamp(), 990, clock_timestamp()
FROM generate_series(1, 5000) g;
ANALYZE xorj.trades;
ANALYZE xorj.trade_claims;
ANALYZE xorj.trade_keys;

SELECT tests.plan_of($$SELECT count(*), min(t.claim_expires_at) FROM xorj.trades_held_by_others('bot-a', now()) t$$) AS p \gset
SELECT matches(:'p'::text, 'Index Scan using trade_keys_\w+ on trade_keys k\n\s*Index Cond: \(id = c.trade_id\)',
               'reads the leases, then each one''s trade key by its primary key');
SELECT doesnt_match(:'p'::text, 'Seq Scan on trade(s|_keys) ', 'no sequential scan of the trade log or its keys');
PREPARE held(text, timestamptz) AS
    SELECT count(*), min(t.claim_expires_at) FROM xorj.trades_held_by_others($1, $2) t;
SET LOCAL plan_cache_mode = force_generic_plan;
SELECT tests.plan_of($$EXECUTE held('bot-a', now())$$) AS g \gset
SELECT ok(:'g'::text ~ 'Index Scan using trade_keys_\w+ on trade_keys k\n\s*Index Cond: \(id = c.trade_id\)'
          AND :'g'::text !~ 'Seq Scan on trade(s|_keys) ',
          'the generic plan (the api function''s) too');
RESET plan_cache_mode;

-- only the bot
SELECT tests.act_as('xorj_api', tests.addr(100));
SELECT throws_ok($$SELECT * FROM api.trades_held_by_others('w')$$, '42501', NULL, 'xorj_api may not call it');
SELECT tests.act_as('xorj_engine');
SELECT throws_ok($$SELECT * FROM api.trades_held_by_others('w')$$, '42501', NULL, 'xorj_engine may not call it');
SELECT tests.act_as(NULL);

-- the shape, and the old version gone
SELECT is(pg_get_function_result('api.trades_held_by_others(text, text)'::regprocedure),
          'TABLE(held bigint, first_claim_expires_at timestamp with time zone)',
          'it returns one row of (held, first_claim_expires_at)');
SELECT is((SELECT count(*) FROM pg_proc WHERE proname = 'trades_held_by_others'
             AND pronamespace = 'api'::regnamespace),
          1::bigint, 'one api.trades_held_by_others: the bigint and one-argument versions are gone');

SELECT * FROM finish();
ROLLBACK;
