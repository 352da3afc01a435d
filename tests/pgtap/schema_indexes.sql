-- The indexes of 0002/0003 (and of 0009 on trades): each exists on its table with its key columns in order;
-- pg_indexes.indexdef then pins the sort order (DESC) and the partial indexes'
-- predicates (and that the other indexes have none).
BEGIN;
SELECT plan(49);

SELECT has_index('xorj', 'scoring_runs', 'scoring_runs_latest_completed_idx', ARRAY['completed_at', 'id'],
    'index scoring_runs_latest_completed_idx is on xorj.scoring_runs (completed_at, id)');
SELECT is((SELECT substring(indexdef FROM 'USING .*$') FROM pg_catalog.pg_indexes
            WHERE schemaname = 'xorj' AND indexname = 'scoring_runs_latest_completed_idx'),
          'USING btree (completed_at DESC, id DESC) WHERE (status = ''COMPLETED''::xorj.run_status)',
    'index scoring_runs_latest_completed_idx: newest completed run first, COMPLETED runs only');

SELECT has_index('xorj', 'scoring_runs', 'scoring_runs_active_idx', ARRAY['created_at'],
    'index scoring_runs_active_idx is on xorj.scoring_runs (created_at)');
SELECT is((SELECT substring(indexdef FROM 'USING .*$') FROM pg_catalog.pg_indexes
            WHERE schemaname = 'xorj' AND indexname = 'scoring_runs_active_idx'),
          'USING btree (created_at) WHERE (status = ANY (ARRAY[''PENDING''::xorj.run_status, ''RUNNING''::xorj.run_status]))',
    'index scoring_runs_active_idx: PENDING and RUNNING runs only');

-- The rank index is each COMPLETED run's partition's own, built at completion (0015;
-- its definition: tests/pgtap/scoring_partitions.sql), not a partitioned index that
-- every score loaded would go into at a random place.
SELECT hasnt_index('xorj', 'trader_scores', 'trader_scores_run_rank_idx',
    'xorj.trader_scores has no partitioned rank index (0015)');
SELECT trigger_is('xorj', 'scoring_runs', 'scoring_runs_rank_index', 'xorj', 'scoring_runs_rank_index',
    'a run that becomes COMPLETED gets its rank index: trigger scoring_runs_rank_index');

SELECT has_index('xorj', 'execution_jobs', 'execution_jobs_active_idx', ARRAY['created_at'],
    'index execution_jobs_active_idx is on xorj.execution_jobs (created_at)');
SELECT is((SELECT substring(indexdef FROM 'USING .*$') FROM pg_catalog.pg_indexes
            WHERE schemaname = 'xorj' AND indexname = 'execution_jobs_active_idx'),
          'USING btree (created_at) WHERE (status = ANY (ARRAY[''PENDING''::xorj.job_status, ''RUNNING''::xorj.job_status]))',
    'index execution_jobs_active_idx: PENDING and RUNNING jobs only');

SELECT has_index('xorj', 'execution_jobs', 'execution_jobs_running_heartbeat_idx', ARRAY['heartbeat_at'],
    'index execution_jobs_running_heartbeat_idx is on xorj.execution_jobs (heartbeat_at)');
SELECT is((SELECT substring(indexdef FROM 'USING .*$') FROM pg_catalog.pg_indexes
            WHERE schemaname = 'xorj' AND indexname = 'execution_jobs_running_heartbeat_idx'),
          'USING btree (heartbeat_at) WHERE (status = ''RUNNING''::xorj.job_status)',
    'index execution_jobs_running_heartbeat_idx: RUNNING jobs only');

SELECT has_index('xorj', 'trades', 'trades_status_idx', ARRAY['status', 'created_at'],
    'index trades_status_idx is on xorj.trades (status, created_at)');
SELECT is((SELECT substring(indexdef FROM 'USING .*$') FROM pg_catalog.pg_indexes
            WHERE schemaname = 'xorj' AND indexname = 'trades_status_idx'),
          'USING btree (status, created_at)',
    'index trades_status_idx: not partial');

SELECT has_index('xorj', 'trades', 'trades_vault_time_idx', ARRAY['user_vault_address', 'created_at'],
    'index trades_vault_time_idx is on xorj.trades (user_vault_address, created_at)');
SELECT is((SELECT substring(indexdef FROM 'USING .*$') FROM pg_catalog.pg_indexes
            WHERE schemaname = 'xorj' AND indexname = 'trades_vault_time_idx'),
          'USING btree (user_vault_address, created_at DESC)',
    'index trades_vault_time_idx: newest first, not partial');

-- 0009: claim order over the unfinished trades, a vault's failures (consecutive failures).
SELECT is((SELECT substring(indexdef FROM 'USING .*$') FROM pg_catalog.pg_indexes
            WHERE schemaname = 'xorj' AND indexname = 'trades_claim_order_idx'),
          'USING btree (status DESC, COALESCE(submitted_at, created_at), id) WHERE (status = ANY (ARRAY[''PENDING''::xorj.trade_status, ''SUBMITTED''::xorj.trade_status]))',
    'index trades_claim_order_idx: claim order, unfinished trades only');
SELECT has_index('xorj', 'trades', 'trades_vault_failed_idx', ARRAY['user_vault_address', 'venue', 'completed_at'],
    'index trades_vault_failed_idx is on xorj.trades (user_vault_address, venue, completed_at)');
SELECT is((SELECT substring(indexdef FROM 'USING .*$') FROM pg_catalog.pg_indexes
            WHERE schemaname = 'xorj' AND indexname = 'trades_vault_failed_idx'),
          'USING btree (user_vault_address, venue, completed_at) WHERE (status = ''FAILED''::xorj.trade_status)',
    'index trades_vault_failed_idx: FAILED trades only');

-- Every index of xorj.trades has its reader (listed in migrations 0009 and 0011); no
-- other. The unique rules across months are on xorj.trade_keys (0011), under the names
-- they had on xorj.trades.
SELECT set_eq($$SELECT indexname::text FROM pg_catalog.pg_indexes
               WHERE schemaname = 'xorj' AND tablename = 'trades'$$,
              ARRAY['trades_pkey', 'trades_vault_time_idx', 'trades_status_idx',
                    'trades_claim_order_idx', 'trades_vault_failed_idx'],
              'xorj.trades has exactly the five indexes of migration 0011');
SELECT set_eq($$SELECT indexname::text FROM pg_catalog.pg_indexes
               WHERE schemaname = 'xorj' AND tablename = 'trade_keys'$$,
              ARRAY['trade_keys_pkey', 'trades_vault_client_order_key', 'trades_transaction_signature_key',
                    'trades_one_in_flight_per_pair_key', 'trade_keys_id_created_at_key'],
              'xorj.trade_keys has exactly its five unique indexes (0011)');

SELECT has_index('xorj', 'trade_events', 'trade_events_trade_idx', ARRAY['trade_id', 'id'],
    'index trade_events_trade_idx is on xorj.trade_events (trade_id, id)');
SELECT is((SELECT substring(indexdef FROM 'USING .*$') FROM pg_catalog.pg_indexes
            WHERE schemaname = 'xorj' AND indexname = 'trade_events_trade_idx'),
          'USING btree (trade_id, id)',
    'index trade_events_trade_idx: not partial');

-- The unique indexes behind the primary keys and unique constraints.
SELECT has_index('xorj', 'scoring_runs', 'scoring_runs_pkey', ARRAY['id'],
    'index scoring_runs_pkey is on xorj.scoring_runs (id)');
SELECT index_is_unique('xorj', 'scoring_runs', 'scoring_runs_pkey', 'index scoring_runs_pkey is unique');
SELECT has_index('xorj', 'trader_scores', 'trader_scores_pkey', ARRAY['id', 'run_id'],
    'index trader_scores_pkey is on xorj.trader_scores (id, run_id): a partitioned table''s keys hold its partition key (0008)');
SELECT index_is_unique('xorj', 'trader_scores', 'trader_scores_pkey', 'index trader_scores_pkey is unique');
SELECT has_index('xorj', 'trader_scores', 'trader_scores_run_wallet_key', ARRAY['run_id', 'wallet_address'],
    'index trader_scores_run_wallet_key is on xorj.trader_scores (run_id, wallet_address)');
SELECT index_is_unique('xorj', 'trader_scores', 'trader_scores_run_wallet_key', 'index trader_scores_run_wallet_key is unique');
SELECT has_index('xorj', 'execution_jobs', 'execution_jobs_pkey', ARRAY['id'],
    'index execution_jobs_pkey is on xorj.execution_jobs (id)');
SELECT index_is_unique('xorj', 'execution_jobs', 'execution_jobs_pkey', 'index execution_jobs_pkey is unique');
SELECT has_index('xorj', 'trades', 'trades_pkey', ARRAY['id', 'created_at'],
    'index trades_pkey is on xorj.trades (id, created_at): the partition key is in it (0011)');
SELECT has_index('xorj', 'trade_keys', 'trade_keys_pkey', ARRAY['id'],
    'index trade_keys_pkey is on xorj.trade_keys (id): one id across every month');
SELECT index_is_unique('xorj', 'trade_keys', 'trade_keys_pkey', 'index trade_keys_pkey is unique');
SELECT index_is_unique('xorj', 'trades', 'trades_pkey', 'index trades_pkey is unique');
SELECT has_index('xorj', 'trade_keys', 'trades_vault_client_order_key', ARRAY['user_vault_address', 'client_order_id'],
    'index trades_vault_client_order_key is on xorj.trade_keys (user_vault_address, client_order_id)');
SELECT index_is_unique('xorj', 'trade_keys', 'trades_vault_client_order_key', 'index trades_vault_client_order_key is unique');
SELECT has_index('xorj', 'trade_keys', 'trades_transaction_signature_key', ARRAY['transaction_signature'],
    'index trades_transaction_signature_key is on xorj.trade_keys (transaction_signature)');
SELECT index_is_unique('xorj', 'trade_keys', 'trades_transaction_signature_key', 'index trades_transaction_signature_key is unique');
SELECT has_index('xorj', 'bot_states', 'bot_states_pkey', ARRAY['id'],
    'index bot_states_pkey is on xorj.bot_states (id)');
SELECT index_is_unique('xorj', 'bot_states', 'bot_states_pkey', 'index bot_states_pkey is unique');
SELECT has_index('xorj', 'bot_states', 'bot_states_user_id_key', ARRAY['user_id'],
    'index bot_states_user_id_key is on xorj.bot_states (user_id)');
SELECT index_is_unique('xorj', 'bot_states', 'bot_states_user_id_key', 'index bot_states_user_id_key is unique');
SELECT has_index('xorj', 'bot_states', 'bot_states_vault_address_key', ARRAY['vault_address'],
    'index bot_states_vault_address_key is on xorj.bot_states (vault_address)');
SELECT index_is_unique('xorj', 'bot_states', 'bot_states_vault_address_key', 'index bot_states_vault_address_key is unique');
SELECT has_index('xorj', 'user_settings', 'user_settings_pkey', ARRAY['id'],
    'index user_settings_pkey is on xorj.user_settings (id)');
SELECT index_is_unique('xorj', 'user_settings', 'user_settings_pkey', 'index user_settings_pkey is unique');
SELECT has_index('xorj', 'user_settings', 'user_settings_wallet_address_key', ARRAY['wallet_address'],
    'index user_settings_wallet_address_key is on xorj.user_settings (wallet_address)');
SELECT index_is_unique('xorj', 'user_settings', 'user_settings_wallet_address_key', 'index user_settings_wallet_address_key is unique');
SELECT has_index('xorj', 'trade_events', 'trade_events_pkey', ARRAY['id', 'trade_created_at'],
    'index trade_events_pkey is on xorj.trade_events (id, trade_created_at): the partition key is in it (0011)');
SELECT index_is_unique('xorj', 'trade_events', 'trade_events_pkey', 'index trade_events_pkey is unique');

SELECT * FROM finish();
ROLLBACK;
