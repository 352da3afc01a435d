-- depends: 0002_tables
-- The audit trail of trades: one row per status change, append-only.

CREATE TABLE xorj.trade_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    trade_id    uuid NOT NULL REFERENCES xorj.trades (id) ON DELETE RESTRICT,
    from_status xorj.trade_status,            -- NULL for the creation of the trade
    to_status   xorj.trade_status NOT NULL,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT trade_events_actor_length CHECK (length(actor) BETWEEN 1 AND 200),
    CONSTRAINT trade_events_detail_is_object CHECK (jsonb_typeof(detail) = 'object'),
    CONSTRAINT trade_events_status_changes CHECK (from_status IS DISTINCT FROM to_status)
);
CREATE INDEX trade_events_trade_idx ON xorj.trade_events (trade_id, id);

-- Append-only, even against direct SQL by anyone but a superuser disabling triggers.
CREATE FUNCTION xorj.refuse_trade_event_change() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $fn$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'XJ423',
        MESSAGE = format('trade_events is append-only: %s is not allowed', TG_OP),
        DETAIL  = 'The audit trail of trades keeps every row it was given.',
        HINT    = 'Record a correction as a new event instead.';
END
$fn$;

CREATE TRIGGER trade_events_append_only
    BEFORE UPDATE OR DELETE ON xorj.trade_events
    FOR EACH ROW EXECUTE FUNCTION xorj.refuse_trade_event_change();
CREATE TRIGGER trade_events_no_truncate
    BEFORE TRUNCATE ON xorj.trade_events
    FOR EACH STATEMENT EXECUTE FUNCTION xorj.refuse_trade_event_change();
