-- The per-vault figures xorj.vault_trade_stats (procedures/trades_stats.sql) agree with a
-- recount of the trade log after every kind of write: creation through the api and by
-- direct SQL, every status move, lease changes (which leave them alone), several vaults
-- and venues, set-based moves of many trades in one statement; api.bot_status reads
-- them (one row) and counts the consecutive failures since the latest confirmation.
-- (That lease updates are HOT is proven across transactions, where pruning makes room:
-- tests/test_trade_leases_hot.py; schema_indexes.sql proves no index holds the lease.)
BEGIN;
SELECT plan(16);

SELECT tests.running_job('bot-a') AS j \gset
-- a database that is not empty (a restored backup): its trades in flight are finished first
SELECT tests.finish_old_trades() AS old_finished \gset
DO $$ BEGIN PERFORM tests.enable_bot(tests.addr(1), tests.addr(10)); END $$;
DO $$ BEGIN PERFORM tests.enable_bot(tests.addr(2), tests.addr(20)); END $$;

-- vault 10: 4 live trades through the api (a, b, c, d), one on localnet (e)
SELECT tests.trade(:'j', tests.addr(10), 'a', 1000, 1, 2) AS a \gset
SELECT tests.trade(:'j', tests.addr(10), 'b', 2000, 1, 3) AS b \gset
SELECT tests.trade(:'j', tests.addr(10), 'c', 3000, 1, 4) AS c \gset
SELECT tests.trade(:'j', tests.addr(10), 'd', 4000, 1, 5) AS d \gset
SELECT (trade->>'id')::uuid AS e FROM api.create_trade(:'j', tests.addr(10), 'e', tests.addr(1), tests.addr(2),
                                                       500, 490, p_venue => 'localnet') trade \gset
SELECT is((SELECT count(*)::int FROM xorj.vault_trade_stats_drift()), 0, 'after creations: no drift');
SELECT is((SELECT (pending_trades, last_created_at)::text FROM xorj.vault_trade_stats
            WHERE user_vault_address = tests.addr(10) AND venue = 'live'),
          (SELECT (4, max(created_at))::text FROM xorj.trades
            WHERE user_vault_address = tests.addr(10) AND venue = 'live'),
          'four live PENDING trades, the latest created_at');

SELECT api.mark_trade_submitted(:'a', tests.sig(1), 100);
SELECT api.mark_trade_confirmed(:'a', 995);
SELECT api.mark_trade_submitted(:'b', tests.sig(2), 100);
SELECT api.mark_trade_failed(:'b', 'slippage exceeded', p_failure_basis => 'never_broadcast');
SELECT api.mark_trade_failed(:'c', 'never broadcast', NULL, 'PENDING', p_failure_basis => 'never_broadcast');
SELECT api.mark_trade_submitted(:'e', tests.sig(5), 100);
SELECT is((SELECT count(*)::int FROM xorj.vault_trade_stats_drift()), 0, 'after each kind of move: no drift');
SELECT is((SELECT jsonb_build_object('p', pending_trades, 's', submitted_trades, 'c', confirmed_trades,
                                     'f', failed_trades, 'v', confirmed_volume)
             FROM xorj.vault_trade_stats WHERE user_vault_address = tests.addr(10) AND venue = 'live'),
          '{"p": 1, "s": 0, "c": 1, "f": 2, "v": 1000}'::jsonb,
          'live: d PENDING, a CONFIRMED (volume 1000), b and c FAILED');
SELECT is((SELECT submitted_trades FROM xorj.vault_trade_stats
            WHERE user_vault_address = tests.addr(10) AND venue = 'localnet'),
          1::bigint, 'the localnet trade has its own row');

-- bot_status reads the figures: two failures after the latest confirmation
SELECT is(tests.bot_status(tests.addr(1)) -> 'performance',
          jsonb_build_object('total_trades', 4, 'confirmed_trades', 1, 'failed_trades', 2,
                             'pending_trades', 1, 'success_rate', 33.33, 'total_volume', '1000',
                             'last_trade_at', (SELECT completed_at FROM xorj.trades WHERE id = :'a')),
          'bot_status performance comes from the figures');
SELECT is((tests.bot_status(tests.addr(1)) -> 'circuit_breakers' ->> 'consecutive_failures')::int, 2,
          'two consecutive failures since the latest confirmation');
SELECT api.mark_trade_submitted(:'d', tests.sig(4), 100);
SELECT api.mark_trade_confirmed(:'d', 3990);
SELECT is((tests.bot_status(tests.addr(1)) -> 'circuit_breakers' ->> 'consecutive_failures')::int, 0,
          'a confirmation ends the run of failures');
SELECT is(tests.bot_status(tests.addr(1)) -> 'circuit_breakers' ->> 'last_failure_at',
          (SELECT to_jsonb(max(completed_at)) ->> 0 FROM xorj.trades t
            WHERE t.user_vault_address = tests.addr(10) AND t.status = 'FAILED' AND t.venue = 'live'),
          'the latest failure stays known');
SELECT is((tests.bot_status(tests.addr(1)) -> 'performance' ->> 'total_volume'), '5000',
          'volume: 1000 + 4000');

-- Leases: claims, renewals and releases change no figure.
SELECT tests.trade(:'j', tests.addr(20), 'f' || g, 100 + g, 1, 10 + g) FROM generate_series(1, 20) g;
SELECT is((SELECT count(*)::int FROM api.claim_trades('bot-b', interval '1 minute', p_limit => 100, p_venue => 'live')),
          20, 'bot-b claims the 20 unfinished live trades');
SELECT is(api.renew_trade_claims('bot-b', interval '2 minutes'), 20, 'and renews them');
SELECT is(api.release_trade_claims('bot-b'), 20, 'and releases them');
SELECT is((SELECT count(*)::int FROM xorj.vault_trade_stats_drift()), 0, 'leases change no figure');

-- Direct SQL and set-based moves of many trades in one statement keep the figures too.
UPDATE xorj.trades SET status = 'SUBMITTED', transaction_signature = tests.sig(1000 + amount_in::int)
 WHERE user_vault_address = tests.addr(20);
UPDATE xorj.trades SET status = CASE WHEN amount_in % 3 = 0 THEN 'FAILED' ELSE 'CONFIRMED' END::xorj.trade_status,
                       actual_amount_out = CASE WHEN amount_in % 3 = 0 THEN NULL ELSE amount_in END,
                       error_message = CASE WHEN amount_in % 3 = 0 THEN 'expired' END
 WHERE user_vault_address = tests.addr(20);
SELECT is((SELECT count(*)::int FROM xorj.vault_trade_stats_drift()), 0,
          'set-based moves of 20 trades: no drift');
SELECT is((SELECT (confirmed_trades, failed_trades, confirmed_volume)::text FROM xorj.vault_trade_stats
            WHERE user_vault_address = tests.addr(20) AND venue = 'live'),
          (SELECT (count(*) FILTER (WHERE amount_in % 3 <> 0), count(*) FILTER (WHERE amount_in % 3 = 0),
                   sum(amount_in) FILTER (WHERE amount_in % 3 <> 0))::text
             FROM xorj.trades WHERE user_vault_address = tests.addr(20)),
          'vault 20: its confirmed and failed counts and volume');

SELECT * FROM finish();
ROLLBACK;
