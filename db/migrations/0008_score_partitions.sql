-- depends: 0007_trade_venue
-- Scores are derived data (DESIGN.md, "Data lifecycle": retention by run): a run's
-- scores must be able to leave, at once, without touching the others. xorj.trader_scores
-- becomes a table partitioned by LIST (run_id), and a run's scores leave in O(1) by the
-- drop of its partition (xorj.prune_scores, procedures/scoring_retention.sql, run by
-- `xorj db maintain`), never row by row: the guards still refuse DELETE and TRUNCATE.
--
-- Why by run, not by day: every rule of the table is per run. The unique rule (run_id,
-- wallet_address) must contain the partition key on a partitioned table; it does with
-- run_id, it would not with a day. A ranked read is one run, in the order of
-- trader_scores_run_rank_idx: with one partition per run it is pruned at planning to one
-- partition (one index scan, as before), whereas a run loading across midnight would lie
-- in two days. And retention is decided per run (the last N completed runs, the runs
-- younger than D days): a run's partition is exactly what leaves with it, whereas a day
-- could go only once every run in it may.
--
-- The partitions (procedures/scoring.sql, xorj.trader_scores_partition):
--   * xorj.trader_scores_<the run's id, without dashes>, one per run: created with the
--     run (api.create_scoring_run; trigger scoring_runs_partition, so any INSERT of a
--     run has one) and, should it be missing, by the insert of scores
--     (xorj.insert_trader_scores). A table is created, then attached: ATTACH PARTITION
--     takes the parent in SHARE UPDATE EXCLUSIVE mode only, so the reads and loads of
--     other runs go on meanwhile.
--   * xorj.trader_scores_legacy: the scores of the runs already finished when this
--     migration runs, in one partition listing their ids. (One partition per old run
--     would create thousands of tables, holding as many locks, in this one transaction.)
--     It leaves when every run it holds is outside the retention limits. A run still
--     PENDING or RUNNING here gets a partition of its own, with its rows.
--   * No DEFAULT partition. Every run has its partition from its creation until its
--     scores are pruned, so the guards answer an INSERT as before (scores only while the
--     run is RUNNING); an INSERT of direct SQL for a run without one (a pruned run) is
--     refused (23514, no partition found for the row), never stored elsewhere. A DEFAULT
--     partition would be scanned at each attach of a new run's partition, and rows in it
--     could leave only row by row.
--
-- What stays: the columns and their defaults, the CHECKs, the foreign key to
-- scoring_runs (ON DELETE RESTRICT), the unique rule trader_scores_run_wallet_key,
-- the rank index trader_scores_run_rank_idx, the triggers (touch and the guards; the
-- guards are put on each partition as well by procedures/scoring.sql: a statement on a
-- partition does not fire the parent's statement triggers), the owner and the grants
-- (none: the table is read and written through the api functions only). The primary key
-- must contain the partition key too: trader_scores_pkey is (id, run_id). (id is
-- gen_random_uuid(); nothing reads a score by its id.)
--
-- The rows move partition by partition: each is filled as a plain table, then given its
-- indexes, then attached (the foreign key and the partition's bound are checked once
-- per partition, not per row). The objects bound to the table itself (the view
-- api.latest_trader_scores, the SQL-standard body of xorj.scoring_ranking) and its
-- triggers are re-created from their own definitions on the new table, then the old
-- table is dropped.
--
-- Retention: xorj.settings.score_keep_runs and score_keep_days (keep the last N
-- completed runs, and every run younger than D days); scoring_runs.scores_pruned_at, set
-- when the run's scores have been dropped (the run stays as history).

ALTER TABLE xorj.settings
    ADD COLUMN score_keep_runs integer NOT NULL DEFAULT 48,
    ADD COLUMN score_keep_days integer NOT NULL DEFAULT 7,
    ADD CONSTRAINT settings_score_keep_runs_range
        CHECK (score_keep_runs BETWEEN 1 AND 100000),
    ADD CONSTRAINT settings_score_keep_days_range
        CHECK (score_keep_days BETWEEN 0 AND 3650);

ALTER TABLE xorj.scoring_runs
    ADD COLUMN scores_pruned_at timestamptz,
    ADD CONSTRAINT scoring_runs_pruned_only_when_done
        CHECK (scores_pruned_at IS NULL OR status IN ('COMPLETED', 'FAILED'));
-- The runs retention still has to look at: finished, scores not pruned yet.
CREATE INDEX scoring_runs_unpruned_idx
    ON xorj.scoring_runs (completed_at)
    WHERE status IN ('COMPLETED', 'FAILED') AND scores_pruned_at IS NULL;

-- The old table's keys make way for the new one's names.
ALTER TABLE xorj.trader_scores
    RENAME CONSTRAINT trader_scores_pkey TO trader_scores_unpartitioned_pkey;
ALTER TABLE xorj.trader_scores
    RENAME CONSTRAINT trader_scores_run_wallet_key TO trader_scores_unpartitioned_run_wallet_key;
ALTER INDEX xorj.trader_scores_run_rank_idx RENAME TO trader_scores_unpartitioned_run_rank_idx;

-- One score per trader per run, one partition per run.
CREATE TABLE xorj.trader_scores_partitioned (
    id               uuid NOT NULL DEFAULT gen_random_uuid(),
    run_id           uuid NOT NULL,
    wallet_address   xorj.solana_address NOT NULL,
    xorj_trust_score numeric NOT NULL,
    metrics          jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT trader_scores_pkey PRIMARY KEY (id, run_id),
    CONSTRAINT trader_scores_run_id_fkey FOREIGN KEY (run_id)
        REFERENCES xorj.scoring_runs (id) ON DELETE RESTRICT,
    CONSTRAINT trader_scores_score_non_negative
        CHECK (xorj_trust_score >= 0 AND xorj_trust_score < 'Infinity'::numeric),
    CONSTRAINT trader_scores_metrics_is_object
        CHECK (jsonb_typeof(metrics) = 'object'),
    CONSTRAINT trader_scores_run_wallet_key UNIQUE (run_id, wallet_address)
) PARTITION BY LIST (run_id);
-- Ranked traders of a run: best score first, ties by wallet; read in index order.
CREATE INDEX trader_scores_run_rank_idx
    ON xorj.trader_scores_partitioned (run_id, xorj_trust_score DESC, wallet_address);

-- The partitions, with the rows of the old table: trader_scores_legacy for the finished
-- runs that have scores, one partition for each PENDING or RUNNING run.
DO $partitions$
DECLARE
    p record;
BEGIN
    FOR p IN
        SELECT 'trader_scores_legacy' AS name, array_agg(r.id ORDER BY r.id) AS runs
        FROM xorj.scoring_runs r
        WHERE r.status IN ('COMPLETED', 'FAILED')
          AND EXISTS (SELECT 1 FROM xorj.trader_scores s WHERE s.run_id = r.id)
        HAVING count(*) > 0
        UNION ALL
        SELECT 'trader_scores_' || replace(r.id::text, '-', ''), ARRAY[r.id]
        FROM xorj.scoring_runs r
        WHERE r.status IN ('PENDING', 'RUNNING')
    LOOP
        EXECUTE format('CREATE TABLE xorj.%I (LIKE xorj.trader_scores_partitioned '
                       'INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', p.name);
        EXECUTE format('INSERT INTO xorj.%I (id, run_id, wallet_address, xorj_trust_score, '
                       'metrics, created_at, updated_at) '
                       'SELECT id, run_id, wallet_address, xorj_trust_score, metrics, '
                       'created_at, updated_at FROM xorj.trader_scores WHERE run_id = ANY ($1)',
                       p.name) USING p.runs;
        EXECUTE format('ALTER TABLE xorj.%I ADD CONSTRAINT %I PRIMARY KEY (id, run_id), '
                       'ADD CONSTRAINT %I UNIQUE (run_id, wallet_address)',
                       p.name, p.name || '_pkey', p.name || '_run_wallet_key');
        EXECUTE format('CREATE INDEX %I ON xorj.%I (run_id, xorj_trust_score DESC, wallet_address)',
                       p.name || '_run_rank_idx', p.name);
        EXECUTE format('ALTER TABLE xorj.trader_scores_partitioned ATTACH PARTITION xorj.%I '
                       'FOR VALUES IN (%s)',
                       p.name, (SELECT string_agg(quote_literal(u), ', ') FROM unnest(p.runs) AS u));
    END LOOP;
END
$partitions$;

-- The swap: the statements that re-create what is bound to the old table (views, SQL
-- function bodies, triggers), read before it is renamed (they name xorj.trader_scores),
-- run once the new table has the name; then the old table, emptied of its dependents,
-- is dropped (without CASCADE: anything left bound to it stops the migration).
DO $swap$
DECLARE
    v_path  text := current_setting('search_path');
    v_stmts text[];
    v_stmt  text;
BEGIN
    -- Definitions read with no schema on the path, so every name in them is qualified.
    PERFORM set_config('search_path', 'pg_catalog', true);
    SELECT coalesce(array_agg(d.stmt ORDER BY d.kind, d.name), '{}') INTO v_stmts
    FROM (
        SELECT 1 AS kind, v.oid::regclass::text AS name,
               format('CREATE OR REPLACE VIEW %s AS %s', v.oid::regclass, pg_get_viewdef(v.oid)) AS stmt
        FROM pg_depend d
        JOIN pg_rewrite rw ON d.classid = 'pg_rewrite'::regclass AND rw.oid = d.objid
        JOIN pg_class v ON v.oid = rw.ev_class
        WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = 'xorj.trader_scores'::regclass
          AND v.oid <> 'xorj.trader_scores'::regclass
        UNION
        SELECT 2, f.oid::regprocedure::text, pg_get_functiondef(f.oid)
        FROM pg_depend d
        JOIN pg_proc f ON d.classid = 'pg_proc'::regclass AND f.oid = d.objid
        WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = 'xorj.trader_scores'::regclass
        UNION
        SELECT 3, t.tgname::text, pg_get_triggerdef(t.oid)
        FROM pg_trigger t
        WHERE t.tgrelid = 'xorj.trader_scores'::regclass AND NOT t.tgisinternal
    ) AS d;
    PERFORM set_config('search_path', v_path, true);

    ALTER TABLE xorj.trader_scores RENAME TO trader_scores_unpartitioned;
    ALTER TABLE xorj.trader_scores_partitioned RENAME TO trader_scores;
    FOREACH v_stmt IN ARRAY v_stmts LOOP
        EXECUTE v_stmt;
    END LOOP;
    DROP TABLE xorj.trader_scores_unpartitioned;
END
$swap$;
