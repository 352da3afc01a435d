-- Row CHECK constraints of 0002 (and 0003's trade_events): each refused row breaks exactly
-- one rule and raises 23514 naming its constraint; the boundary values are accepted.
-- Then the defaults a bare insert gets (user_settings, bot_states).
BEGIN;
SELECT plan(68);

-- Foundation alone: the business-rule triggers are disabled for this transaction
-- (tests/pgtap_helpers.sql says which and why).
SELECT tests.disable_rule_triggers();

-- Parents for the rows below.
INSERT INTO xorj.execution_jobs (id, trigger_reason) VALUES ('00000000-0000-4000-8000-00000000b001', 'SCHEDULED_RUN');
INSERT INTO xorj.scoring_runs (id) VALUES ('00000000-0000-4000-8000-00000000a001');

-- scoring_runs
SELECT throws_ok($$
    INSERT INTO xorj.scoring_runs (status, completed_at) VALUES ('COMPLETED', NULL)
$$, '23514', 'new row for relation "scoring_runs" violates check constraint "scoring_runs_completed_has_time"',
    'a COMPLETED run without completed_at is refused');
SELECT lives_ok($$
    INSERT INTO xorj.scoring_runs (status, completed_at) VALUES ('COMPLETED', clock_timestamp())
$$, 'a COMPLETED run with completed_at is accepted');
SELECT throws_ok($$
    INSERT INTO xorj.scoring_runs (status, started_at, completed_at)
    VALUES ('RUNNING', clock_timestamp(), clock_timestamp())
$$, '23514', 'new row for relation "scoring_runs" violates check constraint "scoring_runs_completed_at_only_when_done"',
    'a RUNNING run with completed_at is refused');
SELECT throws_ok($$
    INSERT INTO xorj.scoring_runs (status, completed_at) VALUES ('FAILED', clock_timestamp())
$$, '23514', 'new row for relation "scoring_runs" violates check constraint "scoring_runs_failed_has_error"',
    'a FAILED run without error_message is refused');
SELECT lives_ok($$
    INSERT INTO xorj.scoring_runs (status, completed_at, error_message)
    VALUES ('FAILED', clock_timestamp(), 'price feed down')
$$, 'a FAILED run with error_message is accepted');

-- trader_scores
SELECT throws_ok($$
    INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score)
    VALUES ('00000000-0000-4000-8000-00000000a001', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', -1)
$$, '23514', 'new row for relation "trader_scores_0000000000004000800000000000a001" violates check constraint "trader_scores_score_non_negative"',
    'a negative xorj_trust_score (-1) is refused');
SELECT throws_ok($$
    INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score)
    VALUES ('00000000-0000-4000-8000-00000000a001', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 'NaN')
$$, '23514', 'new row for relation "trader_scores_0000000000004000800000000000a001" violates check constraint "trader_scores_score_non_negative"',
    'a NaN xorj_trust_score is refused');
SELECT throws_ok($$
    INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score)
    VALUES ('00000000-0000-4000-8000-00000000a001', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 'Infinity')
$$, '23514', 'new row for relation "trader_scores_0000000000004000800000000000a001" violates check constraint "trader_scores_score_non_negative"',
    'an infinite xorj_trust_score is refused');
SELECT lives_ok($$
    INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score)
    VALUES ('00000000-0000-4000-8000-00000000a001', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 0)
$$, 'a xorj_trust_score of 0 is accepted');
SELECT throws_ok($$
    INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score, metrics)
    VALUES ('00000000-0000-4000-8000-00000000a001', 'So11111111111111111111111111111111111111112', 50, '[]')
$$, '23514', 'new row for relation "trader_scores_0000000000004000800000000000a001" violates check constraint "trader_scores_metrics_is_object"',
    'metrics that are a JSON array are refused');
SELECT throws_ok($$
    INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score, metrics)
    VALUES ('00000000-0000-4000-8000-00000000a001', 'So11111111111111111111111111111111111111112', 50, 'null')
$$, '23514', 'new row for relation "trader_scores_0000000000004000800000000000a001" violates check constraint "trader_scores_metrics_is_object"',
    'metrics that are JSON null are refused');
SELECT lives_ok($$
    INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score, metrics)
    VALUES ('00000000-0000-4000-8000-00000000a001', 'So11111111111111111111111111111111111111112', 50, '{"win_rate": 0.6}')
$$, 'metrics that are a JSON object are accepted');

-- execution_jobs
SELECT throws_ok($$
    INSERT INTO xorj.execution_jobs (trigger_reason, parameters)
    VALUES ('MANUAL_TRIGGER', '[]')
$$, '23514', 'new row for relation "execution_jobs" violates check constraint "execution_jobs_parameters_is_object"',
    'job parameters that are a JSON array are refused');
SELECT throws_ok($$
    INSERT INTO xorj.execution_jobs (trigger_reason, worker_id)
    VALUES ('MANUAL_TRIGGER', '')
$$, '23514', 'new row for relation "execution_jobs" violates check constraint "execution_jobs_worker_id_length"',
    'an empty worker_id is refused');
SELECT throws_ok($$
    INSERT INTO xorj.execution_jobs (trigger_reason, worker_id)
    VALUES ('MANUAL_TRIGGER', repeat('w', 201))
$$, '23514', 'new row for relation "execution_jobs" violates check constraint "execution_jobs_worker_id_length"',
    'a 201-character worker_id is refused');
SELECT lives_ok($$
    INSERT INTO xorj.execution_jobs (trigger_reason, status, worker_id, started_at)
    VALUES ('MANUAL_TRIGGER', 'RUNNING', repeat('w', 200), clock_timestamp())
$$, 'a RUNNING job with a 200-character worker_id and started_at is accepted');
SELECT throws_ok($$
    INSERT INTO xorj.execution_jobs (trigger_reason, status, started_at)
    VALUES ('MANUAL_TRIGGER', 'RUNNING', clock_timestamp())
$$, '23514', 'new row for relation "execution_jobs" violates check constraint "execution_jobs_running_has_worker"',
    'a RUNNING job without worker_id is refused');
SELECT throws_ok($$
    INSERT INTO xorj.execution_jobs (trigger_reason, status, worker_id)
    VALUES ('MANUAL_TRIGGER', 'RUNNING', 'worker-1')
$$, '23514', 'new row for relation "execution_jobs" violates check constraint "execution_jobs_running_has_worker"',
    'a RUNNING job without started_at is refused');
SELECT throws_ok($$
    INSERT INTO xorj.execution_jobs (trigger_reason, status)
    VALUES ('MANUAL_TRIGGER', 'COMPLETED')
$$, '23514', 'new row for relation "execution_jobs" violates check constraint "execution_jobs_completed_has_time"',
    'a COMPLETED job without completed_at is refused');
SELECT throws_ok($$
    INSERT INTO xorj.execution_jobs (trigger_reason, status, completed_at)
    VALUES ('MANUAL_TRIGGER', 'PENDING', clock_timestamp())
$$, '23514', 'new row for relation "execution_jobs" violates check constraint "execution_jobs_completed_at_only_when_done"',
    'a PENDING job with completed_at is refused');
SELECT throws_ok($$
    INSERT INTO xorj.execution_jobs (trigger_reason, status, completed_at)
    VALUES ('MANUAL_TRIGGER', 'FAILED', clock_timestamp())
$$, '23514', 'new row for relation "execution_jobs" violates check constraint "execution_jobs_failed_has_error"',
    'a FAILED job without error_message is refused');
SELECT lives_ok($$
    INSERT INTO xorj.execution_jobs (trigger_reason, status, completed_at, error_message)
    VALUES ('MANUAL_TRIGGER', 'FAILED', clock_timestamp(), 'RPC node unreachable')
$$, 'a FAILED job with completed_at and error_message is accepted');

-- trades (each accepted row has its own vault, so 0004's in-flight index stays out of the way)
SELECT throws_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address, to_token_address,
                             amount_in, expected_amount_out)
    VALUES ('00000000-0000-4000-8000-00000000b001', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 'order-1',
            'So11111111111111111111111111111111111111112',
            'So11111111111111111111111111111111111111112', 1000000, 990000)
$$, '23514', 'new row for relation "' || tests.month_partition('trades') || '" violates check constraint "trades_distinct_tokens"',
    'a trade from a token to the same token is refused');
SELECT throws_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address, to_token_address,
                             amount_in, expected_amount_out)
    VALUES ('00000000-0000-4000-8000-00000000b001', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 'order-1',
            'So11111111111111111111111111111111111111112',
            'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 0, 990000)
$$, '23514', 'new row for relation "' || tests.month_partition('trades') || '" violates check constraint "trades_amount_in_positive"',
    'a trade with amount_in 0 is refused');
SELECT throws_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address, to_token_address,
                             amount_in, expected_amount_out)
    VALUES ('00000000-0000-4000-8000-00000000b001', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 'order 1',
            'So11111111111111111111111111111111111111112',
            'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 1000000, 990000)
$$, '23514', 'new row for relation "' || tests.month_partition('trades') || '" violates check constraint "trades_client_order_id_format"',
    'a client_order_id with a space is refused');
SELECT throws_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address, to_token_address,
                             amount_in, expected_amount_out)
    VALUES ('00000000-0000-4000-8000-00000000b001', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', repeat('a', 129),
            'So11111111111111111111111111111111111111112',
            'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 1000000, 990000)
$$, '23514', 'new row for relation "' || tests.month_partition('trades') || '" violates check constraint "trades_client_order_id_format"',
    'a 129-character client_order_id is refused');
SELECT throws_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address, to_token_address,
                             amount_in, expected_amount_out)
    VALUES ('00000000-0000-4000-8000-00000000b001', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', '',
            'So11111111111111111111111111111111111111112',
            'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 1000000, 990000)
$$, '23514', 'new row for relation "' || tests.month_partition('trades') || '" violates check constraint "trades_client_order_id_format"',
    'an empty client_order_id is refused');
SELECT lives_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address, to_token_address,
                             amount_in, expected_amount_out)
    VALUES ('00000000-0000-4000-8000-00000000b001', repeat('2', 32), 'job-42:Vault.A_1' || repeat('x', 112),
            'So11111111111111111111111111111111111111112',
            'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 1000000, 990000)
$$, 'a 128-character client_order_id of letters, digits and . _ : - is accepted');
SELECT throws_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address, to_token_address,
                             amount_in, expected_amount_out, status, submitted_at)
    VALUES ('00000000-0000-4000-8000-00000000b001', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 'order-1',
            'So11111111111111111111111111111111111111112',
            'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 1000000, 990000, 'SUBMITTED', clock_timestamp())
$$, '23514', 'new row for relation "' || tests.month_partition('trades') || '" violates check constraint "trades_submitted_has_signature"',
    'a SUBMITTED trade without transaction_signature is refused');
SELECT throws_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address, to_token_address,
                             amount_in, expected_amount_out, status, transaction_signature)
    VALUES ('00000000-0000-4000-8000-00000000b001', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 'order-1',
            'So11111111111111111111111111111111111111112',
            'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 1000000, 990000, 'SUBMITTED', repeat('5', 88))
$$, '23514', 'new row for relation "' || tests.month_partition('trades') || '" violates check constraint "trades_submitted_has_signature"',
    'a SUBMITTED trade without submitted_at is refused');
SELECT throws_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address, to_token_address,
                             amount_in, expected_amount_out, status, transaction_signature, submitted_at, completed_at)
    VALUES ('00000000-0000-4000-8000-00000000b001', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 'order-1',
            'So11111111111111111111111111111111111111112',
            'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 1000000, 990000, 'CONFIRMED', repeat('5', 88), clock_timestamp(), clock_timestamp())
$$, '23514', 'new row for relation "' || tests.month_partition('trades') || '" violates check constraint "trades_confirmed_has_result"',
    'a CONFIRMED trade without actual_amount_out is refused');
SELECT throws_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address, to_token_address,
                             amount_in, expected_amount_out, status, completed_at)
    VALUES ('00000000-0000-4000-8000-00000000b001', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 'order-1',
            'So11111111111111111111111111111111111111112',
            'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 1000000, 990000, 'FAILED', clock_timestamp())
$$, '23514', 'new row for relation "' || tests.month_partition('trades') || '" violates check constraint "trades_failed_has_error"',
    'a FAILED trade without error_message is refused');
SELECT throws_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address, to_token_address,
                             amount_in, expected_amount_out, status, transaction_signature, submitted_at, actual_amount_out)
    VALUES ('00000000-0000-4000-8000-00000000b001', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 'order-1',
            'So11111111111111111111111111111111111111112',
            'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 1000000, 990000, 'CONFIRMED', repeat('5', 88), clock_timestamp(), 995000)
$$, '23514', 'new row for relation "' || tests.month_partition('trades') || '" violates check constraint "trades_completed_has_time"',
    'a CONFIRMED trade without completed_at is refused');
SELECT throws_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address, to_token_address,
                             amount_in, expected_amount_out, completed_at)
    VALUES ('00000000-0000-4000-8000-00000000b001', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 'order-1',
            'So11111111111111111111111111111111111111112',
            'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 1000000, 990000, clock_timestamp())
$$, '23514', 'new row for relation "' || tests.month_partition('trades') || '" violates check constraint "trades_completed_has_time"',
    'a PENDING trade with completed_at is refused');
SELECT throws_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address, to_token_address,
                             amount_in, expected_amount_out, slippage_realized)
    VALUES ('00000000-0000-4000-8000-00000000b001', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 'order-1',
            'So11111111111111111111111111111111111111112',
            'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 1000000, 990000, 101)
$$, '23514', 'new row for relation "' || tests.month_partition('trades') || '" violates check constraint "trades_slippage_range"',
    'slippage_realized 101 is refused');
SELECT lives_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address, to_token_address,
                             amount_in, expected_amount_out, slippage_realized)
    VALUES ('00000000-0000-4000-8000-00000000b001', repeat('6', 32), 'order-1',
            'So11111111111111111111111111111111111111112',
            'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 1000000, 990000, -250)
$$, 'slippage_realized -250 is accepted: a fill better than twice the quote (no lower bound)');
SELECT throws_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address, to_token_address,
                             amount_in, expected_amount_out, slippage_realized)
    VALUES ('00000000-0000-4000-8000-00000000b001', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 'order-1',
            'So11111111111111111111111111111111111111112',
            'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 1000000, 990000, 'NaN')
$$, '23514', 'new row for relation "' || tests.month_partition('trades') || '" violates check constraint "trades_slippage_range"',
    'slippage_realized NaN is refused');
SELECT lives_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address, to_token_address,
                             amount_in, expected_amount_out, status, transaction_signature, submitted_at, actual_amount_out, slippage_realized, gas_fee, completed_at)
    VALUES ('00000000-0000-4000-8000-00000000b001', repeat('3', 32), 'order-1',
            'So11111111111111111111111111111111111111112',
            'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 1000000, 990000, 'CONFIRMED', repeat('5', 88), clock_timestamp(), 995000, 100, 5000, clock_timestamp())
$$, 'a complete CONFIRMED trade with slippage_realized 100 is accepted');
SELECT lives_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address, to_token_address,
                             amount_in, expected_amount_out, status, transaction_signature, submitted_at, slippage_realized)
    VALUES ('00000000-0000-4000-8000-00000000b001', repeat('4', 32), 'order-1',
            'So11111111111111111111111111111111111111112',
            'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 1000000, 990000, 'SUBMITTED', repeat('6', 88), clock_timestamp(), -100)
$$, 'a SUBMITTED trade with signature, submitted_at and slippage_realized -100 is accepted');
SELECT lives_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address, to_token_address,
                             amount_in, expected_amount_out, status, error_message, completed_at)
    VALUES ('00000000-0000-4000-8000-00000000b001', repeat('5', 32), 'order-1',
            'So11111111111111111111111111111111111111112',
            'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 1000000, 990000, 'FAILED', 'slippage exceeded', clock_timestamp())
$$, 'a FAILED trade with error_message and completed_at is accepted');

-- trade_events (0003)
INSERT INTO xorj.trades (id, job_id, user_vault_address, client_order_id, from_token_address,
                         to_token_address, amount_in, expected_amount_out)
VALUES ('00000000-0000-4000-8000-00000000c001', '00000000-0000-4000-8000-00000000b001', repeat('9', 32), 'order-ev',
        'So11111111111111111111111111111111111111112', 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 1, 1);
SELECT throws_ok($$
    INSERT INTO xorj.trade_events (trade_id, trade_created_at, from_status, to_status, actor)
    VALUES ('00000000-0000-4000-8000-00000000c001', xorj.trade_created_at('00000000-0000-4000-8000-00000000c001'), NULL, 'PENDING', '')
$$, '23514', 'new row for relation "' || tests.month_partition('trade_events') || '" violates check constraint "trade_events_actor_length"',
    'an event with an empty actor is refused');
SELECT throws_ok($$
    INSERT INTO xorj.trade_events (trade_id, trade_created_at, from_status, to_status, actor)
    VALUES ('00000000-0000-4000-8000-00000000c001', xorj.trade_created_at('00000000-0000-4000-8000-00000000c001'), NULL, 'PENDING', repeat('a', 201))
$$, '23514', 'new row for relation "' || tests.month_partition('trade_events') || '" violates check constraint "trade_events_actor_length"',
    'an event with a 201-character actor is refused');
SELECT throws_ok($$
    INSERT INTO xorj.trade_events (trade_id, trade_created_at, from_status, to_status, actor, detail)
    VALUES ('00000000-0000-4000-8000-00000000c001', xorj.trade_created_at('00000000-0000-4000-8000-00000000c001'), NULL, 'PENDING', 'bot', '[]')
$$, '23514', 'new row for relation "' || tests.month_partition('trade_events') || '" violates check constraint "trade_events_detail_is_object"',
    'an event whose detail is a JSON array is refused');
SELECT throws_ok($$
    INSERT INTO xorj.trade_events (trade_id, trade_created_at, from_status, to_status, actor)
    VALUES ('00000000-0000-4000-8000-00000000c001', xorj.trade_created_at('00000000-0000-4000-8000-00000000c001'), 'PENDING', 'PENDING', 'bot')
$$, '23514', 'new row for relation "' || tests.month_partition('trade_events') || '" violates check constraint "trade_events_status_changes"',
    'an event from PENDING to PENDING (no change) is refused');
SELECT lives_ok($$
    INSERT INTO xorj.trade_events (trade_id, trade_created_at, from_status, to_status, actor)
    VALUES ('00000000-0000-4000-8000-00000000c001', xorj.trade_created_at('00000000-0000-4000-8000-00000000c001'), NULL, 'PENDING', repeat('a', 200))
$$, 'a creation event (NULL -> PENDING) with a 200-character actor is accepted');

-- bot_states
SELECT throws_ok($$
    INSERT INTO xorj.bot_states (user_id, configuration) VALUES ('So11111111111111111111111111111111111111112', '[]')
$$, '23514', 'new row for relation "bot_states" violates check constraint "bot_states_configuration_is_object"',
    'a bot configuration that is a JSON array is refused');
INSERT INTO xorj.bot_states (user_id) VALUES ('EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v');
SELECT is((SELECT enabled FROM xorj.bot_states WHERE user_id = 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v'),
          false, 'a new bot is disabled by default (enabled = false)');

-- user_settings: ranges
SELECT throws_ok($$
    INSERT INTO xorj.user_settings (wallet_address, max_drawdown_limit) VALUES ('Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 0)
$$, '23514', 'new row for relation "user_settings" violates check constraint "user_settings_max_drawdown_limit_range"',
    'max_drawdown_limit 0 is refused');
SELECT throws_ok($$
    INSERT INTO xorj.user_settings (wallet_address, max_drawdown_limit) VALUES ('Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 51)
$$, '23514', 'new row for relation "user_settings" violates check constraint "user_settings_max_drawdown_limit_range"',
    'max_drawdown_limit 51 is refused');
SELECT lives_ok($$
    INSERT INTO xorj.user_settings (wallet_address, max_drawdown_limit) VALUES (repeat('A', 32), 1)
$$, 'max_drawdown_limit 1 is accepted');
SELECT lives_ok($$
    INSERT INTO xorj.user_settings (wallet_address, max_drawdown_limit) VALUES (repeat('B', 32), 50)
$$, 'max_drawdown_limit 50 is accepted');
SELECT throws_ok($$
    INSERT INTO xorj.user_settings (wallet_address, position_size_percent) VALUES ('Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 0)
$$, '23514', 'new row for relation "user_settings" violates check constraint "user_settings_position_size_percent_range"',
    'position_size_percent 0 is refused');
SELECT throws_ok($$
    INSERT INTO xorj.user_settings (wallet_address, position_size_percent) VALUES ('Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 26)
$$, '23514', 'new row for relation "user_settings" violates check constraint "user_settings_position_size_percent_range"',
    'position_size_percent 26 is refused');
SELECT lives_ok($$
    INSERT INTO xorj.user_settings (wallet_address, position_size_percent) VALUES (repeat('C', 32), 1)
$$, 'position_size_percent 1 is accepted');
SELECT lives_ok($$
    INSERT INTO xorj.user_settings (wallet_address, position_size_percent) VALUES (repeat('D', 32), 25)
$$, 'position_size_percent 25 is accepted');
SELECT throws_ok($$
    INSERT INTO xorj.user_settings (wallet_address, investment_amount) VALUES ('Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 0)
$$, '23514', 'new row for relation "user_settings" violates check constraint "user_settings_investment_amount_range"',
    'investment_amount 0 is refused');
SELECT throws_ok($$
    INSERT INTO xorj.user_settings (wallet_address, investment_amount) VALUES ('Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 1000000.01)
$$, '23514', 'new row for relation "user_settings" violates check constraint "user_settings_investment_amount_range"',
    'investment_amount 1000000.01 is refused');
SELECT throws_ok($$
    INSERT INTO xorj.user_settings (wallet_address, investment_amount) VALUES ('Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 'NaN')
$$, '23514', 'new row for relation "user_settings" violates check constraint "user_settings_investment_amount_range"',
    'investment_amount NaN is refused');
SELECT lives_ok($$
    INSERT INTO xorj.user_settings (wallet_address, investment_amount) VALUES (repeat('E', 32), 1000000)
$$, 'investment_amount 1000000 is accepted');
SELECT lives_ok($$
    INSERT INTO xorj.user_settings (wallet_address, investment_amount) VALUES (repeat('F', 32), 0.01)
$$, 'investment_amount 0.01 is accepted');
SELECT throws_ok($$
    INSERT INTO xorj.user_settings (wallet_address, version) VALUES ('Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 0)
$$, '23514', 'new row for relation "user_settings" violates check constraint "user_settings_version_positive"',
    'version 0 is refused');

-- user_settings: what a bare insert gets
INSERT INTO xorj.user_settings (wallet_address) VALUES ('So11111111111111111111111111111111111111112');
SELECT is((SELECT risk_profile::text FROM xorj.user_settings WHERE wallet_address = 'So11111111111111111111111111111111111111112'),
          'Balanced', 'risk_profile defaults to Balanced');
SELECT is((SELECT max_drawdown_limit FROM xorj.user_settings WHERE wallet_address = 'So11111111111111111111111111111111111111112'),
          15::numeric, 'max_drawdown_limit defaults to 15');
SELECT is((SELECT position_size_percent FROM xorj.user_settings WHERE wallet_address = 'So11111111111111111111111111111111111111112'),
          5::numeric, 'position_size_percent defaults to 5');
SELECT is((SELECT stop_loss_enabled FROM xorj.user_settings WHERE wallet_address = 'So11111111111111111111111111111111111111112'),
          true, 'stop_loss_enabled defaults to true');
SELECT is((SELECT take_profit_enabled FROM xorj.user_settings WHERE wallet_address = 'So11111111111111111111111111111111111111112'),
          true, 'take_profit_enabled defaults to true');
SELECT is((SELECT investment_amount FROM xorj.user_settings WHERE wallet_address = 'So11111111111111111111111111111111111111112'),
          NULL::numeric, 'investment_amount defaults to NULL (not set)');
SELECT is((SELECT version FROM xorj.user_settings WHERE wallet_address = 'So11111111111111111111111111111111111111112'),
          1::bigint, 'version defaults to 1');

SELECT * FROM finish();
ROLLBACK;
