-- Operations: what a readiness probe and a metrics scrape read. Role xorj_readonly (the
-- least a process can act as); nothing here writes.

-- GET /readyz: the versioned migrations applied to this database (yoyo's table), so that
-- a process can tell whether the database is migrated to the version it expects, without
-- any right on the table itself.
CREATE OR REPLACE FUNCTION api.applied_migrations()
RETURNS SETOF text
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
    SELECT migration_id::text FROM public._yoyo_migration ORDER BY applied_at_utc
$fn$;
REVOKE ALL ON FUNCTION api.applied_migrations() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.applied_migrations() TO xorj_readonly;

-- GET /metrics: the domain figures, read from the database at scrape time, so that they
-- count the work of every process (API workers, bots, the engine loader) and agree
-- whatever process serves the scrape. Each row is one Prometheus sample: name, labels (a
-- JSON object of strings) and value. Every query below reads either a small table
-- (scoring runs, bot states, the per-vault figures xorj.vault_trade_stats) or the
-- partial index of the unfinished trades (trades_claim_order_idx): nothing reads the
-- finished log, so a scrape costs the same whatever its length.
--
--   xorj_trades{status}                         trades by status (CONFIRMED and FAILED only grow)
--   xorj_trades_unfinished_oldest_age_seconds{status}  age of the oldest PENDING trade
--                                               (since created) and SUBMITTED one (since
--                                               submitted); 0 when none
--   xorj_trades_unclaimed_unfinished            PENDING or SUBMITTED trades no bot holds a
--                                               live claim on
--   xorj_execution_jobs_active{status}          PENDING and RUNNING jobs
--   xorj_execution_jobs_oldest_heartbeat_age_seconds  of the RUNNING jobs; 0 when none
--   xorj_scoring_runs{status}                   scoring runs by status
--   xorj_scoring_latest_completed_timestamp_seconds   completed_at of the latest
--                                               COMPLETED run (0 when none)
--   xorj_scoring_latest_completed_traders       traders scored in it
--   xorj_bots{enabled}                          bot states by enabled ("true"/"false")
--   xorj_bot_state_changes                      audit rows of enable/disable so far
CREATE OR REPLACE FUNCTION api.metrics()
RETURNS TABLE (name text, labels jsonb, value double precision)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
    WITH latest AS (
        SELECT r.id, r.completed_at FROM xorj.scoring_runs r
         WHERE r.status = 'COMPLETED'
         ORDER BY r.completed_at DESC, r.id DESC
         LIMIT 1
    )
    SELECT 'xorj_trades', jsonb_build_object('status', s.status),
           coalesce(s.n, 0)::float8
      FROM (SELECT sum(v.pending_trades) AS pending, sum(v.submitted_trades) AS submitted,
                   sum(v.confirmed_trades) AS confirmed, sum(v.failed_trades) AS failed
              FROM xorj.vault_trade_stats v) f
     CROSS JOIN LATERAL (VALUES ('PENDING', f.pending), ('SUBMITTED', f.submitted),
                                ('CONFIRMED', f.confirmed), ('FAILED', f.failed)) AS s(status, n)
    UNION ALL
    -- coalesce(submitted_at, created_at): the key of trades_claim_order_idx, created_at
    -- for a PENDING trade, submitted_at for a SUBMITTED one.
    SELECT 'xorj_trades_unfinished_oldest_age_seconds', '{"status": "PENDING"}',
           coalesce(extract(epoch FROM clock_timestamp()
                                   - min(coalesce(t.submitted_at, t.created_at))), 0)::float8
      FROM xorj.trades t WHERE t.status = 'PENDING'
    UNION ALL
    SELECT 'xorj_trades_unfinished_oldest_age_seconds', '{"status": "SUBMITTED"}',
           coalesce(extract(epoch FROM clock_timestamp()
                                   - min(coalesce(t.submitted_at, t.created_at))), 0)::float8
      FROM xorj.trades t WHERE t.status = 'SUBMITTED'
    UNION ALL
    SELECT 'xorj_trades_unclaimed_unfinished', '{}',
           count(*)::float8
      FROM xorj.trades t
     WHERE t.status IN ('PENDING', 'SUBMITTED')
       AND NOT EXISTS (SELECT 1 FROM xorj.trade_claims c
                        WHERE c.trade_id = t.id AND c.claim_expires_at > clock_timestamp())
    UNION ALL
    SELECT 'xorj_execution_jobs_active', jsonb_build_object('status', s.status),
           (SELECT count(*) FROM xorj.execution_jobs j
             WHERE j.status IN ('PENDING', 'RUNNING') AND j.status::text = s.status)::float8
      FROM (VALUES ('PENDING'), ('RUNNING')) AS s(status)
    UNION ALL
    SELECT 'xorj_execution_jobs_oldest_heartbeat_age_seconds', '{}',
           coalesce(extract(epoch FROM clock_timestamp() - min(j.heartbeat_at)), 0)::float8
      FROM xorj.execution_jobs j WHERE j.status = 'RUNNING'
    UNION ALL
    SELECT 'xorj_scoring_runs', jsonb_build_object('status', s.status::text),
           (SELECT count(*) FROM xorj.scoring_runs r WHERE r.status = s.status)::float8
      FROM unnest(enum_range(NULL::xorj.run_status)) AS s(status)
    UNION ALL
    SELECT 'xorj_scoring_latest_completed_timestamp_seconds', '{}',
           coalesce((SELECT extract(epoch FROM l.completed_at) FROM latest l), 0)::float8
    UNION ALL
    SELECT 'xorj_scoring_latest_completed_traders', '{}',
           -- the run as a value (an InitPlan): only its partition of trader_scores is read
           (SELECT count(*) FROM xorj.trader_scores s
             WHERE s.run_id = (SELECT l.id FROM latest l))::float8
    UNION ALL
    SELECT 'xorj_bots', jsonb_build_object('enabled', e.enabled::text),
           (SELECT count(*) FROM xorj.bot_states b WHERE b.enabled = e.enabled)::float8
      FROM (VALUES (true), (false)) AS e(enabled)
    UNION ALL
    SELECT 'xorj_bot_state_changes', '{}',
           (SELECT count(*) FROM xorj.bot_state_events)::float8
$fn$;
REVOKE ALL ON FUNCTION api.metrics() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.metrics() TO xorj_readonly;
