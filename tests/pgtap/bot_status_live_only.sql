-- api.bot_status counts live trades only: trades of the vault executed on a local
-- validator ('localnet') or on the simulated chain ('simulated') change nothing of the
-- status (performance, last_execution, circuit breakers), whatever their status and
-- however recent; a live trade does.
--
--   wallet addr(1), vault addr(901); one live trade CONFIRMED first (amount 1000), then
--   simulated and localnet trades of every status, then live ones again.
BEGIN;
SELECT plan(14);

SELECT tests.enabled_vault(tests.addr(1), tests.addr(901));
SELECT tests.running_job() AS j \gset

-- A trade of the vault for pair (2p, 2p+1) at venue p_venue; its id.
CREATE FUNCTION pg_temp.trade(p_job uuid, p_key text, p_pair integer, p_amount numeric, p_venue text)
RETURNS uuid LANGUAGE sql AS $fn$
    SELECT (trade ->> 'id')::uuid
    FROM api.create_trade(p_job, tests.addr(901), p_key, tests.addr(2 * p_pair), tests.addr(2 * p_pair + 1),
                          p_amount, 990, p_venue => p_venue)
$fn$;
CREATE FUNCTION pg_temp.confirm(p_trade uuid, p_sig integer) RETURNS void
LANGUAGE sql AS $fn$
    SELECT api.mark_trade_submitted(p_trade, tests.sig(p_sig));
    SELECT api.mark_trade_confirmed(p_trade, 980);
$fn$;
CREATE FUNCTION pg_temp.status() RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    v jsonb;
BEGIN
    PERFORM tests.act_as('xorj_api', tests.addr(1));
    v := api.bot_status();
    PERFORM tests.act_as('xorj_bot', NULL, 'bot:tester');
    RETURN v;
END
$fn$;

SELECT tests.act_as('xorj_bot', NULL, 'bot:tester');
SELECT pg_temp.trade(:'j', 'live-1', 1, 1000, 'live') AS live1 \gset
SELECT pg_temp.confirm(:'live1', 1);
CREATE TEMP TABLE before AS SELECT pg_temp.status() AS st;

SELECT is((SELECT st -> 'performance' -> 'total_trades' FROM before), '1'::jsonb, 'one live trade');
SELECT is((SELECT st -> 'performance' -> 'total_volume' FROM before), '"1000"'::jsonb, 'its volume');

-- Simulated and localnet trades of every status, newer than the live one; the failures
-- come after the live confirmation (they would be consecutive failures).
SELECT pg_temp.trade(:'j', 'sim-confirmed', 2, 5000, 'simulated') AS s1 \gset
SELECT pg_temp.confirm(:'s1', 2);
SELECT pg_temp.trade(:'j', 'sim-failed', 3, 6000, 'simulated') AS s2 \gset
SELECT api.mark_trade_failed(:'s2', 'failed on chain: InstructionError: slippage', p_failure_basis => 'never_broadcast') \gset ignored_
SELECT pg_temp.trade(:'j', 'sim-pending', 4, 7000, 'simulated') AS s3 \gset
SELECT pg_temp.trade(:'j', 'loc-confirmed', 5, 8000, 'localnet') AS l1 \gset
SELECT pg_temp.confirm(:'l1', 5);
SELECT pg_temp.trade(:'j', 'loc-failed', 6, 9000, 'localnet') AS l2 \gset
SELECT api.mark_trade_failed(:'l2', 'expired', p_failure_basis => 'never_broadcast') \gset ignored_
SELECT pg_temp.trade(:'j', 'loc-submitted', 7, 9100, 'localnet') AS l3 \gset
SELECT api.mark_trade_submitted(:'l3', tests.sig(7)) \gset ignored_
CREATE TEMP TABLE other AS SELECT pg_temp.status() AS st;

SELECT tests.act_as(NULL);
SELECT is((SELECT count(*) FROM xorj.trades WHERE user_vault_address = tests.addr(901)), 7::bigint,
          'the vault has 7 trades: 1 live, 3 simulated, 3 localnet');
SELECT tests.act_as('xorj_bot', NULL, 'bot:tester');
SELECT is((SELECT st FROM other), (SELECT st FROM before),
          'simulated and localnet trades leave the whole status as it was');
SELECT is((SELECT st -> 'performance' FROM other), (SELECT st -> 'performance' FROM before),
          'performance: the live trade''s only');
SELECT is((SELECT st -> 'circuit_breakers' FROM other), (SELECT st -> 'circuit_breakers' FROM before),
          'circuit breakers: no in-flight trade, no consecutive failure');
SELECT is((SELECT (st ->> 'last_execution')::timestamptz FROM other),
          (SELECT (trade ->> 'created_at')::timestamptz FROM api.list_trades(NULL, tests.addr(901)) trade
           WHERE trade ->> 'client_order_id' = 'live-1'),
          'last_execution is the live trade''s creation, not a newer simulated one''s');

-- Live trades count.
SELECT pg_temp.trade(:'j', 'live-2', 8, 2000, 'live') AS live2 \gset
SELECT api.mark_trade_failed(:'live2', 'failed on chain: InstructionError: slippage', p_failure_basis => 'never_broadcast') \gset ignored_
SELECT pg_temp.trade(:'j', 'live-3', 9, 3000, 'live') AS live3 \gset
CREATE TEMP TABLE after AS SELECT pg_temp.status() AS st;

SELECT is((SELECT st -> 'performance' -> 'total_trades' FROM after), '3'::jsonb, 'a live trade counts');
SELECT is((SELECT st -> 'performance' -> 'failed_trades' FROM after), '1'::jsonb, 'a live failure counts');
SELECT is((SELECT st -> 'performance' -> 'pending_trades' FROM after), '1'::jsonb,
          'a live PENDING trade counts');
SELECT is((SELECT st -> 'performance' -> 'success_rate' FROM after), '50'::jsonb,
          'success_rate over the live trades: 1 of 2');
SELECT is((SELECT st -> 'performance' -> 'total_volume' FROM after), '"1000"'::jsonb,
          'total_volume: the live CONFIRMED trade''s amount only');
SELECT is((SELECT st -> 'circuit_breakers' -> 'consecutive_failures' FROM after), '1'::jsonb,
          'consecutive_failures: the live failure after the live confirmation only');
SELECT is((SELECT (st ->> 'last_execution')::timestamptz FROM after),
          (SELECT (api.get_trade(:'live3') ->> 'created_at')::timestamptz),
          'last_execution moves to the newest live trade');
SELECT tests.act_as(NULL);

SELECT * FROM finish();
ROLLBACK;
