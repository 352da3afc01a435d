-- xorj.trader_scores is partitioned by LIST (run_id), one partition per run (migration
-- 0008): a run's partition, xorj.trader_scores_<id without dashes>, is created with the
-- run (api.create_scoring_run or any INSERT of a run) without locking the table against
-- readers, belongs to the table's owner, holds its parts of the keys and of the rank
-- index, and carries the guards itself: a direct INSERT (unless the run is RUNNING),
-- UPDATE, DELETE or TRUNCATE of a partition is XJ423, and one score per wallet and run
-- holds there too. There is no DEFAULT partition; a partition gone missing never loses
-- the scores the api inserts (it is created again), and a row no partition takes is
-- refused, never stored elsewhere.
BEGIN;
SELECT plan(36);

-- the scheme
SELECT is((SELECT pg_catalog.pg_get_partkeydef('xorj.trader_scores'::regclass)), 'LIST (run_id)',
          'xorj.trader_scores is partitioned by LIST (run_id)');
SELECT is((SELECT partdefid FROM pg_catalog.pg_partitioned_table
           WHERE partrelid = 'xorj.trader_scores'::regclass), 0::oid,
          'there is no DEFAULT partition');

-- a run created by the engine gets its partition, in a transaction that holds
-- trader_scores in SHARE UPDATE EXCLUSIVE mode only (reads and other runs' loads go on)
SELECT tests.act_as('xorj_engine');
SELECT (api.create_scoring_run()->>'id')::uuid AS a \gset
SELECT tests.act_as(NULL);
SELECT format('xorj.trader_scores_%s', replace(:'a', '-', '')) AS part_a \gset
SELECT isnt(to_regclass(:'part_a'), NULL, 'api.create_scoring_run created the run''s partition');
SELECT is((SELECT array_agg(mode::text ORDER BY mode) FROM pg_catalog.pg_locks
           WHERE pid = pg_backend_pid() AND relation = 'xorj.trader_scores'::regclass
             AND mode IN ('ShareUpdateExclusiveLock', 'ShareRowExclusiveLock', 'ExclusiveLock',
                          'AccessExclusiveLock')),
          ARRAY['ShareUpdateExclusiveLock'],
          'creating it took trader_scores in SHARE UPDATE EXCLUSIVE mode, not ACCESS EXCLUSIVE');
SELECT is((SELECT pg_catalog.pg_get_expr(c.relpartbound, c.oid) FROM pg_catalog.pg_class c
           WHERE c.oid = :'part_a'::regclass),
          format('FOR VALUES IN (%L)', :'a'), 'the partition holds exactly that run');
SELECT is((SELECT p.run_ids FROM xorj.trader_scores_partitions() p WHERE p.partition = :'part_a'::regclass),
          ARRAY[:'a'::uuid], 'xorj.trader_scores_partitions() lists it with its run');
SELECT is((SELECT relowner FROM pg_catalog.pg_class WHERE oid = :'part_a'::regclass),
          (SELECT relowner FROM pg_catalog.pg_class WHERE oid = 'xorj.trader_scores'::regclass),
          'the partition belongs to the owner of trader_scores, not to the role that created the run');
SELECT is((SELECT relacl FROM pg_catalog.pg_class WHERE oid = :'part_a'::regclass), NULL,
          'no grant on the partition (scores are reached through the api functions only)');
SELECT set_eq(format($$SELECT i.inhparent::regclass::text FROM pg_catalog.pg_inherits i
                       JOIN pg_catalog.pg_index x ON x.indexrelid = i.inhrelid
                       WHERE x.indrelid = %L::regclass$$, :'part_a'),
              ARRAY['xorj.trader_scores_pkey', 'xorj.trader_scores_run_wallet_key'],
              'the partition holds its parts of the primary key and the unique rule');
SELECT is((SELECT count(*)::int FROM pg_catalog.pg_index WHERE indrelid = :'part_a'::regclass), 2,
          'and no other index: no rank index to fill score by score (0015: built at completion)');
SELECT is((SELECT count(*)::int FROM pg_catalog.pg_constraint
           WHERE contype = 'f' AND conrelid = :'part_a'::regclass),
          0, 'the partition has no foreign key (0014: its bound is its run, which is never deleted)');
SELECT set_eq(format($$SELECT conname::text FROM pg_catalog.pg_constraint
                       WHERE conrelid = %L::regclass AND contype = 'c'$$, :'part_a'),
              ARRAY['trader_scores_score_non_negative', 'trader_scores_metrics_is_object'],
              'the partition has the CHECKs of trader_scores');
SELECT set_eq(format($$SELECT tgname::text FROM pg_catalog.pg_trigger
                       WHERE tgrelid = %L::regclass AND NOT tgisinternal$$, :'part_a'),
              ARRAY['trader_scores_touch', 'trader_scores_immutable', 'trader_scores_no_truncate',
                    'trader_scores_run_running'],
              'the partition carries the touch trigger and the three guards');

-- a run inserted by direct SQL gets its partition too
INSERT INTO xorj.scoring_runs (id) VALUES ('00000000-0000-4000-8000-0000000000d1');
SELECT isnt(to_regclass('xorj.trader_scores_000000000000400080000000000000d1'), NULL,
            'a run inserted by direct SQL has its partition');
-- ... so the guards answer for a PENDING run, as before the partitions
SELECT throws_ok($$INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score)
                   VALUES ('00000000-0000-4000-8000-0000000000d1', 'So11111111111111111111111111111111111111112', 1)$$,
    'XJ423', 'scoring run 00000000-0000-4000-8000-0000000000d1 is PENDING: scores are added only while it is RUNNING',
    'a score for a PENDING run is refused by the guard (XJ423), the partition being there');

-- scores go to the run's partition, and nowhere else
SELECT tests.act_as('xorj_engine');
SELECT api.start_scoring_run(:'a') \gset ignored_
SELECT api.add_scoring_scores(:'a', jsonb_build_array(
    jsonb_build_object('wallet_address', tests.addr(1), 'xorj_trust_score', 10),
    jsonb_build_object('wallet_address', tests.addr(2), 'xorj_trust_score', 20))) \gset ignored_
SELECT tests.act_as(NULL);
SELECT is((SELECT array_agg(DISTINCT tableoid::regclass::text) FROM xorj.trader_scores WHERE run_id = :'a'),
          ARRAY[:'part_a'], 'the run''s scores are rows of its partition');
SELECT is((SELECT count(*)::int FROM xorj.trader_scores WHERE run_id = :'a'), 2, 'both scores are there');

-- direct SQL on the partition itself: the guards hold there too
SELECT lives_ok(format($$INSERT INTO %s (run_id, wallet_address, xorj_trust_score)
                         VALUES (%L, %L, 30)$$, :'part_a', :'a', tests.addr(3)),
    'an INSERT into the partition of a RUNNING run is accepted');
SELECT throws_ok(format($$INSERT INTO %s (run_id, wallet_address, xorj_trust_score)
                          VALUES (%L, %L, 31)$$, :'part_a', :'a', tests.addr(3)),
    '23505', format('duplicate key value violates unique constraint "%s_run_wallet_key"',
                    replace(:'part_a', 'xorj.', '')),
    'one score per wallet and run, in the partition as well');
SELECT throws_ok(format($$UPDATE %s SET xorj_trust_score = 99$$, :'part_a'),
    'XJ423', 'trader scores are immutable: UPDATE is not allowed', 'an UPDATE of the partition is refused');
SELECT throws_ok(format($$DELETE FROM %s WHERE run_id = %L$$, :'part_a', :'a'),
    'XJ423', 'trader scores are immutable: DELETE is not allowed', 'a DELETE from the partition is refused');
SELECT throws_ok(format($$DELETE FROM %s WHERE false$$, :'part_a'),
    'XJ423', 'trader scores are immutable: DELETE is not allowed', 'even a DELETE of no row of the partition');
SELECT throws_ok(format($$TRUNCATE %s$$, :'part_a'),
    'XJ423', 'trader scores are immutable: TRUNCATE is not allowed', 'a TRUNCATE of the partition is refused');
SELECT is(tests.error_of(format($$TRUNCATE %s$$, :'part_a')) -> 'facts' ->> 'partition',
          replace(:'part_a', 'xorj.', ''), 'the refusal names the partition');
SELECT throws_ok($$TRUNCATE xorj.trader_scores$$,
    'XJ423', 'trader scores are immutable: TRUNCATE is not allowed', 'a TRUNCATE of the whole table still is');
SELECT is((SELECT count(*)::int FROM xorj.trader_scores WHERE run_id = :'a'), 3,
          'the refused statements changed nothing');

-- once the run is COMPLETED, no INSERT into its partition either
SELECT tests.act_as('xorj_engine');
SELECT api.complete_scoring_run(:'a', '[]') \gset ignored_
SELECT tests.act_as(NULL);
SELECT is((SELECT pg_catalog.pg_get_indexdef(x.indexrelid) FROM pg_catalog.pg_index x
           WHERE x.indrelid = :'part_a'::regclass
             AND x.indexrelid = to_regclass(:'part_a' || '_run_rank_idx')),
          format('CREATE INDEX %1$s_run_rank_idx ON %2$s USING btree (run_id, xorj_trust_score DESC, wallet_address)',
                 replace(:'part_a', 'xorj.', ''), :'part_a'),
          'completing the run built its partition''s rank index, best score first, in the same transaction');
SET LOCAL enable_seqscan = off;
SET LOCAL enable_sort = off;
SELECT matches(tests.plan_of(format($$SELECT s.wallet_address FROM xorj.trader_scores s WHERE s.run_id = %L
                                      ORDER BY s.xorj_trust_score DESC, s.wallet_address$$, :'a')),
               format('Index (Only )?Scan using %s_run_rank_idx', replace(:'part_a', 'xorj.', '')),
               'the run''s scores in rank order are read from that index');
SELECT is((SELECT array_agg(s.wallet_address::text ORDER BY s.xorj_trust_score DESC, s.wallet_address)
           FROM xorj.trader_scores s WHERE s.run_id = :'a'),
          ARRAY[tests.addr(3), tests.addr(2), tests.addr(1)]::text[],
          'and the index holds every score of the run, best first');
RESET enable_seqscan;
RESET enable_sort;
SELECT throws_ok(format($$INSERT INTO %s (run_id, wallet_address, xorj_trust_score)
                          VALUES (%L, %L, 40)$$, :'part_a', :'a', tests.addr(4)),
    'XJ423', format('scoring run %s is COMPLETED: scores are added only while it is RUNNING', :'a'),
    'an INSERT into the partition of a COMPLETED run is refused (XJ423)');

-- a partition gone missing (dropped by hand) does not lose the scores the api inserts:
-- the insert creates it again
SELECT tests.act_as('xorj_engine');
SELECT (api.create_scoring_run()->>'id')::uuid AS b \gset
SELECT api.start_scoring_run(:'b') \gset ignored_
SELECT tests.act_as(NULL);
SELECT format('xorj.trader_scores_%s', replace(:'b', '-', '')) AS part_b \gset
SELECT lives_ok(format('DROP TABLE %s', :'part_b'), 'run b''s partition is dropped by hand');
SELECT tests.act_as('xorj_engine');
SELECT is((api.complete_scoring_run(:'b', jsonb_build_array(
              jsonb_build_object('wallet_address', tests.addr(1), 'xorj_trust_score', 5),
              jsonb_build_object('wallet_address', tests.addr(2), 'xorj_trust_score', 6))) ->> 'scores_inserted')::int,
          2, 'the completion with scores succeeds all the same');
SELECT tests.act_as(NULL);
SELECT isnt(to_regclass(:'part_b'), NULL, 'the insert created the partition again');
SELECT is((SELECT count(*)::int FROM xorj.trader_scores WHERE run_id = :'b'), 2, 'and the scores are in it');
SELECT set_eq(format($$SELECT tgname::text FROM pg_catalog.pg_trigger
                       WHERE tgrelid = %L::regclass AND NOT tgisinternal$$, :'part_b'),
              ARRAY['trader_scores_touch', 'trader_scores_immutable', 'trader_scores_no_truncate',
                    'trader_scores_run_running'],
              'with its guards');

-- a row that no partition takes (a run without one) is refused, never stored elsewhere
INSERT INTO xorj.scoring_runs (id) VALUES ('00000000-0000-4000-8000-0000000000e1');
UPDATE xorj.scoring_runs SET status = 'RUNNING' WHERE id = '00000000-0000-4000-8000-0000000000e1';
DROP TABLE xorj.trader_scores_000000000000400080000000000000e1;
SELECT throws_ok($$INSERT INTO xorj.trader_scores (run_id, wallet_address, xorj_trust_score)
                   VALUES ('00000000-0000-4000-8000-0000000000e1', 'So11111111111111111111111111111111111111112', 1)$$,
    '23514', 'no partition of relation "trader_scores" found for row',
    'a direct INSERT for a run without a partition is refused (23514)');

SELECT * FROM finish();
ROLLBACK;
