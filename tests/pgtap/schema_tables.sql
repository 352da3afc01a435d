-- The tables of 0002/0003 (issue Foundation): schemas, the tables and their exact columns, each
-- column's type and nullability, and the defaults the database fills in.
BEGIN;
SELECT plan(224);
SELECT has_schema('xorj', 'schema xorj (private: tables) exists');
SELECT has_schema('api', 'schema api (callable surface) exists');
SELECT has_table('xorj', 'scoring_runs', 'table xorj.scoring_runs exists');
SELECT has_table('xorj', 'trader_scores', 'table xorj.trader_scores exists');
SELECT has_table('xorj', 'execution_jobs', 'table xorj.execution_jobs exists');
SELECT has_table('xorj', 'trades', 'table xorj.trades exists');
SELECT has_table('xorj', 'bot_states', 'table xorj.bot_states exists');
SELECT has_table('xorj', 'user_settings', 'table xorj.user_settings exists');
SELECT has_table('xorj', 'trade_events', 'table xorj.trade_events exists');
SELECT tables_are('api', ARRAY[]::name[], 'schema api holds no tables (functions and views only)');

-- Columns of every table, exactly.
SELECT columns_are('xorj', 'scoring_runs', ARRAY[
    'id', 'status', 'started_at', 'completed_at', 'error_message', 'created_at',
    'updated_at', 'scores_pruned_at'
], 'xorj.scoring_runs has exactly its columns (scores_pruned_at: 0008)');
SELECT columns_are('xorj', 'trader_scores', ARRAY[
    'id', 'run_id', 'wallet_address', 'xorj_trust_score', 'metrics', 'created_at',
    'updated_at'
], 'xorj.trader_scores has exactly its columns');
SELECT columns_are('xorj', 'execution_jobs', ARRAY[
    'id', 'status', 'trigger_reason', 'parameters', 'worker_id', 'started_at',
    'heartbeat_at', 'completed_at', 'error_message', 'created_at', 'updated_at'
], 'xorj.execution_jobs has exactly its columns');
SELECT columns_are('xorj', 'trades', ARRAY[
    'id', 'job_id', 'user_vault_address', 'client_order_id', 'status',
    'from_token_address', 'to_token_address', 'amount_in', 'expected_amount_out',
    'actual_amount_out', 'transaction_signature', 'slippage_realized', 'gas_fee',
    'error_message', 'submitted_at', 'completed_at', 'created_at', 'updated_at',
    'last_valid_block_height', 'venue', 'records_signature_first', 'search_until_height',
    'failure_basis'
], 'xorj.trades has exactly its columns (0005 adds the submission columns, 0007 the venue; 0010 moves the claim columns to trade_claims; 0013 the search of send-first trades)');
SELECT columns_are('xorj', 'bot_states', ARRAY[
    'id', 'user_id', 'enabled', 'vault_address', 'configuration', 'last_updated',
    'created_at', 'updated_at'
], 'xorj.bot_states has exactly its columns');
SELECT columns_are('xorj', 'user_settings', ARRAY[
    'id', 'wallet_address', 'risk_profile', 'max_drawdown_limit',
    'position_size_percent', 'stop_loss_enabled', 'take_profit_enabled',
    'investment_amount', 'version', 'created_at', 'updated_at'
], 'xorj.user_settings has exactly its columns');
SELECT columns_are('xorj', 'trade_events', ARRAY[
    'id', 'trade_id', 'from_status', 'to_status', 'at', 'actor', 'detail', 'trade_created_at'
], 'xorj.trade_events has exactly its columns (0011 adds its trade''s created_at: its month)');
SELECT has_table('xorj', 'trade_keys', 'table xorj.trade_keys exists (0011)');
SELECT columns_are('xorj', 'trade_keys', ARRAY[
    'id', 'created_at', 'user_vault_address', 'client_order_id', 'from_token_address',
    'to_token_address', 'venue', 'transaction_signature', 'unfinished'
], 'xorj.trade_keys has exactly its columns');
SELECT has_table('xorj', 'trade_archives', 'table xorj.trade_archives exists (0011)');
SELECT columns_are('xorj', 'trade_archives', ARRAY[
    'month', 'trades', 'trades_sum', 'events', 'events_sum', 'archived_at', 'archived_by'
], 'xorj.trade_archives has exactly its columns');

-- xorj.scoring_runs: types and nullability.
SELECT col_type_is('xorj', 'scoring_runs', 'id', 'uuid', 'xorj.scoring_runs.id is uuid');
SELECT col_type_is('xorj', 'scoring_runs', 'status', 'xorj', 'run_status', 'xorj.scoring_runs.status is xorj.run_status');
SELECT col_type_is('xorj', 'scoring_runs', 'started_at', 'timestamp with time zone', 'xorj.scoring_runs.started_at is timestamp with time zone');
SELECT col_type_is('xorj', 'scoring_runs', 'completed_at', 'timestamp with time zone', 'xorj.scoring_runs.completed_at is timestamp with time zone');
SELECT col_type_is('xorj', 'scoring_runs', 'error_message', 'text', 'xorj.scoring_runs.error_message is text');
SELECT col_type_is('xorj', 'scoring_runs', 'created_at', 'timestamp with time zone', 'xorj.scoring_runs.created_at is timestamp with time zone');
SELECT col_type_is('xorj', 'scoring_runs', 'updated_at', 'timestamp with time zone', 'xorj.scoring_runs.updated_at is timestamp with time zone');
SELECT col_not_null('xorj', 'scoring_runs', 'id', 'xorj.scoring_runs.id is NOT NULL');
SELECT col_not_null('xorj', 'scoring_runs', 'status', 'xorj.scoring_runs.status is NOT NULL');
SELECT col_is_null('xorj', 'scoring_runs', 'started_at', 'xorj.scoring_runs.started_at is nullable');
SELECT col_is_null('xorj', 'scoring_runs', 'completed_at', 'xorj.scoring_runs.completed_at is nullable');
SELECT col_is_null('xorj', 'scoring_runs', 'error_message', 'xorj.scoring_runs.error_message is nullable');
SELECT col_not_null('xorj', 'scoring_runs', 'created_at', 'xorj.scoring_runs.created_at is NOT NULL');
SELECT col_not_null('xorj', 'scoring_runs', 'updated_at', 'xorj.scoring_runs.updated_at is NOT NULL');

-- xorj.trader_scores: types and nullability.
SELECT col_type_is('xorj', 'trader_scores', 'id', 'uuid', 'xorj.trader_scores.id is uuid');
SELECT col_type_is('xorj', 'trader_scores', 'run_id', 'uuid', 'xorj.trader_scores.run_id is uuid');
SELECT col_type_is('xorj', 'trader_scores', 'wallet_address', 'xorj', 'solana_address', 'xorj.trader_scores.wallet_address is xorj.solana_address');
SELECT col_type_is('xorj', 'trader_scores', 'xorj_trust_score', 'numeric', 'xorj.trader_scores.xorj_trust_score is numeric');
SELECT col_type_is('xorj', 'trader_scores', 'metrics', 'jsonb', 'xorj.trader_scores.metrics is jsonb');
SELECT col_type_is('xorj', 'trader_scores', 'created_at', 'timestamp with time zone', 'xorj.trader_scores.created_at is timestamp with time zone');
SELECT col_type_is('xorj', 'trader_scores', 'updated_at', 'timestamp with time zone', 'xorj.trader_scores.updated_at is timestamp with time zone');
SELECT col_not_null('xorj', 'trader_scores', 'id', 'xorj.trader_scores.id is NOT NULL');
SELECT col_not_null('xorj', 'trader_scores', 'run_id', 'xorj.trader_scores.run_id is NOT NULL');
SELECT col_not_null('xorj', 'trader_scores', 'wallet_address', 'xorj.trader_scores.wallet_address is NOT NULL');
SELECT col_not_null('xorj', 'trader_scores', 'xorj_trust_score', 'xorj.trader_scores.xorj_trust_score is NOT NULL');
SELECT col_not_null('xorj', 'trader_scores', 'metrics', 'xorj.trader_scores.metrics is NOT NULL');
SELECT col_not_null('xorj', 'trader_scores', 'created_at', 'xorj.trader_scores.created_at is NOT NULL');
SELECT col_not_null('xorj', 'trader_scores', 'updated_at', 'xorj.trader_scores.updated_at is NOT NULL');

-- xorj.execution_jobs: types and nullability.
SELECT col_type_is('xorj', 'execution_jobs', 'id', 'uuid', 'xorj.execution_jobs.id is uuid');
SELECT col_type_is('xorj', 'execution_jobs', 'status', 'xorj', 'job_status', 'xorj.execution_jobs.status is xorj.job_status');
SELECT col_type_is('xorj', 'execution_jobs', 'trigger_reason', 'xorj', 'trigger_reason', 'xorj.execution_jobs.trigger_reason is xorj.trigger_reason');
SELECT col_type_is('xorj', 'execution_jobs', 'parameters', 'jsonb', 'xorj.execution_jobs.parameters is jsonb');
SELECT col_type_is('xorj', 'execution_jobs', 'worker_id', 'text', 'xorj.execution_jobs.worker_id is text');
SELECT col_type_is('xorj', 'execution_jobs', 'started_at', 'timestamp with time zone', 'xorj.execution_jobs.started_at is timestamp with time zone');
SELECT col_type_is('xorj', 'execution_jobs', 'heartbeat_at', 'timestamp with time zone', 'xorj.execution_jobs.heartbeat_at is timestamp with time zone');
SELECT col_type_is('xorj', 'execution_jobs', 'completed_at', 'timestamp with time zone', 'xorj.execution_jobs.completed_at is timestamp with time zone');
SELECT col_type_is('xorj', 'execution_jobs', 'error_message', 'text', 'xorj.execution_jobs.error_message is text');
SELECT col_type_is('xorj', 'execution_jobs', 'created_at', 'timestamp with time zone', 'xorj.execution_jobs.created_at is timestamp with time zone');
SELECT col_type_is('xorj', 'execution_jobs', 'updated_at', 'timestamp with time zone', 'xorj.execution_jobs.updated_at is timestamp with time zone');
SELECT col_not_null('xorj', 'execution_jobs', 'id', 'xorj.execution_jobs.id is NOT NULL');
SELECT col_not_null('xorj', 'execution_jobs', 'status', 'xorj.execution_jobs.status is NOT NULL');
SELECT col_not_null('xorj', 'execution_jobs', 'trigger_reason', 'xorj.execution_jobs.trigger_reason is NOT NULL');
SELECT col_not_null('xorj', 'execution_jobs', 'parameters', 'xorj.execution_jobs.parameters is NOT NULL');
SELECT col_is_null('xorj', 'execution_jobs', 'worker_id', 'xorj.execution_jobs.worker_id is nullable');
SELECT col_is_null('xorj', 'execution_jobs', 'started_at', 'xorj.execution_jobs.started_at is nullable');
SELECT col_is_null('xorj', 'execution_jobs', 'heartbeat_at', 'xorj.execution_jobs.heartbeat_at is nullable');
SELECT col_is_null('xorj', 'execution_jobs', 'completed_at', 'xorj.execution_jobs.completed_at is nullable');
SELECT col_is_null('xorj', 'execution_jobs', 'error_message', 'xorj.execution_jobs.error_message is nullable');
SELECT col_not_null('xorj', 'execution_jobs', 'created_at', 'xorj.execution_jobs.created_at is NOT NULL');
SELECT col_not_null('xorj', 'execution_jobs', 'updated_at', 'xorj.execution_jobs.updated_at is NOT NULL');

-- xorj.trades: types and nullability.
SELECT col_type_is('xorj', 'trades', 'id', 'uuid', 'xorj.trades.id is uuid');
SELECT col_type_is('xorj', 'trades', 'job_id', 'uuid', 'xorj.trades.job_id is uuid');
SELECT col_type_is('xorj', 'trades', 'user_vault_address', 'xorj', 'solana_address', 'xorj.trades.user_vault_address is xorj.solana_address');
SELECT col_type_is('xorj', 'trades', 'client_order_id', 'text', 'xorj.trades.client_order_id is text');
SELECT col_type_is('xorj', 'trades', 'status', 'xorj', 'trade_status', 'xorj.trades.status is xorj.trade_status');
SELECT col_type_is('xorj', 'trades', 'from_token_address', 'xorj', 'solana_address', 'xorj.trades.from_token_address is xorj.solana_address');
SELECT col_type_is('xorj', 'trades', 'to_token_address', 'xorj', 'solana_address', 'xorj.trades.to_token_address is xorj.solana_address');
SELECT col_type_is('xorj', 'trades', 'amount_in', 'xorj', 'u64', 'xorj.trades.amount_in is xorj.u64');
SELECT col_type_is('xorj', 'trades', 'expected_amount_out', 'xorj', 'u64', 'xorj.trades.expected_amount_out is xorj.u64');
SELECT col_type_is('xorj', 'trades', 'actual_amount_out', 'xorj', 'u64', 'xorj.trades.actual_amount_out is xorj.u64');
SELECT col_type_is('xorj', 'trades', 'transaction_signature', 'xorj', 'solana_signature', 'xorj.trades.transaction_signature is xorj.solana_signature');
SELECT col_type_is('xorj', 'trades', 'slippage_realized', 'numeric', 'xorj.trades.slippage_realized is numeric');
SELECT col_type_is('xorj', 'trades', 'gas_fee', 'xorj', 'u64', 'xorj.trades.gas_fee is xorj.u64');
SELECT col_type_is('xorj', 'trades', 'error_message', 'text', 'xorj.trades.error_message is text');
SELECT col_type_is('xorj', 'trades', 'submitted_at', 'timestamp with time zone', 'xorj.trades.submitted_at is timestamp with time zone');
SELECT col_type_is('xorj', 'trades', 'completed_at', 'timestamp with time zone', 'xorj.trades.completed_at is timestamp with time zone');
SELECT col_type_is('xorj', 'trades', 'created_at', 'timestamp with time zone', 'xorj.trades.created_at is timestamp with time zone');
SELECT col_type_is('xorj', 'trades', 'updated_at', 'timestamp with time zone', 'xorj.trades.updated_at is timestamp with time zone');
SELECT col_not_null('xorj', 'trades', 'id', 'xorj.trades.id is NOT NULL');
SELECT col_not_null('xorj', 'trades', 'job_id', 'xorj.trades.job_id is NOT NULL');
SELECT col_not_null('xorj', 'trades', 'user_vault_address', 'xorj.trades.user_vault_address is NOT NULL');
SELECT col_not_null('xorj', 'trades', 'client_order_id', 'xorj.trades.client_order_id is NOT NULL');
SELECT col_not_null('xorj', 'trades', 'status', 'xorj.trades.status is NOT NULL');
SELECT col_not_null('xorj', 'trades', 'from_token_address', 'xorj.trades.from_token_address is NOT NULL');
SELECT col_not_null('xorj', 'trades', 'to_token_address', 'xorj.trades.to_token_address is NOT NULL');
SELECT col_not_null('xorj', 'trades', 'amount_in', 'xorj.trades.amount_in is NOT NULL');
SELECT col_not_null('xorj', 'trades', 'expected_amount_out', 'xorj.trades.expected_amount_out is NOT NULL');
SELECT col_is_null('xorj', 'trades', 'actual_amount_out', 'xorj.trades.actual_amount_out is nullable');
SELECT col_is_null('xorj', 'trades', 'transaction_signature', 'xorj.trades.transaction_signature is nullable');
SELECT col_is_null('xorj', 'trades', 'slippage_realized', 'xorj.trades.slippage_realized is nullable');
SELECT col_is_null('xorj', 'trades', 'gas_fee', 'xorj.trades.gas_fee is nullable');
SELECT col_is_null('xorj', 'trades', 'error_message', 'xorj.trades.error_message is nullable');
SELECT col_is_null('xorj', 'trades', 'submitted_at', 'xorj.trades.submitted_at is nullable');
SELECT col_is_null('xorj', 'trades', 'completed_at', 'xorj.trades.completed_at is nullable');
SELECT col_not_null('xorj', 'trades', 'created_at', 'xorj.trades.created_at is NOT NULL');
SELECT col_not_null('xorj', 'trades', 'updated_at', 'xorj.trades.updated_at is NOT NULL');

-- xorj.bot_states: types and nullability.
SELECT col_type_is('xorj', 'bot_states', 'id', 'uuid', 'xorj.bot_states.id is uuid');
SELECT col_type_is('xorj', 'bot_states', 'user_id', 'xorj', 'solana_address', 'xorj.bot_states.user_id is xorj.solana_address');
SELECT col_type_is('xorj', 'bot_states', 'enabled', 'boolean', 'xorj.bot_states.enabled is boolean');
SELECT col_type_is('xorj', 'bot_states', 'vault_address', 'xorj', 'solana_address', 'xorj.bot_states.vault_address is xorj.solana_address');
SELECT col_type_is('xorj', 'bot_states', 'configuration', 'jsonb', 'xorj.bot_states.configuration is jsonb');
SELECT col_type_is('xorj', 'bot_states', 'last_updated', 'timestamp with time zone', 'xorj.bot_states.last_updated is timestamp with time zone');
SELECT col_type_is('xorj', 'bot_states', 'created_at', 'timestamp with time zone', 'xorj.bot_states.created_at is timestamp with time zone');
SELECT col_type_is('xorj', 'bot_states', 'updated_at', 'timestamp with time zone', 'xorj.bot_states.updated_at is timestamp with time zone');
SELECT col_not_null('xorj', 'bot_states', 'id', 'xorj.bot_states.id is NOT NULL');
SELECT col_not_null('xorj', 'bot_states', 'user_id', 'xorj.bot_states.user_id is NOT NULL');
SELECT col_not_null('xorj', 'bot_states', 'enabled', 'xorj.bot_states.enabled is NOT NULL');
SELECT col_is_null('xorj', 'bot_states', 'vault_address', 'xorj.bot_states.vault_address is nullable');
SELECT col_not_null('xorj', 'bot_states', 'configuration', 'xorj.bot_states.configuration is NOT NULL');
SELECT col_not_null('xorj', 'bot_states', 'last_updated', 'xorj.bot_states.last_updated is NOT NULL');
SELECT col_not_null('xorj', 'bot_states', 'created_at', 'xorj.bot_states.created_at is NOT NULL');
SELECT col_not_null('xorj', 'bot_states', 'updated_at', 'xorj.bot_states.updated_at is NOT NULL');

-- xorj.user_settings: types and nullability.
SELECT col_type_is('xorj', 'user_settings', 'id', 'uuid', 'xorj.user_settings.id is uuid');
SELECT col_type_is('xorj', 'user_settings', 'wallet_address', 'xorj', 'solana_address', 'xorj.user_settings.wallet_address is xorj.solana_address');
SELECT col_type_is('xorj', 'user_settings', 'risk_profile', 'xorj', 'risk_profile', 'xorj.user_settings.risk_profile is xorj.risk_profile');
SELECT col_type_is('xorj', 'user_settings', 'max_drawdown_limit', 'numeric', 'xorj.user_settings.max_drawdown_limit is numeric');
SELECT col_type_is('xorj', 'user_settings', 'position_size_percent', 'numeric', 'xorj.user_settings.position_size_percent is numeric');
SELECT col_type_is('xorj', 'user_settings', 'stop_loss_enabled', 'boolean', 'xorj.user_settings.stop_loss_enabled is boolean');
SELECT col_type_is('xorj', 'user_settings', 'take_profit_enabled', 'boolean', 'xorj.user_settings.take_profit_enabled is boolean');
SELECT col_type_is('xorj', 'user_settings', 'investment_amount', 'numeric', 'xorj.user_settings.investment_amount is numeric');
SELECT col_type_is('xorj', 'user_settings', 'version', 'bigint', 'xorj.user_settings.version is bigint');
SELECT col_type_is('xorj', 'user_settings', 'created_at', 'timestamp with time zone', 'xorj.user_settings.created_at is timestamp with time zone');
SELECT col_type_is('xorj', 'user_settings', 'updated_at', 'timestamp with time zone', 'xorj.user_settings.updated_at is timestamp with time zone');
SELECT col_not_null('xorj', 'user_settings', 'id', 'xorj.user_settings.id is NOT NULL');
SELECT col_not_null('xorj', 'user_settings', 'wallet_address', 'xorj.user_settings.wallet_address is NOT NULL');
SELECT col_not_null('xorj', 'user_settings', 'risk_profile', 'xorj.user_settings.risk_profile is NOT NULL');
SELECT col_not_null('xorj', 'user_settings', 'max_drawdown_limit', 'xorj.user_settings.max_drawdown_limit is NOT NULL');
SELECT col_not_null('xorj', 'user_settings', 'position_size_percent', 'xorj.user_settings.position_size_percent is NOT NULL');
SELECT col_not_null('xorj', 'user_settings', 'stop_loss_enabled', 'xorj.user_settings.stop_loss_enabled is NOT NULL');
SELECT col_not_null('xorj', 'user_settings', 'take_profit_enabled', 'xorj.user_settings.take_profit_enabled is NOT NULL');
SELECT col_is_null('xorj', 'user_settings', 'investment_amount', 'xorj.user_settings.investment_amount is nullable');
SELECT col_not_null('xorj', 'user_settings', 'version', 'xorj.user_settings.version is NOT NULL');
SELECT col_not_null('xorj', 'user_settings', 'created_at', 'xorj.user_settings.created_at is NOT NULL');
SELECT col_not_null('xorj', 'user_settings', 'updated_at', 'xorj.user_settings.updated_at is NOT NULL');

-- xorj.trade_events: types and nullability.
SELECT col_type_is('xorj', 'trade_events', 'id', 'bigint', 'xorj.trade_events.id is bigint');
SELECT col_type_is('xorj', 'trade_events', 'trade_id', 'uuid', 'xorj.trade_events.trade_id is uuid');
SELECT col_type_is('xorj', 'trade_events', 'from_status', 'xorj', 'trade_status', 'xorj.trade_events.from_status is xorj.trade_status');
SELECT col_type_is('xorj', 'trade_events', 'to_status', 'xorj', 'trade_status', 'xorj.trade_events.to_status is xorj.trade_status');
SELECT col_type_is('xorj', 'trade_events', 'at', 'timestamp with time zone', 'xorj.trade_events.at is timestamp with time zone');
SELECT col_type_is('xorj', 'trade_events', 'actor', 'text', 'xorj.trade_events.actor is text');
SELECT col_type_is('xorj', 'trade_events', 'detail', 'jsonb', 'xorj.trade_events.detail is jsonb');
SELECT col_not_null('xorj', 'trade_events', 'id', 'xorj.trade_events.id is NOT NULL');
SELECT col_not_null('xorj', 'trade_events', 'trade_id', 'xorj.trade_events.trade_id is NOT NULL');
SELECT col_is_null('xorj', 'trade_events', 'from_status', 'xorj.trade_events.from_status is nullable');
SELECT col_not_null('xorj', 'trade_events', 'to_status', 'xorj.trade_events.to_status is NOT NULL');
SELECT col_not_null('xorj', 'trade_events', 'at', 'xorj.trade_events.at is NOT NULL');
SELECT col_not_null('xorj', 'trade_events', 'actor', 'xorj.trade_events.actor is NOT NULL');
SELECT col_not_null('xorj', 'trade_events', 'detail', 'xorj.trade_events.detail is NOT NULL');
SELECT col_type_is('xorj', 'trade_events', 'trade_created_at', 'timestamp with time zone',
    'xorj.trade_events.trade_created_at is timestamp with time zone');
SELECT col_not_null('xorj', 'trade_events', 'trade_created_at', 'xorj.trade_events.trade_created_at is NOT NULL');

-- Defaults: ids, timestamps and statuses come from the database.
SELECT col_has_default('xorj', 'scoring_runs', 'id', 'xorj.scoring_runs.id has a default');
SELECT col_default_is('xorj', 'scoring_runs', 'id', 'gen_random_uuid()'::text, 'xorj.scoring_runs.id defaults to gen_random_uuid()');
SELECT col_has_default('xorj', 'scoring_runs', 'status', 'xorj.scoring_runs.status has a default');
SELECT col_default_is('xorj', 'scoring_runs', 'status', 'PENDING'::text, 'xorj.scoring_runs.status defaults to PENDING');
SELECT col_has_default('xorj', 'scoring_runs', 'created_at', 'xorj.scoring_runs.created_at has a default');
SELECT col_default_is('xorj', 'scoring_runs', 'created_at', 'clock_timestamp()'::text, 'xorj.scoring_runs.created_at defaults to clock_timestamp()');
SELECT col_has_default('xorj', 'scoring_runs', 'updated_at', 'xorj.scoring_runs.updated_at has a default');
SELECT col_default_is('xorj', 'scoring_runs', 'updated_at', 'clock_timestamp()'::text, 'xorj.scoring_runs.updated_at defaults to clock_timestamp()');
SELECT col_has_default('xorj', 'trader_scores', 'id', 'xorj.trader_scores.id has a default');
SELECT col_default_is('xorj', 'trader_scores', 'id', 'gen_random_uuid()'::text, 'xorj.trader_scores.id defaults to gen_random_uuid()');
SELECT col_default_is('xorj', 'trader_scores', 'metrics', '{}'::text, 'xorj.trader_scores.metrics defaults to {}');
SELECT col_has_default('xorj', 'trader_scores', 'created_at', 'xorj.trader_scores.created_at has a default');
SELECT col_default_is('xorj', 'trader_scores', 'created_at', 'clock_timestamp()'::text, 'xorj.trader_scores.created_at defaults to clock_timestamp()');
SELECT col_has_default('xorj', 'trader_scores', 'updated_at', 'xorj.trader_scores.updated_at has a default');
SELECT col_default_is('xorj', 'trader_scores', 'updated_at', 'clock_timestamp()'::text, 'xorj.trader_scores.updated_at defaults to clock_timestamp()');
SELECT col_has_default('xorj', 'execution_jobs', 'id', 'xorj.execution_jobs.id has a default');
SELECT col_default_is('xorj', 'execution_jobs', 'id', 'gen_random_uuid()'::text, 'xorj.execution_jobs.id defaults to gen_random_uuid()');
SELECT col_has_default('xorj', 'execution_jobs', 'status', 'xorj.execution_jobs.status has a default');
SELECT col_default_is('xorj', 'execution_jobs', 'status', 'PENDING'::text, 'xorj.execution_jobs.status defaults to PENDING');
SELECT col_default_is('xorj', 'execution_jobs', 'parameters', '{}'::text, 'xorj.execution_jobs.parameters defaults to {}');
SELECT col_has_default('xorj', 'execution_jobs', 'created_at', 'xorj.execution_jobs.created_at has a default');
SELECT col_default_is('xorj', 'execution_jobs', 'created_at', 'clock_timestamp()'::text, 'xorj.execution_jobs.created_at defaults to clock_timestamp()');
SELECT col_has_default('xorj', 'execution_jobs', 'updated_at', 'xorj.execution_jobs.updated_at has a default');
SELECT col_default_is('xorj', 'execution_jobs', 'updated_at', 'clock_timestamp()'::text, 'xorj.execution_jobs.updated_at defaults to clock_timestamp()');
SELECT col_has_default('xorj', 'trades', 'id', 'xorj.trades.id has a default');
SELECT col_default_is('xorj', 'trades', 'id', 'gen_random_uuid()'::text, 'xorj.trades.id defaults to gen_random_uuid()');
SELECT col_has_default('xorj', 'trades', 'status', 'xorj.trades.status has a default');
SELECT col_default_is('xorj', 'trades', 'status', 'PENDING'::text, 'xorj.trades.status defaults to PENDING');
SELECT col_has_default('xorj', 'trades', 'created_at', 'xorj.trades.created_at has a default');
SELECT col_default_is('xorj', 'trades', 'created_at', 'clock_timestamp()'::text, 'xorj.trades.created_at defaults to clock_timestamp()');
SELECT col_has_default('xorj', 'trades', 'updated_at', 'xorj.trades.updated_at has a default');
SELECT col_default_is('xorj', 'trades', 'updated_at', 'clock_timestamp()'::text, 'xorj.trades.updated_at defaults to clock_timestamp()');
SELECT col_has_default('xorj', 'bot_states', 'id', 'xorj.bot_states.id has a default');
SELECT col_default_is('xorj', 'bot_states', 'id', 'gen_random_uuid()'::text, 'xorj.bot_states.id defaults to gen_random_uuid()');
SELECT col_default_is('xorj', 'bot_states', 'enabled', 'false'::text, 'xorj.bot_states.enabled defaults to false');
SELECT col_default_is('xorj', 'bot_states', 'configuration', '{}'::text, 'xorj.bot_states.configuration defaults to {}');
SELECT col_default_is('xorj', 'bot_states', 'last_updated', 'clock_timestamp()'::text, 'xorj.bot_states.last_updated defaults to clock_timestamp()');
SELECT col_has_default('xorj', 'bot_states', 'created_at', 'xorj.bot_states.created_at has a default');
SELECT col_default_is('xorj', 'bot_states', 'created_at', 'clock_timestamp()'::text, 'xorj.bot_states.created_at defaults to clock_timestamp()');
SELECT col_has_default('xorj', 'bot_states', 'updated_at', 'xorj.bot_states.updated_at has a default');
SELECT col_default_is('xorj', 'bot_states', 'updated_at', 'clock_timestamp()'::text, 'xorj.bot_states.updated_at defaults to clock_timestamp()');
SELECT col_has_default('xorj', 'user_settings', 'id', 'xorj.user_settings.id has a default');
SELECT col_default_is('xorj', 'user_settings', 'id', 'gen_random_uuid()'::text, 'xorj.user_settings.id defaults to gen_random_uuid()');
SELECT col_default_is('xorj', 'user_settings', 'risk_profile', 'Balanced'::text, 'xorj.user_settings.risk_profile defaults to Balanced');
SELECT col_default_is('xorj', 'user_settings', 'max_drawdown_limit', '15'::text, 'xorj.user_settings.max_drawdown_limit defaults to 15');
SELECT col_default_is('xorj', 'user_settings', 'position_size_percent', '5'::text, 'xorj.user_settings.position_size_percent defaults to 5');
SELECT col_default_is('xorj', 'user_settings', 'stop_loss_enabled', 'true'::text, 'xorj.user_settings.stop_loss_enabled defaults to true');
SELECT col_default_is('xorj', 'user_settings', 'take_profit_enabled', 'true'::text, 'xorj.user_settings.take_profit_enabled defaults to true');
SELECT col_default_is('xorj', 'user_settings', 'version', '1'::text, 'xorj.user_settings.version defaults to 1');
SELECT col_has_default('xorj', 'user_settings', 'created_at', 'xorj.user_settings.created_at has a default');
SELECT col_default_is('xorj', 'user_settings', 'created_at', 'clock_timestamp()'::text, 'xorj.user_settings.created_at defaults to clock_timestamp()');
SELECT col_has_default('xorj', 'user_settings', 'updated_at', 'xorj.user_settings.updated_at has a default');
SELECT col_default_is('xorj', 'user_settings', 'updated_at', 'clock_timestamp()'::text, 'xorj.user_settings.updated_at defaults to clock_timestamp()');
SELECT col_default_is('xorj', 'trade_events', 'at', 'clock_timestamp()'::text, 'xorj.trade_events.at defaults to clock_timestamp()');
SELECT col_default_is('xorj', 'trade_events', 'detail', '{}'::text, 'xorj.trade_events.detail defaults to {}');
SELECT col_hasnt_default('xorj', 'execution_jobs', 'trigger_reason', 'xorj.execution_jobs.trigger_reason has no default: the caller must say it');
SELECT col_hasnt_default('xorj', 'trades', 'client_order_id', 'xorj.trades.client_order_id has no default: the caller must say it');
SELECT col_hasnt_default('xorj', 'trades', 'job_id', 'xorj.trades.job_id has no default: the caller must say it');
SELECT col_hasnt_default('xorj', 'trader_scores', 'run_id', 'xorj.trader_scores.run_id has no default: the caller must say it');
SELECT col_hasnt_default('xorj', 'trade_events', 'trade_id', 'xorj.trade_events.trade_id has no default: the caller must say it');
SELECT col_hasnt_default('xorj', 'trade_events', 'actor', 'xorj.trade_events.actor has no default: the caller must say it');
SELECT col_hasnt_default('xorj', 'trade_events', 'to_status', 'xorj.trade_events.to_status has no default: the caller must say it');
SELECT is((SELECT attidentity::text FROM pg_catalog.pg_attribute
            WHERE attrelid = 'xorj.trade_events'::regclass AND attname = 'id'),
          'a', 'xorj.trade_events.id is an identity GENERATED ALWAYS');

SELECT * FROM finish();
ROLLBACK;
