-- The execution bot's protocol columns and leases: the last valid block height is
-- recorded with the signature and never changes; a recovering bot fails only a trade
-- still PENDING; claims hand each unfinished trade to one bot at a time, expire, renew
-- and release.
BEGIN;
SELECT plan(24);

SELECT tests.enabled_vault(tests.addr(100), tests.addr(200));
CREATE TEMP TABLE j AS SELECT tests.running_job() AS id;
GRANT SELECT ON j TO PUBLIC;
SET LOCAL ROLE xorj_bot;

CREATE TEMP TABLE t AS SELECT (trade->>'id')::uuid AS id, trade
    FROM api.create_trade((SELECT id FROM j), tests.addr(200), 'c1', tests.addr(1), tests.addr(2),
                          10, 9, 'bot-a', interval '30 seconds');
SELECT is((SELECT trade->>'claimed_by' FROM t), 'bot-a', 'a trade created with a lease is claimed by its creator');
SELECT throws_ok(format($$SELECT api.create_trade(%L, tests.addr(200), 'c2', tests.addr(3), tests.addr(4), 10, 9, 'bot-a', NULL)$$,
                        (SELECT id FROM j)),
    'XJ422', 'invalid lease: a claim needs both a worker id and a lease', 'a worker without a lease is invalid');

-- a bot that lost its claim may not record the submission (it must not broadcast)
SELECT throws_ok($$SELECT api.mark_trade_submitted((SELECT id FROM t), tests.sig(1), 1500, 'bot-z')$$,
    'XJ409', 'trade ' || (SELECT id FROM t) || ' is not claimed by bot-z',
    'recording SUBMITTED for a trade another bot holds is refused');
SELECT is((SELECT trade->>'status' FROM api.get_trade((SELECT id FROM t)) trade), 'PENDING',
          'and the trade stays PENDING');

-- last valid block height
SELECT is((SELECT (trade->>'last_valid_block_height')::bigint
           FROM api.mark_trade_submitted((SELECT id FROM t), tests.sig(1), 1500, 'bot-a')),
          1500::bigint, 'the last valid block height is recorded with the signature');
SELECT is((SELECT changed FROM api.mark_trade_submitted((SELECT id FROM t), tests.sig(1), 1500)), false,
          'recording the same signature and height again changes nothing');
SELECT throws_ok($$SELECT api.mark_trade_submitted((SELECT id FROM t), tests.sig(1), 1600)$$,
    'XJ423', NULL, 'another height for the recorded signature is refused');
RESET ROLE;
SELECT throws_ok($$UPDATE xorj.trades SET last_valid_block_height = 1 WHERE id = (SELECT id FROM t)$$,
    'XJ423', NULL, 'the height cannot change by direct SQL either');
SELECT throws_ok(format($$INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id,
              from_token_address, to_token_address, amount_in, expected_amount_out, last_valid_block_height)
             VALUES (%L, %L, 'direct', %L, %L, 1, 1, 5)$$, (SELECT id FROM j), tests.addr(201), tests.addr(1), tests.addr(2)),
    'XJ423', NULL, 'a new trade has no block height yet');

-- expected status: a recovering bot never fails a trade that moved to SUBMITTED
SET LOCAL ROLE xorj_bot;
SELECT throws_like($$SELECT api.mark_trade_failed((SELECT id FROM t), 'never broadcast', NULL, 'PENDING')$$,
    '% is SUBMITTED, not PENDING: it was not marked FAILED', 'failing "if still PENDING" refuses a SUBMITTED trade');
SELECT is((SELECT trade->>'status' FROM api.get_trade((SELECT id FROM t)) trade), 'SUBMITTED',
          'and the trade stays SUBMITTED');

-- claims
CREATE TEMP TABLE p AS SELECT (trade->>'id')::uuid AS id
    FROM api.create_trade((SELECT id FROM j), tests.addr(200), 'p1', tests.addr(5), tests.addr(6), 10, 9);
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
SELECT pg_sleep(1.05);
SELECT is((SELECT count(*) FROM api.claim_trades('bot-d', interval '30 seconds')), 1::bigint,
          'an expired lease is lost: another bot takes the trade over');
SELECT is((SELECT trade->>'claimed_by' FROM api.get_trade((SELECT id FROM p)) trade), 'bot-d',
          'the trade is now held by the new bot');
SELECT is((SELECT trade->>'claimed_by' FROM api.mark_trade_failed((SELECT id FROM p), 'never broadcast', NULL, 'PENDING')),
          NULL, 'a finished trade holds no claim');
SELECT is((SELECT count(*) FROM api.claim_trades('bot-d', interval '30 seconds')), 0::bigint,
          'finished trades are never claimed');
SELECT throws_ok($$SELECT api.claim_trades('bot-x', interval '2 hours')$$, 'XJ422', NULL, 'a lease over an hour is invalid');
SELECT is((SELECT count(*) FROM api.claim_trades('bot-a', interval '30 seconds', interval '0', 10,
                                                  ARRAY[(SELECT id FROM t)])), 0::bigint,
          'a trade the caller excludes (it already works it) is not handed out again');
SELECT is((SELECT count(*) FROM api.claim_trades('bot-a', interval '30 seconds', interval '0', 10, NULL)),
          1::bigint, 'without exclusions the caller gets its own claim back');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
