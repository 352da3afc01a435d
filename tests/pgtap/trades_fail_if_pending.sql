-- api.mark_trade_failed(..., expected_status): a recovering bot fails a trade it believes
-- was never broadcast only if it is still PENDING; a trade that another bot has meanwhile
-- recorded as SUBMITTED (it may land) is refused with XJ423 and stays SUBMITTED. The
-- expected status is PENDING or SUBMITTED (else XJ422).
BEGIN;
SELECT plan(5);

SELECT tests.enabled_vault(tests.addr(100), tests.addr(200));
SELECT tests.running_job() AS j \gset
SELECT tests.act_as('xorj_bot', NULL, 'bot:tester');
SELECT tests.trade(:'j', tests.addr(200), 's1', 10, 1, 2) AS s \gset
SELECT api.mark_trade_submitted(:'s', tests.sig(1), 1500) \gset ignored_
SELECT tests.trade(:'j', tests.addr(200), 'p1', 10, 3, 4) AS p \gset

SELECT throws_like(format($$SELECT api.mark_trade_failed(%L, 'never broadcast', NULL, 'PENDING', p_failure_basis => 'never_broadcast')$$, :'s'),
    '% is SUBMITTED, not PENDING: it was not marked FAILED', 'failing "if still PENDING" refuses a SUBMITTED trade');
SELECT is((SELECT trade->>'status' FROM api.get_trade(:'s') trade), 'SUBMITTED',
          'and the trade stays SUBMITTED');
SELECT is((SELECT trade->>'status' FROM api.mark_trade_failed(:'p', 'never broadcast', NULL, 'PENDING', p_failure_basis => 'never_broadcast')),
          'FAILED', 'a trade still PENDING is failed');
SELECT is(tests.error_fields(format($$SELECT api.mark_trade_failed(%L, 'x', NULL, 'CONFIRMED')$$, :'s'),
                             'sqlstate', 'column', 'message'),
          '{"sqlstate": "XJ422", "column": "expected_status",
            "message": "invalid expected_status: must be PENDING or SUBMITTED"}'::jsonb,
          'an expected status other than PENDING or SUBMITTED is XJ422');
SELECT is((SELECT trade->>'status' FROM api.mark_trade_failed(:'s', 'failed on chain', 5000, 'SUBMITTED')),
          'FAILED', 'expecting SUBMITTED fails a SUBMITTED trade');
SELECT tests.act_as(NULL);

SELECT * FROM finish();
ROLLBACK;
