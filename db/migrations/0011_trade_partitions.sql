-- depends: 0010_trade_claims
-- Years of trades (DESIGN.md, "Data lifecycle"): the trade log and its audit trail are
-- partitioned by month, so that a closed month can leave as a whole, through a verified
-- archive (`xorj db archive`, xorj.archive_trade_month), and vacuum and freezing work on
-- one month at a time instead of one table of years.
--
--   * xorj.trades is partitioned by RANGE (created_at), one partition per calendar
--     month in UTC: xorj.trades_YYYY_MM. created_at is set by the touch trigger at
--     insert and never changes (trades_guard.sql), so a trade never moves between
--     partitions. The primary key must contain the partition key: trades_pkey is
--     (id, created_at).
--   * xorj.trade_events is partitioned by RANGE (trade_created_at), a new column: the
--     creation time of the event's trade, written by the audit trigger. A trade and all
--     its events are in the partitions of the same month (xorj.trade_events_YYYY_MM),
--     whenever the events happen, and leave together. Its foreign key is
--     (trade_id, trade_created_at) -> trade_keys (id, created_at): an event names its
--     trade and that trade's month (a key to the partitioned trades would make the
--     detach of a month check every event of every other month); its primary key is
--     (id, trade_created_at); the identity goes on from the old table's last id.
--   * The keys that must hold across every month, and after a month is archived, are
--     in a narrow unpartitioned table, xorj.trade_keys: one row per trade ever created
--     (id, created_at, vault, client_order_id, tokens, venue, signature, unfinished),
--     written by a trigger of xorj.trades (procedures/trades_keys.sql) in the statement
--     of each insert and move, never deleted, not even by an archive. Its unique rules keep the names they had on
--     xorj.trades, so a violation by direct SQL reads as before:
--       trades_vault_client_order_key      one trade per (vault, client_order_id);
--       trades_transaction_signature_key   one trade per signature;
--       trades_one_in_flight_per_pair_key  one unfinished trade per vault, pair and venue.
--     An archived trade's client_order_id and signature stay taken for ever.
--   * xorj.trade_claims refers to xorj.trade_keys (a lease names a trade by id).
--   * No DEFAULT partition: a row of a month without a partition is refused (23514, no
--     partition of relation found for row), never stored elsewhere. Partitions are
--     created ahead (xorj.ensure_trade_partitions, procedures/trades_partitions.sql; by
--     `xorj db maintain`, and by api.create_trade when its month has none); this
--     migration creates the months of the existing rows, the previous month and the
--     next three.
--   * xorj.trade_archives: one row per archived month (counts and checksums of what
--     left, when, by whom), and xorj.trade_archive_stats, the month's figures per vault
--     and venue, written by xorj.archive_trade_month only.
--
-- Indexes of xorj.trades after this migration (each partition has its own copy):
--   trades_pkey (id, created_at), trades_vault_time_idx, trades_status_idx,
--   trades_claim_order_idx, trades_vault_failed_idx (their readers: 0009). The lookups
--   by (vault, client_order_id) and by signature read xorj.trade_keys.
--
-- The objects bound to the old tables' row types (the views api.pending_trades and
-- api.submitted_trades, the functions taking or returning a trades row) are dropped here
-- and re-created by the post-apply step from procedures/ and views/, as are the row
-- triggers, which procedures/ define (touch and the events' append-only triggers came
-- from migrations 0002 and 0003 and are re-created here). Row triggers of a partitioned
-- table apply to its partitions; the TRUNCATE guards are put on each partition as well
-- (procedures/trades_partitions.sql).

DROP VIEW IF EXISTS api.pending_trades;
DROP VIEW IF EXISTS api.submitted_trades;
DROP FUNCTION IF EXISTS xorj.lock_trade(uuid);
DROP FUNCTION IF EXISTS xorj.trade_json(xorj.trades);
DROP FUNCTION IF EXISTS xorj.user_trade_json(xorj.trades);
DROP FUNCTION IF EXISTS xorj.vault_trades_page(text, xorj.trade_status, timestamptz, uuid, integer);

ALTER TABLE xorj.trade_claims DROP CONSTRAINT trade_claims_trade_id_fkey;
ALTER TABLE xorj.trade_events DROP CONSTRAINT trade_events_trade_id_fkey;
ALTER TABLE xorj.trade_events RENAME TO trade_events_unpartitioned;
ALTER TABLE xorj.trade_events_unpartitioned DROP CONSTRAINT trade_events_pkey;
DROP INDEX xorj.trade_events_trade_idx;
ALTER TABLE xorj.trades RENAME TO trades_unpartitioned;
ALTER TABLE xorj.trades_unpartitioned
    DROP CONSTRAINT trades_pkey,
    DROP CONSTRAINT trades_vault_client_order_key,
    DROP CONSTRAINT trades_transaction_signature_key;
DROP INDEX xorj.trades_one_in_flight_per_pair_key;
DROP INDEX xorj.trades_vault_time_idx;
DROP INDEX xorj.trades_status_idx;
DROP INDEX xorj.trades_claim_order_idx;
DROP INDEX xorj.trades_vault_failed_idx;

-- The trade log: the same columns, defaults and CHECKs, partitioned by month.
CREATE TABLE xorj.trades (
    LIKE xorj.trades_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE,
    CONSTRAINT trades_pkey PRIMARY KEY (id, created_at),
    CONSTRAINT trades_job_id_fkey FOREIGN KEY (job_id)
        REFERENCES xorj.execution_jobs (id) ON DELETE RESTRICT
) PARTITION BY RANGE (created_at);
COMMENT ON TABLE xorj.trades IS
    'The trade log, one partition per month of created_at (UTC); keys in xorj.trade_keys';
-- A vault's trades, newest first: a user's history (api.my_trades), list_trades by
-- vault, the recent-repeat rule of api.create_trade.
CREATE INDEX trades_vault_time_idx ON xorj.trades (user_vault_address, created_at DESC);
-- Listings by status (api.list_trades, the views), the metrics' oldest unfinished.
CREATE INDEX trades_status_idx ON xorj.trades (status, created_at);
-- Claim and recovery order over the unfinished trades only (0009).
CREATE INDEX trades_claim_order_idx
    ON xorj.trades (status DESC, (coalesce(submitted_at, created_at)), id)
    WHERE status IN ('PENDING', 'SUBMITTED');
-- A vault's consecutive failures after its latest confirmation (api.bot_status).
CREATE INDEX trades_vault_failed_idx
    ON xorj.trades (user_vault_address, venue, completed_at)
    WHERE status = 'FAILED';

-- The keys of every trade ever created (kept by procedures/trades_keys.sql).
CREATE TABLE xorj.trade_keys (
    id                    uuid PRIMARY KEY,
    created_at            timestamptz NOT NULL,
    user_vault_address    xorj.solana_address NOT NULL,
    client_order_id       text NOT NULL,
    from_token_address    xorj.solana_address NOT NULL,
    to_token_address      xorj.solana_address NOT NULL,
    venue                 text NOT NULL,
    transaction_signature xorj.solana_signature,
    unfinished            boolean NOT NULL DEFAULT true,
    CONSTRAINT trades_vault_client_order_key UNIQUE (user_vault_address, client_order_id),
    CONSTRAINT trades_transaction_signature_key UNIQUE (transaction_signature),
    -- What the events' foreign key names: an event is in its trade's month.
    CONSTRAINT trade_keys_id_created_at_key UNIQUE (id, created_at)
);
COMMENT ON TABLE xorj.trade_keys IS
    'The keys of every trade ever created, archived ones included: unique rules across months';
CREATE UNIQUE INDEX trades_one_in_flight_per_pair_key
    ON xorj.trade_keys (user_vault_address, from_token_address, to_token_address, venue)
    WHERE unfinished;

-- The audit trail, partitioned by the month of its trade.
CREATE TABLE xorj.trade_events (
    id               bigint GENERATED ALWAYS AS IDENTITY,
    trade_id         uuid NOT NULL,
    from_status      xorj.trade_status,            -- NULL for the creation of the trade
    to_status        xorj.trade_status NOT NULL,
    at               timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor            text NOT NULL,
    detail           jsonb NOT NULL DEFAULT '{}'::jsonb,
    trade_created_at timestamptz NOT NULL,          -- the trade's created_at: its month
    CONSTRAINT trade_events_pkey PRIMARY KEY (id, trade_created_at),
    CONSTRAINT trade_events_trade_id_fkey FOREIGN KEY (trade_id, trade_created_at)
        REFERENCES xorj.trade_keys (id, created_at) ON DELETE RESTRICT,
    CONSTRAINT trade_events_actor_length CHECK (length(actor) BETWEEN 1 AND 200),
    CONSTRAINT trade_events_detail_is_object CHECK (jsonb_typeof(detail) = 'object'),
    CONSTRAINT trade_events_status_changes CHECK (from_status IS DISTINCT FROM to_status)
) PARTITION BY RANGE (trade_created_at);
COMMENT ON TABLE xorj.trade_events IS
    'The audit trail of trades, append-only, partitioned by the month of its trade';
-- A trade's events in order (api.trade_events).
CREATE INDEX trade_events_trade_idx ON xorj.trade_events (trade_id, id);

-- One row per month that left through a verified archive.
CREATE TABLE xorj.trade_archives (
    month       date PRIMARY KEY,
    trades      bigint NOT NULL,
    trades_sum  numeric NOT NULL,
    events      bigint NOT NULL,
    events_sum  numeric NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    archived_by text NOT NULL,
    CONSTRAINT trade_archives_first_day CHECK (month = date_trunc('month', month)::date)
);
COMMENT ON TABLE xorj.trade_archives IS
    'The months of trades that left through xorj.archive_trade_month, with their checksums';
-- What each vault's figures (xorj.vault_trade_stats, which keep counting archived trades:
-- a user's performance does not change because a month left) owe to each archived month,
-- so that a recount of the log (xorj.vault_trade_stats_drift) can add them back.
CREATE TABLE xorj.trade_archive_stats (
    month              date NOT NULL REFERENCES xorj.trade_archives (month) ON DELETE RESTRICT,
    user_vault_address xorj.solana_address NOT NULL,
    venue              text NOT NULL,
    confirmed_trades   bigint NOT NULL,
    failed_trades      bigint NOT NULL,
    confirmed_volume   numeric NOT NULL,
    last_created_at    timestamptz NOT NULL,
    last_confirmed_at  timestamptz,
    last_failed_at     timestamptz,
    PRIMARY KEY (month, user_vault_address, venue)
);
COMMENT ON TABLE xorj.trade_archive_stats IS
    'Per vault and venue, the figures of the trades of each archived month';

-- The partitions: every month with trades, the previous month, this one and the next
-- three (UTC). Created here as PARTITION OF (the tables are new; nothing else uses them).
DO $partitions$
DECLARE
    m date;
BEGIN
    FOR m IN
        SELECT date_trunc('month', created_at AT TIME ZONE 'UTC')::date
        FROM xorj.trades_unpartitioned
        UNION
        SELECT (date_trunc('month', clock_timestamp() AT TIME ZONE 'UTC') + k * interval '1 month')::date
        FROM generate_series(-1, 3) AS k
        ORDER BY 1
    LOOP
        EXECUTE format('CREATE TABLE xorj.%I PARTITION OF xorj.trades '
                       'FOR VALUES FROM (%L) TO (%L)',
                       'trades_' || to_char(m, 'YYYY_MM'),
                       m::timestamp AT TIME ZONE 'UTC',
                       (m + interval '1 month')::timestamp AT TIME ZONE 'UTC');
        EXECUTE format('CREATE TABLE xorj.%I PARTITION OF xorj.trade_events '
                       'FOR VALUES FROM (%L) TO (%L)',
                       'trade_events_' || to_char(m, 'YYYY_MM'),
                       m::timestamp AT TIME ZONE 'UTC',
                       (m + interval '1 month')::timestamp AT TIME ZONE 'UTC');
    END LOOP;
END
$partitions$;

-- The rows. No trigger is on the new tables yet: the rows arrive as they are.
INSERT INTO xorj.trades SELECT * FROM xorj.trades_unpartitioned;
INSERT INTO xorj.trade_keys (id, created_at, user_vault_address, client_order_id,
                             from_token_address, to_token_address, venue,
                             transaction_signature, unfinished)
SELECT id, created_at, user_vault_address, client_order_id, from_token_address,
       to_token_address, venue, transaction_signature, status IN ('PENDING', 'SUBMITTED')
FROM xorj.trades_unpartitioned;
INSERT INTO xorj.trade_events (id, trade_id, from_status, to_status, at, actor, detail,
                               trade_created_at)
OVERRIDING SYSTEM VALUE
SELECT e.id, e.trade_id, e.from_status, e.to_status, e.at, e.actor, e.detail, t.created_at
FROM xorj.trade_events_unpartitioned e
JOIN xorj.trades_unpartitioned t ON t.id = e.trade_id;
DO $identity$
BEGIN
    PERFORM setval(pg_get_serial_sequence('xorj.trade_events', 'id'),
                   coalesce((SELECT max(id) FROM xorj.trade_events_unpartitioned), 0) + 1, false);
END
$identity$;

ALTER TABLE xorj.trade_claims
    ADD CONSTRAINT trade_claims_trade_id_fkey FOREIGN KEY (trade_id)
        REFERENCES xorj.trade_keys (id) ON DELETE RESTRICT;

DROP TABLE xorj.trade_events_unpartitioned;
DROP TABLE xorj.trades_unpartitioned;

CREATE TRIGGER trades_touch BEFORE INSERT OR UPDATE ON xorj.trades
    FOR EACH ROW EXECUTE FUNCTION xorj.touch_updated_at();
CREATE TRIGGER trade_events_append_only
    BEFORE UPDATE OR DELETE ON xorj.trade_events
    FOR EACH ROW EXECUTE FUNCTION xorj.refuse_trade_event_change();
CREATE TRIGGER trade_events_no_truncate
    BEFORE TRUNCATE ON xorj.trade_events
    FOR EACH STATEMENT EXECUTE FUNCTION xorj.refuse_trade_event_change();
