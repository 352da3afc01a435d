-- Trades: the per-vault figures (see trades.sql for the other files of the noun).
--
-- xorj.vault_trade_stats (migration 0009) holds, per vault and venue, the trade counts by
-- status, the confirmed volume and the latest created, confirmed and failed times: what
-- api.bot_status shows, read as one row whatever the length of the vault's history.
-- Triggers keep it in the transaction of each write of xorj.trades:
--   trades_stats_insert  a new trade (PENDING): pending_trades + 1, last_created_at;
--   trades_stats_move    a status move: one count down, one up; a move to CONFIRMED adds
--                        amount_in to confirmed_volume and raises last_confirmed_at, a
--                        move to FAILED raises last_failed_at.
-- Lease changes (claimed_by, claim_expires_at) fire neither trigger. Every figure is a
-- count, a sum or a maximum, so concurrent transactions leave the same figures whatever
-- order they commit in; the row of a vault is locked by the writing transaction until it
-- ends (create_trade already holds the vault's bot_states row for as long).
-- xorj.vault_trade_stats_drift() recounts the log and returns the rows that disagree
-- (none, always: tests/pgtap/trades_stats.sql).

CREATE OR REPLACE FUNCTION xorj.trades_stats() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- The vault's row exists after its first trade: a plain update (an INSERT ... ON
        -- CONFLICT would first try a speculative insert, then update); the first trade
        -- of a vault and venue inserts it (ON CONFLICT: two first trades at once).
        UPDATE xorj.vault_trade_stats s
           SET pending_trades = s.pending_trades + 1,
               last_created_at = greatest(s.last_created_at, NEW.created_at)
         WHERE s.user_vault_address = NEW.user_vault_address AND s.venue = NEW.venue;
        IF NOT FOUND THEN
            INSERT INTO xorj.vault_trade_stats AS s
                   (user_vault_address, venue, pending_trades, last_created_at)
            VALUES (NEW.user_vault_address, NEW.venue, 1, NEW.created_at)
            ON CONFLICT (user_vault_address, venue) DO UPDATE
               SET pending_trades = s.pending_trades + 1,
                   last_created_at = greatest(s.last_created_at, EXCLUDED.last_created_at);
        END IF;
        RETURN NULL;
    END IF;
    -- A status move (the trigger's WHEN): the row exists since the trade's insert.
    UPDATE xorj.vault_trade_stats s
       SET pending_trades   = s.pending_trades   - (OLD.status = 'PENDING')::int,
           submitted_trades = s.submitted_trades - (OLD.status = 'SUBMITTED')::int
                                                 + (NEW.status = 'SUBMITTED')::int,
           confirmed_trades = s.confirmed_trades + (NEW.status = 'CONFIRMED')::int,
           failed_trades    = s.failed_trades    + (NEW.status = 'FAILED')::int,
           confirmed_volume = s.confirmed_volume
                              + CASE WHEN NEW.status = 'CONFIRMED' THEN NEW.amount_in ELSE 0 END,
           last_confirmed_at = CASE WHEN NEW.status = 'CONFIRMED'
                                    THEN greatest(s.last_confirmed_at, NEW.completed_at)
                                    ELSE s.last_confirmed_at END,
           last_failed_at   = CASE WHEN NEW.status = 'FAILED'
                                   THEN greatest(s.last_failed_at, NEW.completed_at)
                                   ELSE s.last_failed_at END
     WHERE s.user_vault_address = NEW.user_vault_address AND s.venue = NEW.venue;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'xorj.vault_trade_stats has no row for vault % venue %',
            NEW.user_vault_address, NEW.venue
            USING ERRCODE = 'XX000',
                  HINT = 'The figures are written with each trade since migration 0009.';
    END IF;
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE TRIGGER trades_stats_insert
    AFTER INSERT ON xorj.trades
    FOR EACH ROW EXECUTE FUNCTION xorj.trades_stats();
CREATE OR REPLACE TRIGGER trades_stats_move
    AFTER UPDATE ON xorj.trades
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION xorj.trades_stats();

-- The rows of xorj.vault_trade_stats that disagree with a recount of the trade log
-- (kept: what the table says; counted: what the log says, with the figures of the
-- archived months, xorj.trade_archive_stats). Reads the whole log: for
-- tests and audits, never on a request path.
CREATE OR REPLACE FUNCTION xorj.vault_trade_stats_drift()
RETURNS TABLE (user_vault_address text, venue text, kept jsonb, counted jsonb)
LANGUAGE sql STABLE
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
    WITH parts AS (
        SELECT t.user_vault_address::text AS vault, t.venue,
               count(*) FILTER (WHERE t.status = 'PENDING') AS pending,
               count(*) FILTER (WHERE t.status = 'SUBMITTED') AS submitted,
               count(*) FILTER (WHERE t.status = 'CONFIRMED') AS confirmed,
               count(*) FILTER (WHERE t.status = 'FAILED') AS failed,
               coalesce(sum(t.amount_in) FILTER (WHERE t.status = 'CONFIRMED'), 0) AS volume,
               max(t.created_at) AS last_created,
               max(t.completed_at) FILTER (WHERE t.status = 'CONFIRMED') AS last_confirmed,
               max(t.completed_at) FILTER (WHERE t.status = 'FAILED') AS last_failed
        FROM xorj.trades t
        GROUP BY t.user_vault_address, t.venue
        UNION ALL  -- the archived months' trades (finished, every one)
        SELECT a.user_vault_address::text, a.venue, 0, 0, a.confirmed_trades, a.failed_trades,
               a.confirmed_volume, a.last_created_at, a.last_confirmed_at, a.last_failed_at
        FROM xorj.trade_archive_stats a
    ), counted AS (
        SELECT p.vault, p.venue,
               jsonb_build_object(
                   'pending_trades', sum(p.pending),
                   'submitted_trades', sum(p.submitted),
                   'confirmed_trades', sum(p.confirmed),
                   'failed_trades', sum(p.failed),
                   'confirmed_volume', sum(p.volume),
                   'last_created_at', max(p.last_created),
                   'last_confirmed_at', max(p.last_confirmed),
                   'last_failed_at', max(p.last_failed)
               ) AS figures
        FROM parts p
        GROUP BY p.vault, p.venue
    ), kept AS (
        SELECT s.user_vault_address::text AS vault, s.venue,
               jsonb_build_object(
                   'pending_trades', s.pending_trades,
                   'submitted_trades', s.submitted_trades,
                   'confirmed_trades', s.confirmed_trades,
                   'failed_trades', s.failed_trades,
                   'confirmed_volume', s.confirmed_volume,
                   'last_created_at', s.last_created_at,
                   'last_confirmed_at', s.last_confirmed_at,
                   'last_failed_at', s.last_failed_at
               ) AS figures
        FROM xorj.vault_trade_stats s
    )
    SELECT coalesce(k.vault, c.vault), coalesce(k.venue, c.venue), k.figures, c.figures
    FROM kept k
    FULL JOIN counted c ON c.vault = k.vault AND c.venue = k.venue
    WHERE k.figures IS DISTINCT FROM c.figures
$fn$;
