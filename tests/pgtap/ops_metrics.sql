-- api.metrics: the domain figures a scrape reads from the database (whatever process did
-- the work), and api.applied_migrations for readiness. Both for xorj_readonly only.
BEGIN;
SELECT plan(12);

CREATE TEMP TABLE before AS SELECT * FROM api.metrics();
GRANT SELECT ON before TO PUBLIC;

SELECT tests.enabled_vault(tests.addr(1), tests.addr(901));
SELECT tests.enabled_vault(tests.addr(2), tests.addr(902), false);
CREATE TEMP TABLE j AS SELECT tests.running_job() AS id;
GRANT SELECT ON j TO PUBLIC;
SELECT tests.act_as('xorj_bot');
CREATE TEMP TABLE t AS
    SELECT tests.trade((SELECT id FROM j), tests.addr(901), 'k1', 1000, 1, 2) AS id
    UNION ALL SELECT tests.trade((SELECT id FROM j), tests.addr(901), 'k2', 1000, 3, 4);
SELECT api.mark_trade_submitted((SELECT id FROM t LIMIT 1), tests.sig(1), 100, NULL);
SELECT tests.act_as(NULL);

SELECT tests.act_as('xorj_readonly');
SELECT is((SELECT value FROM api.metrics() WHERE name = 'xorj_trades' AND labels = '{"status": "PENDING"}'),
          (SELECT value FROM before WHERE name = 'xorj_trades' AND labels = '{"status": "PENDING"}') + 1,
          'xorj_trades counts the PENDING trade');
SELECT is((SELECT value FROM api.metrics() WHERE name = 'xorj_trades' AND labels = '{"status": "SUBMITTED"}'),
          (SELECT value FROM before WHERE name = 'xorj_trades' AND labels = '{"status": "SUBMITTED"}') + 1,
          'xorj_trades counts the SUBMITTED trade');
SELECT set_eq($$SELECT labels ->> 'status' FROM api.metrics() WHERE name = 'xorj_trades'$$,
              ARRAY['PENDING', 'SUBMITTED', 'CONFIRMED', 'FAILED'], 'one xorj_trades sample per status');
SELECT cmp_ok((SELECT value FROM api.metrics() WHERE name = 'xorj_trades_unfinished_oldest_age_seconds'
                AND labels = '{"status": "PENDING"}'), '>=', 0::float8,
              'the age of the oldest PENDING trade is a number of seconds');
SELECT is((SELECT value FROM api.metrics() WHERE name = 'xorj_trades_unclaimed_unfinished'),
          (SELECT value FROM before WHERE name = 'xorj_trades_unclaimed_unfinished') + 2,
          'trades created without a claim count as unclaimed');
SELECT is((SELECT value FROM api.metrics() WHERE name = 'xorj_execution_jobs_active' AND labels = '{"status": "RUNNING"}'),
          (SELECT value FROM before WHERE name = 'xorj_execution_jobs_active' AND labels = '{"status": "RUNNING"}') + 1,
          'the running job is counted');
SELECT is((SELECT value FROM api.metrics() WHERE name = 'xorj_bots' AND labels = '{"enabled": "true"}'),
          (SELECT value FROM before WHERE name = 'xorj_bots' AND labels = '{"enabled": "true"}') + 1,
          'enabled bots are counted');
SELECT is((SELECT value FROM api.metrics() WHERE name = 'xorj_bots' AND labels = '{"enabled": "false"}'),
          (SELECT value FROM before WHERE name = 'xorj_bots' AND labels = '{"enabled": "false"}') + 1,
          'disabled bots are counted');
SELECT is((SELECT count(DISTINCT name) FROM api.metrics())::int, 10, 'ten metric families');
SELECT ok((SELECT bool_and(value IS NOT NULL) FROM api.metrics()), 'no sample is NULL');
SELECT ok('0005_trade_submission_claims' IN (SELECT api.applied_migrations()),
          'applied_migrations lists the versioned migrations applied');
SELECT tests.act_as('xorj_api');
SELECT throws_ok($$SELECT * FROM api.metrics()$$, '42501', NULL, 'xorj_api may not read the metrics');
SELECT tests.act_as(NULL);

SELECT * FROM finish();
ROLLBACK;
