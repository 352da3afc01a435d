-- Never blind (0013, issue 14): a PENDING trade has no signature to ask the chain about,
-- so it is failed only with its basis, recorded on the trade and in its event:
--   never_broadcast: the caller never sent it (the project's bot for the trades it
--     created, records_signature_first; an HTTP client of its own trade);
--   not_found_on_chain: its search window was recorded (api.start_trade_search) and the
--     chain is past it.
-- Proven through the api functions and against direct SQL (the guard), with the window's
-- own rules: recorded once, only while PENDING, not for a signature-first trade, not
-- while its client may still be signing it (xorj.send_first_grace()).
BEGIN;
SELECT plan(30);

SELECT tests.enabled_vault(tests.addr(100), tests.addr(200));
SELECT tests.running_job() AS j \gset
SELECT tests.act_as('xorj_bot', NULL, 'bot:tester');
-- seed-order trades (HTTP clients: no worker) and one of the bot's (created with a claim)
SELECT tests.trade(:'j', tests.addr(200), 'h1', 10, 1, 2) AS h1 \gset
SELECT tests.trade(:'j', tests.addr(200), 'h2', 10, 1, 3) AS h2 \gset
SELECT tests.trade(:'j', tests.addr(200), 'h3', 10, 1, 4) AS h3 \gset
SELECT tests.trade(:'j', tests.addr(200), 'h4', 10, 1, 5) AS h4 \gset
SELECT (trade->>'id') AS b1 FROM api.create_trade(:'j', tests.addr(200), 'b1', tests.addr(1),
    tests.addr(6), 10, 990, 'bot-1', interval '1 minute') \gset

-- who records first
SELECT is((api.get_trade(:'b1'))->>'records_signature_first', 'true',
          'a trade created with a claim (the bot) records its signature first');
SELECT is((api.get_trade(:'h1'))->>'records_signature_first', 'false',
          'a trade created without one (HTTP, the seed''s order) does not');

-- no basis, no failure
SELECT is(tests.error_fields(format($$SELECT api.mark_trade_failed(%L, 'gone')$$, :'h1'),
                             'sqlstate', 'column'),
          '{"sqlstate": "XJ422", "column": "failure_basis"}'::jsonb,
          'a PENDING trade is not failed without its basis (XJ422 failure_basis)');
SELECT is(tests.error_fields(format($$SELECT api.mark_trade_failed(%L, 'gone', NULL, NULL, 'lost')$$, :'h1'),
                             'sqlstate', 'column'),
          '{"sqlstate": "XJ422", "column": "failure_basis"}'::jsonb,
          'a basis other than never_broadcast or not_found_on_chain is XJ422');
SELECT is((api.get_trade(:'h1'))->>'status', 'PENDING', 'and the trade stays PENDING');
SELECT tests.act_as(NULL);
SELECT is(tests.error_fields(format($$UPDATE xorj.trades SET status = 'FAILED', error_message = 'gone'
                                      WHERE id = %L$$, :'h1'), 'sqlstate', 'message'),
          jsonb_build_object('sqlstate', 'XJ423', 'message',
                             format('trade %s: a PENDING trade is failed only with its basis', :'h1')),
          'direct SQL cannot fail a PENDING trade without its basis either (XJ423)');
SELECT is(tests.error_fields(format($$UPDATE xorj.trades SET status = 'FAILED', error_message = 'gone',
                                      failure_basis = 'not_found_on_chain' WHERE id = %L$$, :'h1'),
                             'sqlstate', 'message'),
          jsonb_build_object('sqlstate', 'XJ423', 'message',
                             format('trade %s: not_found_on_chain needs its search window', :'h1')),
          'nor as not_found_on_chain without a search window');
SELECT tests.act_as('xorj_bot', NULL, 'bot:tester');

-- never_broadcast
SELECT is((SELECT trade->>'failure_basis' FROM api.mark_trade_failed(:'b1',
               'never broadcast: the bot stopped before submitting', NULL, 'PENDING', 'never_broadcast')),
          'never_broadcast', 'the bot fails its own PENDING trade as never_broadcast');
SELECT is((SELECT e->'detail'->>'failure_basis' FROM api.trade_events(:'b1') e
            WHERE e->>'to_status' = 'FAILED'),
          'never_broadcast', 'and its FAILED event says so');

-- the search window
SELECT is(tests.error_fields(format($$SELECT api.start_trade_search(%L, 500)$$, :'h1'),
                             'sqlstate', 'constraint'),
          '{"sqlstate": "XJ409", "constraint": "client_window_open"}'::jsonb,
          'a trade younger than the client''s grace is not searched for yet (XJ409 client_window_open)');
SELECT tests.act_as(NULL);
SELECT tests.backdate('trades', ARRAY[:'h1', :'h2', :'h3', :'h4']::uuid[], xorj.send_first_grace() + interval '1 second');
SELECT tests.act_as('xorj_bot', NULL, 'bot:tester');
SELECT is(tests.error_fields(format($$SELECT api.start_trade_search(%L, 0)$$, :'h1'),
                             'sqlstate', 'column'),
          '{"sqlstate": "XJ422", "column": "until_height"}'::jsonb,
          'the window ends at a block height of 1 or more');
SELECT is(tests.error_fields(format($$SELECT api.mark_trade_failed(%L, 'gone', NULL, 'PENDING', 'not_found_on_chain', 900)$$, :'h1'),
                             'sqlstate', 'constraint'),
          '{"sqlstate": "XJ409", "constraint": "search_not_started"}'::jsonb,
          'not_found_on_chain before any window is recorded: XJ409 search_not_started');
SELECT is((api.start_trade_search(:'h1', 500))->>'search_until_height', '500',
          'the first search records the window');
SELECT is((api.start_trade_search(:'h1', 800))->>'search_until_height', '500',
          'a later search keeps the first window');
SELECT is(tests.error_fields(format($$SELECT api.mark_trade_failed(%L, 'gone', NULL, 'PENDING', 'not_found_on_chain', 500)$$, :'h1'),
                             'sqlstate', 'constraint'),
          '{"sqlstate": "XJ409", "constraint": "search_window_open"}'::jsonb,
          'not found while the chain is not past the window: XJ409 search_window_open');
SELECT is(tests.error_fields(format($$SELECT api.mark_trade_failed(%L, 'gone', NULL, 'PENDING', 'not_found_on_chain')$$, :'h1'),
                             'sqlstate', 'constraint'),
          '{"sqlstate": "XJ409", "constraint": "search_window_open"}'::jsonb,
          'nor without the chain''s height');
SELECT is((api.get_trade(:'h1'))->>'status', 'PENDING', 'the trade is still PENDING');
SELECT is((SELECT trade->>'failure_basis' FROM api.mark_trade_failed(:'h1',
               'not found on chain after its window', NULL, 'PENDING', 'not_found_on_chain', 501)),
          'not_found_on_chain', 'once the chain is past the window it is FAILED as not_found_on_chain');
SELECT is((SELECT e->'detail'->>'failure_basis' FROM api.trade_events(:'h1') e
            WHERE e->>'to_status' = 'FAILED'),
          'not_found_on_chain', 'and its FAILED event says so');
SELECT is(tests.error_fields(format($$SELECT api.start_trade_search(%L, 500)$$, :'b1'),
                             'sqlstate'),
          '{"sqlstate": "XJ423"}'::jsonb, 'a trade that is not PENDING is not searched for');
SELECT tests.act_as(NULL);
SELECT tests.backdate('trades', ARRAY[:'b1']::uuid[], xorj.send_first_grace() + interval '1 second');
SELECT tests.act_as('xorj_bot', NULL, 'bot:tester');
SELECT (trade->>'id') AS b2 FROM api.create_trade(:'j', tests.addr(200), 'b2', tests.addr(1),
    tests.addr(7), 10, 990, 'bot-1', interval '1 minute') \gset
SELECT tests.act_as(NULL);
SELECT tests.backdate('trades', ARRAY[:'b2']::uuid[], xorj.send_first_grace() + interval '1 second');
SELECT tests.act_as('xorj_bot', NULL, 'bot:tester');
SELECT is(tests.error_fields(format($$SELECT api.start_trade_search(%L, 500)$$, :'b2'),
                             'sqlstate', 'constraint'),
          '{"sqlstate": "XJ409", "constraint": "records_signature_first"}'::jsonb,
          'the bot''s own PENDING trade is never searched for: it was never broadcast');

-- the window and the basis against direct SQL
SELECT api.start_trade_search(:'h2', 700) \gset ignored_
SELECT tests.act_as(NULL);
SELECT is(tests.error_fields(format($$UPDATE xorj.trades SET search_until_height = 900 WHERE id = %L$$, :'h2'),
                             'sqlstate'),
          '{"sqlstate": "XJ423"}'::jsonb, 'a recorded window never changes (XJ423)');
SELECT is(tests.error_fields(format($$UPDATE xorj.trades SET records_signature_first = true WHERE id = %L$$, :'h3'),
                             'sqlstate'),
          '{"sqlstate": "XJ423"}'::jsonb, 'records_signature_first is fixed at creation (XJ423)');
SELECT tests.act_as('xorj_bot', NULL, 'bot:tester');
SELECT api.mark_trade_submitted(:'h3', tests.sig(3)) \gset ignored_
SELECT tests.act_as(NULL);
SELECT is(tests.error_fields(format($$UPDATE xorj.trades SET search_until_height = 900 WHERE id = %L$$, :'h3'),
                             'sqlstate'),
          '{"sqlstate": "XJ423"}'::jsonb, 'a SUBMITTED trade gets no window');
SELECT is(tests.error_fields(format($$UPDATE xorj.trades SET status = 'FAILED', error_message = 'x',
                                      failure_basis = 'never_broadcast' WHERE id = %L$$, :'h3'),
                             'sqlstate', 'message'),
          jsonb_build_object('sqlstate', 'XJ423', 'message',
                             format('trade %s: a SUBMITTED trade fails on its signature, with no basis', :'h3')),
          'a SUBMITTED trade is failed with no basis: its signature decides');
SELECT tests.act_as('xorj_bot', NULL, 'bot:tester');
SELECT is((SELECT trade->>'failure_basis' FROM api.mark_trade_failed(:'h3', 'failed on chain',
                                                                     5000, NULL, 'never_broadcast')),
          NULL, 'through the api a basis given for a SUBMITTED trade is not recorded');
-- a window recorded, then the client records its signature: it is SUBMITTED as usual
SELECT is((SELECT trade->>'status' FROM api.mark_trade_submitted(:'h2', tests.sig(2))), 'SUBMITTED',
          'a searched trade whose client records its signature moves on to SUBMITTED');
SELECT is(tests.error_fields(format($$SELECT api.mark_trade_failed(%L, 'gone', NULL, 'PENDING', 'not_found_on_chain', 9999)$$, :'h2'),
                             'sqlstate'),
          '{"sqlstate": "XJ423"}'::jsonb,
          'and recovery can no longer fail it as not found');
SELECT tests.act_as(NULL);
SELECT is(tests.error_fields(format($$INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id,
             from_token_address, to_token_address, amount_in, expected_amount_out, search_until_height)
             VALUES (%L, %L, 'ins', %L, %L, 1, 1, 5)$$, :'j', tests.addr(200), tests.addr(1), tests.addr(9)),
                             'sqlstate'),
          '{"sqlstate": "XJ423"}'::jsonb, 'a new trade has no search window');
SELECT is((SELECT count(*)::int FROM xorj.trades WHERE id = :'h4' AND status = 'PENDING'), 1,
          'a PENDING trade no rule moved is left as it was');

SELECT * FROM finish();
ROLLBACK;
