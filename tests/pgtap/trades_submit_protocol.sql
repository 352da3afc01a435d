-- Recording SUBMITTED in the execution bot's protocol (before anything is broadcast):
-- with the bot's worker id, only while that bot still holds the trade's claim (XJ409
-- claim_lost otherwise, and the trade stays PENDING: the bot must not broadcast it);
-- with the last valid block height, recorded with the signature and never changed after,
-- by the api or by direct SQL; a new trade has no height.
BEGIN;
SELECT plan(8);

SELECT tests.enabled_vault(tests.addr(100), tests.addr(200));
SELECT tests.running_job() AS j \gset
SELECT tests.act_as('xorj_bot', NULL, 'bot:tester');
SELECT (trade->>'id')::uuid AS t
    FROM api.create_trade(:'j', tests.addr(200), 'c1', tests.addr(1), tests.addr(2),
                          10, 9, 'bot-a', interval '30 seconds') \gset

-- a bot that lost its claim may not record the submission (it must not broadcast)
SELECT throws_ok(format($$SELECT api.mark_trade_submitted(%L, tests.sig(1), 1500, 'bot-z')$$, :'t'),
    'XJ409', 'trade ' || :'t' || ' is not claimed by bot-z',
    'recording SUBMITTED for a trade another bot holds is refused');
SELECT is((SELECT trade->>'status' FROM api.get_trade(:'t') trade), 'PENDING',
          'and the trade stays PENDING');

-- last valid block height
SELECT is((SELECT (trade->>'last_valid_block_height')::bigint
           FROM api.mark_trade_submitted(:'t', tests.sig(1), 1500, 'bot-a')),
          1500::bigint, 'the last valid block height is recorded with the signature');
SELECT is((SELECT changed FROM api.mark_trade_submitted(:'t', tests.sig(1), 1500)), false,
          'recording the same signature and height again changes nothing');
SELECT throws_ok(format($$SELECT api.mark_trade_submitted(%L, tests.sig(1), 1600)$$, :'t'),
    'XJ423', NULL, 'another height for the recorded signature is refused');
SELECT tests.act_as(NULL);
SELECT throws_ok(format($$UPDATE xorj.trades SET last_valid_block_height = 1 WHERE id = %L$$, :'t'),
    'XJ423', NULL, 'the height cannot change by direct SQL either');
SELECT throws_ok(format($$INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id,
              from_token_address, to_token_address, amount_in, expected_amount_out, last_valid_block_height)
             VALUES (%L, %L, 'direct', %L, %L, 1, 1, 5)$$, :'j', tests.addr(201), tests.addr(1), tests.addr(2)),
    'XJ423', NULL, 'a new trade has no block height yet');
SELECT is((SELECT last_valid_block_height FROM xorj.trades WHERE id = :'t'), 1500::bigint,
          'the stored height is the one recorded with the signature');

SELECT * FROM finish();
ROLLBACK;
