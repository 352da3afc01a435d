-- xorj.trader_scores unpartitioned again, as 0002 made it, with every row its partitions
-- hold (the scores retention has pruned are gone for good). As with the other rollbacks,
-- procedures/ stay as they are (they work again once 0008 is back, or once the previous
-- release's procedures have replaced them); the triggers that would break every write of
-- a scoring run are dropped here: the one that creates a run's partition (there are no
-- partitions any more) and the guard of scores_pruned_at (the column goes).
DROP TRIGGER IF EXISTS scoring_runs_partition ON xorj.scoring_runs;
DROP TRIGGER IF EXISTS scoring_runs_pruned_guard ON xorj.scoring_runs;

-- The partitioned table's keys make way for the old names.
ALTER TABLE xorj.trader_scores
    RENAME CONSTRAINT trader_scores_pkey TO trader_scores_partitioned_pkey;
ALTER TABLE xorj.trader_scores
    RENAME CONSTRAINT trader_scores_run_wallet_key TO trader_scores_partitioned_run_wallet_key;
ALTER INDEX xorj.trader_scores_run_rank_idx RENAME TO trader_scores_partitioned_run_rank_idx;

-- The table of 0002, filled before its keys and indexes are built.
CREATE TABLE xorj.trader_scores_unpartitioned (
    id               uuid NOT NULL DEFAULT gen_random_uuid(),
    run_id           uuid NOT NULL,
    wallet_address   xorj.solana_address NOT NULL,
    xorj_trust_score numeric NOT NULL,
    metrics          jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT trader_scores_score_non_negative
        CHECK (xorj_trust_score >= 0 AND xorj_trust_score < 'Infinity'::numeric),
    CONSTRAINT trader_scores_metrics_is_object
        CHECK (jsonb_typeof(metrics) = 'object')
);
INSERT INTO xorj.trader_scores_unpartitioned
    (id, run_id, wallet_address, xorj_trust_score, metrics, created_at, updated_at)
SELECT id, run_id, wallet_address, xorj_trust_score, metrics, created_at, updated_at
FROM xorj.trader_scores;
ALTER TABLE xorj.trader_scores_unpartitioned
    ADD CONSTRAINT trader_scores_pkey PRIMARY KEY (id),
    ADD CONSTRAINT trader_scores_run_id_fkey FOREIGN KEY (run_id)
        REFERENCES xorj.scoring_runs (id) ON DELETE RESTRICT,
    ADD CONSTRAINT trader_scores_run_wallet_key UNIQUE (run_id, wallet_address);
CREATE INDEX trader_scores_run_rank_idx
    ON xorj.trader_scores_unpartitioned (run_id, xorj_trust_score DESC, wallet_address);

-- The swap, as in 0008: what is bound to the partitioned table (views, SQL function
-- bodies, its own triggers, not their clones on the partitions) is re-created on the
-- table that takes its name; then the partitioned table goes, its partitions with it.
DO $swap$
DECLARE
    v_path  text := current_setting('search_path');
    v_stmts text[];
    v_stmt  text;
BEGIN
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
          AND t.tgparentid = 0
    ) AS d;
    PERFORM set_config('search_path', v_path, true);

    ALTER TABLE xorj.trader_scores RENAME TO trader_scores_partitioned;
    ALTER TABLE xorj.trader_scores_unpartitioned RENAME TO trader_scores;
    FOREACH v_stmt IN ARRAY v_stmts LOOP
        EXECUTE v_stmt;
    END LOOP;
    DROP TABLE xorj.trader_scores_partitioned;
END
$swap$;

DROP INDEX IF EXISTS xorj.scoring_runs_unpruned_idx;
ALTER TABLE xorj.scoring_runs
    DROP CONSTRAINT IF EXISTS scoring_runs_pruned_only_when_done,
    DROP COLUMN IF EXISTS scores_pruned_at;
ALTER TABLE xorj.settings
    DROP CONSTRAINT IF EXISTS settings_score_keep_runs_range,
    DROP CONSTRAINT IF EXISTS settings_score_keep_days_range,
    DROP COLUMN IF EXISTS score_keep_runs,
    DROP COLUMN IF EXISTS score_keep_days;
