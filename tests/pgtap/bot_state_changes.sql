-- api.bot_state_changes: the feed of enable/disable events for bots that cannot LISTEN.
-- A NULL cursor starts the feed (no events); every event of a transaction at or after
-- the cursor comes back, oldest transaction first, with the wallet, enabled and vault;
-- an event of a transaction still running at the read comes again at the next read (its
-- id is the same); only xorj_bot reads it. (Transactions that commit out of order:
-- tests/test_logins.py.)
BEGIN;
SELECT plan(13);

SELECT tests.act_as('xorj_bot');
CREATE TEMP TABLE c (step text PRIMARY KEY, feed jsonb);
GRANT ALL ON c TO PUBLIC;
INSERT INTO c VALUES ('start', api.bot_state_changes(NULL));
SELECT is(jsonb_array_length((SELECT feed FROM c WHERE step = 'start') -> 'events'), 0,
          'a NULL cursor starts the feed with no events');
SELECT ok((SELECT feed ->> 'cursor' FROM c WHERE step = 'start') ~ '^[0-9]+$', 'the cursor is a number, as text');

SELECT tests.act_as('xorj_api');
SELECT tests.enable_bot(tests.addr(1), tests.addr(901));
SELECT tests.disable_bot(tests.addr(1));
SELECT tests.enable_bot(tests.addr(2));

SELECT tests.act_as('xorj_bot');
INSERT INTO c VALUES ('first', api.bot_state_changes((SELECT feed ->> 'cursor' FROM c WHERE step = 'start')));
-- (the events of this test's wallets: in a database that is not empty, such as a restored
-- backup, events of transactions not older than the cluster's oldest running one come too)
SELECT is(jsonb_path_query_array((SELECT feed FROM c WHERE step = 'first'), '$.events[*] ? (@.wallet starts with "Tst").enabled'),
          '[true, false, true]'::jsonb, 'the three changes come back in their order');
SELECT is(jsonb_path_query_array((SELECT feed FROM c WHERE step = 'first'), '$.events[*] ? (@.wallet starts with "Tst").wallet'),
          jsonb_build_array(tests.addr(1), tests.addr(1), tests.addr(2)), 'each names its wallet');
SELECT is(jsonb_path_query_array((SELECT feed FROM c WHERE step = 'first'), '$.events[*] ? (@.wallet starts with "Tst").vault_address') ->> 1,
          tests.addr(901), 'a disable keeps the vault it disables, so a bot knows which vault to drop');
SELECT ok((SELECT feed #> '{events,0}' FROM c WHERE step = 'first') ?& ARRAY['id', 'wallet', 'enabled', 'vault_address', 'at'],
          'an event has id, wallet, enabled, vault_address and at');
-- This transaction is still running: a later read from the new cursor gives its events again.
INSERT INTO c VALUES ('again', api.bot_state_changes((SELECT feed ->> 'cursor' FROM c WHERE step = 'first')));
SELECT is(jsonb_path_query_array((SELECT feed FROM c WHERE step = 'again'), '$.events[*] ? (@.wallet starts with "Tst").id'),
          jsonb_path_query_array((SELECT feed FROM c WHERE step = 'first'), '$.events[*] ? (@.wallet starts with "Tst").id'),
          'the events of a transaction not finished at the read come again, with the same ids');
SELECT is(jsonb_array_length(api.bot_state_changes((SELECT feed ->> 'cursor' FROM c WHERE step = 'start'), 2) -> 'events'),
          2, 'p_limit bounds a read');

SELECT throws_ok($$SELECT api.bot_state_changes('not a cursor')$$, 'XJ422',
    'invalid cursor: is not a cursor of api.bot_state_changes', 'a malformed cursor is XJ422');
SELECT throws_ok($$SELECT api.bot_state_changes(NULL, 0)$$, 'XJ422', 'invalid limit: must be 1..10000',
    'a limit of 0 is XJ422');
SELECT tests.act_as('xorj_api');
SELECT throws_ok($$SELECT api.bot_state_changes(NULL)$$, '42501', NULL, 'xorj_api may not read the feed');
SELECT tests.act_as('xorj_engine');
SELECT throws_ok($$SELECT api.bot_state_changes(NULL)$$, '42501', NULL, 'xorj_engine may not read the feed');
SELECT tests.act_as(NULL);
SELECT is((SELECT count(*) FROM xorj.bot_state_events WHERE txid = pg_current_xact_id()), 3::bigint,
          'each event records the transaction that wrote it');

SELECT * FROM finish();
ROLLBACK;
