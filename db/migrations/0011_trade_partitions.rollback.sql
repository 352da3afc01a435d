-- The trade log and its audit trail go back into one table each, with the keys of 0010
-- (the rows of archived months are not in the database any more and do not come back:
-- they are in their archive files). As with the other rollbacks, procedures/ stay as
-- they are until the previous release's migrate replaces them; the triggers of the
-- tables are re-created here on the functions of this release, except the audit
-- trigger, whose function is put back as it was before 0011 (it wrote no key row and no
-- trade_created_at).
DROP VIEW IF EXISTS api.pending_trades;
DROP VIEW IF EXISTS api.submitted_trades;
DROP FUNCTION IF EXISTS xorj.lock_trade(uuid);
DROP FUNCTION IF EXISTS xorj.trade_json(xorj.trades);
DROP FUNCTION IF EXISTS xorj.trade_json(xorj.trades, xorj.trade_claims);  -- since 0013's release
DROP FUNCTION IF EXISTS xorj.user_trade_json(xorj.trades);
DROP FUNCTION IF EXISTS xorj.vault_trades_page(text, xorj.trade_status, timestamptz, uuid, integer);
DROP FUNCTION IF EXISTS xorj.archive_trade_month(date, bigint, numeric, bigint, numeric);
DROP FUNCTION IF EXISTS xorj.trade_month_summary(date);
DROP FUNCTION IF EXISTS xorj.ensure_trade_partitions(timestamptz, integer);
DROP FUNCTION IF EXISTS xorj.trade_months();
DROP FUNCTION IF EXISTS xorj.trade_partitions_install_guards(regclass, regclass);

ALTER TABLE xorj.trade_claims DROP CONSTRAINT trade_claims_trade_id_fkey;
ALTER TABLE xorj.trade_events RENAME TO trade_events_partitioned;
ALTER TABLE xorj.trade_events_partitioned DROP CONSTRAINT trade_events_pkey;
DROP INDEX xorj.trade_events_trade_idx;
ALTER TABLE xorj.trades RENAME TO trades_partitioned;
ALTER TABLE xorj.trade_events_partitioned DROP CONSTRAINT trade_events_trade_id_fkey;
ALTER TABLE xorj.trades_partitioned DROP CONSTRAINT trades_pkey;
DROP INDEX xorj.trades_vault_time_idx;
DROP INDEX xorj.trades_status_idx;
DROP INDEX xorj.trades_claim_order_idx;
DROP INDEX xorj.trades_vault_failed_idx;

CREATE TABLE xorj.trades (
    LIKE xorj.trades_partitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE
);
INSERT INTO xorj.trades SELECT * FROM xorj.trades_partitioned;
ALTER TABLE xorj.trades
    ADD CONSTRAINT trades_pkey PRIMARY KEY (id),
    ADD CONSTRAINT trades_job_id_fkey FOREIGN KEY (job_id)
        REFERENCES xorj.execution_jobs (id) ON DELETE RESTRICT;
DROP TABLE xorj.trade_keys;  -- frees the names of the three unique rules
ALTER TABLE xorj.trades
    ADD CONSTRAINT trades_vault_client_order_key UNIQUE (user_vault_address, client_order_id),
    ADD CONSTRAINT trades_transaction_signature_key UNIQUE (transaction_signature);
CREATE UNIQUE INDEX trades_one_in_flight_per_pair_key
    ON xorj.trades (user_vault_address, from_token_address, to_token_address, venue)
    WHERE status IN ('PENDING', 'SUBMITTED');
CREATE INDEX trades_vault_time_idx ON xorj.trades (user_vault_address, created_at DESC);
CREATE INDEX trades_status_idx ON xorj.trades (status, created_at);
CREATE INDEX trades_claim_order_idx
    ON xorj.trades (status DESC, (coalesce(submitted_at, created_at)), id)
    WHERE status IN ('PENDING', 'SUBMITTED');
CREATE INDEX trades_vault_failed_idx
    ON xorj.trades (user_vault_address, venue, completed_at)
    WHERE status = 'FAILED';

CREATE TABLE xorj.trade_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    trade_id    uuid NOT NULL REFERENCES xorj.trades (id) ON DELETE RESTRICT,
    from_status xorj.trade_status,
    to_status   xorj.trade_status NOT NULL,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT trade_events_actor_length CHECK (length(actor) BETWEEN 1 AND 200),
    CONSTRAINT trade_events_detail_is_object CHECK (jsonb_typeof(detail) = 'object'),
    CONSTRAINT trade_events_status_changes CHECK (from_status IS DISTINCT FROM to_status)
);
INSERT INTO xorj.trade_events (id, trade_id, from_status, to_status, at, actor, detail)
OVERRIDING SYSTEM VALUE
SELECT id, trade_id, from_status, to_status, at, actor, detail
FROM xorj.trade_events_partitioned;
DO $identity$
BEGIN
    PERFORM setval(pg_get_serial_sequence('xorj.trade_events', 'id'),
                   coalesce((SELECT max(id) FROM xorj.trade_events_partitioned), 0) + 1, false);
END
$identity$;
CREATE INDEX trade_events_trade_idx ON xorj.trade_events (trade_id, id);

DELETE FROM xorj.trade_claims c
 WHERE NOT EXISTS (SELECT 1 FROM xorj.trades t WHERE t.id = c.trade_id);
ALTER TABLE xorj.trade_claims
    ADD CONSTRAINT trade_claims_trade_id_fkey FOREIGN KEY (trade_id)
        REFERENCES xorj.trades (id) ON DELETE RESTRICT;

DROP TABLE xorj.trade_events_partitioned;  -- with its partitions
DROP TABLE xorj.trades_partitioned;
DROP TABLE xorj.trade_archive_stats;
DROP TABLE xorj.trade_archives;

CREATE OR REPLACE FUNCTION xorj.trades_audit() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO xorj.trade_events (trade_id, from_status, to_status, actor, detail)
        VALUES (NEW.id, NULL, NEW.status, xorj.current_actor(),
                jsonb_build_object('job_id', NEW.job_id, 'client_order_id', NEW.client_order_id));
    ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
        INSERT INTO xorj.trade_events (trade_id, from_status, to_status, actor, detail)
        VALUES (NEW.id, OLD.status, NEW.status, xorj.current_actor(),
                jsonb_strip_nulls(jsonb_build_object(
                    'transaction_signature', NEW.transaction_signature,
                    'actual_amount_out', NEW.actual_amount_out::text,
                    'gas_fee', NEW.gas_fee::text,
                    'error_message', NEW.error_message)));
    END IF;
    RETURN NULL;
END
$fn$;

CREATE TRIGGER trades_touch BEFORE INSERT OR UPDATE ON xorj.trades
    FOR EACH ROW EXECUTE FUNCTION xorj.touch_updated_at();
CREATE TRIGGER trades_guard BEFORE INSERT OR UPDATE OR DELETE ON xorj.trades
    FOR EACH ROW EXECUTE FUNCTION xorj.trades_guard();
CREATE TRIGGER trades_no_truncate BEFORE TRUNCATE ON xorj.trades
    FOR EACH STATEMENT EXECUTE FUNCTION xorj.trades_guard();
CREATE TRIGGER trades_audit AFTER INSERT OR UPDATE ON xorj.trades
    FOR EACH ROW EXECUTE FUNCTION xorj.trades_audit();
CREATE TRIGGER trades_stats_insert AFTER INSERT ON xorj.trades
    FOR EACH ROW EXECUTE FUNCTION xorj.trades_stats();
CREATE TRIGGER trades_stats_move AFTER UPDATE ON xorj.trades
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION xorj.trades_stats();
CREATE TRIGGER trades_release_claim AFTER UPDATE ON xorj.trades
    FOR EACH ROW
    WHEN (NEW.status IN ('CONFIRMED', 'FAILED') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION xorj.trades_release_claim();
CREATE TRIGGER trade_events_append_only
    BEFORE UPDATE OR DELETE ON xorj.trade_events
    FOR EACH ROW EXECUTE FUNCTION xorj.refuse_trade_event_change();
CREATE TRIGGER trade_events_no_truncate
    BEFORE TRUNCATE ON xorj.trade_events
    FOR EACH STATEMENT EXECUTE FUNCTION xorj.refuse_trade_event_change();
