-- Trades by month (migration 0011, procedures/trades_partitions.sql, trades_keys.sql):
-- xorj.trades and xorj.trade_events are partitioned by month, with no DEFAULT
-- partition; every unique rule holds across months (xorj.trade_keys); a trade, its key
-- and its events move together; the guards hold on each partition; and a month leaves
-- only through xorj.archive_trade_month, which refuses an open month, an unfinished
-- trade and an archive that does not match, and keeps the keys of what it removes.
-- The trades of an earlier month are made by moving trades 62 days back (tests.backdate
-- moves their partition, key and events), so every case crosses a partition boundary.
BEGIN;
SELECT plan(57);

-- a database that is not empty (a restored backup): its trades in flight are finished first
SELECT tests.finish_old_trades() AS old_finished \gset

-- The structure.
SELECT is((SELECT pg_get_partkeydef('xorj.trades'::regclass)), 'RANGE (created_at)',
          'xorj.trades is partitioned by range of created_at');
SELECT is((SELECT pg_get_partkeydef('xorj.trade_events'::regclass)), 'RANGE (trade_created_at)',
          'xorj.trade_events is partitioned by range of its trade''s created_at');
SELECT is((SELECT count(*)::int FROM pg_catalog.pg_partitioned_table
            WHERE partrelid IN ('xorj.trades'::regclass, 'xorj.trade_events'::regclass)
              AND partdefid <> 0),
          0, 'neither has a DEFAULT partition: a row of a month without one is refused, never misplaced');
SELECT ok((SELECT bool_and(to_regclass('xorj.trades_' || to_char(d, 'YYYY_MM')) IS NOT NULL
                           AND to_regclass('xorj.trade_events_' || to_char(d, 'YYYY_MM')) IS NOT NULL)
             FROM generate_series(date_trunc('month', clock_timestamp() AT TIME ZONE 'UTC'),
                                  date_trunc('month', clock_timestamp() AT TIME ZONE 'UTC') + interval '3 months',
                                  interval '1 month') d),
          'this month and the next three have their partitions');
SELECT is(xorj.ensure_trade_partitions(), 0, 'ensure_trade_partitions again: nothing to create');
SELECT count(*)::int AS missing
  FROM generate_series(0, 6) k
 WHERE to_regclass('xorj.trades_' || to_char(clock_timestamp() AT TIME ZONE 'UTC' + k * interval '1 month', 'YYYY_MM')) IS NULL \gset
SELECT is(xorj.ensure_trade_partitions(clock_timestamp(), 6), :missing,
          'six months ahead: the missing months are created, and only those');
SELECT is(tests.error_fields($$SELECT xorj.ensure_trade_partitions(clock_timestamp(), 121)$$, 'sqlstate'),
          '{"sqlstate": "XJ422"}', 'more than 120 months ahead is refused (XJ422)');
SELECT is((SELECT count(*)::int FROM xorj.trade_months() m
            WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                               WHERE g.tgrelid = m.trades_partition::regclass AND g.tgname = 'trades_no_truncate')
               OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                               WHERE g.tgrelid = m.events_partition::regclass AND g.tgname = 'trade_events_no_truncate')),
          0, 'every partition has its TRUNCATE guard (a statement trigger is not inherited)');

-- A trade of an earlier month.
SELECT tests.enabled_vault(tests.addr(100), tests.addr(300));
CREATE TEMP TABLE j AS SELECT tests.running_job() AS id;
CREATE TEMP TABLE t_old AS SELECT tests.trade((SELECT id FROM j), tests.addr(300), 'old-1', 1000) AS id;
SELECT tests.backdate('trades', ARRAY[(SELECT id FROM t_old)], interval '62 days');
CREATE TEMP TABLE m AS
    SELECT date_trunc('month', created_at AT TIME ZONE 'UTC')::date AS month,
           to_char(created_at AT TIME ZONE 'UTC', 'YYYY_MM') AS suffix
    FROM xorj.trades WHERE id = (SELECT id FROM t_old);
GRANT SELECT ON j, t_old, m TO PUBLIC;

SELECT is((SELECT tableoid::regclass::text FROM xorj.trades WHERE id = (SELECT id FROM t_old)),
          'xorj.trades_' || (SELECT suffix FROM m), 'the trade is stored in its month''s partition');
SELECT is((SELECT array_agg(DISTINCT tableoid::regclass::text) FROM xorj.trade_events
            WHERE trade_id = (SELECT id FROM t_old)),
          ARRAY['xorj.trade_events_' || (SELECT suffix FROM m)], 'its events are in its month''s partition of trade_events');
SELECT is(xorj.trade_created_at((SELECT id FROM t_old)),
          (SELECT created_at FROM xorj.trades WHERE id = (SELECT id FROM t_old)), 'its key row has its created_at');
SELECT is(api.get_trade((SELECT id FROM t_old)) ->> 'id', (SELECT id::text FROM t_old),
          'api.get_trade finds it in its month');

-- Every unique rule holds across months.
SELECT tests.act_as('xorj_bot');
SELECT is((SELECT replay FROM api.create_trade((SELECT id FROM j), tests.addr(300), 'old-1',
                                                tests.addr(1), tests.addr(2), 1000, 990)),
          true, 'a retry of a trade of an earlier month is answered with it (replay)');
SELECT is(tests.error_fields($$SELECT api.create_trade((SELECT id FROM j), tests.addr(300), 'old-1',
                                                       tests.addr(1), tests.addr(2), 5, 990)$$,
                             'sqlstate', 'constraint'),
          '{"sqlstate": "XJ409", "constraint": "idempotency_key_reused"}',
          'its client_order_id with other values: idempotency_key_reused');
SELECT is(tests.error_fields($$SELECT tests.trade((SELECT id FROM j), tests.addr(300), 'new-1', 5000)$$,
                             'sqlstate', 'constraint'),
          '{"sqlstate": "XJ409", "constraint": "trade_in_flight"}',
          'a trade of the same pair this month, while the earlier one is PENDING: trade_in_flight');
SELECT tests.act_as(NULL);
SELECT throws_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address,
                             to_token_address, amount_in, expected_amount_out)
    VALUES ((SELECT id FROM j), tests.addr(300), 'direct-1', tests.addr(1), tests.addr(2), 5000, 990)
$$, '23505', 'duplicate key value violates unique constraint "trades_one_in_flight_per_pair_key"',
    'direct SQL too: a second unfinished trade of the pair, in another month (23505)');
SELECT throws_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address,
                             to_token_address, amount_in, expected_amount_out)
    VALUES ((SELECT id FROM j), tests.addr(300), 'old-1', tests.addr(3), tests.addr(4), 5000, 990)
$$, '23505', 'duplicate key value violates unique constraint "trades_vault_client_order_key"',
    'direct SQL: the client_order_id of a trade of another month (23505)');

SELECT api.mark_trade_submitted((SELECT id FROM t_old), tests.sig(501));
SELECT is((SELECT count(*)::int FROM xorj.trade_events
            WHERE trade_id = (SELECT id FROM t_old)
              AND tableoid = ('xorj.trade_events_' || (SELECT suffix FROM m))::regclass),
          2, 'a move of the trade today writes its event into the partition of the trade''s month');
CREATE TEMP TABLE t_new AS SELECT tests.trade((SELECT id FROM j), tests.addr(300), 'new-2', 1000, 7, 8) AS id;
GRANT SELECT ON t_new TO PUBLIC;
SELECT is(tests.error_fields($$SELECT api.mark_trade_submitted((SELECT id FROM t_new), tests.sig(501))$$,
                             'sqlstate', 'constraint'),
          '{"sqlstate": "XJ409", "constraint": "signature_in_use"}',
          'the signature of a trade of another month: signature_in_use');
SELECT throws_ok($$
    UPDATE xorj.trades SET status = 'SUBMITTED', transaction_signature = tests.sig(501)
     WHERE id = (SELECT id FROM t_new)
$$, '23505', 'duplicate key value violates unique constraint "trades_transaction_signature_key"',
    'direct SQL: the signature of a trade of another month (23505)');
SELECT api.mark_trade_confirmed((SELECT id FROM t_old), 990);
SELECT is((SELECT unfinished FROM xorj.trade_keys WHERE id = (SELECT id FROM t_old)), false,
          'a finished trade''s key is marked finished: its pair is free again');
SELECT lives_ok($$SELECT tests.trade((SELECT id FROM j), tests.addr(300), 'again-1', 1000)$$,
                'the same vault, pair and amount 62 days later is no recent repeat');

-- Claim order across months: the oldest PENDING trade first, whatever its month.
CREATE TEMP TABLE t_b AS SELECT tests.trade((SELECT id FROM j), tests.addr(300), 'b-1', 1000, 11, 12) AS id;
SELECT tests.backdate('trades', ARRAY[(SELECT id FROM t_b)], interval '62 days');
GRANT SELECT ON t_b TO PUBLIC;
SELECT is((SELECT c ->> 'id' FROM api.claim_trades('bot-x', interval '1 minute', interval '0', 1) c),
          (SELECT id::text FROM t_b), 'a claim takes the PENDING trade of the earlier month first');
SELECT api.release_trade_claims('bot-x');

-- The guards hold on each partition, addressed directly.
SELECT throws_ok(format('DELETE FROM xorj.trades_%s', (SELECT suffix FROM m)), 'XJ423', NULL,
                 'DELETE on a month''s partition of trades is refused');
SELECT throws_ok(format('TRUNCATE xorj.trades_%s', (SELECT suffix FROM m)), 'XJ423', NULL,
                 'TRUNCATE of a month''s partition of trades is refused');
SELECT throws_ok(format('TRUNCATE xorj.trade_events_%s', (SELECT suffix FROM m)), 'XJ423', NULL,
                 'TRUNCATE of a month''s partition of trade_events is refused');
SELECT throws_ok(format('DELETE FROM xorj.trade_events_%s', (SELECT suffix FROM m)), 'XJ423', NULL,
                 'DELETE on a month''s partition of trade_events is refused');
SELECT throws_ok($$UPDATE xorj.trades SET created_at = created_at - interval '40 days'
                   WHERE id = (SELECT id FROM t_b)$$, 'XJ423', NULL,
                 'a trade cannot be moved to another month (created_at is an identity column)');
SELECT throws_ok($$INSERT INTO xorj.trade_keys (id, created_at, user_vault_address, client_order_id,
                                                from_token_address, to_token_address, venue)
                   VALUES (gen_random_uuid(), clock_timestamp(), tests.addr(300), 'key-1',
                           tests.addr(1), tests.addr(2), 'live')$$, 'XJ423', NULL,
                 'a key row is never written directly');
SELECT throws_ok($$UPDATE xorj.trade_keys SET unfinished = true WHERE id = (SELECT id FROM t_old)$$,
                 'XJ423', NULL, 'a key row is never changed directly');
SELECT throws_ok($$DELETE FROM xorj.trade_keys WHERE id = (SELECT id FROM t_old)$$,
                 'XJ423', NULL, 'a key row is never deleted');
SELECT throws_ok($$TRUNCATE xorj.trade_keys CASCADE$$, 'XJ423', NULL, 'the key table is never truncated');
SELECT throws_ok($$INSERT INTO xorj.trade_events (trade_id, trade_created_at, to_status, actor)
                   VALUES ((SELECT id FROM t_old), clock_timestamp(), 'FAILED', 'someone')$$,
                 '23503', NULL, 'an event naming a trade and another month than the trade''s is refused (23503)');

-- The archive: refusals first.
SELECT is(tests.error_fields(format('SELECT xorj.archive_trade_month(%L, 0, 0, 0, 0)',
                                    date_trunc('month', clock_timestamp() AT TIME ZONE 'UTC')::date),
                             'sqlstate', 'constraint'),
          '{"sqlstate": "XJ409", "constraint": "month_not_closed"}', 'this month cannot be archived: month_not_closed');
SELECT xorj.trade_month_summary((SELECT month FROM m)) AS s1 \gset
SELECT is((:'s1'::jsonb ->> 'unfinished')::int, 1, 'the summary counts the month''s unfinished trade');
SELECT is(tests.error_fields(format('SELECT xorj.archive_trade_month(%L, %s, %s, %s, %s)', (SELECT month FROM m),
                                    :'s1'::jsonb ->> 'trades', :'s1'::jsonb ->> 'trades_sum',
                                    :'s1'::jsonb ->> 'events', :'s1'::jsonb ->> 'events_sum'),
                             'sqlstate', 'constraint'),
          '{"sqlstate": "XJ409", "constraint": "unfinished_trades"}',
          'a month with a PENDING trade cannot be archived: unfinished_trades');
SELECT api.mark_trade_failed((SELECT id FROM t_b), 'expired', p_failure_basis => 'never_broadcast');
SELECT xorj.trade_month_summary((SELECT month FROM m)) AS s \gset
SELECT is(:'s'::jsonb - 'month' - 'closed' - 'trades_sum' - 'events_sum',
          jsonb_build_object('trades', (SELECT count(*) FROM xorj.trades t
                                         WHERE t.tableoid = ('xorj.trades_' || (SELECT suffix FROM m))::regclass),
                             'unfinished', 0,
                             'events', (SELECT count(*) FROM xorj.trade_events e
                                         WHERE e.tableoid = ('xorj.trade_events_' || (SELECT suffix FROM m))::regclass)),
          'the summary counts the rows of the month''s two partitions');
SELECT is(:'s'::jsonb ->> 'trades_sum',
          (SELECT sum(xorj.row_checksum(to_jsonb(t)::text))::text FROM xorj.trades t
            WHERE t.tableoid = ('xorj.trades_' || (SELECT suffix FROM m))::regclass),
          'its trades checksum is the sum of the rows'' checksums');
SELECT is(tests.error_fields(format('SELECT xorj.archive_trade_month(%L, %s, %s, %s, %s)', (SELECT month FROM m),
                                    :'s'::jsonb ->> 'trades', (:'s'::jsonb ->> 'trades_sum')::numeric + 1,
                                    :'s'::jsonb ->> 'events', :'s'::jsonb ->> 'events_sum'),
                             'sqlstate', 'constraint'),
          '{"sqlstate": "XJ409", "constraint": "archive_mismatch"}',
          'an archive whose checksum differs from the partition''s: archive_mismatch');
SELECT is(tests.error_fields(format('SELECT xorj.archive_trade_month(%L, %s, %s, %s, %s)', (SELECT month FROM m),
                                    (:'s'::jsonb ->> 'trades')::int - 1, :'s'::jsonb ->> 'trades_sum',
                                    :'s'::jsonb ->> 'events', :'s'::jsonb ->> 'events_sum'),
                             'sqlstate', 'constraint'),
          '{"sqlstate": "XJ409", "constraint": "archive_mismatch"}',
          'an archive with a row fewer: archive_mismatch');
SELECT ok(to_regclass('xorj.trades_' || (SELECT suffix FROM m)) IS NOT NULL
          AND to_regclass('xorj.trade_events_' || (SELECT suffix FROM m)) IS NOT NULL,
          'after the refusals the month''s partitions are all there');
SELECT tests.act_as('xorj_bot');
SELECT throws_ok(format('SELECT xorj.archive_trade_month(%L, 0, 0, 0, 0)', (SELECT month FROM m)),
                 '42501', NULL, 'a bot cannot archive');
SELECT tests.act_as(NULL);

-- The archive.
SELECT is(xorj.archive_trade_month((SELECT month FROM m), (:'s'::jsonb ->> 'trades')::bigint,
                                   (:'s'::jsonb ->> 'trades_sum')::numeric,
                                   (:'s'::jsonb ->> 'events')::bigint, (:'s'::jsonb ->> 'events_sum')::numeric),
          jsonb_build_object('month', to_char((SELECT month FROM m), 'YYYY-MM'),
                             'trades', (:'s'::jsonb ->> 'trades')::bigint,
                             'events', (:'s'::jsonb ->> 'events')::bigint),
          'with the month''s own counts and checksums, the month is archived');
SELECT ok(to_regclass('xorj.trades_' || (SELECT suffix FROM m)) IS NULL
          AND to_regclass('xorj.trade_events_' || (SELECT suffix FROM m)) IS NULL,
          'its two partitions are gone');
SELECT is((SELECT jsonb_build_object('trades', trades, 'trades_sum', trades_sum::text, 'events', events,
                                     'events_sum', events_sum::text)
             FROM xorj.trade_archives WHERE month = (SELECT month FROM m)),
          :'s'::jsonb - 'month' - 'closed' - 'unfinished', 'xorj.trade_archives records what left');
SELECT is((SELECT count(*)::int FROM xorj.trade_keys WHERE id IN ((SELECT id FROM t_old), (SELECT id FROM t_b))),
          2, 'the keys of the archived trades stay');
-- (the latest times aside: tests.backdate moved the trades' times, not the figures')
SELECT is_empty($$SELECT * FROM xorj.vault_trade_stats_drift()
                   WHERE kept - 'last_created_at' - 'last_confirmed_at' - 'last_failed_at'
                         IS DISTINCT FROM counted - 'last_created_at' - 'last_confirmed_at' - 'last_failed_at'$$,
                'the per-vault figures still count the archived trades, and a recount adds them back: no drift');
SELECT is((SELECT (bot -> 'performance' ->> 'total_trades')::int FROM (SELECT tests.bot_status(tests.addr(100)) AS bot) b),
          (SELECT count(*)::int FROM xorj.trade_keys WHERE user_vault_address = tests.addr(300) AND venue = 'live'),
          'a user''s bot status still counts the archived trades');
SELECT is(tests.error_fields($$SELECT api.get_trade((SELECT id FROM t_old))$$, 'sqlstate') ||
          jsonb_build_object('archived', tests.error_of($$SELECT api.get_trade((SELECT id FROM t_old))$$) -> 'facts' -> 'archived'),
          '{"sqlstate": "XJ404", "archived": true}', 'an archived trade is not found, and said to be archived');
SELECT is(tests.error_fields($$SELECT api.create_trade((SELECT id FROM j), tests.addr(300), 'old-1',
                                                       tests.addr(1), tests.addr(2), 1000, 990)$$,
                             'sqlstate', 'constraint'),
          '{"sqlstate": "XJ409", "constraint": "idempotency_key_reused"}',
          'the client_order_id of an archived trade stays taken');
SELECT is(tests.error_fields($$SELECT api.mark_trade_submitted((SELECT id FROM t_new), tests.sig(501))$$,
                             'sqlstate', 'constraint'),
          '{"sqlstate": "XJ409", "constraint": "signature_in_use"}',
          'the signature of an archived trade stays taken');
SELECT is(xorj.ensure_trade_partitions((SELECT month FROM m)::timestamp AT TIME ZONE 'UTC', 0), 0,
          'an archived month is not created again');
SELECT is(tests.error_fields(format('SELECT xorj.trade_month_summary(%L)', (SELECT month FROM m)), 'sqlstate'),
          '{"sqlstate": "XJ404"}', 'an archived month has no summary (XJ404)');
SELECT is(tests.error_fields(format('SELECT xorj.archive_trade_month(%L, 0, 0, 0, 0)', (SELECT month FROM m)),
                             'sqlstate'),
          '{"sqlstate": "XJ404"}', 'archiving it again: XJ404');
SELECT is(xorj.row_checksum('abc'), -5010229573455851542::bigint,
          'a row''s checksum: the first 8 bytes of its sha256, signed big-endian (as app/archive.py computes it)');

-- A month without its partition is created on demand by api.create_trade.
DO $$
DECLARE
    v_suffix text := to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY_MM');
BEGIN
    EXECUTE format('ALTER TABLE xorj.trade_events DETACH PARTITION xorj.trade_events_%s', v_suffix);
    EXECUTE format('ALTER TABLE xorj.trade_events_%1$s RENAME TO trade_events_%1$s_aside', v_suffix);
    EXECUTE format('ALTER TABLE xorj.trades DETACH PARTITION xorj.trades_%s', v_suffix);
    EXECUTE format('ALTER TABLE xorj.trades_%1$s RENAME TO trades_%1$s_aside', v_suffix);
END
$$;
SELECT lives_ok($$SELECT tests.trade((SELECT id FROM j), tests.addr(300), 'on-demand-1', 1000, 21, 22)$$,
                'a trade of a month without its partition: api.create_trade creates the partition first');
SELECT ok(to_regclass(tests.month_partition('xorj.trades')) IS NOT NULL
          AND (SELECT count(*) FROM xorj.trades WHERE client_order_id = 'on-demand-1') = 1,
          'the partition exists and holds the trade');

SELECT * FROM finish();
ROLLBACK;
