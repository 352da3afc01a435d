-- trade_events (0003) is append-only: rows can be inserted, and every UPDATE, DELETE
-- and TRUNCATE is refused with SQLSTATE XJ423 'trade_events is append-only: <op> is not
-- allowed', even by the table's owner or a superuser (short of disabling the triggers).
BEGIN;
SELECT plan(17);
SET LOCAL client_min_messages = warning;  -- no NOTICE "truncate cascades to table ..."

-- Foundation alone: the business-rule triggers are disabled for this transaction
-- (tests/pgtap_helpers.sql says which and why).
SELECT tests.disable_rule_triggers();

-- The triggers.
SELECT trigger_is('xorj', 'trade_events', 'trade_events_append_only', 'xorj', 'refuse_trade_event_change',
    'trade_events_append_only runs xorj.refuse_trade_event_change()');
SELECT is((SELECT tgtype::int FROM pg_catalog.pg_trigger
            WHERE tgrelid = 'xorj.trade_events'::regclass AND tgname = 'trade_events_append_only'),
          27, 'trade_events_append_only is BEFORE UPDATE OR DELETE, FOR EACH ROW');
SELECT trigger_is('xorj', 'trade_events', 'trade_events_no_truncate', 'xorj', 'refuse_trade_event_change',
    'trade_events_no_truncate runs xorj.refuse_trade_event_change()');
SELECT is((SELECT tgtype::int FROM pg_catalog.pg_trigger
            WHERE tgrelid = 'xorj.trade_events'::regclass AND tgname = 'trade_events_no_truncate'),
          34, 'trade_events_no_truncate is BEFORE TRUNCATE, FOR EACH STATEMENT');

-- A trade and its events.
INSERT INTO xorj.execution_jobs (id, trigger_reason)
VALUES ('00000000-0000-4000-8000-00000000b001', 'SCHEDULED_RUN');
INSERT INTO xorj.trades (id, job_id, user_vault_address, client_order_id, from_token_address,
                         to_token_address, amount_in, expected_amount_out)
VALUES ('00000000-0000-4000-8000-00000000c001', '00000000-0000-4000-8000-00000000b001',
        'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 'order-1', 'So11111111111111111111111111111111111111112',
        'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 1000000, 990000);

SELECT lives_ok($$
    INSERT INTO xorj.trade_events (trade_id, trade_created_at, from_status, to_status, actor)
    VALUES ('00000000-0000-4000-8000-00000000c001', xorj.trade_created_at('00000000-0000-4000-8000-00000000c001'), NULL, 'PENDING', 'bot:worker-1')
$$, 'inserting a creation event (NULL -> PENDING) works');
SELECT lives_ok($$
    INSERT INTO xorj.trade_events (trade_id, trade_created_at, from_status, to_status, actor, detail)
    VALUES ('00000000-0000-4000-8000-00000000c001', xorj.trade_created_at('00000000-0000-4000-8000-00000000c001'), 'PENDING', 'SUBMITTED', 'bot:worker-1',
            jsonb_build_object('transaction_signature', repeat('5', 88)))
$$, 'inserting a status-change event (PENDING -> SUBMITTED) works');
SELECT results_eq($$
    SELECT from_status::text, to_status::text, actor, detail
    FROM xorj.trade_events WHERE trade_id = '00000000-0000-4000-8000-00000000c001' ORDER BY id
$$, $$
    VALUES (NULL::text, 'PENDING'::text, 'bot:worker-1'::text, '{}'::jsonb),
           ('PENDING', 'SUBMITTED', 'bot:worker-1', jsonb_build_object('transaction_signature', repeat('5', 88)))
$$, 'both events are stored, in order, with their default and given detail');
SELECT throws_ok($$
    INSERT INTO xorj.trade_events (id, trade_id, trade_created_at, to_status, actor)
    VALUES (1, '00000000-0000-4000-8000-00000000c001', xorj.trade_created_at('00000000-0000-4000-8000-00000000c001'), 'FAILED', 'bot:worker-1')
$$, '428C9', NULL, 'the event id is the database''s: an insert that gives one is refused (GENERATED ALWAYS)');

-- Changes are refused.
SELECT throws_ok($$UPDATE xorj.trade_events SET actor = 'someone-else'$$,
    'XJ423', 'trade_events is append-only: UPDATE is not allowed',
    'UPDATE of an event raises XJ423 trade_events is append-only: UPDATE is not allowed');
SELECT throws_ok($$UPDATE xorj.trade_events SET actor = actor WHERE to_status = 'PENDING'$$,
    'XJ423', 'trade_events is append-only: UPDATE is not allowed',
    'even an UPDATE that changes nothing raises XJ423');
SELECT throws_ok($$DELETE FROM xorj.trade_events WHERE to_status = 'SUBMITTED'$$,
    'XJ423', 'trade_events is append-only: DELETE is not allowed',
    'DELETE of an event raises XJ423 trade_events is append-only: DELETE is not allowed');
SELECT throws_ok($$TRUNCATE xorj.trade_events$$,
    'XJ423', 'trade_events is append-only: TRUNCATE is not allowed',
    'TRUNCATE trade_events raises XJ423 trade_events is append-only: TRUNCATE is not allowed');
SELECT throws_ok($$TRUNCATE xorj.trades, xorj.trade_events, xorj.trade_claims$$,
    'XJ423', NULL,  -- the first guard reached refuses: trades' or trade_events'
    
    'TRUNCATE of trades together with trade_events raises XJ423 too');
SELECT throws_ok($$TRUNCATE xorj.trades CASCADE$$,
    'XJ423', NULL,  -- the first guard reached refuses: trades' or trade_events'
    
    'TRUNCATE trades CASCADE, which reaches trade_events, raises XJ423 too');
SELECT results_eq($$
    SELECT from_status::text, to_status::text, actor
    FROM xorj.trade_events WHERE trade_id = '00000000-0000-4000-8000-00000000c001' ORDER BY id
$$, $$
    VALUES (NULL::text, 'PENDING'::text, 'bot:worker-1'::text), ('PENDING', 'SUBMITTED', 'bot:worker-1')
$$, 'after all that, both events are still there, unchanged');

-- Inserting goes on working after the refusals.
SELECT lives_ok($$
    INSERT INTO xorj.trade_events (trade_id, trade_created_at, from_status, to_status, actor, detail)
    VALUES ('00000000-0000-4000-8000-00000000c001', xorj.trade_created_at('00000000-0000-4000-8000-00000000c001'), 'SUBMITTED', 'FAILED', 'bot:worker-1',
            '{"error_message": "expired blockhash"}')
$$, 'a correction is recorded as a new event (SUBMITTED -> FAILED)');
SELECT is((SELECT count(*)::int FROM xorj.trade_events
            WHERE trade_id = '00000000-0000-4000-8000-00000000c001'),
          3, 'the trade has three events');

SELECT * FROM finish();
ROLLBACK;
