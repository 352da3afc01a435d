-- Trades: the monthly partitions of xorj.trades and xorj.trade_events, and the one way
-- a month leaves, a verified archive (migration 0011; see trades.sql for the other files
-- of the noun).
--
-- A month M (UTC) is two partitions: xorj.trades_YYYY_MM (the trades created in M) and
-- xorj.trade_events_YYYY_MM (every event of those trades, whenever it happened). There
-- is no DEFAULT partition: an insert for a month without its partition is refused
-- (23514), never stored elsewhere. xorj.ensure_trade_partitions creates the partitions
-- of this month and the next ones ahead of time (`xorj db maintain`, any frequency), and
-- api.create_trade calls it when its own month has none, so a missing partition costs a
-- creation, never a trade.
--
-- A month leaves only through xorj.archive_trade_month (`xorj db archive`): the caller
-- has written the month to files and read them back; the function recomputes the counts
-- and checksums on the partitions and compares them with the files', refuses a month
-- that is not over or holds an unfinished trade, records the archive
-- (xorj.trade_archives), then detaches and drops the two partitions. DELETE and
-- TRUNCATE stay refused on every partition (trades_guard.sql). The keys of the archived
-- trades stay (xorj.trade_keys): their client_order_ids and signatures stay taken.
--
-- The checksum of a set of rows (the same in Python, app/archive.py): each row as
-- to_jsonb(row)::text with TimeZone UTC, its UTF-8 bytes hashed with sha256, the first 8 bytes read as a
-- signed big-endian 64-bit integer; the checksum is the exact sum of those over the
-- rows (numeric), which does not depend on their order.

CREATE OR REPLACE FUNCTION xorj.row_checksum(p_row text) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog
AS $fn$
    SELECT ('x' || left(encode(sha256(convert_to(p_row, 'UTF8')), 'hex'), 16))::bit(64)::bigint
$fn$;

-- The first instant of month p_month (a date in it) in UTC, and of the month after.
CREATE OR REPLACE FUNCTION xorj.month_bounds(p_month date, OUT lower_at timestamptz,
                                             OUT upper_at timestamptz)
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog
AS $fn$
    SELECT date_trunc('month', p_month)::timestamp AT TIME ZONE 'UTC',
           (date_trunc('month', p_month) + interval '1 month')::timestamp AT TIME ZONE 'UTC'
$fn$;

-- The guards a statement on a partition must meet too: a statement trigger of the
-- partitioned table fires only for statements naming it (the row triggers are cloned
-- onto each partition by PostgreSQL).
CREATE OR REPLACE FUNCTION xorj.trade_partitions_install_guards(p_trades regclass,
                                                                p_events regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    EXECUTE format('CREATE OR REPLACE TRIGGER trades_no_truncate BEFORE TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION xorj.trades_guard()', p_trades);
    EXECUTE format('CREATE OR REPLACE TRIGGER trade_events_no_truncate BEFORE TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION xorj.refuse_trade_event_change()',
                   p_events);
END
$fn$;

-- Every month that has its partitions, oldest first.
CREATE OR REPLACE FUNCTION xorj.trade_months()
RETURNS TABLE (month date, trades_partition text, events_partition text)
LANGUAGE sql STABLE
SET search_path = pg_catalog
AS $fn$
    SELECT m.month, 'xorj.' || c.relname, 'xorj.trade_events_' || to_char(m.month, 'YYYY_MM')
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    CROSS JOIN LATERAL (SELECT to_date(substr(c.relname, 8), 'YYYY_MM') AS month) m
    WHERE i.inhparent = 'xorj.trades'::regclass
      AND c.relname ~ '^trades_[0-9]{4}_[0-9]{2}$'
    ORDER BY m.month
$fn$;

-- The partitions of the month of p_at and of the p_ahead months after it, created when
-- missing (as tables, then attached: ATTACH PARTITION takes the partitioned table in
-- SHARE UPDATE EXCLUSIVE mode, so reads and writes of the other months go on), with
-- their guards. A month already archived is not created again. Returns how many months
-- were created. Safe concurrently (an advisory lock) and at any frequency.
CREATE OR REPLACE FUNCTION xorj.ensure_trade_partitions(p_at timestamptz DEFAULT clock_timestamp(),
                                                        p_ahead integer DEFAULT 3)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    v_month   date;
    v_bounds  record;
    v_trades  text;
    v_events  text;
    v_created integer := 0;
BEGIN
    IF p_at IS NULL OR p_ahead IS NULL OR p_ahead NOT BETWEEN 0 AND 120 THEN
        PERFORM xorj.raise_invalid('ahead', 'must be 0 to 120 months, from a given time');
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('xorj.ensure_trade_partitions'));
    FOR k IN 0 .. p_ahead LOOP
        v_month := (date_trunc('month', p_at AT TIME ZONE 'UTC') + k * interval '1 month')::date;
        v_trades := 'trades_' || to_char(v_month, 'YYYY_MM');
        v_events := 'trade_events_' || to_char(v_month, 'YYYY_MM');
        CONTINUE WHEN to_regclass('xorj.' || v_trades) IS NOT NULL
                  OR EXISTS (SELECT 1 FROM xorj.trade_archives a WHERE a.month = v_month);
        v_bounds := xorj.month_bounds(v_month);
        EXECUTE format('CREATE TABLE xorj.%I (LIKE xorj.trades INCLUDING DEFAULTS '
                       'INCLUDING CONSTRAINTS INCLUDING STORAGE)', v_trades);
        EXECUTE format('ALTER TABLE xorj.trades ATTACH PARTITION xorj.%I FOR VALUES FROM (%L) TO (%L)',
                       v_trades, v_bounds.lower_at, v_bounds.upper_at);
        IF to_regclass('xorj.' || v_events) IS NULL THEN
            EXECUTE format('CREATE TABLE xorj.%I (LIKE xorj.trade_events INCLUDING DEFAULTS '
                           'INCLUDING CONSTRAINTS INCLUDING STORAGE)', v_events);
            EXECUTE format('ALTER TABLE xorj.trade_events ATTACH PARTITION xorj.%I '
                           'FOR VALUES FROM (%L) TO (%L)',
                           v_events, v_bounds.lower_at, v_bounds.upper_at);
        END IF;
        PERFORM xorj.trade_partitions_install_guards(format('xorj.%I', v_trades)::regclass,
                                                     format('xorj.%I', v_events)::regclass);
        v_created := v_created + 1;
    END LOOP;
    RETURN v_created;
END
$fn$;
REVOKE ALL ON FUNCTION xorj.ensure_trade_partitions(timestamptz, integer) FROM PUBLIC;

-- What a month holds, from its partitions: {"month": "YYYY-MM", "closed": the month is
-- over, "trades", "unfinished" (PENDING or SUBMITTED), "trades_sum", "events",
-- "events_sum"} (sums as strings: exact integers). XJ404 when the month has no partition.
CREATE OR REPLACE FUNCTION xorj.trade_month_summary(p_month date) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, xorj, pg_temp
SET TimeZone = 'UTC'  -- a row's text (its timestamps) does not depend on the caller's session
AS $fn$
DECLARE
    v_bounds record := xorj.month_bounds(p_month);
    v_month  date := date_trunc('month', p_month)::date;
    v_trades record;
    v_events record;
BEGIN
    IF p_month IS NULL THEN
        PERFORM xorj.raise_invalid('month', 'is required');
    END IF;
    IF to_regclass('xorj.trades_' || to_char(v_month, 'YYYY_MM')) IS NULL THEN
        PERFORM xorj.raise_not_found('trade month', to_char(v_month, 'YYYY-MM'),
            jsonb_build_object('archived',
                EXISTS (SELECT 1 FROM xorj.trade_archives a WHERE a.month = v_month)));
    END IF;
    SELECT count(*) AS n,
           count(*) FILTER (WHERE t.status IN ('PENDING', 'SUBMITTED')) AS unfinished,
           coalesce(sum(xorj.row_checksum(to_jsonb(t)::text)), 0) AS sum
      INTO v_trades
      FROM xorj.trades t
     WHERE t.created_at >= v_bounds.lower_at AND t.created_at < v_bounds.upper_at;
    SELECT count(*) AS n, coalesce(sum(xorj.row_checksum(to_jsonb(e)::text)), 0) AS sum
      INTO v_events
      FROM xorj.trade_events e
     WHERE e.trade_created_at >= v_bounds.lower_at AND e.trade_created_at < v_bounds.upper_at;
    RETURN jsonb_build_object(
        'month', to_char(v_month, 'YYYY-MM'),
        'closed', v_bounds.upper_at <= clock_timestamp(),
        'trades', v_trades.n, 'unfinished', v_trades.unfinished,
        'trades_sum', v_trades.sum::text,
        'events', v_events.n, 'events_sum', v_events.sum::text);
END
$fn$;
REVOKE ALL ON FUNCTION xorj.trade_month_summary(date) FROM PUBLIC;

-- The archive of month p_month, the only way trades leave. The caller gives what the
-- archive files hold (counts and checksums of the rows read back from them); under an
-- advisory lock, this refuses
-- (XJ409, rule in CONSTRAINT):
--   month_not_closed   the month is not over (trades may still be created in it);
--   unfinished_trades  a trade of the month is PENDING or SUBMITTED (facts: how many);
--   archive_mismatch   the counts or checksums differ from the partitions' (facts: both);
-- XJ404 when the month has no partition (facts: "archived" when it left already).
-- Then it records the month in xorj.trade_archives (and its figures per vault in
-- xorj.trade_archive_stats, for xorj.vault_trade_stats_drift) and detaches and drops its two
-- partitions (the events' first: they name the trades). The month's keys stay. Waits at
-- most 10 s for a lock (55P03 otherwise: nothing done, run it again).
CREATE OR REPLACE FUNCTION xorj.archive_trade_month(p_month date, p_trades bigint,
                                                    p_trades_sum numeric, p_events bigint,
                                                    p_events_sum numeric)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
SET lock_timeout = '10s'
AS $fn$
DECLARE
    v_month   date := date_trunc('month', p_month)::date;
    v_trades  text := 'xorj.trades_' || to_char(p_month, 'YYYY_MM');
    v_events  text := 'xorj.trade_events_' || to_char(p_month, 'YYYY_MM');
    v_found   jsonb;
    v_given   jsonb;
BEGIN
    IF p_month IS NULL OR p_trades IS NULL OR p_trades_sum IS NULL OR p_events IS NULL
       OR p_events_sum IS NULL THEN
        PERFORM xorj.raise_invalid('month', 'the month, counts and checksums are required');
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('xorj.archive_trade_month'));
    -- No lock on the month while it is read: a month that is over and holds no
    -- unfinished trade cannot change (no trade is created in the past, a finished trade
    -- is final, an event is written only with a move), and the checks below are of that.
    v_found := xorj.trade_month_summary(v_month);  -- XJ404 when there is no partition
    IF NOT (v_found ->> 'closed')::boolean THEN
        PERFORM xorj.raise_conflict('month_not_closed',
            format('month %s is not over: its trades cannot be archived yet', v_found ->> 'month'),
            format('month=%s', v_found ->> 'month'),
            'Archive a month after it has ended.',
            jsonb_build_object('month', v_found ->> 'month'));
    END IF;
    IF (v_found ->> 'unfinished')::bigint > 0 THEN
        PERFORM xorj.raise_conflict('unfinished_trades',
            format('month %s has %s unfinished trade(s): it cannot be archived',
                   v_found ->> 'month', v_found ->> 'unfinished'),
            format('unfinished=%s', v_found ->> 'unfinished'),
            'Let the bots (or recovery) bring every trade to CONFIRMED or FAILED first.',
            jsonb_build_object('month', v_found ->> 'month',
                               'unfinished', (v_found ->> 'unfinished')::bigint));
    END IF;
    v_given := jsonb_build_object('trades', p_trades, 'trades_sum', p_trades_sum::text,
                                  'events', p_events, 'events_sum', p_events_sum::text);
    IF (v_found - 'month' - 'closed' - 'unfinished') <> v_given THEN
        PERFORM xorj.raise_conflict('archive_mismatch',
            format('the archive of month %s does not match its partitions: nothing is dropped',
                   v_found ->> 'month'),
            format('archive=%s database=%s', v_given, v_found - 'month' - 'closed' - 'unfinished'),
            'Write the archive again and verify it before archiving.',
            jsonb_build_object('month', v_found ->> 'month', 'archive', v_given,
                               'database', v_found - 'month' - 'closed' - 'unfinished'));
    END IF;
    INSERT INTO xorj.trade_archives (month, trades, trades_sum, events, events_sum, archived_by)
    VALUES (v_month, p_trades, p_trades_sum, p_events, p_events_sum, xorj.current_actor());
    INSERT INTO xorj.trade_archive_stats (month, user_vault_address, venue, confirmed_trades,
                                          failed_trades, confirmed_volume, last_created_at,
                                          last_confirmed_at, last_failed_at)
    SELECT v_month, t.user_vault_address, t.venue,
           count(*) FILTER (WHERE t.status = 'CONFIRMED'),
           count(*) FILTER (WHERE t.status = 'FAILED'),
           coalesce(sum(t.amount_in) FILTER (WHERE t.status = 'CONFIRMED'), 0),
           max(t.created_at),
           max(t.completed_at) FILTER (WHERE t.status = 'CONFIRMED'),
           max(t.completed_at) FILTER (WHERE t.status = 'FAILED')
    FROM xorj.trades t
    WHERE t.created_at >= (xorj.month_bounds(v_month)).lower_at
      AND t.created_at < (xorj.month_bounds(v_month)).upper_at
    GROUP BY t.user_vault_address, t.venue;
    -- The parents in the order writers take them (trades, then trade_events): no deadlock.
    LOCK TABLE xorj.trades, xorj.trade_events IN ACCESS EXCLUSIVE MODE;
    EXECUTE format('ALTER TABLE xorj.trade_events DETACH PARTITION %s', v_events);
    EXECUTE format('DROP TABLE %s', v_events);
    EXECUTE format('ALTER TABLE xorj.trades DETACH PARTITION %s', v_trades);
    EXECUTE format('DROP TABLE %s', v_trades);
    RETURN jsonb_build_object('month', v_found ->> 'month', 'trades', p_trades,
                              'events', p_events);
END
$fn$;
REVOKE ALL ON FUNCTION xorj.archive_trade_month(date, bigint, numeric, bigint, numeric) FROM PUBLIC;

-- The guards on every partition (re-applied on each migrate).
DO $$
DECLARE
    m record;
BEGIN
    FOR m IN SELECT * FROM xorj.trade_months() LOOP
        PERFORM xorj.trade_partitions_install_guards(m.trades_partition::regclass,
                                                     m.events_partition::regclass);
    END LOOP;
END
$$;
