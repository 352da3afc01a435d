-- depends: 0008_score_partitions
-- Per-call cost flat as the trade log grows.
--
-- 1. No index holds the lease columns (claimed_by, claim_expires_at); migration 0010
--    then moves them out of xorj.trades altogether.
-- 2. xorj.vault_trade_stats: per vault and venue, the figures api.bot_status shows,
--    kept by trigger in the transaction of each insert and status move
--    (procedures/trades_stats.sql). Every figure is a count, a sum or a maximum, so the
--    order in which concurrent transactions commit never matters.
-- 3. The indexes of xorj.trades, each with its reader (the rest are dropped):
--      trades_pkey                          a trade by id (every transition, get_trade)
--      trades_vault_client_order_key        the idempotency key (create_trade's retry)
--      trades_transaction_signature_key     one trade per signature
--      trades_one_in_flight_per_pair_key    the in-flight rule (partial: unfinished)
--      trades_vault_time_idx                a vault's trades newest first (my_trades,
--                                           list_trades by vault) and the recent-repeat
--                                           rule (a vault's trades of the last window)
--      trades_status_idx                    list_trades by status, newest first
--      trades_claim_order_idx               claim_trades and trades_to_recover in claim
--                                           order, trades_held_by_others, the metrics'
--                                           oldest unfinished (partial: unfinished only)
--      trades_vault_failed_idx              bot_status's consecutive failures: a vault's
--                                           FAILED trades completed after its latest
--                                           CONFIRMED one (partial: FAILED only)
--    Dropped: trades_pending_idx, trades_submitted_idx and trades_unfinished_claim_idx
--    (trades_claim_order_idx serves their readers), trades_vault_pair_amount_time_idx
--    (the recent-repeat rule reads the vault's last window through
--    trades_vault_time_idx), trades_vault_confirmed_idx (bot_status reads
--    xorj.vault_trade_stats) and trades_job_idx (no reader: jobs are never deleted, so
--    the foreign key never looks trades up by job).

DROP INDEX xorj.trades_pending_idx;
DROP INDEX xorj.trades_submitted_idx;
DROP INDEX xorj.trades_unfinished_claim_idx;
DROP INDEX xorj.trades_vault_pair_amount_time_idx;
DROP INDEX xorj.trades_vault_confirmed_idx;
DROP INDEX xorj.trades_job_idx;

-- Claim order: SUBMITTED before PENDING (status DESC), then oldest first (a SUBMITTED
-- trade by submitted_at, a PENDING one by created_at), id as tie-break.
CREATE INDEX trades_claim_order_idx
    ON xorj.trades (status DESC, (coalesce(submitted_at, created_at)), id)
    WHERE status IN ('PENDING', 'SUBMITTED');
CREATE INDEX trades_vault_failed_idx
    ON xorj.trades (user_vault_address, venue, completed_at)
    WHERE status = 'FAILED';

CREATE TABLE xorj.vault_trade_stats (
    user_vault_address xorj.solana_address NOT NULL,
    venue              text NOT NULL,
    pending_trades     bigint NOT NULL DEFAULT 0,
    submitted_trades   bigint NOT NULL DEFAULT 0,
    confirmed_trades   bigint NOT NULL DEFAULT 0,
    failed_trades      bigint NOT NULL DEFAULT 0,
    confirmed_volume   numeric NOT NULL DEFAULT 0,   -- sum of amount_in of CONFIRMED trades
    last_created_at    timestamptz,                  -- max(created_at), any status
    last_confirmed_at  timestamptz,                  -- max(completed_at) of CONFIRMED
    last_failed_at     timestamptz,                  -- max(completed_at) of FAILED
    CONSTRAINT vault_trade_stats_pkey PRIMARY KEY (user_vault_address, venue),
    CONSTRAINT vault_trade_stats_venue_known CHECK (venue IN ('live', 'localnet', 'simulated')),
    CONSTRAINT vault_trade_stats_counts_non_negative
        CHECK (pending_trades >= 0 AND submitted_trades >= 0
               AND confirmed_trades >= 0 AND failed_trades >= 0 AND confirmed_volume >= 0)
) WITH (fillfactor = 50);  -- every update is HOT: only the key is indexed
COMMENT ON TABLE xorj.vault_trade_stats IS
    'Per vault and venue: trade counts by status, confirmed volume and latest times, kept by the triggers of procedures/trades_stats.sql';

-- The figures of the trades recorded so far.
INSERT INTO xorj.vault_trade_stats
SELECT t.user_vault_address, t.venue,
       count(*) FILTER (WHERE t.status = 'PENDING'),
       count(*) FILTER (WHERE t.status = 'SUBMITTED'),
       count(*) FILTER (WHERE t.status = 'CONFIRMED'),
       count(*) FILTER (WHERE t.status = 'FAILED'),
       coalesce(sum(t.amount_in) FILTER (WHERE t.status = 'CONFIRMED'), 0),
       max(t.created_at),
       max(t.completed_at) FILTER (WHERE t.status = 'CONFIRMED'),
       max(t.completed_at) FILTER (WHERE t.status = 'FAILED')
FROM xorj.trades t
GROUP BY t.user_vault_address, t.venue;
