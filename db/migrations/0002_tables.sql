-- depends: 0001_roles_schemas_types
-- The six tables of the original system, with its column names, made strict:
-- database-set UUID keys and timestamps, enum statuses, domains for addresses,
-- signatures and u64 amounts, and foreign keys that never cascade a trade away.

-- created_at and updated_at are the database's, whatever an INSERT or UPDATE says.
CREATE FUNCTION xorj.touch_updated_at() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $fn$
BEGIN
    NEW.updated_at := clock_timestamp();
    IF TG_OP = 'INSERT' THEN
        NEW.created_at := NEW.updated_at;
    ELSE
        NEW.created_at := OLD.created_at;
    END IF;
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION xorj.touch_updated_at() IS
    'BEFORE INSERT OR UPDATE trigger: sets created_at on insert, updated_at always';

-- Quantitative Engine: one row per scoring run.
CREATE TABLE xorj.scoring_runs (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    status        xorj.run_status NOT NULL DEFAULT 'PENDING',
    started_at    timestamptz,
    completed_at  timestamptz,
    error_message text,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- A COMPLETED run always has completed_at, so "latest completed" is never NULL-first.
    CONSTRAINT scoring_runs_completed_has_time
        CHECK (status <> 'COMPLETED' OR completed_at IS NOT NULL),
    CONSTRAINT scoring_runs_completed_at_only_when_done
        CHECK (completed_at IS NULL OR status IN ('COMPLETED', 'FAILED')),
    CONSTRAINT scoring_runs_failed_has_error
        CHECK (status <> 'FAILED' OR error_message IS NOT NULL)
);
-- The latest completed run: newest completed_at first, id as tie-break.
CREATE INDEX scoring_runs_latest_completed_idx
    ON xorj.scoring_runs (completed_at DESC, id DESC)
    WHERE status = 'COMPLETED';
CREATE INDEX scoring_runs_active_idx
    ON xorj.scoring_runs (created_at)
    WHERE status IN ('PENDING', 'RUNNING');

-- One score per trader per run.
CREATE TABLE xorj.trader_scores (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    run_id           uuid NOT NULL
                     REFERENCES xorj.scoring_runs (id) ON DELETE RESTRICT,
    wallet_address   xorj.solana_address NOT NULL,
    xorj_trust_score numeric NOT NULL,
    metrics          jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT trader_scores_score_non_negative
        CHECK (xorj_trust_score >= 0 AND xorj_trust_score < 'Infinity'::numeric),
    CONSTRAINT trader_scores_metrics_is_object
        CHECK (jsonb_typeof(metrics) = 'object'),
    CONSTRAINT trader_scores_run_wallet_key UNIQUE (run_id, wallet_address)
);
-- Ranked traders of a run: best score first, ties by wallet; read in index order.
CREATE INDEX trader_scores_run_rank_idx
    ON xorj.trader_scores (run_id, xorj_trust_score DESC, wallet_address);

-- Trade Execution Bot: one row per bot run.
CREATE TABLE xorj.execution_jobs (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    status         xorj.job_status NOT NULL DEFAULT 'PENDING',
    trigger_reason xorj.trigger_reason NOT NULL,
    parameters     jsonb NOT NULL DEFAULT '{}'::jsonb,
    worker_id      text,
    started_at     timestamptz,
    heartbeat_at   timestamptz,
    completed_at   timestamptz,
    error_message  text,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT execution_jobs_parameters_is_object
        CHECK (jsonb_typeof(parameters) = 'object'),
    CONSTRAINT execution_jobs_worker_id_length
        CHECK (worker_id IS NULL OR length(worker_id) BETWEEN 1 AND 200),
    CONSTRAINT execution_jobs_running_has_worker
        CHECK (status <> 'RUNNING' OR (worker_id IS NOT NULL AND started_at IS NOT NULL)),
    CONSTRAINT execution_jobs_completed_has_time
        CHECK (status NOT IN ('COMPLETED', 'FAILED') OR completed_at IS NOT NULL),
    CONSTRAINT execution_jobs_completed_at_only_when_done
        CHECK (completed_at IS NULL OR status IN ('COMPLETED', 'FAILED')),
    CONSTRAINT execution_jobs_failed_has_error
        CHECK (status <> 'FAILED' OR error_message IS NOT NULL)
);
CREATE INDEX execution_jobs_active_idx
    ON xorj.execution_jobs (created_at)
    WHERE status IN ('PENDING', 'RUNNING');
-- Reaping: RUNNING jobs by heartbeat age.
CREATE INDEX execution_jobs_running_heartbeat_idx
    ON xorj.execution_jobs (heartbeat_at)
    WHERE status = 'RUNNING';

-- The trade log. Idempotency key: (user_vault_address, client_order_id).
CREATE TABLE xorj.trades (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    job_id                uuid NOT NULL
                          REFERENCES xorj.execution_jobs (id) ON DELETE RESTRICT,
    user_vault_address    xorj.solana_address NOT NULL,
    client_order_id       text NOT NULL,
    status                xorj.trade_status NOT NULL DEFAULT 'PENDING',
    from_token_address    xorj.solana_address NOT NULL,
    to_token_address      xorj.solana_address NOT NULL,
    amount_in             xorj.u64 NOT NULL,
    expected_amount_out   xorj.u64 NOT NULL,
    actual_amount_out     xorj.u64,
    transaction_signature xorj.solana_signature,
    slippage_realized     numeric,
    gas_fee               xorj.u64,
    error_message         text,
    submitted_at          timestamptz,
    completed_at          timestamptz,
    created_at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT trades_client_order_id_format
        CHECK (client_order_id ~ '^[A-Za-z0-9._:-]{1,128}$'),
    CONSTRAINT trades_distinct_tokens
        CHECK (from_token_address <> to_token_address),
    CONSTRAINT trades_amount_in_positive
        CHECK (amount_in > 0),
    -- Realized slippage in percent; positive is worse than expected. At most 100 (a
    -- fill of nothing); no lower bound: a fill better than twice the quote is below -100.
    -- NaN is refused (NaN sorts above every number, so <= 100 is false for it).
    CONSTRAINT trades_slippage_range
        CHECK (slippage_realized IS NULL OR slippage_realized <= 100),
    CONSTRAINT trades_submitted_has_signature
        CHECK (status NOT IN ('SUBMITTED', 'CONFIRMED')
               OR (transaction_signature IS NOT NULL AND submitted_at IS NOT NULL)),
    CONSTRAINT trades_confirmed_has_result
        CHECK (status <> 'CONFIRMED' OR actual_amount_out IS NOT NULL),
    CONSTRAINT trades_failed_has_error
        CHECK (status <> 'FAILED' OR error_message IS NOT NULL),
    CONSTRAINT trades_completed_has_time
        CHECK ((status IN ('CONFIRMED', 'FAILED')) = (completed_at IS NOT NULL)),
    CONSTRAINT trades_vault_client_order_key
        UNIQUE (user_vault_address, client_order_id),
    CONSTRAINT trades_transaction_signature_key
        UNIQUE (transaction_signature)
);
-- Recovery: PENDING trades by age, SUBMITTED trades oldest first.
CREATE INDEX trades_pending_idx
    ON xorj.trades (created_at)
    WHERE status = 'PENDING';
CREATE INDEX trades_submitted_idx
    ON xorj.trades (submitted_at)
    WHERE status = 'SUBMITTED';
CREATE INDEX trades_status_idx
    ON xorj.trades (status, created_at);
CREATE INDEX trades_job_idx
    ON xorj.trades (job_id);
-- A vault's trades by time, and the recent-repeat lookup of a pair and amount.
CREATE INDEX trades_vault_time_idx
    ON xorj.trades (user_vault_address, created_at DESC);
CREATE INDEX trades_vault_pair_amount_time_idx
    ON xorj.trades (user_vault_address, from_token_address, to_token_address,
                    amount_in, created_at DESC);

-- Each user's bot: on or off, and the vault it trades for. user_id is the wallet.
CREATE TABLE xorj.bot_states (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       xorj.solana_address NOT NULL,
    enabled       boolean NOT NULL DEFAULT false,
    vault_address xorj.solana_address,
    configuration jsonb NOT NULL DEFAULT '{}'::jsonb,
    last_updated  timestamptz NOT NULL DEFAULT clock_timestamp(),
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT bot_states_configuration_is_object
        CHECK (jsonb_typeof(configuration) = 'object'),
    CONSTRAINT bot_states_user_id_key UNIQUE (user_id),
    CONSTRAINT bot_states_vault_address_key UNIQUE (vault_address)
);

-- Each user's risk settings, one row per wallet.
CREATE TABLE xorj.user_settings (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    wallet_address        xorj.solana_address NOT NULL,
    risk_profile          xorj.risk_profile NOT NULL DEFAULT 'Balanced',
    max_drawdown_limit    numeric NOT NULL DEFAULT 15,
    position_size_percent numeric NOT NULL DEFAULT 5,
    stop_loss_enabled     boolean NOT NULL DEFAULT true,
    take_profit_enabled   boolean NOT NULL DEFAULT true,
    investment_amount     numeric,
    version               bigint NOT NULL DEFAULT 1,
    created_at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT user_settings_max_drawdown_limit_range
        CHECK (max_drawdown_limit BETWEEN 1 AND 50),
    CONSTRAINT user_settings_position_size_percent_range
        CHECK (position_size_percent BETWEEN 1 AND 25),
    CONSTRAINT user_settings_investment_amount_range
        CHECK (investment_amount IS NULL OR (investment_amount > 0 AND investment_amount <= 1000000)),
    CONSTRAINT user_settings_version_positive
        CHECK (version >= 1),
    CONSTRAINT user_settings_wallet_address_key UNIQUE (wallet_address)
);

CREATE TRIGGER scoring_runs_touch BEFORE INSERT OR UPDATE ON xorj.scoring_runs
    FOR EACH ROW EXECUTE FUNCTION xorj.touch_updated_at();
CREATE TRIGGER trader_scores_touch BEFORE INSERT OR UPDATE ON xorj.trader_scores
    FOR EACH ROW EXECUTE FUNCTION xorj.touch_updated_at();
CREATE TRIGGER execution_jobs_touch BEFORE INSERT OR UPDATE ON xorj.execution_jobs
    FOR EACH ROW EXECUTE FUNCTION xorj.touch_updated_at();
CREATE TRIGGER trades_touch BEFORE INSERT OR UPDATE ON xorj.trades
    FOR EACH ROW EXECUTE FUNCTION xorj.touch_updated_at();
CREATE TRIGGER bot_states_touch BEFORE INSERT OR UPDATE ON xorj.bot_states
    FOR EACH ROW EXECUTE FUNCTION xorj.touch_updated_at();
CREATE TRIGGER user_settings_touch BEFORE INSERT OR UPDATE ON xorj.user_settings
    FOR EACH ROW EXECUTE FUNCTION xorj.touch_updated_at();
