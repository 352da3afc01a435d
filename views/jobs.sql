-- Execution jobs for reporting. Read by xorj_readonly only.

CREATE OR REPLACE VIEW api.active_execution_jobs AS
    SELECT j.id, j.status, j.trigger_reason, j.parameters, j.worker_id, j.started_at,
           j.heartbeat_at, j.completed_at, j.error_message, j.created_at, j.updated_at
    FROM xorj.execution_jobs j
    WHERE j.status IN ('PENDING', 'RUNNING');
COMMENT ON VIEW api.active_execution_jobs IS 'Execution jobs not yet finished (PENDING or RUNNING)';

REVOKE ALL ON api.active_execution_jobs FROM PUBLIC;
GRANT SELECT ON api.active_execution_jobs TO xorj_readonly;
