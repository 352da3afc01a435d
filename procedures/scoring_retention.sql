-- Retention of trader scores: scores are derived data, kept by run (DESIGN.md, "Data
-- lifecycle"). The owner's maintenance (`xorj db maintain`, app/maintain.py) calls
-- xorj.prune_scores; no api role may.
--
-- The policy: keep the scores of the last N COMPLETED runs (newest completed_at first,
-- then highest id, as api.ranked_traders reads "latest"), and of every run finished less
-- than D days ago; the scores of the other finished runs (COMPLETED or FAILED) leave.
-- N and D are xorj.settings.score_keep_runs (default 48, 1 or more) and score_keep_days
-- (default 7, 0 or more), or the arguments of the call. Never pruned: the latest
-- completed run (N is at least 1), a PENDING or RUNNING run.
--
-- How scores leave: the partition of the run is dropped (O(1) in the rows it holds; see
-- migration 0008 and procedures/scoring.sql); the partition of the runs finished before
-- 0008, trader_scores_legacy, is dropped once every run it holds may go. The run row
-- stays, as history, with scores_pruned_at set. DELETE and TRUNCATE of scores are still
-- refused (procedures/scoring.sql): this is the only way scores leave.
--
-- Guards:
--   xorj.scoring_runs.scores_pruned_at (trigger scoring_runs_pruned_guard, fired after
--   the lifecycle's scoring_runs_guard, which lets this one column change on a finished
--   run, and before scoring_runs_touch)
--     * NULL on insert, whatever the INSERT says;
--     * set once, to the database's clock, only on a COMPLETED or FAILED run that holds
--       no score any more (its partition dropped); never changed again, never unset.
--       Anything else is XJ423 on table scoring_runs.
-- Reading the scores of a pruned run (api.run_scores) is XJ404 'scoring run <id>: its
-- scores were pruned', with the DETAIL facts "what" ('scores of scoring run'), "key"
-- (the run id), "reason" (scores_pruned) and "scores_pruned_at".

-- The read of a pruned run's scores: XJ404, the usual facts of a refusal that found
-- nothing ("what", "key"), plus why.
CREATE OR REPLACE FUNCTION xorj.scoring_run_refuse_pruned(p_run_id uuid, p_pruned_at timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'XJ404',
        MESSAGE = format('scoring run %s: its scores were pruned', p_run_id),
        DETAIL  = xorj.refusal_detail(
                      'The retention of scores dropped the scores of this run; the run itself stays, as history.',
                      jsonb_build_object('reason', 'scores_pruned', 'scores_pruned_at', p_pruned_at),
                      jsonb_build_object('what', 'scores of scoring run', 'key', p_run_id::text)),
        HINT    = 'Read the latest completed run (ranked traders) or a run the retention keeps: the last xorj.settings.score_keep_runs completed runs and those younger than score_keep_days days.';
END
$fn$;

-- The guard of scores_pruned_at.
CREATE OR REPLACE FUNCTION xorj.scoring_runs_guard_pruned() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    v_move jsonb;
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.scores_pruned_at := NULL;
        RETURN NEW;
    END IF;
    IF NEW.scores_pruned_at IS NOT DISTINCT FROM OLD.scores_pruned_at THEN
        RETURN NEW;
    END IF;
    v_move := jsonb_build_object('id', OLD.id, 'from', OLD.status, 'to', NEW.status);
    IF OLD.scores_pruned_at IS NOT NULL THEN
        PERFORM xorj.raise_state('scoring_runs',
            format('scoring run %s: its scores were pruned; scores_pruned_at cannot change', OLD.id),
            'Pruned scores do not come back, and the time they left is kept.',
            'Read the run as it is.', v_move);
    END IF;
    IF OLD.status NOT IN ('COMPLETED', 'FAILED') OR NEW.status <> OLD.status THEN
        PERFORM xorj.raise_state('scoring_runs',
            format('scoring run %s is %s: only the scores of a finished run are pruned', OLD.id, OLD.status),
            'A PENDING or RUNNING run keeps its scores; a COMPLETED or FAILED run''s scores leave with the retention.',
            'Complete or fail the run first.', v_move);
    END IF;
    IF EXISTS (SELECT 1 FROM xorj.trader_scores s WHERE s.run_id = OLD.id) THEN
        PERFORM xorj.raise_state('scoring_runs',
            format('scoring run %s still holds scores: scores_pruned_at is set once they are dropped', OLD.id),
            'Scores leave only with their partition, dropped by the retention of scores.',
            'Run xorj.prune_scores (xorj db maintain).', v_move);
    END IF;
    NEW.scores_pruned_at := clock_timestamp();
    RETURN NEW;
END
$fn$;

CREATE OR REPLACE TRIGGER scoring_runs_pruned_guard
    BEFORE INSERT OR UPDATE ON xorj.scoring_runs
    FOR EACH ROW EXECUTE FUNCTION xorj.scoring_runs_guard_pruned();

-- XJ422 on p_field (reason out_of_range) unless p_value is at least p_min (NULL fails).
CREATE OR REPLACE FUNCTION xorj.check_at_least(p_field text, p_value integer, p_min integer,
                                               p_hint text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    IF p_value IS NULL OR p_value < p_min THEN
        PERFORM xorj.raise_invalid(p_field,
            format('%s must be %s or more', coalesce(p_value::text, 'null'), p_min),
            p_hint, jsonb_build_object('reason', 'out_of_range'));
    END IF;
END
$fn$;

-- Prune the scores the policy no longer keeps (see the top of this file): p_keep_runs
-- and p_keep_days override the settings for this call (NULL: xorj.settings). XJ422 on
-- keep_runs below 1, keep_days below 0, max_partitions below 1.
--
-- One call, in the caller's transaction:
--   1. pg_advisory_xact_lock: calls queue, one at a time; a call that waited finds what
--      the previous one pruned already done. So it is safe to run at any frequency, and
--      concurrently (cron and a person).
--   2. The runs that may go: finished, not pruned, finished more than p_keep_days days
--      ago, and not among the p_keep_runs latest completed (index
--      scoring_runs_latest_completed_idx; the others from scoring_runs_unpruned_idx).
--   3. The partitions all of whose runs may go, oldest first, at most p_max_partitions
--      (each dropped partition holds its locks until the transaction ends: the lock
--      table is finite); their rows are counted before anything is locked (a finished
--      run's scores no longer change).
--   4. xorj.trader_scores is locked ACCESS EXCLUSIVE (a DROP of a partition needs it;
--      scoring_runs ROW EXCLUSIVE before it, in the order of a run's creation), waiting
--      at most lock_timeout (5 s): a load of scores in progress holds the table for its
--      whole transaction, and readers would queue behind a waiting DROP. When the locks
--      are not had in time, nothing is dropped and "busy" says so: run it again. Then
--      the partitions are dropped; the lock is held until the caller's transaction ends
--      (keep it short: `xorj db maintain` commits right after).
--   5. Every run that may go and that no partition holds any more is marked
--      (scores_pruned_at): the runs of the dropped partitions, and the finished runs that
--      never had a score.
-- Returns one row: runs_pruned (runs marked by this call), rows_dropped (the scores of
-- the dropped partitions), partitions_dropped, runs_kept (finished runs whose scores are
-- kept after the call), runs_left (runs that may go but were not pruned: beyond
-- p_max_partitions, in trader_scores_legacy with a run that is kept, or busy), keep_runs
-- and keep_days (the limits applied), busy.
CREATE OR REPLACE FUNCTION xorj.prune_scores(p_keep_runs integer DEFAULT NULL,
                                             p_keep_days integer DEFAULT NULL,
                                             p_max_partitions integer DEFAULT 100)
RETURNS TABLE (runs_pruned integer, rows_dropped bigint, partitions_dropped integer,
               runs_kept integer, runs_left integer, keep_runs integer, keep_days integer,
               busy boolean)
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
SET lock_timeout = '5s'
AS $fn$
DECLARE
    v_keep_runs integer;
    v_keep_days integer;
    v_cutoff    timestamptz;
    v_prunable  uuid[];
    v_drop      regclass[] := '{}';
    v_part      record;
    v_count     bigint;
    v_rows      bigint := 0;
    v_busy      boolean := false;
    v_pruned    integer;
BEGIN
    SELECT coalesce(p_keep_runs, s.score_keep_runs), coalesce(p_keep_days, s.score_keep_days)
    INTO v_keep_runs, v_keep_days
    FROM xorj.settings s;
    PERFORM xorj.check_at_least('keep_runs', v_keep_runs, 1,
        'The latest completed run is always kept: keep 1 run or more.');
    PERFORM xorj.check_at_least('keep_days', v_keep_days, 0,
        'Days of finished runs kept whatever their number; 0 keeps none for their age.');
    PERFORM xorj.check_at_least('max_partitions', p_max_partitions, 1, NULL);

    -- 'xorj', 'scor': the key of the retention of scores.
    PERFORM pg_advisory_xact_lock(2020569706, 1935896434);
    v_cutoff := clock_timestamp() - make_interval(days => v_keep_days);

    SELECT coalesce(array_agg(r.id), '{}') INTO v_prunable
    FROM xorj.scoring_runs r
    WHERE r.status IN ('COMPLETED', 'FAILED') AND r.scores_pruned_at IS NULL
      AND r.completed_at < v_cutoff
      AND r.id NOT IN (SELECT k.id
                       FROM xorj.scoring_runs k
                       WHERE k.status = 'COMPLETED'
                       ORDER BY k.completed_at DESC, k.id DESC
                       LIMIT v_keep_runs);

    FOR v_part IN
        SELECT p.partition
        FROM xorj.trader_scores_partitions() p
        WHERE cardinality(p.run_ids) > 0 AND p.run_ids <@ v_prunable
        ORDER BY (SELECT max(r.completed_at) FROM xorj.scoring_runs r WHERE r.id = ANY (p.run_ids)),
                 p.partition::text
        LIMIT p_max_partitions
    LOOP
        EXECUTE format('SELECT count(*) FROM %s', v_part.partition) INTO v_count;
        v_rows := v_rows + v_count;
        v_drop := v_drop || v_part.partition;
    END LOOP;

    IF cardinality(v_drop) > 0 THEN
        BEGIN
            -- scoring_runs first, as the creation of a run takes them (its partition):
            -- the same order, so neither waits for the other in a cycle.
            LOCK TABLE xorj.scoring_runs IN ROW EXCLUSIVE MODE;
            LOCK TABLE xorj.trader_scores IN ACCESS EXCLUSIVE MODE;
        EXCEPTION WHEN lock_not_available THEN
            v_busy := true;
            v_drop := '{}';
            v_rows := 0;
        END;
        FOR i IN 1 .. cardinality(v_drop) LOOP
            EXECUTE format('DROP TABLE %s', v_drop[i]);
        END LOOP;
    END IF;

    WITH held AS (
        SELECT DISTINCT h.id
        FROM xorj.trader_scores_partitions() p, unnest(p.run_ids) AS h(id)
    )
    UPDATE xorj.scoring_runs r
    SET scores_pruned_at = clock_timestamp()
    WHERE r.id = ANY (v_prunable)
      AND NOT EXISTS (SELECT 1 FROM held WHERE held.id = r.id);
    GET DIAGNOSTICS v_pruned = ROW_COUNT;

    RETURN QUERY
        SELECT v_pruned, v_rows, cardinality(v_drop),
               (SELECT count(*)::integer FROM xorj.scoring_runs r
                WHERE r.status IN ('COMPLETED', 'FAILED') AND r.scores_pruned_at IS NULL),
               cardinality(v_prunable) - v_pruned, v_keep_runs, v_keep_days, v_busy;
END
$fn$;
