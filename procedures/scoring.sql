-- Quantitative Engine: scoring runs and their trader scores. Role xorj_engine; the
-- ranked lists are also read by xorj_bot and xorj_api.
--
-- Guards that hold against direct SQL:
--   xorj.scoring_runs (trigger scoring_runs_guard, the lifecycle's shared guard
--   xorj.lifecycle_guard of 00_common.sql)
--     * a run is inserted PENDING, without error; started_at and completed_at are the
--       database's (NULL on insert, whatever the INSERT says);
--     * status moves only PENDING -> RUNNING (started_at := clock_timestamp()),
--       RUNNING -> COMPLETED (completed_at := clock_timestamp()), PENDING or RUNNING ->
--       FAILED (completed_at := clock_timestamp(), error_message required); anything
--       else is XJ423 'scoring run <id>: <FROM> -> <TO> is not allowed';
--     * id and created_at never change; error_message is written only by the move to
--       FAILED; a COMPLETED or FAILED run never changes again (an UPDATE that changes
--       nothing is skipped), but for scores_pruned_at, set once its scores are gone
--       (trigger scoring_runs_pruned_guard, procedures/scoring_retention.sql);
--     * DELETE and TRUNCATE are refused.
--   xorj.trader_scores (triggers trader_scores_*, on the partitioned table and on each
--   partition: a statement on a partition does not fire the parent's statement triggers)
--     * rows are inserted only for a run that has a row in scoring_runs (23503; there is
--       no foreign key since 0014: the partitions hold the rule, see there) and only
--       while their run is RUNNING (checked once per statement,
--       the runs locked FOR SHARE so a concurrent completion waits or is seen; on a
--       run's partition the run is the trigger's argument, elsewhere the statement's
--       transition table says which runs);
--     * created_at = updated_at = a clock time of the inserting statement (trigger
--       trader_scores_touch, FOR EACH ROW, since 0012 only for rows not holding one);
--     * UPDATE, DELETE and TRUNCATE are refused: scores are immutable. They leave only
--       with their run's partition, dropped by the retention (xorj.prune_scores,
--       procedures/scoring_retention.sql).
--
-- Partitions (migration 0008): xorj.trader_scores is partitioned by LIST (run_id), one
-- partition per run, xorj.trader_scores_<run id without dashes>, so that a run's scores
-- leave in O(1) (a DROP of its partition). A run's partition is created with the run
-- (trigger scoring_runs_partition: api.create_scoring_run, or any INSERT of a run), and
-- again, should it be missing, by the insert of its scores (xorj.insert_trader_scores).
-- So every run has one from its creation until its scores are pruned, and the guards
-- above answer for it (an insert into a PENDING or COMPLETED run is XJ423). There is no
-- DEFAULT partition: a row for a run without a partition (a pruned run) is refused
-- (23514), never stored elsewhere. The scores of the runs finished before 0008 are in
-- one partition, xorj.trader_scores_legacy, listing their ids.
--
-- Scores arrive with the completion (api.complete_scoring_run(run, scores)) or, for a
-- list too long for one call, in chunks (api.add_scoring_scores) followed by
-- api.complete_scoring_run(run, '[]') in the same transaction, or as lines COPYed into
-- the run's staging table (api.open_scoring_copy, then api.add_scoring_copy: the
-- engine's loader). All validate and insert through xorj.insert_score_batch (one
-- set-based INSERT; on failure, xorj.score_batch_refusal names the first invalid
-- element), so the rule for a score is written once.
--
-- Refusals of a batch (xorj.insert_trader_scores; api.add_scoring_scores,
-- api.complete_scoring_run): XJ422 whose COLUMN, and the DETAIL's "field", is
-- scores[<index>].<field> (scores[<index>] for an element that is not an object), with
-- the DETAIL facts "index" (the element's index in the whole list, an integer) and
-- "reason", one of:
--   not_an_object       the element is not a JSON object
--   unknown_field       a key other than wallet_address, xorj_trust_score and metrics
--   required            wallet_address or xorj_trust_score is missing
--   wrong_type          wallet_address is not a string, xorj_trust_score not a number,
--                       or metrics not an object
--   not_an_address      wallet_address is not a Solana address
--   negative            xorj_trust_score is below 0
--   too_large           xorj_trust_score is above the largest finite double (every
--                       client reads a score as a JSON number: a double)
--   duplicate_in_batch  the wallet is already at an earlier index of the same batch;
--                       "duplicate_of" is that index
--   already_scored      the run holds the wallet already (sent by an earlier batch)
--   not_json            a COPYed line is not JSON (api.add_scoring_copy; the parser's
--                       words in the message)
-- and without an index: no_copy (field run_id: api.add_scoring_copy without a staging
-- table in the transaction), not_an_array (field scores: the batch is not a JSON array),
-- bad_first_index (field first_index: negative or NULL) and empty_run (field scores: a
-- completion that would leave the run with no score, without allow_empty).
--
-- Ranking: best xorj_trust_score first, ties by wallet_address ascending (the database
-- collation), read in the order of index trader_scores_run_rank_idx with LIMIT, never
-- sorting a whole run. The query lives in xorj.scoring_ranking, an inlinable SQL
-- function, so the pgTAP suite can EXPLAIN exactly what the api functions run.

-- Refuse a status move of a run: XJ423 (worded by xorj.lifecycle_refuse_move).
CREATE OR REPLACE FUNCTION xorj.scoring_run_refuse_move(p_id uuid, p_from xorj.run_status,
                                                        p_to xorj.run_status)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    PERFORM xorj.lifecycle_refuse_move('scoring_runs', 'scoring run', 'run', 'score',
                                       p_id, p_from::text, p_to::text);
END
$fn$;

-- The guard is the lifecycle's, written once (xorj.lifecycle_guard, 00_common.sql), with
-- the words of this table: triggers scoring_runs_guard, named so that it fires before
-- scoring_runs_touch (triggers fire in name order), and scoring_runs_no_truncate.
SELECT xorj.lifecycle_install_guard('xorj.scoring_runs', '{
    "what": "scoring run", "article": "a", "noun": "run", "redo": "score",
    "referenced_by": "Scores", "worker": false,
    "create": "api.create_scoring_run", "start": "api.start_scoring_run",
    "fail": "api.fail_scoring_run",
    "insert_detail": "Runs enter the table PENDING and move on with api.start_scoring_run, api.complete_scoring_run or api.fail_scoring_run.",
    "new_message": "a new scoring run has no error",
    "new_detail": "error_message is written when the run fails.",
    "identity": ["id", "created_at"],
    "identity_words": "id and created_at",
    "identity_detail": "A run keeps its identity.",
    "unchanged_message": "error_message is written only when it fails",
    "unchanged_detail": "error_message belongs to FAILED runs.",
    "unchanged_hint": "Use api.fail_scoring_run.",
    "no_error_hint": "Use api.fail_scoring_run.",
    "after_final": ["scores_pruned_at"]
}');

-- The guard function of earlier versions of this file, replaced by the shared one above.
DO $$
BEGIN
    IF to_regprocedure('xorj.scoring_runs_guard()') IS NOT NULL THEN
        DROP FUNCTION xorj.scoring_runs_guard();
    END IF;
END
$$;

-- Scores are immutable: UPDATE, DELETE and TRUNCATE are refused, whatever they touch.
CREATE OR REPLACE FUNCTION xorj.trader_scores_refuse_change() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    PERFORM xorj.raise_state('trader_scores',
        format('trader scores are immutable: %s is not allowed', TG_OP),
        'A score is written once, by the completion of its run.',
        'Score again in a new run.',
        jsonb_build_object('op', TG_OP)
        || CASE WHEN TG_TABLE_NAME <> 'trader_scores'
                THEN jsonb_build_object('partition', TG_TABLE_NAME) ELSE '{}' END);
    RETURN NULL;
END
$fn$;

-- Refuse scores for a run that is not RUNNING: XJ423. (The rule of the trigger below and
-- of api.add_scoring_scores.)
CREATE OR REPLACE FUNCTION xorj.scoring_run_refuse_scores(p_run xorj.scoring_runs)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    PERFORM xorj.raise_state('trader_scores',
        format('scoring run %s is %s: scores are added only while it is RUNNING', p_run.id, p_run.status),
        format('current status %s', p_run.status),
        'Start the run, then add its scores (api.add_scoring_scores) and complete it (api.complete_scoring_run).',
        jsonb_build_object('run_id', p_run.id, 'run_status', p_run.status));
END
$fn$;

-- Scores of a run that has no row in scoring_runs: 23503, as the foreign key said before
-- 0014 (which dropped it: the partitions hold the rule, see there). Reached only by a
-- partition made by hand for an unknown run; the routing refuses such a row first (23514).
CREATE OR REPLACE FUNCTION xorj.scoring_run_refuse_unknown(p_run_id uuid)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = '23503',
        MESSAGE = format('scoring run %s does not exist: a score belongs to an existing run', p_run_id),
        DETAIL  = xorj.refusal_detail('no row of xorj.scoring_runs has this id',
                                      jsonb_build_object('run_id', p_run_id, 'reason', 'unknown_run')),
        HINT    = 'Create the run (api.create_scoring_run), start it, then add its scores.';
END
$fn$;

-- Inserted scores belong to existing RUNNING runs (and to existing runs: see
-- xorj.scoring_run_refuse_unknown): one check per statement (100,000 rows in one
-- INSERT cost one look-up per distinct run). FOR SHARE conflicts with the UPDATE that
-- completes or fails a run, so a concurrent completion either waits for this
-- transaction or is seen here (READ COMMITTED re-reads the locked row). The runs are
-- read from the statement's transition table new_scores (the trigger on the partitioned
-- table and on trader_scores_legacy), or, on the partition of one run, given as the
-- trigger's argument (TG_ARGV[0]): every row of that partition is of that run, so the
-- statement needs no transition table (which would copy every inserted row once more).
-- On a run's partition the check holds for every INSERT statement naming it, even one
-- of no row.
CREATE OR REPLACE FUNCTION xorj.trader_scores_check_run() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    v_run     xorj.scoring_runs;
    v_missing uuid;
BEGIN
    IF TG_NARGS > 0 THEN
        SELECT r.* INTO v_run FROM xorj.scoring_runs r WHERE r.id = TG_ARGV[0]::uuid FOR SHARE;
        IF NOT FOUND THEN
            PERFORM xorj.scoring_run_refuse_unknown(TG_ARGV[0]::uuid);
        ELSIF v_run.status <> 'RUNNING' THEN
            PERFORM xorj.scoring_run_refuse_scores(v_run);
        END IF;
        RETURN NULL;
    END IF;
    -- A run that has no row (only a partition made by hand could hold its scores).
    SELECT n.run_id INTO v_missing
    FROM (SELECT DISTINCT s.run_id FROM new_scores s) AS n
    WHERE NOT EXISTS (SELECT 1 FROM xorj.scoring_runs r WHERE r.id = n.run_id)
    ORDER BY n.run_id
    LIMIT 1;
    IF FOUND THEN
        PERFORM xorj.scoring_run_refuse_unknown(v_missing);
    END IF;
    PERFORM 1
    FROM xorj.scoring_runs r
    WHERE r.id IN (SELECT DISTINCT n.run_id FROM new_scores n)
    ORDER BY r.id
    FOR SHARE OF r;
    -- Locked them all (in id order); now look for one that is not RUNNING.
    SELECT r.* INTO v_run
    FROM xorj.scoring_runs r
    WHERE r.id IN (SELECT DISTINCT n.run_id FROM new_scores n) AND r.status <> 'RUNNING'
    ORDER BY r.id
    LIMIT 1;
    IF FOUND THEN
        PERFORM xorj.scoring_run_refuse_scores(v_run);
    END IF;
    RETURN NULL;
END
$fn$;

-- The guards of trader_scores on p_table, the partitioned table or one of its
-- partitions: triggers trader_scores_immutable (UPDATE, DELETE), trader_scores_no_truncate
-- and trader_scores_run_running (INSERT), all FOR EACH STATEMENT. (A row trigger of the
-- partitioned table is cloned onto its partitions, trader_scores_touch; a statement
-- trigger is not, and fires only for statements naming the table it is on.) On the
-- partition of one run, trader_scores_run_running names the run (see
-- xorj.trader_scores_check_run); elsewhere it reads the transition table.
CREATE OR REPLACE FUNCTION xorj.trader_scores_install_guards(p_table regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    v_runs uuid[];
BEGIN
    SELECT p.run_ids INTO v_runs FROM xorj.trader_scores_partitions() p WHERE p.partition = p_table;
    EXECUTE format('CREATE OR REPLACE TRIGGER trader_scores_immutable '
                   'BEFORE UPDATE OR DELETE ON %s FOR EACH STATEMENT '
                   'EXECUTE FUNCTION xorj.trader_scores_refuse_change()', p_table);
    EXECUTE format('CREATE OR REPLACE TRIGGER trader_scores_no_truncate '
                   'BEFORE TRUNCATE ON %s FOR EACH STATEMENT '
                   'EXECUTE FUNCTION xorj.trader_scores_refuse_change()', p_table);
    IF cardinality(v_runs) = 1 THEN
        EXECUTE format('CREATE OR REPLACE TRIGGER trader_scores_run_running '
                       'AFTER INSERT ON %s FOR EACH STATEMENT '
                       'EXECUTE FUNCTION xorj.trader_scores_check_run(%L)', p_table, v_runs[1]);
    ELSE
        EXECUTE format('CREATE OR REPLACE TRIGGER trader_scores_run_running '
                       'AFTER INSERT ON %s REFERENCING NEW TABLE AS new_scores FOR EACH STATEMENT '
                       'EXECUTE FUNCTION xorj.trader_scores_check_run()', p_table);
    END IF;
END
$fn$;

-- The partitions of xorj.trader_scores and the runs each holds (read from its bound:
-- one run, or the runs of trader_scores_legacy).
CREATE OR REPLACE FUNCTION xorj.trader_scores_partitions()
RETURNS TABLE (partition regclass, run_ids uuid[])
LANGUAGE sql STABLE
SET search_path = pg_catalog
AS $fn$
    SELECT c.oid::regclass,
           ARRAY(SELECT m[1]::uuid
                 FROM regexp_matches(pg_get_expr(c.relpartbound, c.oid),
                                     '''([0-9a-f-]{36})''', 'g') AS m)
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'xorj.trader_scores'::regclass
$fn$;

-- The partition of run p_run_id, created when missing: xorj.trader_scores_<id without
-- dashes> with its keys (named after it), attached FOR VALUES IN (the run), and the
-- guards. Its rank index is built when the run completes (trigger
-- scoring_runs_rank_index, migration 0015). Created as a table, then attached: ATTACH PARTITION takes the
-- partitioned table in SHARE UPDATE EXCLUSIVE mode only (CREATE TABLE ... PARTITION OF
-- would take it ACCESS EXCLUSIVE, stopping every read of scores until the transaction
-- ends). (Before 0014 it also took scoring_runs in SHARE ROW EXCLUSIVE mode, to clone
-- the foreign key onto the partition; api.create_scoring_run still takes that lock
-- first, see there.) SECURITY DEFINER: the
-- partition belongs to the owner of the table, whoever creates the run. Returns the
-- partition.
CREATE OR REPLACE FUNCTION xorj.trader_scores_partition(p_run_id uuid) RETURNS regclass
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    v_name text := 'trader_scores_' || replace(p_run_id::text, '-', '');
    v_rel  regclass := to_regclass(format('xorj.%I', v_name));
BEGIN
    IF v_rel IS NOT NULL THEN
        RETURN v_rel;
    END IF;
    EXECUTE format('CREATE TABLE xorj.%I (LIKE xorj.trader_scores '
                   'INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', v_name);
    EXECUTE format('ALTER TABLE xorj.%I ADD CONSTRAINT %I PRIMARY KEY (id, run_id), '
                   'ADD CONSTRAINT %I UNIQUE (run_id, wallet_address)',
                   v_name, v_name || '_pkey', v_name || '_run_wallet_key');
    EXECUTE format('ALTER TABLE xorj.trader_scores ATTACH PARTITION xorj.%I FOR VALUES IN (%L)',
                   v_name, p_run_id);
    v_rel := format('xorj.%I', v_name)::regclass;
    PERFORM xorj.trader_scores_install_guards(v_rel);
    RETURN v_rel;
END
$fn$;

-- The rank index of a run that becomes COMPLETED (trigger scoring_runs_rank_index below),
-- built on its partition when missing: xorj.trader_scores_<id without
-- dashes>_run_rank_idx (run_id, xorj_trust_score DESC, wallet_address), the order
-- api.ranked_traders and api.run_scores read under a LIMIT. Built once the run's scores
-- are all in: one sorted pass instead of one insert at a random place per score
-- (migration 0015). A run with no partition of its own has nothing to index (a run of
-- trader_scores_legacy, whose index 0015 built, or a partition dropped by hand: no
-- score). SECURITY DEFINER: the index belongs to the owner of the table, whoever
-- completes the run.
CREATE OR REPLACE FUNCTION xorj.scoring_runs_rank_index() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    v_name text := 'trader_scores_' || replace(NEW.id::text, '-', '');
BEGIN
    IF to_regclass(format('xorj.%I', v_name)) IS NOT NULL
       AND to_regclass(format('xorj.%I', v_name || '_run_rank_idx')) IS NULL THEN
        EXECUTE format('CREATE INDEX %I ON xorj.%I (run_id, xorj_trust_score DESC, wallet_address)',
                       v_name || '_run_rank_idx', v_name);
    END IF;
    RETURN NULL;
END
$fn$;

-- A run that becomes COMPLETED gets its rank index, whoever completes it
-- (api.complete_scoring_run or direct SQL), in the same transaction.
CREATE OR REPLACE TRIGGER scoring_runs_rank_index
    AFTER UPDATE ON xorj.scoring_runs
    FOR EACH ROW WHEN (NEW.status = 'COMPLETED' AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION xorj.scoring_runs_rank_index();

-- The guards on the partitioned table and on every partition (re-applied on each
-- migrate; the table first, so that a concurrent DROP of a partition has committed
-- before the list of partitions is read).
DO $$
DECLARE
    v_part regclass;
BEGIN
    PERFORM xorj.trader_scores_install_guards('xorj.trader_scores');
    FOR v_part IN
        SELECT p.partition FROM xorj.trader_scores_partitions() p ORDER BY p.partition::text
    LOOP
        PERFORM xorj.trader_scores_install_guards(v_part);
    END LOOP;
END
$$;

-- A new run gets its partition, whoever inserts it (api.create_scoring_run or direct
-- SQL).
CREATE OR REPLACE FUNCTION xorj.scoring_runs_create_partition() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    PERFORM xorj.trader_scores_partition(NEW.id);
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE TRIGGER scoring_runs_partition
    AFTER INSERT ON xorj.scoring_runs
    FOR EACH ROW EXECUTE FUNCTION xorj.scoring_runs_create_partition();

-- The latest COMPLETED run (newest completed_at, then highest id), read from index
-- scoring_runs_latest_completed_idx: the query is written once, as this internal view,
-- read by xorj.latest_completed_scoring_run() (api.ranked_traders) and by the view
-- api.latest_trader_scores. (A view, not only the function: a function called in a view
-- needs EXECUTE for the role reading the view, and no role executes an internal xorj
-- function, whereas the relations a view reads are checked as the view's owner.)
CREATE OR REPLACE VIEW xorj.latest_completed_run AS
    SELECT r.id, r.completed_at
    FROM xorj.scoring_runs r
    WHERE r.status = 'COMPLETED'::xorj.run_status
    ORDER BY r.completed_at DESC, r.id DESC
    LIMIT 1;

-- The same as a function. Inlinable (plain SQL, no SET, not SECURITY DEFINER).
CREATE OR REPLACE FUNCTION xorj.latest_completed_scoring_run()
RETURNS TABLE (id uuid, completed_at timestamptz)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT l.id, l.completed_at FROM xorj.latest_completed_run l;
END;

-- One page of a run's scores, ranked: rank is the 1-based position in the whole run
-- (row_number over the same order, computed before OFFSET), so rank = offset + position.
-- The page is found in index trader_scores_run_rank_idx (run_id, xorj_trust_score DESC,
-- wallet_address), that is in the run's partition's own, trader_scores_<run>_run_rank_idx
-- (the run is known at planning, so the plan reads that one partition; a generic plan
-- prunes the others when it starts), read in order and stopped after p_offset + p_limit
-- entries; it needs only the index's columns (an index-only scan once the visibility map
-- is set, so deep offsets skip entries without visiting the heap); then each row of the
-- page fetches its metrics by the unique key (run_id, wallet_address), a subplan per row
-- (at most 1000). No step sorts; the api functions also plan it with enable_sort off, so
-- a deep page that a cost estimate would rather sort is read from the index all the
-- same. p_limit NULL means no limit. Inlinable (plain SQL, no SET, not SECURITY
-- DEFINER): EXPLAIN SELECT * FROM xorj.scoring_ranking(...) shows the plan the api
-- functions run.
CREATE OR REPLACE FUNCTION xorj.scoring_ranking(p_run_id uuid, p_limit integer, p_offset integer)
RETURNS TABLE (rank bigint, wallet_address text, xorj_trust_score numeric, metrics jsonb)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT page.rank, page.wallet_address::text, page.xorj_trust_score,
           (SELECT t.metrics
            FROM xorj.trader_scores t
            WHERE t.run_id = p_run_id AND t.wallet_address = page.wallet_address)
    FROM (
        SELECT row_number() OVER (ORDER BY s.xorj_trust_score DESC, s.wallet_address) AS rank,
               s.xorj_trust_score, s.wallet_address
        FROM xorj.trader_scores s
        WHERE s.run_id = p_run_id
        ORDER BY s.xorj_trust_score DESC, s.wallet_address
        LIMIT p_limit OFFSET p_offset
    ) AS page
    ORDER BY page.xorj_trust_score DESC, page.wallet_address;
END;

-- The run, locked FOR UPDATE, or XJ404.
CREATE OR REPLACE FUNCTION xorj.lock_scoring_run(p_run_id uuid) RETURNS xorj.scoring_runs
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    r xorj.scoring_runs;
BEGIN
    IF p_run_id IS NULL THEN
        PERFORM xorj.raise_invalid('run_id', 'is required');
    END IF;
    SELECT * INTO r FROM xorj.scoring_runs WHERE id = p_run_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM xorj.raise_not_found('scoring run', p_run_id::text);
    END IF;
    RETURN r;
END
$fn$;

-- A new run, PENDING, with its partition of trader_scores (trigger
-- scoring_runs_partition). scoring_runs is locked in SHARE ROW EXCLUSIVE mode before the
-- INSERT, so creations queue: the partition's foreign key needed that lock until 0014
-- dropped it (two creations that each held the table in ROW EXCLUSIVE mode, their
-- INSERT, then both asked for SHARE ROW EXCLUSIVE would deadlock), and a rollback of 0014
-- brings it back, so the lock stays. (Completions and failures of other runs wait
-- for this transaction: the engine creates and starts a run in a short one.)
CREATE OR REPLACE FUNCTION api.create_scoring_run() RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    r xorj.scoring_runs;
BEGIN
    LOCK TABLE xorj.scoring_runs IN SHARE ROW EXCLUSIVE MODE;
    INSERT INTO xorj.scoring_runs DEFAULT VALUES RETURNING * INTO r;
    RETURN to_jsonb(r);
END
$fn$;
REVOKE ALL ON FUNCTION api.create_scoring_run() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.create_scoring_run() TO xorj_engine;

-- PENDING -> RUNNING.
CREATE OR REPLACE FUNCTION api.start_scoring_run(p_run_id uuid) RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    r xorj.scoring_runs := xorj.lock_scoring_run(p_run_id);
BEGIN
    IF r.status <> 'PENDING' THEN
        PERFORM xorj.scoring_run_refuse_move(r.id, r.status, 'RUNNING');
    END IF;
    UPDATE xorj.scoring_runs SET status = 'RUNNING' WHERE id = r.id RETURNING * INTO r;
    RETURN to_jsonb(r);
END
$fn$;
REVOKE ALL ON FUNCTION api.start_scoring_run(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.start_scoring_run(uuid) TO xorj_engine;

-- Validate a batch of scores and insert it into run p_run_id, in the caller's transaction.
-- The one rule for scores sent by api.complete_scoring_run and api.add_scoring_scores
-- (a jsonb array, here) and by api.add_scoring_copy (lines COPYed into a staging table,
-- xorj.insert_staged_scores): the caller has locked the run (xorj.lock_scoring_run) and
-- checked it is RUNNING. The first invalid element (lowest index) rejects the batch with
-- XJ422 naming scores[<index>].<field>, where index = p_first_index + its position in
-- p_scores (so a caller sending a long list in chunks gets the index in the whole list).
-- Returns the number of rows inserted.
--
-- An element: {"wallet_address": base58 32..44 characters, "xorj_trust_score": a JSON
-- number >= 0, "metrics": a JSON object (optional, default {})}; no other key. A wallet
-- twice in the batch is invalid at its second occurrence; a wallet the run already holds
-- (sent by an earlier batch) is invalid where it appears.
CREATE OR REPLACE FUNCTION xorj.insert_trader_scores(p_run_id uuid, p_scores jsonb,
                                                     p_first_index bigint)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    IF p_scores IS NULL OR jsonb_typeof(p_scores) <> 'array' THEN
        PERFORM xorj.raise_invalid('scores',
            format('must be a JSON array, not %s', coalesce(jsonb_typeof(p_scores), 'null')),
            'Send [{"wallet_address": ..., "xorj_trust_score": ..., "metrics": {...}}, ...].',
            jsonb_build_object('reason', 'not_an_array'));
    END IF;
    IF p_first_index IS NULL OR p_first_index < 0 THEN
        PERFORM xorj.raise_invalid('first_index',
            format('%s must be 0 or more', coalesce(p_first_index::text, 'null')),
            'The index of the batch''s first element in the whole list, 0 for the first batch.',
            jsonb_build_object('reason', 'bad_first_index'));
    END IF;
    RETURN xorj.insert_score_batch(p_run_id,
        'SELECT $3 + t.ord - 1 AS idx, t.elem '
        'FROM jsonb_array_elements($2) WITH ORDINALITY AS t(elem, ord) '
        'WHERE $3 + t.ord - 1 < $4',
        p_scores, p_first_index, NULL);
END
$fn$;

-- The elements of a batch, as the query p_source: one row (idx bigint, elem jsonb) per
-- element, in index order, idx below $4, with $1 the run, $2 the jsonb array (or NULL),
-- $3 the first index. p_staging: the staging table the source reads
-- (xorj.insert_staged_scores), or NULL. Returns the number of rows inserted; refuses the
-- batch with XJ422 at the first invalid element.
--
-- How: one INSERT ... SELECT straight into the run's partition, streaming the elements in
-- index order (no sort, no materialized copy of the batch), each element checked by plain
-- expressions as it passes: what the table's own rules do not check (wallet a JSON string,
-- score a JSON number no larger than a double, no unknown key) in the WHERE clause, the
-- rest by the table itself (the domain xorj.solana_address, NOT NULL, the CHECKs
-- trader_scores_score_non_negative and trader_scores_metrics_is_object, the unique key
-- (run_id, wallet_address), which catches a wallet twice in the batch and a wallet of an
-- earlier batch alike). The rows of a batch get one clock reading of the statement as
-- created_at and updated_at (so trigger trader_scores_touch has nothing to do: see its
-- WHEN, migration 0012), and ids that follow each other (a random prefix per statement,
-- 60 random bits, then the element's index; the layout of a version 4 uuid), so the
-- primary key is filled at its right edge instead of at random places.
-- The first failure of that INSERT, whatever it is, undoes it (the block's
-- subtransaction) and hands over to xorj.score_batch_refusal, which finds the first
-- invalid element exactly (lowest index, with the reasons of the header) and raises
-- XJ422; a failure it cannot explain (no element is invalid) is raised as it was.
-- For a staging table, a line that is not JSON stops the INSERT (its cast to jsonb) and
-- would stop the analysis too: xorj.score_copy_first_bad_line finds the first such line
-- first, and only the elements before it are examined; the lower index is reported.
CREATE OR REPLACE FUNCTION xorj.insert_score_batch(p_run_id uuid, p_source text, p_scores jsonb,
                                                   p_first_index bigint, p_staging regclass)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    v_part    regclass := xorj.trader_scores_partition(p_run_id);
    v_count   bigint;
    v_before  bigint := 9223372036854775807;
    v_bad_idx bigint;
    v_bad     text;
    v_refusal jsonb;
BEGIN
    BEGIN
        EXECUTE format(
            'INSERT INTO %s (id, run_id, wallet_address, xorj_trust_score, metrics, '
            '                created_at, updated_at) '
            'SELECT (b.id_prefix || ''8'' || lpad(to_hex(s.idx), 15, ''0''))::uuid, $1, '
            '       (s.elem ->> ''wallet_address'')::xorj.solana_address, '
            '       (s.elem -> ''xorj_trust_score'')::numeric, '
            '       coalesce(s.elem -> ''metrics'', ''{}''::jsonb), b.at, b.at '
            'FROM (SELECT clock_timestamp() AS at, '
            '             left(replace(gen_random_uuid()::text, ''-'', ''''), 16) AS id_prefix) AS b, '
            '     (%s) AS s '
            'WHERE CASE WHEN jsonb_typeof(s.elem -> ''wallet_address'') = ''string'' '
            '            AND jsonb_typeof(s.elem -> ''xorj_trust_score'') = ''number'' '
            '            AND (s.elem -> ''xorj_trust_score'')::numeric <= 1.7976931348623157e308 '
            '            AND s.elem - ''{wallet_address,xorj_trust_score,metrics}''::text[] = ''{}''::jsonb '
            '       THEN true ELSE xorj.score_batch_stop() END',
            v_part, p_source)
        USING p_run_id, p_scores, p_first_index, v_before;
        GET DIAGNOSTICS v_count = ROW_COUNT;
        RETURN v_count;
    EXCEPTION WHEN OTHERS THEN
        IF p_staging IS NOT NULL THEN
            SELECT f.idx, f.problem INTO v_bad_idx, v_bad
            FROM xorj.score_copy_first_bad_line(p_staging) AS f;
            v_before := coalesce(v_bad_idx, v_before);
        END IF;
        v_refusal := xorj.score_batch_refusal(p_run_id, p_source, p_scores, p_first_index, v_before);
        IF v_refusal IS NULL AND v_bad_idx IS NOT NULL THEN
            v_refusal := jsonb_build_object('idx', v_bad_idx, 'suffix', '',
                                            'msg', format('not JSON (%s)', v_bad),
                                            'reason', 'not_json');
        END IF;
        IF v_refusal IS NULL THEN
            RAISE;
        END IF;
        PERFORM xorj.raise_score_refusal(v_refusal);
    END;
    RETURN NULL;  -- not reached
END
$fn$;

-- Stops the INSERT of xorj.insert_score_batch at an element its expressions refuse (the
-- exact reason is found afterwards, by xorj.score_batch_refusal).
CREATE OR REPLACE FUNCTION xorj.score_batch_stop() RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'XJ422', MESSAGE = 'invalid scores: an element is invalid';
END
$fn$;

-- XJ422 for a refusal found by xorj.score_batch_refusal: {idx, suffix, msg, reason,
-- duplicate_of}.
CREATE OR REPLACE FUNCTION xorj.raise_score_refusal(p_refusal jsonb) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    v_field text := format('scores[%s]%s', p_refusal ->> 'idx', p_refusal ->> 'suffix');
    v_msg   text := p_refusal ->> 'msg';
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'XJ422',
        MESSAGE = format('invalid %s: %s', v_field, v_msg),
        DETAIL  = xorj.refusal_detail(format('%s: %s', v_field, v_msg),
                      jsonb_strip_nulls(jsonb_build_object(
                          'index', (p_refusal ->> 'idx')::bigint,
                          'reason', p_refusal ->> 'reason',
                          'duplicate_of', (p_refusal ->> 'duplicate_of')::bigint)),
                      jsonb_build_object('field', v_field)),
        HINT    = 'Nothing of this batch was saved: correct the element and send the batch again.',
        COLUMN  = v_field;
END
$fn$;

-- The first invalid element of the batch p_source (see xorj.insert_score_batch) among
-- those with an index below p_before, as {idx, suffix, msg, reason, duplicate_of}, or
-- NULL when there is none. Called once the fast INSERT has failed (and been undone).
--
-- Every element is checked once, set-based, for what the batch alone decides (the CTE
-- below); the first problem and the first repeated wallet among valid elements are found
-- separately, the lower one wins. (The address test is the domain's, written as a length
-- test plus a search for a character outside base58, several times cheaper than the
-- {32,44} regex.) The wallets the run already holds are then found by an INSERT of the
-- elements before that one, through the unique index (run_id, wallet_address) with ON
-- CONFLICT DO NOTHING: an element it skipped is a wallet of an earlier batch. (A join of
-- the batch with the run's scores would depend on the planner's estimate of a run that is
-- still being filled, and a nested loop over a misestimated run is quadratic; the index
-- probe of the INSERT is the same cost whatever the statistics say.) That INSERT is
-- undone with the refusal the caller raises. (Batches of one run are serialized by the
-- run's row lock, so no concurrent batch can slip a wallet in between.)
CREATE OR REPLACE FUNCTION xorj.score_batch_refusal(p_run_id uuid, p_source text, p_scores jsonb,
                                                    p_first_index bigint, p_before bigint)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    v_idx      bigint;
    v_suffix   text;
    v_msg      text;
    v_reason   text;
    v_dup_of   bigint;
    v_before   bigint;
    v_tried    bigint;
    v_count    bigint;
    v_inserted text[];
    v_present  bigint;
BEGIN
    EXECUTE format($q$
        WITH checked AS MATERIALIZED (
            SELECT s.idx, s.elem ->> 'wallet_address' AS wallet,
                CASE
                    WHEN jsonb_typeof(s.elem) <> 'object' THEN
                        ARRAY['', format('is not a JSON object but %%s', jsonb_typeof(s.elem)), 'not_an_object']
                    WHEN s.elem - '{wallet_address,xorj_trust_score,metrics}'::text[] <> '{}'::jsonb THEN
                        ARRAY['.' || (SELECT min(k) FROM jsonb_object_keys(
                                          s.elem - '{wallet_address,xorj_trust_score,metrics}'::text[]) AS k),
                              'is not a known field (wallet_address, xorj_trust_score, metrics)',
                              'unknown_field']
                    WHEN NOT s.elem ? 'wallet_address' THEN
                        ARRAY['.wallet_address', 'is required', 'required']
                    WHEN jsonb_typeof(s.elem -> 'wallet_address') <> 'string' THEN
                        ARRAY['.wallet_address', format('must be a string, not %%s', jsonb_typeof(s.elem -> 'wallet_address')), 'wrong_type']
                    WHEN length(s.elem ->> 'wallet_address') NOT BETWEEN 32 AND 44
                         OR (s.elem ->> 'wallet_address') ~ '[^1-9A-HJ-NP-Za-km-z]' THEN
                        ARRAY['.wallet_address', 'not a Solana address', 'not_an_address']
                    WHEN NOT s.elem ? 'xorj_trust_score' THEN
                        ARRAY['.xorj_trust_score', 'is required', 'required']
                    WHEN jsonb_typeof(s.elem -> 'xorj_trust_score') <> 'number' THEN
                        ARRAY['.xorj_trust_score', format('must be a number, not %%s', jsonb_typeof(s.elem -> 'xorj_trust_score')), 'wrong_type']
                    WHEN (s.elem -> 'xorj_trust_score')::numeric < 0 THEN
                        ARRAY['.xorj_trust_score', 'must be 0 or more', 'negative']
                    WHEN (s.elem -> 'xorj_trust_score')::numeric > 1.7976931348623157e308 THEN
                        ARRAY['.xorj_trust_score', 'must be at most 1.7976931348623157e308, the largest double', 'too_large']
                    WHEN s.elem ? 'metrics' AND jsonb_typeof(s.elem -> 'metrics') <> 'object' THEN
                        ARRAY['.metrics', format('must be a JSON object, not %%s', jsonb_typeof(s.elem -> 'metrics')), 'wrong_type']
                END AS problem
            FROM (%s) AS s
        ), first_invalid AS (
            SELECT c.idx, c.problem[1] AS suffix, c.problem[2] AS msg, c.problem[3] AS reason,
                   NULL::bigint AS duplicate_of
            FROM checked c
            WHERE c.problem IS NOT NULL
            ORDER BY c.idx
            LIMIT 1
        ), first_duplicate AS (
            SELECT d.idx, '.wallet_address' AS suffix,
                   format('duplicates scores[%%s].wallet_address', d.first_idx) AS msg,
                   'duplicate_in_batch' AS reason, d.first_idx AS duplicate_of
            FROM (SELECT c.idx,
                         row_number() OVER w AS occurrence,
                         first_value(c.idx) OVER w AS first_idx
                  FROM checked c
                  WHERE c.problem IS NULL
                  WINDOW w AS (PARTITION BY c.wallet ORDER BY c.idx)) AS d
            WHERE d.occurrence > 1
            ORDER BY d.idx
            LIMIT 1
        )
        SELECT f.idx, f.suffix, f.msg, f.reason, f.duplicate_of
        FROM (SELECT * FROM first_invalid UNION ALL SELECT * FROM first_duplicate) AS f
        ORDER BY f.idx
        LIMIT 1
    $q$, p_source)
    INTO v_idx, v_suffix, v_msg, v_reason, v_dup_of
    USING p_run_id, p_scores, p_first_index, p_before;

    IF EXISTS (SELECT 1 FROM xorj.trader_scores s WHERE s.run_id = p_run_id) THEN
        -- The elements before the first invalid one (all of them when none is), inserted
        -- except those whose wallet the run holds already.
        v_before := least(coalesce(v_idx, p_before), p_before);
        EXECUTE format($q$
            WITH elements AS (
                SELECT s.idx, s.elem FROM (%s) AS s
            ), ins AS (
                INSERT INTO xorj.trader_scores AS t (run_id, wallet_address, xorj_trust_score, metrics)
                SELECT $1,
                       (e.elem ->> 'wallet_address')::xorj.solana_address,
                       (e.elem -> 'xorj_trust_score')::numeric,
                       coalesce(e.elem -> 'metrics', '{}'::jsonb)
                FROM elements e
                ON CONFLICT ON CONSTRAINT trader_scores_run_wallet_key DO NOTHING
                RETURNING t.wallet_address
            )
            SELECT (SELECT count(*) FROM elements), count(*),
                   CASE WHEN count(*) < (SELECT count(*) FROM elements)
                        THEN array_agg(ins.wallet_address::text) END
            FROM ins
        $q$, p_source)
        INTO v_tried, v_count, v_inserted
        USING p_run_id, p_scores, p_first_index, v_before;

        IF v_count < v_tried THEN
            -- Some element was skipped: the first whose wallet this INSERT did not write
            -- comes before any invalid element.
            EXECUTE format($q$
                SELECT min(s.idx) FROM (%s) AS s
                WHERE NOT (coalesce((SELECT jsonb_object_agg(w, true) FROM unnest($5::text[]) AS w),
                                    '{}'::jsonb)
                           ? (s.elem ->> 'wallet_address'))
            $q$, p_source)
            INTO v_present
            USING p_run_id, p_scores, p_first_index, v_before, v_inserted;
            RETURN jsonb_build_object('idx', v_present, 'suffix', '.wallet_address',
                'msg', 'is already scored in this run (sent by an earlier batch)',
                'reason', 'already_scored');
        END IF;
    END IF;
    IF v_idx IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN jsonb_build_object('idx', v_idx, 'suffix', v_suffix, 'msg', v_msg,
                              'reason', v_reason, 'duplicate_of', v_dup_of);
END
$fn$;

-- The staging table of run p_run_id in this session: pg_temp.scoring_copy_<id without
-- dashes>, created when p_create and missing (TEMP, ON COMMIT DROP: it lives in the
-- loading transaction only, and only this session sees it), else NULL when missing.
-- Columns: line bigint, an identity (the lines' numbers from 1 in the order they arrive,
-- through every COPY of the transaction), and doc text (one line of the engine's file).
-- The engine may INSERT (COPY) into column doc, nothing else: it cannot read, change,
-- delete or number the lines, and a session cannot reach another session's TEMP tables
-- at all. A relation of that name that is not a table this function made (a TEMP table
-- owned by the owner of the api) is refused (42501): the api reads it with the owner's
-- rights.
CREATE OR REPLACE FUNCTION xorj.scoring_copy_table(p_run_id uuid, p_create boolean)
RETURNS regclass
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    v_name text := 'scoring_copy_' || replace(p_run_id::text, '-', '');
    v_rel  regclass := to_regclass(format('pg_temp.%I', v_name));
BEGIN
    IF v_rel IS NULL AND p_create THEN
        EXECUTE format('CREATE TEMP TABLE %I (line bigint GENERATED ALWAYS AS IDENTITY, '
                       'doc text NOT NULL) ON COMMIT DROP', v_name);
        v_rel := to_regclass(format('pg_temp.%I', v_name));
        EXECUTE format('GRANT INSERT (doc) ON %s TO xorj_engine', v_rel);
        RETURN v_rel;
    END IF;
    IF v_rel IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM pg_class c
            WHERE c.oid = v_rel AND c.relkind = 'r' AND c.relpersistence = 't'
              AND c.relowner = (SELECT r.oid FROM pg_roles r WHERE r.rolname = current_user)) THEN
        RAISE EXCEPTION USING
            ERRCODE = '42501',
            MESSAGE = format('pg_temp.%s is not a staging table of api.open_scoring_copy', v_name),
            DETAIL  = xorj.refusal_detail('a relation of that name was made by someone else',
                                          jsonb_build_object('reason', 'not_a_staging_table')),
            HINT    = 'Drop it, then call api.open_scoring_copy.';
    END IF;
    RETURN v_rel;
END
$fn$;

-- The first line of staging table p_staging that is not JSON (blank lines aside): its
-- index (line - 1) and the parser's words, or NULLs when every line parses. A bisection
-- over the line numbers, each step one set-based parse of a range in a subtransaction:
-- about twice the parses of the whole table, on the refusal path only.
CREATE OR REPLACE FUNCTION xorj.score_copy_first_bad_line(p_staging regclass,
                                                          OUT idx bigint, OUT problem text)
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    v_lo  bigint;
    v_hi  bigint;
    v_mid bigint;
BEGIN
    EXECUTE format('SELECT min(c.line), max(c.line) FROM %s AS c', p_staging) INTO v_lo, v_hi;
    IF v_lo IS NULL OR xorj.score_copy_parse_problem(p_staging, v_lo, v_hi) IS NULL THEN
        RETURN;
    END IF;
    WHILE v_lo < v_hi LOOP
        v_mid := v_lo + (v_hi - v_lo) / 2;
        IF xorj.score_copy_parse_problem(p_staging, v_lo, v_mid) IS NOT NULL THEN
            v_hi := v_mid;
        ELSE
            v_lo := v_mid + 1;
        END IF;
    END LOOP;
    idx := v_lo - 1;
    problem := xorj.score_copy_parse_problem(p_staging, v_lo, v_lo);
END
$fn$;

-- NULL when every non-blank line of p_staging numbered p_from..p_to is JSON, else what the
-- parser said of the first one it refused.
CREATE OR REPLACE FUNCTION xorj.score_copy_parse_problem(p_staging regclass, p_from bigint,
                                                         p_to bigint)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    v_message text;
    v_detail  text;
BEGIN
    EXECUTE format('SELECT count(c.doc::jsonb) FROM %s AS c '
                   'WHERE c.line BETWEEN $1 AND $2 AND (c.doc LIKE ''{%%'' OR c.doc ~ ''[^ \t\r]'')', p_staging)
    USING p_from, p_to;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL;
    RETURN v_message || CASE WHEN coalesce(v_detail, '') <> '' THEN ': ' || v_detail ELSE '' END;
END
$fn$;

-- The lines staged in p_staging (xorj.scoring_copy_table) as a batch of run p_run_id:
-- line n is the element of index n - 1; blank lines (spaces, tabs and carriage returns
-- only) are skipped and keep their numbers; a line that is not JSON is XJ422 on
-- scores[n - 1], reason not_json. Otherwise exactly as xorj.insert_trader_scores.
-- (A line that starts with "{", as the engine's do, is not blank: the regex runs for the
-- others only. On 100,000 lines the test took about 50-80 ms with the regex for every
-- line, 6-10 ms so.)
-- (OFFSET 0 keeps the source a subquery of its own: each line is parsed once, not once
-- per reference to elem in the statement that reads it.)
CREATE OR REPLACE FUNCTION xorj.insert_staged_scores(p_run_id uuid, p_staging regclass)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    RETURN xorj.insert_score_batch(p_run_id,
        format('SELECT c.line - 1 AS idx, c.doc::jsonb AS elem FROM %s AS c '
               'WHERE c.line - 1 < $4 AND (c.doc LIKE ''{%%'' OR c.doc ~ ''[^ \t\r]'') OFFSET 0', p_staging),
        NULL, 0, p_staging);
END
$fn$;

-- RUNNING -> COMPLETED with its (remaining) scores, in the caller's transaction: the
-- batch is validated and inserted by xorj.insert_trader_scores (the first invalid
-- element rejects it whole with XJ422 naming scores[<index>].<field>), then the run
-- completes. Returns the run plus "scores_inserted" (the rows of this batch). [] completes
-- a run whose scores were sent by api.add_scoring_scores. A run that would complete with
-- no score at all (none sent before, none in this batch) is XJ422 on scores unless
-- p_allow_empty: a completed empty run becomes the latest and leaves api.ranked_traders
-- empty, so it must be asked for.
CREATE OR REPLACE FUNCTION api.complete_scoring_run(p_run_id uuid, p_scores jsonb,
                                                    p_allow_empty boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    r       xorj.scoring_runs := xorj.lock_scoring_run(p_run_id);
    v_count bigint;
BEGIN
    IF r.status <> 'RUNNING' THEN
        PERFORM xorj.scoring_run_refuse_move(r.id, r.status, 'COMPLETED');
    END IF;
    v_count := xorj.insert_trader_scores(r.id, p_scores, 0);
    IF v_count = 0 AND NOT coalesce(p_allow_empty, false)
       AND NOT EXISTS (SELECT 1 FROM xorj.trader_scores s WHERE s.run_id = r.id) THEN
        PERFORM xorj.raise_invalid('scores', 'a scoring run cannot complete with no score',
            'Send the scores (here or with api.add_scoring_scores), or pass allow_empty to complete a run with no traders; the latest completed run stays ranked meanwhile.',
            jsonb_build_object('reason', 'empty_run'));
    END IF;
    UPDATE xorj.scoring_runs SET status = 'COMPLETED' WHERE id = r.id RETURNING * INTO r;
    RETURN to_jsonb(r) || jsonb_build_object('scores_inserted', v_count);
END
$fn$;
REVOKE ALL ON FUNCTION api.complete_scoring_run(uuid, jsonb, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.complete_scoring_run(uuid, jsonb, boolean) TO xorj_engine;

-- One chunk of a RUNNING run's scores, for a list too long for one call: validated and
-- inserted exactly as by api.complete_scoring_run (xorj.insert_trader_scores), with error
-- indexes counted from p_first_index (the chunk's first element in the whole list, e.g.
-- a line number - 1 of the engine's file). A wallet sent by an earlier chunk of the run
-- is XJ422 at its index. The run stays RUNNING: complete it with
-- api.complete_scoring_run(run, '[]'), in the same transaction to publish all the chunks
-- at once. A run that is not RUNNING is XJ423. Returns the number of scores inserted.
CREATE OR REPLACE FUNCTION api.add_scoring_scores(p_run_id uuid, p_scores jsonb,
                                                  p_first_index integer DEFAULT 0)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    r xorj.scoring_runs := xorj.lock_scoring_run(p_run_id);
BEGIN
    IF r.status <> 'RUNNING' THEN
        PERFORM xorj.scoring_run_refuse_scores(r);
    END IF;
    RETURN xorj.insert_trader_scores(r.id, p_scores, p_first_index);
END
$fn$;
REVOKE ALL ON FUNCTION api.add_scoring_scores(uuid, jsonb, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.add_scoring_scores(uuid, jsonb, integer) TO xorj_engine;

-- Scores at COPY speed, for the engine's loader (`xorj engine load`): in ONE transaction,
--   SELECT api.open_scoring_copy(run)            -- the staging table's name, e.g.
--                                                -- pg_temp.scoring_copy_<run>
--   COPY pg_temp.scoring_copy_<run> (doc) FROM STDIN   -- the file's lines, as they are
--   SELECT api.add_scoring_copy(run)             -- validated and inserted: how many
--   SELECT api.complete_scoring_run(run, '[]')   -- (or more COPYs and adds first)
-- The staging table is a TEMP table of the session, made by the api (its owner's) with
-- INSERT on column doc granted to xorj_engine and dropped at the end of the transaction
-- (xorj.scoring_copy_table): nothing staged outlives the transaction, a rollback leaves
-- nothing, and no other session (engine or not) can see or touch it. Line n of the COPY
-- (counted from 1 over every COPY of the transaction) is the element of index n - 1, so
-- the refusals of api.add_scoring_copy name scores[n - 1] exactly as
-- api.add_scoring_scores would with first_index 0; blank lines are skipped and keep their
-- numbers; a line that is not JSON is XJ422 reason not_json.
-- A run that is not RUNNING is XJ423. Returns the staging table, schema-qualified.
CREATE OR REPLACE FUNCTION api.open_scoring_copy(p_run_id uuid) RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    r xorj.scoring_runs := xorj.lock_scoring_run(p_run_id);
BEGIN
    IF r.status <> 'RUNNING' THEN
        PERFORM xorj.scoring_run_refuse_scores(r);
    END IF;
    PERFORM xorj.scoring_copy_table(r.id, true);
    RETURN format('pg_temp.%I', 'scoring_copy_' || replace(r.id::text, '-', ''));
END
$fn$;
REVOKE ALL ON FUNCTION api.open_scoring_copy(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.open_scoring_copy(uuid) TO xorj_engine;

-- The lines COPYed since api.open_scoring_copy(run) (or since the last
-- api.add_scoring_copy of the run), validated and inserted into the RUNNING run as one
-- batch (xorj.insert_staged_scores: the rule of api.add_scoring_scores), then taken out
-- of the staging table (line numbers go on). Returns the number of scores inserted. No
-- staging table for the run in this transaction is XJ422 on run_id, reason no_copy; a run
-- that is not RUNNING is XJ423.
CREATE OR REPLACE FUNCTION api.add_scoring_copy(p_run_id uuid) RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    r       xorj.scoring_runs := xorj.lock_scoring_run(p_run_id);
    v_table regclass;
    v_count bigint;
BEGIN
    IF r.status <> 'RUNNING' THEN
        PERFORM xorj.scoring_run_refuse_scores(r);
    END IF;
    v_table := xorj.scoring_copy_table(r.id, false);
    IF v_table IS NULL THEN
        PERFORM xorj.raise_invalid('run_id',
            format('%s has no staged scores in this transaction', r.id),
            'Call api.open_scoring_copy(run) and COPY the lines into the table it names first, in the same transaction.',
            jsonb_build_object('reason', 'no_copy'));
    END IF;
    v_count := xorj.insert_staged_scores(r.id, v_table);
    EXECUTE format('TRUNCATE %s', v_table);
    RETURN v_count;
END
$fn$;
REVOKE ALL ON FUNCTION api.add_scoring_copy(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.add_scoring_copy(uuid) TO xorj_engine;

-- PENDING or RUNNING -> FAILED with the reason.
CREATE OR REPLACE FUNCTION api.fail_scoring_run(p_run_id uuid, p_error text) RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    r xorj.scoring_runs;
BEGIN
    PERFORM xorj.lifecycle_check_error('run', p_error);
    r := xorj.lock_scoring_run(p_run_id);
    IF r.status NOT IN ('PENDING', 'RUNNING') THEN
        PERFORM xorj.scoring_run_refuse_move(r.id, r.status, 'FAILED');
    END IF;
    UPDATE xorj.scoring_runs SET status = 'FAILED', error_message = p_error
    WHERE id = r.id RETURNING * INTO r;
    RETURN to_jsonb(r);
END
$fn$;
REVOKE ALL ON FUNCTION api.fail_scoring_run(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.fail_scoring_run(uuid, text) TO xorj_engine;

-- The ranked traders of the latest COMPLETED run (by completed_at, then id); no rows
-- when no run has completed. rank = p_offset + position in the page.
-- plan_cache_mode: every call is planned with its own limit and offset (a generic plan
-- would guess the LIMIT); enable_sort off: a deep page is read from the index in order
-- too, never by sorting the run (the index provides the order, so no sort is needed).
CREATE OR REPLACE FUNCTION api.ranked_traders(p_limit integer DEFAULT 100, p_offset integer DEFAULT 0)
RETURNS TABLE (rank bigint, wallet_address text, xorj_trust_score numeric, metrics jsonb,
               run_id uuid, completed_at timestamptz)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
SET plan_cache_mode = force_custom_plan
SET enable_sort = off
AS $fn$
DECLARE
    v_run_id       uuid;
    v_completed_at timestamptz;
BEGIN
    PERFORM xorj.check_page(p_limit, p_offset, 1000, p_say_value => true);
    SELECT l.id, l.completed_at INTO v_run_id, v_completed_at
    FROM xorj.latest_completed_scoring_run() l;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT k.rank, k.wallet_address, k.xorj_trust_score, k.metrics, v_run_id, v_completed_at
        FROM xorj.scoring_ranking(v_run_id, p_limit, p_offset) k;
END
$fn$;
REVOKE ALL ON FUNCTION api.ranked_traders(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.ranked_traders(integer, integer) TO xorj_engine, xorj_bot, xorj_api;

-- The ranked scores of one run, whatever its status; XJ404 when it does not exist, and
-- when the retention has pruned its scores (xorj.scoring_run_refuse_pruned,
-- procedures/scoring_retention.sql: the message says so, "reason" scores_pruned).
CREATE OR REPLACE FUNCTION api.run_scores(p_run_id uuid, p_limit integer DEFAULT 100,
                                          p_offset integer DEFAULT 0)
RETURNS TABLE (rank bigint, wallet_address text, xorj_trust_score numeric, metrics jsonb,
               run_id uuid, completed_at timestamptz)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, xorj, pg_temp
SET plan_cache_mode = force_custom_plan
SET enable_sort = off
AS $fn$
DECLARE
    v_completed_at timestamptz;
    v_pruned_at    timestamptz;
BEGIN
    IF p_run_id IS NULL THEN
        PERFORM xorj.raise_invalid('run_id', 'is required');
    END IF;
    PERFORM xorj.check_page(p_limit, p_offset, 1000, p_say_value => true);
    SELECT r.completed_at, r.scores_pruned_at INTO v_completed_at, v_pruned_at
    FROM xorj.scoring_runs r WHERE r.id = p_run_id;
    IF NOT FOUND THEN
        PERFORM xorj.raise_not_found('scoring run', p_run_id::text);
    END IF;
    IF v_pruned_at IS NOT NULL THEN
        PERFORM xorj.scoring_run_refuse_pruned(p_run_id, v_pruned_at);
    END IF;
    RETURN QUERY
        SELECT k.rank, k.wallet_address, k.xorj_trust_score, k.metrics, p_run_id, v_completed_at
        FROM xorj.scoring_ranking(p_run_id, p_limit, p_offset) k;
END
$fn$;
REVOKE ALL ON FUNCTION api.run_scores(uuid, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.run_scores(uuid, integer, integer) TO xorj_engine, xorj_bot, xorj_api;
