-- Trade Execution Bot: execution jobs (one row per bot run). Role xorj_bot.
--
-- Guards that hold against direct SQL (trigger execution_jobs_guard, the lifecycle's
-- shared guard xorj.lifecycle_guard of 00_common.sql):
--   * a job is inserted PENDING, without worker or error; started_at, heartbeat_at and
--     completed_at are the database's (NULL on insert, whatever the INSERT says);
--   * status moves only PENDING -> RUNNING (worker_id required; started_at and
--     heartbeat_at := clock_timestamp()), RUNNING -> COMPLETED, RUNNING -> FAILED and
--     PENDING -> FAILED (completed_at := clock_timestamp(); FAILED needs an error);
--     anything else is XJ423 'execution job <id>: <FROM> -> <TO> is not allowed';
--   * id, trigger_reason, parameters and created_at never change; worker_id is set by
--     the start only; heartbeat_at changes only while RUNNING (to the database's clock);
--   * a COMPLETED or FAILED job never changes again (an UPDATE that changes nothing is
--     skipped);
--   * DELETE and TRUNCATE are refused.
--
-- The api functions lock the job row (FOR UPDATE) before deciding, so two workers
-- racing for one job are serialized: one starts it, the other gets XJ423. A worker
-- acts on a RUNNING job only while it holds it (XJ409 job_worker_mismatch otherwise).
-- Repeating complete or fail with the same values returns the job unchanged.

-- Refuse a status move of a job: XJ423 (worded by xorj.lifecycle_refuse_move).
CREATE OR REPLACE FUNCTION xorj.execution_job_refuse_move(p_id uuid, p_from xorj.job_status,
                                                          p_to xorj.job_status)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    PERFORM xorj.lifecycle_refuse_move('execution_jobs', 'execution job', 'job', 'run',
                                       p_id, p_from::text, p_to::text);
END
$fn$;

-- The guard is the lifecycle's, written once (xorj.lifecycle_guard, 00_common.sql), with
-- the words of this table: triggers execution_jobs_guard, named so that it fires before
-- execution_jobs_touch (triggers fire in name order), and execution_jobs_no_truncate.
SELECT xorj.lifecycle_install_guard('xorj.execution_jobs', '{
    "what": "execution job", "article": "an", "noun": "job", "redo": "run",
    "referenced_by": "Trades", "worker": true,
    "create": "api.create_execution_job", "start": "api.start_execution_job",
    "fail": "api.fail_execution_job",
    "insert_detail": "Jobs enter the table PENDING and are started by a worker.",
    "new_message": "a new execution job has no worker or error yet",
    "new_detail": "worker_id is set when a worker starts the job, error_message when it fails.",
    "identity": ["id", "trigger_reason", "parameters", "created_at"],
    "identity_words": "id, trigger_reason, parameters and created_at",
    "identity_detail": "A job keeps what it was created with.",
    "identity_hint": "Create a new job instead.",
    "unchanged_message": "worker_id and error_message change only with its status",
    "unchanged_detail": "worker_id is set by the start, error_message by the failure.",
    "unchanged_hint": "Use api.start_execution_job or api.fail_execution_job."
}');

-- The guard function of earlier versions of this file, replaced by the shared one above.
DO $$
BEGIN
    IF to_regprocedure('xorj.execution_jobs_guard()') IS NOT NULL THEN
        DROP FUNCTION xorj.execution_jobs_guard();
    END IF;
END
$$;

-- The job, locked FOR UPDATE, or XJ404.
CREATE OR REPLACE FUNCTION xorj.lock_execution_job(p_job_id uuid) RETURNS xorj.execution_jobs
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    j xorj.execution_jobs;
BEGIN
    IF p_job_id IS NULL THEN
        PERFORM xorj.raise_invalid('job_id', 'is required');
    END IF;
    SELECT * INTO j FROM xorj.execution_jobs WHERE id = p_job_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM xorj.raise_not_found('execution job', p_job_id::text);
    END IF;
    RETURN j;
END
$fn$;

-- The job a worker acts on (start, heartbeat, complete): the worker id checked (XJ422),
-- then the job locked FOR UPDATE (XJ404).
CREATE OR REPLACE FUNCTION xorj.lock_execution_job_for(p_job_id uuid, p_worker_id text)
RETURNS xorj.execution_jobs
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    PERFORM xorj.check_worker_id(p_worker_id);
    RETURN xorj.lock_execution_job(p_job_id);
END
$fn$;

-- A RUNNING job must be held by the worker acting on it: XJ409 job_worker_mismatch.
CREATE OR REPLACE FUNCTION xorj.check_job_worker(j xorj.execution_jobs, p_worker_id text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    IF j.worker_id IS DISTINCT FROM p_worker_id THEN
        PERFORM xorj.raise_conflict('job_worker_mismatch',
            format('execution job %s is held by %s, not by worker %s', j.id,
                   coalesce('worker ' || j.worker_id, 'no worker'), p_worker_id),
            format('job_worker_id=%s', coalesce(j.worker_id, '')),
            'Only the worker that started a job may heartbeat, complete or fail it.',
            jsonb_build_object('job_id', j.id, 'job_worker_id', j.worker_id, 'worker_id', p_worker_id));
    END IF;
END
$fn$;

-- A new job, PENDING.
CREATE OR REPLACE FUNCTION api.create_execution_job(p_trigger_reason text,
                                                    p_parameters jsonb DEFAULT '{}'::jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    v_allowed text[] := enum_range(NULL::xorj.trigger_reason)::text[];
    j xorj.execution_jobs;
BEGIN
    IF p_trigger_reason IS NULL OR NOT (p_trigger_reason = ANY (v_allowed)) THEN
        PERFORM xorj.raise_invalid('trigger_reason',
            format('%s is not one of %s', coalesce(quote_literal(p_trigger_reason), 'null'),
                   array_to_string(v_allowed, ', ')),
            format('Use one of %s.', array_to_string(v_allowed, ', ')));
    END IF;
    IF p_parameters IS NULL OR jsonb_typeof(p_parameters) <> 'object' THEN
        PERFORM xorj.raise_invalid('parameters',
            format('must be a JSON object, not %s', coalesce(jsonb_typeof(p_parameters), 'null')));
    END IF;
    INSERT INTO xorj.execution_jobs (trigger_reason, parameters)
    VALUES (p_trigger_reason::xorj.trigger_reason, p_parameters)
    RETURNING * INTO j;
    RETURN to_jsonb(j);
END
$fn$;
REVOKE ALL ON FUNCTION api.create_execution_job(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.create_execution_job(text, jsonb) TO xorj_bot;

-- PENDING -> RUNNING, held by p_worker_id.
CREATE OR REPLACE FUNCTION api.start_execution_job(p_job_id uuid, p_worker_id text)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    j xorj.execution_jobs := xorj.lock_execution_job_for(p_job_id, p_worker_id);
BEGIN
    IF j.status <> 'PENDING' THEN
        PERFORM xorj.execution_job_refuse_move(j.id, j.status, 'RUNNING');
    END IF;
    UPDATE xorj.execution_jobs SET status = 'RUNNING', worker_id = p_worker_id
    WHERE id = j.id RETURNING * INTO j;
    RETURN to_jsonb(j);
END
$fn$;
REVOKE ALL ON FUNCTION api.start_execution_job(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.start_execution_job(uuid, text) TO xorj_bot;

-- The running worker is alive: heartbeat_at := clock_timestamp().
CREATE OR REPLACE FUNCTION api.heartbeat_execution_job(p_job_id uuid, p_worker_id text)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    j xorj.execution_jobs := xorj.lock_execution_job_for(p_job_id, p_worker_id);
BEGIN
    IF j.status <> 'RUNNING' THEN
        PERFORM xorj.raise_state('execution_jobs',
            format('execution job %s is %s, not RUNNING: no heartbeat', j.id, j.status),
            format('current status %s', j.status),
            CASE WHEN j.status = 'FAILED'
                 THEN 'The job has failed (perhaps reaped as stalled); stop working on it.'
                 ELSE 'Only a started job takes heartbeats.' END,
            jsonb_build_object('id', j.id, 'from', j.status));
    END IF;
    PERFORM xorj.check_job_worker(j, p_worker_id);
    UPDATE xorj.execution_jobs SET heartbeat_at = clock_timestamp()
    WHERE id = j.id RETURNING * INTO j;
    RETURN to_jsonb(j);
END
$fn$;
REVOKE ALL ON FUNCTION api.heartbeat_execution_job(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.heartbeat_execution_job(uuid, text) TO xorj_bot;

-- RUNNING -> COMPLETED by the worker holding it. Repeated by that worker on the
-- COMPLETED job: returned unchanged.
CREATE OR REPLACE FUNCTION api.complete_execution_job(p_job_id uuid, p_worker_id text)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    j xorj.execution_jobs := xorj.lock_execution_job_for(p_job_id, p_worker_id);
BEGIN
    IF j.status = 'COMPLETED' AND j.worker_id = p_worker_id THEN
        RETURN to_jsonb(j);  -- a repeat: unchanged
    END IF;
    IF j.status <> 'RUNNING' THEN
        PERFORM xorj.execution_job_refuse_move(j.id, j.status, 'COMPLETED');
    END IF;
    PERFORM xorj.check_job_worker(j, p_worker_id);
    UPDATE xorj.execution_jobs SET status = 'COMPLETED'
    WHERE id = j.id RETURNING * INTO j;
    RETURN to_jsonb(j);
END
$fn$;
REVOKE ALL ON FUNCTION api.complete_execution_job(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.complete_execution_job(uuid, text) TO xorj_bot;

-- PENDING or RUNNING -> FAILED with the reason. With p_worker_id, the job must be
-- RUNNING and held by that worker (XJ409 job_worker_mismatch); without it (a supervisor,
-- or a job that never started) any PENDING or RUNNING job. Repeated with the same error
-- (and the same worker, if given) on the FAILED job: returned unchanged.
CREATE OR REPLACE FUNCTION api.fail_execution_job(p_job_id uuid, p_error text,
                                                  p_worker_id text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    j xorj.execution_jobs;
BEGIN
    PERFORM xorj.lifecycle_check_error('job', p_error);
    IF p_worker_id IS NOT NULL THEN
        PERFORM xorj.check_worker_id(p_worker_id);
    END IF;
    j := xorj.lock_execution_job(p_job_id);
    IF j.status = 'FAILED' AND j.error_message = p_error
       AND (p_worker_id IS NULL OR j.worker_id = p_worker_id) THEN
        RETURN to_jsonb(j);  -- a repeat: unchanged
    END IF;
    IF j.status NOT IN ('PENDING', 'RUNNING') THEN
        PERFORM xorj.execution_job_refuse_move(j.id, j.status, 'FAILED');
    END IF;
    IF p_worker_id IS NOT NULL THEN
        PERFORM xorj.check_job_worker(j, p_worker_id);
    END IF;
    UPDATE xorj.execution_jobs SET status = 'FAILED', error_message = p_error
    WHERE id = j.id RETURNING * INTO j;
    RETURN to_jsonb(j);
END
$fn$;
REVOKE ALL ON FUNCTION api.fail_execution_job(uuid, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.fail_execution_job(uuid, text, text) TO xorj_bot;

-- Every RUNNING job whose last heartbeat is older than p_stale_after becomes FAILED
-- ('stalled: no heartbeat since <UTC time, ISO 8601> (worker <id>)') and is returned, oldest
-- heartbeat first. SKIP LOCKED: a job another transaction holds (a reaper, or its
-- worker heartbeating or completing it right now) is left to that transaction, so two
-- concurrent reapers never fail the same job and a live worker is never blocked.
CREATE OR REPLACE FUNCTION api.reap_execution_jobs(p_stale_after interval)
RETURNS SETOF jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    IF p_stale_after IS NULL OR p_stale_after <= interval '0' THEN
        PERFORM xorj.raise_invalid('stale_after',
            format('%s must be greater than 0', coalesce(p_stale_after::text, 'null')),
            'Give the time after which a silent worker counts as stalled, e.g. 5 minutes.');
    END IF;
    RETURN QUERY
        WITH stale AS (
            SELECT j.id
            FROM xorj.execution_jobs j
            WHERE j.status = 'RUNNING'
              AND j.heartbeat_at < clock_timestamp() - p_stale_after
            ORDER BY j.heartbeat_at
            FOR UPDATE SKIP LOCKED
        ), reaped AS (
            UPDATE xorj.execution_jobs j
            SET status = 'FAILED',
                error_message = format('stalled: no heartbeat since %s (worker %s)',
                                       to_char(j.heartbeat_at AT TIME ZONE 'UTC',
                                               'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                                       j.worker_id)
            FROM stale
            WHERE j.id = stale.id
            RETURNING j.*
        )
        SELECT to_jsonb(reaped) FROM reaped ORDER BY reaped.heartbeat_at, reaped.id;
END
$fn$;
REVOKE ALL ON FUNCTION api.reap_execution_jobs(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.reap_execution_jobs(interval) TO xorj_bot;

-- Jobs, newest first (created_at, then id), optionally of one status: for operators'
-- listings. p_status one of PENDING, RUNNING, COMPLETED, FAILED (else XJ422 on status),
-- p_limit 1..1000, p_offset >= 0.
CREATE OR REPLACE FUNCTION api.list_execution_jobs(p_status text DEFAULT NULL,
                                                   p_limit integer DEFAULT 100,
                                                   p_offset integer DEFAULT 0)
RETURNS SETOF jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    v_allowed text[] := enum_range(NULL::xorj.job_status)::text[];
    v_status  xorj.job_status;
BEGIN
    IF p_status IS NOT NULL THEN
        IF NOT (p_status = ANY (v_allowed)) THEN
            PERFORM xorj.raise_invalid('status',
                format('%s is not one of %s', p_status, array_to_string(v_allowed, ', ')));
        END IF;
        v_status := p_status::xorj.job_status;
    END IF;
    PERFORM xorj.check_page(p_limit, p_offset, 1000);
    RETURN QUERY
    SELECT to_jsonb(j) FROM xorj.execution_jobs j
    WHERE v_status IS NULL OR j.status = v_status
    ORDER BY j.created_at DESC, j.id
    LIMIT p_limit OFFSET p_offset;
END
$fn$;
REVOKE ALL ON FUNCTION api.list_execution_jobs(text, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.list_execution_jobs(text, integer, integer) TO xorj_bot;
