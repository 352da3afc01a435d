-- api.bot_status: performance, last_execution and circuit breakers are computed from the
-- registered vault's trades (other vaults' trades never count); total_volume is an
-- exact u64 sum as a JSON string.
--
-- Test data is written directly as the owner, only through legal moves of the trade
-- and job guards: jobs and trades are inserted PENDING, then moved PENDING -> RUNNING,
-- PENDING -> SUBMITTED -> CONFIRMED, PENDING -> FAILED, SUBMITTED -> FAILED.
--   wallet 9WzD..., vault DRiP... (V); another vault 4k3D... (V2, nobody's yet)
--   tokens A = So11...112, B = EPjF..., C = Es9v...
BEGIN;
SELECT plan(27);

DO $$ BEGIN PERFORM tests.enable_bot('9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM',
                      'DRiP2Pn2K6fuMLKQmt5rZWyHiUZ6WK3GChEySUpHSS4x'); END $$;

INSERT INTO xorj.execution_jobs (trigger_reason) VALUES ('SCHEDULED_RUN') RETURNING id AS perf_job \gset
CREATE TEMP TABLE perf_job AS SELECT :'perf_job'::uuid AS id;
UPDATE xorj.execution_jobs SET status = 'RUNNING', worker_id = 'w', started_at = clock_timestamp()
 WHERE id = (SELECT id FROM perf_job);

CREATE FUNCTION pg_temp.new_trade(p_vault text, p_coid text, p_from text, p_to text,
                                  p_in numeric, p_out numeric) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address,
                             to_token_address, amount_in, expected_amount_out)
    SELECT id, p_vault, p_coid, p_from, p_to, p_in, p_out FROM perf_job
$$;
CREATE FUNCTION pg_temp.submit(p_coid text, p_sig_char text) RETURNS void
LANGUAGE sql AS $$
    UPDATE xorj.trades SET status = 'SUBMITTED', transaction_signature = repeat(p_sig_char, 88),
                           submitted_at = clock_timestamp()
     WHERE client_order_id = p_coid
$$;
CREATE FUNCTION pg_temp.confirm(p_coid text, p_out numeric) RETURNS void
LANGUAGE sql AS $$
    UPDATE xorj.trades SET status = 'CONFIRMED', actual_amount_out = p_out,
                           completed_at = clock_timestamp()
     WHERE client_order_id = p_coid
$$;
CREATE FUNCTION pg_temp.fail(p_coid text) RETURNS void
LANGUAGE sql AS $$
    UPDATE xorj.trades SET status = 'FAILED', error_message = 'slippage exceeded',
                           failure_basis = CASE status WHEN 'PENDING' THEN 'never_broadcast' END,
                           completed_at = clock_timestamp()
     WHERE client_order_id = p_coid
$$;

-- t0: A->B 300, FAILED (before any confirmation)
DO $$ BEGIN PERFORM pg_temp.new_trade('DRiP2Pn2K6fuMLKQmt5rZWyHiUZ6WK3GChEySUpHSS4x', 'perf-0',
    'So11111111111111111111111111111111111111112', 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 300, 290); END $$;
DO $$ BEGIN PERFORM pg_temp.fail('perf-0'); END $$;
-- t1: A->B 1000, CONFIRMED
DO $$ BEGIN PERFORM pg_temp.new_trade('DRiP2Pn2K6fuMLKQmt5rZWyHiUZ6WK3GChEySUpHSS4x', 'perf-1',
    'So11111111111111111111111111111111111111112', 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 1000, 990); END $$;
DO $$ BEGIN PERFORM pg_temp.submit('perf-1', '5'); END $$;
DO $$ BEGIN PERFORM pg_temp.confirm('perf-1', 990); END $$;
-- t2: A->B 2^64-1, CONFIRMED (the sum passes 2^64: exact only as numeric)
DO $$ BEGIN PERFORM pg_temp.new_trade('DRiP2Pn2K6fuMLKQmt5rZWyHiUZ6WK3GChEySUpHSS4x', 'perf-2',
    'So11111111111111111111111111111111111111112', 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v',
    18446744073709551615, 1); END $$;
DO $$ BEGIN PERFORM pg_temp.submit('perf-2', '4'); END $$;
DO $$ BEGIN PERFORM pg_temp.confirm('perf-2', 1); END $$;
-- t3: B->A 7, stays PENDING
DO $$ BEGIN PERFORM pg_temp.new_trade('DRiP2Pn2K6fuMLKQmt5rZWyHiUZ6WK3GChEySUpHSS4x', 'perf-3',
    'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 'So11111111111111111111111111111111111111112', 7, 6); END $$;
-- t4: A->C 8, stays SUBMITTED (for now)
DO $$ BEGIN PERFORM pg_temp.new_trade('DRiP2Pn2K6fuMLKQmt5rZWyHiUZ6WK3GChEySUpHSS4x', 'perf-4',
    'So11111111111111111111111111111111111111112', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 8, 7); END $$;
DO $$ BEGIN PERFORM pg_temp.submit('perf-4', '3'); END $$;
-- t5: another vault's trade, the newest of all, CONFIRMED: never counted for V
DO $$ BEGIN PERFORM pg_temp.new_trade('4k3Dyjzvzp8eMZWUXbBCjEvwSkkk59S5iCNLY3QrkX6R', 'perf-5',
    'So11111111111111111111111111111111111111112', 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 99999, 1); END $$;
DO $$ BEGIN PERFORM pg_temp.submit('perf-5', '2'); END $$;
DO $$ BEGIN PERFORM pg_temp.confirm('perf-5', 1); END $$;

SELECT is((SELECT count(*) FROM xorj.trades WHERE job_id = (SELECT id FROM perf_job)), 6::bigint,
          'the test data is in place (6 trades)');

SELECT tests.act_as('xorj_api');
CREATE TEMP TABLE s1 AS
    SELECT tests.bot_status('9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM') AS st;
SELECT tests.act_as(NULL);

SELECT is((SELECT st -> 'performance' -> 'total_trades' FROM s1), '5'::jsonb,
          'total_trades counts the vault''s 5 trades, not the other vault''s');
SELECT is((SELECT st -> 'performance' -> 'confirmed_trades' FROM s1), '2'::jsonb, 'confirmed_trades = 2');
SELECT is((SELECT st -> 'performance' -> 'failed_trades' FROM s1), '1'::jsonb, 'failed_trades = 1');
SELECT is((SELECT st -> 'performance' -> 'pending_trades' FROM s1), '2'::jsonb,
          'pending_trades counts PENDING and SUBMITTED = 2');
SELECT is((SELECT st -> 'performance' -> 'success_rate' FROM s1), '66.67'::jsonb,
          'success_rate = 2 / 3 * 100 rounded to 2 places');
SELECT is((SELECT st -> 'performance' -> 'total_volume' FROM s1), '"18446744073709552615"'::jsonb,
          'total_volume is the exact sum of CONFIRMED amount_in (past 2^64), as a string');
SELECT is((SELECT (st -> 'performance' ->> 'last_trade_at')::timestamptz FROM s1),
          (SELECT completed_at FROM xorj.trades WHERE client_order_id = 'perf-2'),
          'last_trade_at is the completion of the latest CONFIRMED trade');
SELECT is((SELECT (st ->> 'last_execution')::timestamptz FROM s1),
          (SELECT created_at FROM xorj.trades WHERE client_order_id = 'perf-4'),
          'last_execution is the creation of the vault''s latest trade');
SELECT isnt((SELECT (st ->> 'last_execution')::timestamptz FROM s1),
            (SELECT max(created_at) FROM xorj.trades WHERE job_id = (SELECT id FROM perf_job)),
            'the other vault''s newer trade is not the last execution');
SELECT is((SELECT st -> 'circuit_breakers' -> 'in_flight_trades' FROM s1), '2'::jsonb,
          'circuit breaker in_flight_trades = 2');
SELECT is((SELECT st -> 'circuit_breakers' -> 'consecutive_failures' FROM s1), '0'::jsonb,
          'a failure before the latest confirmation is not a consecutive failure');
SELECT is((SELECT (st -> 'circuit_breakers' ->> 'last_failure_at')::timestamptz FROM s1),
          (SELECT completed_at FROM xorj.trades WHERE client_order_id = 'perf-0'),
          'last_failure_at is the completion of the latest FAILED trade');
SELECT is((SELECT st -> 'circuit_breakers' -> 'trading_halted' FROM s1), 'false'::jsonb,
          'an enabled bot: trading is not halted');

-- The SUBMITTED trade fails: one consecutive failure, 2 / 4 succeeded.
DO $$ BEGIN PERFORM pg_temp.fail('perf-4'); END $$;
SELECT tests.act_as('xorj_api');
CREATE TEMP TABLE s2 AS
    SELECT tests.bot_status('9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM') AS st;
SELECT tests.act_as(NULL);
SELECT is((SELECT st -> 'performance' -> 'failed_trades' FROM s2), '2'::jsonb, 'failed_trades = 2');
SELECT is((SELECT st -> 'performance' -> 'pending_trades' FROM s2), '1'::jsonb, 'pending_trades = 1');
SELECT is((SELECT st -> 'performance' -> 'success_rate' FROM s2), '50'::jsonb, 'success_rate = 50');
SELECT is((SELECT st -> 'circuit_breakers' -> 'consecutive_failures' FROM s2), '1'::jsonb,
          'a failure after the latest confirmation is a consecutive failure');
SELECT is((SELECT (st -> 'circuit_breakers' ->> 'last_failure_at')::timestamptz FROM s2),
          (SELECT completed_at FROM xorj.trades WHERE client_order_id = 'perf-4'),
          'last_failure_at moved to the new failure');

-- Disabled: trading halted, the figures stay.
DO $$ BEGIN PERFORM tests.disable_bot('9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM'); END $$;
SELECT tests.act_as('xorj_api');
CREATE TEMP TABLE s3 AS
    SELECT tests.bot_status('9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM') AS st;
SELECT tests.act_as(NULL);
SELECT is((SELECT st -> 'circuit_breakers' -> 'trading_halted' FROM s3), 'true'::jsonb,
          'a disabled bot: trading halted');
SELECT is((SELECT st -> 'canTrade' FROM s3), 'false'::jsonb, 'a disabled bot cannot trade');
SELECT is((SELECT st -> 'performance' -> 'total_trades' FROM s3), '5'::jsonb,
          'disabling keeps the vault and its figures');

-- Another vault registered: the figures are that vault's.
DO $$ BEGIN PERFORM tests.enable_bot('9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM',
                      '4k3Dyjzvzp8eMZWUXbBCjEvwSkkk59S5iCNLY3QrkX6R'); END $$;
SELECT tests.act_as('xorj_api');
CREATE TEMP TABLE s4 AS
    SELECT tests.bot_status('9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM') AS st;
SELECT tests.act_as(NULL);
SELECT is((SELECT st -> 'performance' -> 'total_trades' FROM s4), '1'::jsonb,
          'after registering another vault, only its trades count');
SELECT is((SELECT st -> 'performance' -> 'total_volume' FROM s4), '"99999"'::jsonb,
          'and its volume');
SELECT is((SELECT st -> 'performance' -> 'success_rate' FROM s4), '100'::jsonb,
          'and its success rate');
SELECT is((SELECT st -> 'circuit_breakers' -> 'last_failure_at' FROM s4), 'null'::jsonb,
          'a vault without failures has no last_failure_at');

-- A registered vault without trades: zero figures.
DO $$ BEGIN PERFORM tests.enable_bot('So11111111111111111111111111111111111111112',
                      '11111111111111111111111111111111'); END $$;
SELECT tests.act_as('xorj_api');
SELECT is(tests.bot_status('So11111111111111111111111111111111111111112') -> 'performance',
          '{"total_trades": 0, "confirmed_trades": 0, "failed_trades": 0, "pending_trades": 0,
            "success_rate": 0, "total_volume": "0", "last_trade_at": null}'::jsonb,
          'a vault without trades has zero performance');
SELECT tests.act_as(NULL);

SELECT * FROM finish();
ROLLBACK;
