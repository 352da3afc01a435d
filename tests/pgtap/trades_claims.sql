-- Claims share the unfinished trades between bots, one bot at a time: a trade created
-- with a lease is claimed by its creator (a worker needs a lease); api.claim_trades hands
-- out what nobody holds, or what the caller already holds, but never what it excludes;
-- leases renew, are released, and expire (another bot then takes the trade over); a
-- finished trade holds no claim and is never handed out.
BEGIN;
SELECT plan(17);

SELECT tests.enabled_vault(tests.addr(100), tests.addr(200));
SELECT tests.running_job() AS j \gset
-- a database that is not empty (a restored backup): its trades in flight are finished first
SELECT tests.finish_old_trades() AS old_finished \gset
SELECT tests.act_as('xorj_bot', NULL, 'bot:tester');

-- t: created and submitted by bot-a, which holds it
SELECT (trade->>'id')::uuid AS t, trade->>'claimed_by' AS t_claimed_by
    FROM api.create_trade(:'j', tests.addr(200), 'c1', tests.addr(1), tests.addr(2),
                          10, 9, 'bot-a', interval '30 seconds') \gset
SELECT is(:'t_claimed_by'::text, 'bot-a', 'a trade created with a lease is claimed by its creator');
SELECT throws_ok(format($$SELECT api.create_trade(%L, tests.addr(200), 'c2', tests.addr(3), tests.addr(4), 10, 9, 'bot-a', NULL)$$,
                        :'j'),
    'XJ422', 'invalid lease: a claim needs both a worker id and a lease', 'a worker without a lease is invalid');
SELECT api.mark_trade_submitted(:'t', tests.sig(1), 1500, 'bot-a') \gset ignored_
SELECT is((SELECT trade->>'claimed_by' FROM api.get_trade(:'t') trade), 'bot-a',
          'the submission keeps the claim of the bot that recorded it');

-- p: PENDING, nobody's
SELECT (trade->>'id')::uuid AS p
    FROM api.create_trade(:'j', tests.addr(200), 'p1', tests.addr(5), tests.addr(6), 10, 9) \gset
SELECT is((SELECT count(*) FROM api.claim_trades('bot-b', interval '30 seconds')), 1::bigint,
          'another bot claims only what nobody holds (the unclaimed PENDING trade)');
SELECT is((SELECT count(*) FROM api.claim_trades('bot-c', interval '30 seconds')), 0::bigint,
          'a third bot finds nothing free');
SELECT is((SELECT count(*) FROM api.claim_trades('bot-a', interval '30 seconds')), 1::bigint,
          'a bot claims again what it already holds');
SELECT is(api.renew_trade_claims('bot-b', interval '1 minute'), 1, 'renewing extends the leases a bot holds');
SELECT is(api.release_trade_claims('bot-b'), 1, 'releasing gives them back');
SELECT is((SELECT count(*) FROM api.claim_trades('bot-c', interval '1 second')), 1::bigint,
          'a released trade can be claimed by another bot');
-- bot-c's lease of one second runs out (moved into the past, not waited for)
SELECT tests.act_as(NULL);
UPDATE xorj.trade_claims SET claim_expires_at = claim_expires_at - interval '2 seconds' WHERE trade_id = :'p';
SELECT tests.act_as('xorj_bot', NULL, 'bot:tester');
SELECT is((SELECT count(*) FROM api.claim_trades('bot-d', interval '30 seconds')), 1::bigint,
          'an expired lease is lost: another bot takes the trade over');
SELECT is((SELECT trade->>'claimed_by' FROM api.get_trade(:'p') trade), 'bot-d',
          'the trade is now held by the new bot');
SELECT is((SELECT trade->>'claimed_by' FROM api.mark_trade_failed(:'p', 'never broadcast', NULL, 'PENDING', p_failure_basis => 'never_broadcast')),
          NULL, 'a finished trade holds no claim');
SELECT is((SELECT count(*) FROM api.claim_trades('bot-d', interval '30 seconds')), 0::bigint,
          'finished trades are never claimed');
SELECT throws_ok($$SELECT api.claim_trades('bot-x', interval '2 hours')$$, 'XJ422', NULL, 'a lease over an hour is invalid');
SELECT is((SELECT count(*) FROM api.claim_trades('bot-a', interval '30 seconds', interval '0', 10,
                                                  ARRAY[:'t'::uuid])), 0::bigint,
          'a trade the caller excludes (it already works it) is not handed out again');
SELECT is((SELECT count(*) FROM api.claim_trades('bot-a', interval '30 seconds', interval '0', 10, NULL)),
          1::bigint, 'without exclusions the caller gets its own claim back');
SELECT is((SELECT count(*) FROM api.claim_trades('bot-b', interval '30 seconds', interval '0', 10, NULL)),
          0::bigint, 'and no other bot gets it meanwhile');
SELECT tests.act_as(NULL);

SELECT * FROM finish();
ROLLBACK;
