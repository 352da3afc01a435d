-- Trades: sharing the work between bots (see trades.sql for the other files of the noun).
-- Role xorj_bot.
--
-- A claim is a lease: a row of xorj.trade_claims (trade_id, claimed_by,
-- claim_expires_at; migration 0010), never a column of xorj.trades. A claim inserts the
-- row (or takes over an expired one), a renewal updates it in place (a HOT update: the
-- indexed columns trade_id and claimed_by do not change, and the table's pages are half
-- empty), a release deletes it, and so does the trade's move to CONFIRMED or FAILED
-- (trigger trades_release_claim). Guard (trigger trade_claims_unfinished): a lease is
-- written only for a PENDING or SUBMITTED trade. A trade's JSON (xorj.trade_json) still
-- shows its claimed_by and claim_expires_at (NULL when nobody holds it).
-- api.claim_trades hands a bot the unfinished trades nobody holds (or whose lease ran
-- out, or that it already holds): every SUBMITTED trade and the PENDING ones older than
-- p_pending_older_than, oldest first. FOR UPDATE SKIP LOCKED on the trades: two bots
-- claiming at once never get the same trade. A bot renews its leases while it works and
-- releases them when it stops; a bot that dies loses them when they expire, and another
-- bot takes over.
-- p_exclude: ids the caller already works (e.g. its earlier batches of one pass, which
-- it still holds): never returned, so the caller can page through more than p_limit.
-- p_venue: only the trades of that venue (a bot on a local validator never takes a live
-- trade, whose signature it would look for on the wrong chain); NULL: every venue.
-- Read in claim order from the partial index trades_claim_order_idx (the unfinished
-- trades only: status DESC, coalesce(submitted_at, created_at), id), stopping at
-- p_limit (xorj.claim_batch): nothing sorts the unfinished set, and the finished log is
-- never read (tests/pgtap/trades_claims_plan.sql).

-- A lease is written only for an unfinished trade (read under the trade's row lock
-- when the claim comes from api.claim_trades or api.create_trade).
CREATE OR REPLACE FUNCTION xorj.trade_claims_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    v_status xorj.trade_status;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.trade_id IS DISTINCT FROM OLD.trade_id THEN
        PERFORM xorj.raise_state('trade_claims',
            format('trade claim %s: its trade cannot change', OLD.trade_id),
            'A lease belongs to one trade.', p_facts => jsonb_build_object('id', OLD.trade_id));
    END IF;
    -- Its key row says whether it is finished (xorj.trade_keys, kept with each move).
    IF NOT EXISTS (SELECT 1 FROM xorj.trade_keys k WHERE k.id = NEW.trade_id AND k.unfinished) THEN
        SELECT t.status INTO v_status FROM xorj.trades t
        WHERE t.id = NEW.trade_id AND t.created_at = xorj.trade_created_at(NEW.trade_id);
        PERFORM xorj.raise_state('trade_claims',
            format('trade %s is %s: a finished trade cannot be claimed', NEW.trade_id,
                   coalesce(v_status::text, 'archived')),
            'Leases are held on PENDING and SUBMITTED trades only.',
            p_facts => jsonb_build_object('id', NEW.trade_id, 'from', v_status));
    END IF;
    RETURN NEW;
END
$fn$;

CREATE OR REPLACE TRIGGER trade_claims_unfinished
    BEFORE INSERT OR UPDATE ON xorj.trade_claims
    FOR EACH ROW EXECUTE FUNCTION xorj.trade_claims_guard();

-- A trade that finishes (CONFIRMED or FAILED) loses its lease.
CREATE OR REPLACE FUNCTION xorj.trades_release_claim() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    DELETE FROM xorj.trade_claims WHERE trade_id = NEW.id;
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE TRIGGER trades_release_claim
    AFTER UPDATE ON xorj.trades
    FOR EACH ROW WHEN (NEW.status IN ('CONFIRMED', 'FAILED') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION xorj.trades_release_claim();

-- One claim's batch: the trades a claim of worker $1 may take, in claim order, at most
-- $6 of them, locked FOR UPDATE SKIP LOCKED under the limit (a row another claim holds
-- locked is skipped and the next one taken). Arguments: $1 worker, $2 pending older
-- than, $3 excluded ids, $4 venue (NULL: any), $5 now, $6 limit. Written with positional
-- parameters so tests/pgtap/trades_claims_plan.sql can PREPARE and EXPLAIN this very
-- body. Sorts off (enable_sort, enable_incremental_sort): with a small unfinished set
-- the planner would rather sort it than read the index; the index read is what keeps a
-- claim's cost flat.
CREATE OR REPLACE FUNCTION xorj.claim_batch(text, interval, uuid[], text, timestamptz, integer)
RETURNS SETOF uuid
LANGUAGE sql VOLATILE
SET enable_sort = off
SET enable_incremental_sort = off
AS $fn$
    SELECT t.id
    FROM xorj.trades t
    WHERE t.status IN ('PENDING', 'SUBMITTED')
      AND (t.status = 'SUBMITTED' OR t.created_at <= $5 - $2)
      AND NOT EXISTS (SELECT 1 FROM xorj.trade_claims c  -- held by another, live
                      WHERE c.trade_id = t.id AND c.claimed_by <> $1 AND c.claim_expires_at >= $5)
      AND NOT coalesce(t.id = ANY ($3), false)  -- NULL: nothing excluded
      AND ($4 IS NULL OR t.venue = $4)
    ORDER BY t.status DESC, coalesce(t.submitted_at, t.created_at), t.id
    LIMIT $6
    FOR UPDATE OF t SKIP LOCKED
$fn$;

CREATE OR REPLACE FUNCTION api.claim_trades(
    p_worker text,
    p_lease interval,
    p_pending_older_than interval DEFAULT interval '0',
    p_limit integer DEFAULT 100,
    p_exclude uuid[] DEFAULT NULL,
    p_venue text DEFAULT NULL
) RETURNS SETOF jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    PERFORM xorj.check_claim(p_worker, p_lease, true);
    PERFORM xorj.check_recovery_args(p_pending_older_than, p_limit);
    PERFORM xorj.check_venue(p_venue, false);
    RETURN QUERY
    WITH claimable AS (
        SELECT c.id
        FROM xorj.claim_batch(p_worker, p_pending_older_than, p_exclude, p_venue,
                              clock_timestamp(), p_limit) AS c(id)
    ), claimed AS (
        INSERT INTO xorj.trade_claims AS k (trade_id, claimed_by, claim_expires_at)
        SELECT c.id, p_worker, clock_timestamp() + p_lease FROM claimable c
        ON CONFLICT (trade_id) DO UPDATE
           SET claimed_by = EXCLUDED.claimed_by, claim_expires_at = EXCLUDED.claim_expires_at
        RETURNING k.trade_id, k.claimed_by, k.claim_expires_at
    )
    -- The lease as just written (the statement's own snapshot, which xorj.trade_json
    -- reads, does not see the writes of its CTE yet).
    SELECT xorj.trade_json(t) || jsonb_build_object('claimed_by', c.claimed_by,
                                                    'claim_expires_at', c.claim_expires_at)
    FROM claimed c
    JOIN xorj.trade_keys k ON k.id = c.trade_id
    JOIN xorj.trades t ON t.id = c.trade_id AND t.created_at = k.created_at
    ORDER BY t.status DESC, coalesce(t.submitted_at, t.created_at), t.id;
END
$fn$;
REVOKE ALL ON FUNCTION api.claim_trades(text, interval, interval, integer, uuid[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.claim_trades(text, interval, interval, integer, uuid[], text) TO xorj_bot;

-- Extend every lease the worker holds on unfinished trades; returns how many.
CREATE OR REPLACE FUNCTION api.renew_trade_claims(p_worker text, p_lease interval)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    n integer;
BEGIN
    PERFORM xorj.check_claim(p_worker, p_lease, true);
    UPDATE xorj.trade_claims SET claim_expires_at = clock_timestamp() + p_lease
    WHERE claimed_by = p_worker;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;
REVOKE ALL ON FUNCTION api.renew_trade_claims(text, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.renew_trade_claims(text, interval) TO xorj_bot;

-- Give back the worker's leases (all, or the listed trades); returns how many.
CREATE OR REPLACE FUNCTION api.release_trade_claims(p_worker text, p_trade_ids uuid[] DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    n integer;
BEGIN
    PERFORM xorj.check_worker_id(p_worker);
    DELETE FROM xorj.trade_claims
    WHERE claimed_by = p_worker
      AND (p_trade_ids IS NULL OR trade_id = ANY (p_trade_ids));
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;
REVOKE ALL ON FUNCTION api.release_trade_claims(text, uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.release_trade_claims(text, uuid[]) TO xorj_bot;

-- The leases that workers other than p_worker hold, still live at p_now, with the venue
-- of their trade. Read from xorj.trade_claims (the live leases only): the cost is that of
-- the claims, whatever the size of the trade log. Inlinable (plain SQL, no SET, not
-- SECURITY DEFINER), so EXPLAIN of it shows the plan api.trades_held_by_others runs.
-- (Until 0010 it returned the trades themselves: 00_common.sql drops that version.)
CREATE OR REPLACE FUNCTION xorj.trades_held_by_others(p_worker text, p_now timestamptz)
RETURNS TABLE (trade_id uuid, claimed_by text, claim_expires_at timestamptz, venue text)
LANGUAGE sql STABLE
AS $fn$
    SELECT c.trade_id, c.claimed_by, c.claim_expires_at, k.venue
    FROM xorj.trade_claims c
    JOIN xorj.trade_keys k ON k.id = c.trade_id
    WHERE c.claim_expires_at > p_now
      AND c.claimed_by <> p_worker
      AND k.unfinished  -- always, by the guard; checked all the same
$fn$;

-- The unfinished trades (PENDING or SUBMITTED) other workers hold with a live claim
-- (claim_expires_at after now): the trades a recovery pass of p_worker cannot take. One
-- row: held, how many; first_claim_expires_at, the earliest end of their leases (NULL
-- when none is held): from then on, unless its holder renews it, a pass can take one.
-- (Until 0007 it returned the count alone, a bigint: 00_common.sql drops that version.)
-- p_venue: only that venue's trades (the ones a bot of that venue could take); NULL: all.
CREATE OR REPLACE FUNCTION api.trades_held_by_others(p_worker text, p_venue text DEFAULT NULL)
RETURNS TABLE (held bigint, first_claim_expires_at timestamptz)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    v_now timestamptz := clock_timestamp();
BEGIN
    PERFORM xorj.check_worker_id(p_worker);
    PERFORM xorj.check_venue(p_venue, false);
    RETURN QUERY
        SELECT count(*), min(t.claim_expires_at)
        FROM xorj.trades_held_by_others(p_worker, v_now) t
        WHERE p_venue IS NULL OR t.venue = p_venue;
END
$fn$;
REVOKE ALL ON FUNCTION api.trades_held_by_others(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.trades_held_by_others(text, text) TO xorj_bot;
