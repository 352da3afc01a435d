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
--     * rows are inserted only while their run is RUNNING (checked once per statement,
--       the runs locked FOR SHARE so a concurrent completion waits or is seen);
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
-- api.complete_scoring_run(run, '[]') in the same transaction; both validate and insert
-- through xorj.insert_trader_scores, so the rule for a score is written once.
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
-- and without an index: not_an_array (field scores: the batch is not a JSON array),
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

-- Inserted scores belong to RUNNING runs: one check per statement (100,000 rows in one
-- INSERT cost one look-up per distinct run). FOR SHARE conflicts with the UPDATE that
-- completes or fails a run, so a concurrent completion either waits for this
-- transaction or is seen here (READ COMMITTED re-reads the locked row).
CREATE OR REPLACE FUNCTION xorj.trader_scores_check_run() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    v_run xorj.scoring_runs;
BEGIN
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
-- trigger is not, and fires only for statements naming the table it is on.)
CREATE OR REPLACE FUNCTION xorj.trader_scores_install_guards(p_table regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    EXECUTE format('CREATE OR REPLACE TRIGGER trader_scores_immutable '
                   'BEFORE UPDATE OR DELETE ON %s FOR EACH STATEMENT '
                   'EXECUTE FUNCTION xorj.trader_scores_refuse_change()', p_table);
    EXECUTE format('CREATE OR REPLACE TRIGGER trader_scores_no_truncate '
                   'BEFORE TRUNCATE ON %s FOR EACH STATEMENT '
                   'EXECUTE FUNCTION xorj.trader_scores_refuse_change()', p_table);
    EXECUTE format('CREATE OR REPLACE TRIGGER trader_scores_run_running '
                   'AFTER INSERT ON %s REFERENCING NEW TABLE AS new_scores FOR EACH STATEMENT '
                   'EXECUTE FUNCTION xorj.trader_scores_check_run()', p_table);
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
-- dashes> with its keys and rank index (named after it), attached FOR VALUES IN (the
-- run), and the guards. Created as a table, then attached: ATTACH PARTITION takes the
-- partitioned table in SHARE UPDATE EXCLUSIVE mode only (CREATE TABLE ... PARTITION OF
-- would take it ACCESS EXCLUSIVE, stopping every read of scores until the transaction
-- ends). It also takes scoring_runs in SHARE ROW EXCLUSIVE mode (the foreign key is
-- cloned onto the partition), which waits for the transactions that changed runs and
-- stops others from changing runs until this one ends: keep such a transaction short
-- (api.create_scoring_run takes that lock first, see there). SECURITY DEFINER: the
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
    EXECUTE format('CREATE INDEX %I ON xorj.%I (run_id, xorj_trust_score DESC, wallet_address)',
                   v_name || '_run_rank_idx', v_name);
    EXECUTE format('ALTER TABLE xorj.trader_scores ATTACH PARTITION xorj.%I FOR VALUES IN (%L)',
                   v_name, p_run_id);
    v_rel := format('xorj.%I', v_name)::regclass;
    PERFORM xorj.trader_scores_install_guards(v_rel);
    RETURN v_rel;
END
$fn$;

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
-- scoring_runs_partition). The partition's foreign key needs scoring_runs in SHARE ROW
-- EXCLUSIVE mode, taken here before the INSERT: two creations that each held the table
-- in ROW EXCLUSIVE mode (their INSERT) and then both asked for SHARE ROW EXCLUSIVE would
-- deadlock; taken first, creations queue. (Completions and failures of other runs wait
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
-- The one rule for scores sent by api.complete_scoring_run and api.add_scoring_scores:
-- the caller has locked the run (xorj.lock_scoring_run) and checked it is RUNNING.
-- The first invalid element (lowest index) rejects the batch with XJ422 naming
-- scores[<index>].<field>, where index = p_first_index + its position in p_scores (so a
-- caller sending a long list in chunks gets the index in the whole list). Returns the
-- number of rows inserted.
--
-- An element: {"wallet_address": base58 32..44 characters, "xorj_trust_score": a JSON
-- number >= 0, "metrics": a JSON object (optional, default {})}; no other key. A wallet
-- twice in the batch is invalid at its second occurrence; a wallet the run already holds
-- (sent by an earlier batch) is invalid where it appears.
--
-- How: every element is checked once, set-based, for what the batch alone decides (the
-- CTE below). The wallets the run already holds are found by the INSERT itself, through
-- the unique index (run_id, wallet_address) with ON CONFLICT DO NOTHING: an element it
-- skipped is a wallet of an earlier batch. (A join of the batch with the run's scores
-- would depend on the planner's estimate of a run that is still being filled, and a
-- nested loop over a misestimated run is quadratic; the index probe of the INSERT is
-- the same cost whatever the statistics say, and needs no subtransaction.) When the
-- batch has an invalid element at index i, only the elements before i are inserted, to
-- see whether one of them comes first; the exception raised then undoes that insert.
-- The run's first batch (or a whole run in one call) is inserted without ON CONFLICT,
-- about 15% faster.
-- (Batches of one run are serialized by the run's row lock, so no concurrent batch can
-- slip a wallet in between.) The run's partition is made sure of first: a run has one
-- from its creation, but one gone missing must not turn scores away.
CREATE OR REPLACE FUNCTION xorj.insert_trader_scores(p_run_id uuid, p_scores jsonb,
                                                     p_first_index bigint)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
DECLARE
    v_has_scores boolean;
    v_idx       bigint;
    v_field     text;
    v_msg       text;
    v_before    bigint;   -- elements with an index below this one are inserted
    v_tried     bigint;
    v_count     bigint;
    v_inserted  text[];
    v_present   bigint;
    v_reason    text;     -- the code of the refusal (see the header)
    v_duplicate_of bigint;
BEGIN
    PERFORM xorj.trader_scores_partition(p_run_id);
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

    -- The first element the batch alone makes invalid, if any (lowest index): each
    -- element is checked once (CTE checked, one narrow row per element); the first
    -- problem and the first repeated wallet among valid elements are found separately,
    -- the lower one wins. (The address test is the domain's, written as a length test
    -- plus a search for a character outside base58, several times cheaper than the
    -- {32,44} regex.)
    WITH checked AS MATERIALIZED (
        SELECT p_first_index + t.ord - 1 AS idx,
            t.elem ->> 'wallet_address' AS wallet,
            CASE
                WHEN jsonb_typeof(t.elem) <> 'object' THEN
                    ARRAY['', format('is not a JSON object but %s', jsonb_typeof(t.elem)), 'not_an_object']
                WHEN t.elem - 'wallet_address' - 'xorj_trust_score' - 'metrics' <> '{}'::jsonb THEN
                    ARRAY['.' || (SELECT min(k) FROM jsonb_object_keys(
                                      t.elem - 'wallet_address' - 'xorj_trust_score' - 'metrics') AS k),
                          'is not a known field (wallet_address, xorj_trust_score, metrics)',
                          'unknown_field']
                WHEN NOT t.elem ? 'wallet_address' THEN
                    ARRAY['.wallet_address', 'is required', 'required']
                WHEN jsonb_typeof(t.elem -> 'wallet_address') <> 'string' THEN
                    ARRAY['.wallet_address', format('must be a string, not %s', jsonb_typeof(t.elem -> 'wallet_address')), 'wrong_type']
                WHEN length(t.elem ->> 'wallet_address') NOT BETWEEN 32 AND 44
                     OR (t.elem ->> 'wallet_address') ~ '[^1-9A-HJ-NP-Za-km-z]' THEN
                    ARRAY['.wallet_address', 'not a Solana address', 'not_an_address']
                WHEN NOT t.elem ? 'xorj_trust_score' THEN
                    ARRAY['.xorj_trust_score', 'is required', 'required']
                WHEN jsonb_typeof(t.elem -> 'xorj_trust_score') <> 'number' THEN
                    ARRAY['.xorj_trust_score', format('must be a number, not %s', jsonb_typeof(t.elem -> 'xorj_trust_score')), 'wrong_type']
                WHEN (t.elem -> 'xorj_trust_score')::numeric < 0 THEN
                    ARRAY['.xorj_trust_score', 'must be 0 or more', 'negative']
                WHEN (t.elem -> 'xorj_trust_score')::numeric > 1.7976931348623157e308 THEN
                    ARRAY['.xorj_trust_score', 'must be at most 1.7976931348623157e308, the largest double', 'too_large']
                WHEN t.elem ? 'metrics' AND jsonb_typeof(t.elem -> 'metrics') <> 'object' THEN
                    ARRAY['.metrics', format('must be a JSON object, not %s', jsonb_typeof(t.elem -> 'metrics')), 'wrong_type']
            END AS problem
        FROM jsonb_array_elements(p_scores) WITH ORDINALITY AS t(elem, ord)
    ), first_invalid AS (
        SELECT c.idx, c.problem[1] AS suffix, c.problem[2] AS msg, c.problem[3] AS reason,
               NULL::bigint AS duplicate_of
        FROM checked c
        WHERE c.problem IS NOT NULL
        ORDER BY c.idx
        LIMIT 1
    ), first_duplicate AS (
        SELECT d.idx, '.wallet_address' AS suffix,
               format('duplicates scores[%s].wallet_address', d.first_idx) AS msg,
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
    SELECT f.idx, format('scores[%s]%s', f.idx, f.suffix), f.msg, f.reason, f.duplicate_of
    FROM (SELECT * FROM first_invalid UNION ALL SELECT * FROM first_duplicate) AS f
    ORDER BY f.idx
    LIMIT 1
    INTO v_idx, v_field, v_msg, v_reason, v_duplicate_of;

    v_has_scores := EXISTS (SELECT 1 FROM xorj.trader_scores s WHERE s.run_id = p_run_id);
    IF NOT v_has_scores THEN
        -- The run's first batch: no wallet can be there already; a plain INSERT.
        IF v_idx IS NULL THEN
            INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score, metrics)
            SELECT p_run_id,
                   (t.elem ->> 'wallet_address')::xorj.solana_address,
                   (t.elem -> 'xorj_trust_score')::numeric,
                   coalesce(t.elem -> 'metrics', '{}'::jsonb)
            FROM jsonb_array_elements(p_scores) AS t(elem);
            GET DIAGNOSTICS v_count = ROW_COUNT;
        END IF;
    ELSE
        -- A later batch: the elements before the first invalid one (all of them when
        -- none is), inserted except those whose wallet the run holds already.
        v_before := coalesce(v_idx, 9223372036854775807);
        WITH elements AS (
            SELECT t.elem
            FROM jsonb_array_elements(p_scores) WITH ORDINALITY AS t(elem, ord)
            WHERE p_first_index + t.ord - 1 < v_before
        ), ins AS (
            INSERT INTO xorj.trader_scores AS s (run_id, wallet_address, xorj_trust_score, metrics)
            SELECT p_run_id,
                   (e.elem ->> 'wallet_address')::xorj.solana_address,
                   (e.elem -> 'xorj_trust_score')::numeric,
                   coalesce(e.elem -> 'metrics', '{}'::jsonb)
            FROM elements e
            ON CONFLICT ON CONSTRAINT trader_scores_run_wallet_key DO NOTHING
            RETURNING s.wallet_address
        )
        SELECT (SELECT count(*) FROM elements), count(*),
               CASE WHEN count(*) < (SELECT count(*) FROM elements)
                    THEN array_agg(ins.wallet_address::text) END
        FROM ins
        INTO v_tried, v_count, v_inserted;

        IF v_count < v_tried THEN
            -- Some element was skipped: the first whose wallet this INSERT did not write
            -- comes before any invalid element.
            SELECT min(p_first_index + t.ord - 1) INTO v_present
            FROM jsonb_array_elements(p_scores) WITH ORDINALITY AS t(elem, ord)
            WHERE p_first_index + t.ord - 1 < v_before
              AND NOT (coalesce((SELECT jsonb_object_agg(w, true) FROM unnest(v_inserted) AS w),
                                '{}'::jsonb)
                       ? (t.elem ->> 'wallet_address'));
            v_idx := v_present;
            v_field := format('scores[%s].wallet_address', v_present);
            v_msg := 'is already scored in this run (sent by an earlier batch)';
            v_reason := 'already_scored';
            v_duplicate_of := NULL;
        END IF;
    END IF;

    IF v_idx IS NOT NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'XJ422',
            MESSAGE = format('invalid %s: %s', v_field, v_msg),
            DETAIL  = xorj.refusal_detail(format('%s: %s', v_field, v_msg),
                          jsonb_strip_nulls(jsonb_build_object('index', v_idx, 'reason', v_reason,
                                                               'duplicate_of', v_duplicate_of)),
                          jsonb_build_object('field', v_field)),
            HINT    = 'Nothing of this batch was saved: correct the element and send the batch again.',
            COLUMN  = v_field;
    END IF;
    RETURN v_count;
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
