-- created_at and updated_at belong to the database (0002's xorj.touch_updated_at):
-- created_at is the insert's clock time (clock_timestamp, not the transaction's frozen
-- now()), whatever the INSERT says; an UPDATE can never change created_at; updated_at takes the clock time
-- on every UPDATE, even when the UPDATE sets it explicitly to an old value.
BEGIN;
SELECT plan(38);

-- Foundation alone: the business-rule triggers are disabled for this transaction
-- (tests/pgtap_helpers.sql says which and why).
SELECT tests.disable_rule_triggers();

-- Marks: clock times taken between the statements below with tests.tick(), which reads
-- the clock strictly later than any earlier reading, so each mark is later than the
-- transaction start and than every earlier row's timestamps (no sleep).
CREATE TEMP TABLE mark (name text PRIMARY KEY, at timestamptz NOT NULL) ON COMMIT DROP;
INSERT INTO xorj.execution_jobs (id, trigger_reason) VALUES ('00000000-0000-4000-8000-00000000b001', 'SCHEDULED_RUN');
INSERT INTO xorj.scoring_runs (id) VALUES ('00000000-0000-4000-8000-00000000a001');

-- The trigger on each table.
SELECT trigger_is('xorj', 'scoring_runs', 'scoring_runs_touch', 'xorj', 'touch_updated_at',
    'xorj.scoring_runs has BEFORE INSERT OR UPDATE trigger scoring_runs_touch running xorj.touch_updated_at()');
SELECT trigger_is('xorj', 'trader_scores', 'trader_scores_touch', 'xorj', 'touch_updated_at',
    'xorj.trader_scores has BEFORE INSERT OR UPDATE trigger trader_scores_touch running xorj.touch_updated_at()');
SELECT trigger_is('xorj', 'execution_jobs', 'execution_jobs_touch', 'xorj', 'touch_updated_at',
    'xorj.execution_jobs has BEFORE INSERT OR UPDATE trigger execution_jobs_touch running xorj.touch_updated_at()');
SELECT trigger_is('xorj', 'trades', 'trades_touch', 'xorj', 'touch_updated_at',
    'xorj.trades has BEFORE INSERT OR UPDATE trigger trades_touch running xorj.touch_updated_at()');
SELECT trigger_is('xorj', 'bot_states', 'bot_states_touch', 'xorj', 'touch_updated_at',
    'xorj.bot_states has BEFORE INSERT OR UPDATE trigger bot_states_touch running xorj.touch_updated_at()');
SELECT trigger_is('xorj', 'user_settings', 'user_settings_touch', 'xorj', 'touch_updated_at',
    'xorj.user_settings has BEFORE INSERT OR UPDATE trigger user_settings_touch running xorj.touch_updated_at()');
SELECT is((SELECT count(*)::int FROM pg_catalog.pg_trigger
            WHERE tgname IN ('scoring_runs_touch', 'trader_scores_touch', 'execution_jobs_touch',
                             'trades_touch', 'bot_states_touch', 'user_settings_touch')
              AND tgenabled = 'O' AND tgtype = 23
              AND tgparentid = 0),  -- not the clones of trader_scores_touch on its partitions
          6, 'the six touch triggers are enabled, BEFORE INSERT OR UPDATE, FOR EACH ROW');

-- Each table: row 1 with the default timestamps, row 2 with created_at/updated_at given.
INSERT INTO mark VALUES ('before_inserts', tests.tick());

-- scoring_runs
INSERT INTO xorj.scoring_runs (id)
VALUES ('00000000-0000-4000-8000-000000001e01');
SELECT ok((SELECT created_at >= (SELECT at FROM mark WHERE name = 'before_inserts')
             FROM xorj.scoring_runs WHERE id = '00000000-0000-4000-8000-000000001e01'),
          'xorj.scoring_runs: created_at is the clock time of the insert, not the transaction start');
SELECT lives_ok($$
    INSERT INTO xorj.scoring_runs (id, created_at, updated_at)
    VALUES ('00000000-0000-4000-8000-000000001e02',
            '2001-02-03 04:05:06+00', '2001-02-03 04:05:06+00')
$$, 'xorj.scoring_runs: an insert that passes created_at and updated_at is accepted');

-- trader_scores
INSERT INTO xorj.trader_scores (id, run_id, wallet_address, xorj_trust_score)
VALUES ('00000000-0000-4000-8000-000000002e01', '00000000-0000-4000-8000-00000000a001', 'So11111111111111111111111111111111111111112', 10);
SELECT ok((SELECT created_at >= (SELECT at FROM mark WHERE name = 'before_inserts')
             FROM xorj.trader_scores WHERE id = '00000000-0000-4000-8000-000000002e01'),
          'xorj.trader_scores: created_at is the clock time of the insert, not the transaction start');
SELECT lives_ok($$
    INSERT INTO xorj.trader_scores (id, run_id, wallet_address, xorj_trust_score, created_at, updated_at)
    VALUES ('00000000-0000-4000-8000-000000002e02', '00000000-0000-4000-8000-00000000a001', 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 20,
            '2001-02-03 04:05:06+00', '2001-02-03 04:05:06+00')
$$, 'xorj.trader_scores: an insert that passes created_at and updated_at is accepted');

-- execution_jobs
INSERT INTO xorj.execution_jobs (id, trigger_reason)
VALUES ('00000000-0000-4000-8000-000000003e01', 'MANUAL_TRIGGER');
SELECT ok((SELECT created_at >= (SELECT at FROM mark WHERE name = 'before_inserts')
             FROM xorj.execution_jobs WHERE id = '00000000-0000-4000-8000-000000003e01'),
          'xorj.execution_jobs: created_at is the clock time of the insert, not the transaction start');
SELECT lives_ok($$
    INSERT INTO xorj.execution_jobs (id, trigger_reason, created_at, updated_at)
    VALUES ('00000000-0000-4000-8000-000000003e02', 'RECOVERY_RUN',
            '2001-02-03 04:05:06+00', '2001-02-03 04:05:06+00')
$$, 'xorj.execution_jobs: an insert that passes created_at and updated_at is accepted');

-- trades
INSERT INTO xorj.trades (id, job_id, user_vault_address, client_order_id, from_token_address,
                         to_token_address, amount_in, expected_amount_out)
VALUES ('00000000-0000-4000-8000-000000004e01', '00000000-0000-4000-8000-00000000b001', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB', 'ts-1',
        'So11111111111111111111111111111111111111112', 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 10, 10);
SELECT ok((SELECT created_at >= (SELECT at FROM mark WHERE name = 'before_inserts')
             FROM xorj.trades WHERE id = '00000000-0000-4000-8000-000000004e01'),
          'xorj.trades: created_at is the clock time of the insert, not the transaction start');
-- (trades are partitioned by month of created_at since 0011: the row is placed by the
-- created_at the INSERT gives, before the trigger sets the clock time, so a time given
-- must be of this month; one of a month without a partition is refused, never stored.)
SELECT throws_ok($$
    INSERT INTO xorj.trades (id, job_id, user_vault_address, client_order_id, from_token_address,
                         to_token_address, amount_in, expected_amount_out, created_at, updated_at)
    VALUES ('00000000-0000-4000-8000-000000004e03', '00000000-0000-4000-8000-00000000b001', '11111111111111111111111111111111', 'ts-3',
            'So11111111111111111111111111111111111111112', 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 10, 10,
            '2001-02-03 04:05:06+00', '2001-02-03 04:05:06+00')
$$, '23514', 'no partition of relation "trades" found for row',
    'xorj.trades: an insert that passes a created_at of 2001 is refused (no partition holds that month)');
SELECT lives_ok($$
    INSERT INTO xorj.trades (id, job_id, user_vault_address, client_order_id, from_token_address,
                         to_token_address, amount_in, expected_amount_out, created_at, updated_at)
    VALUES ('00000000-0000-4000-8000-000000004e02', '00000000-0000-4000-8000-00000000b001', '11111111111111111111111111111111', 'ts-2',
            'So11111111111111111111111111111111111111112', 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 10, 10,
            date_trunc('month', clock_timestamp() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
            '2001-02-03 04:05:06+00')
$$, 'xorj.trades: an insert that passes created_at (the first instant of this month) and updated_at is accepted');

-- bot_states
INSERT INTO xorj.bot_states (id, user_id)
VALUES ('00000000-0000-4000-8000-000000005e01', 'So11111111111111111111111111111111111111112');
SELECT ok((SELECT created_at >= (SELECT at FROM mark WHERE name = 'before_inserts')
             FROM xorj.bot_states WHERE id = '00000000-0000-4000-8000-000000005e01'),
          'xorj.bot_states: created_at is the clock time of the insert, not the transaction start');
SELECT lives_ok($$
    INSERT INTO xorj.bot_states (id, user_id, created_at, updated_at)
    VALUES ('00000000-0000-4000-8000-000000005e02', 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v',
            '2001-02-03 04:05:06+00', '2001-02-03 04:05:06+00')
$$, 'xorj.bot_states: an insert that passes created_at and updated_at is accepted');

-- user_settings
INSERT INTO xorj.user_settings (id, wallet_address)
VALUES ('00000000-0000-4000-8000-000000006e01', 'So11111111111111111111111111111111111111112');
SELECT ok((SELECT created_at >= (SELECT at FROM mark WHERE name = 'before_inserts')
             FROM xorj.user_settings WHERE id = '00000000-0000-4000-8000-000000006e01'),
          'xorj.user_settings: created_at is the clock time of the insert, not the transaction start');
SELECT lives_ok($$
    INSERT INTO xorj.user_settings (id, wallet_address, created_at, updated_at)
    VALUES ('00000000-0000-4000-8000-000000006e02', 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v',
            '2001-02-03 04:05:06+00', '2001-02-03 04:05:06+00')
$$, 'xorj.user_settings: an insert that passes created_at and updated_at is accepted');

INSERT INTO mark VALUES ('before_updates', tests.tick());

-- scoring_runs
UPDATE xorj.scoring_runs SET updated_at = created_at WHERE id = '00000000-0000-4000-8000-000000001e01';
UPDATE xorj.scoring_runs SET created_at = '1999-01-01 00:00:00+00', updated_at = '1999-01-01 00:00:00+00'
 WHERE id = '00000000-0000-4000-8000-000000001e02';
SELECT ok((SELECT updated_at >= (SELECT at FROM mark WHERE name = 'before_updates')
             FROM xorj.scoring_runs WHERE id = '00000000-0000-4000-8000-000000001e01'),
          'xorj.scoring_runs: UPDATE SET updated_at = created_at still leaves updated_at at the clock time');
SELECT ok((SELECT created_at >= (SELECT at FROM mark WHERE name = 'before_inserts')
               AND created_at < (SELECT at FROM mark WHERE name = 'before_updates')
             FROM xorj.scoring_runs WHERE id = '00000000-0000-4000-8000-000000001e02'),
          'xorj.scoring_runs: created_at is the insert''s clock time, neither the 2001 the INSERT gave nor the 1999 the UPDATE set');
SELECT ok((SELECT updated_at >= (SELECT at FROM mark WHERE name = 'before_updates')
             FROM xorj.scoring_runs WHERE id = '00000000-0000-4000-8000-000000001e02'),
          'xorj.scoring_runs: UPDATE SET updated_at = 1999-01-01 still leaves updated_at at the clock time');

-- trader_scores
UPDATE xorj.trader_scores SET updated_at = created_at WHERE id = '00000000-0000-4000-8000-000000002e01';
UPDATE xorj.trader_scores SET created_at = '1999-01-01 00:00:00+00', updated_at = '1999-01-01 00:00:00+00'
 WHERE id = '00000000-0000-4000-8000-000000002e02';
SELECT ok((SELECT updated_at >= (SELECT at FROM mark WHERE name = 'before_updates')
             FROM xorj.trader_scores WHERE id = '00000000-0000-4000-8000-000000002e01'),
          'xorj.trader_scores: UPDATE SET updated_at = created_at still leaves updated_at at the clock time');
SELECT ok((SELECT created_at >= (SELECT at FROM mark WHERE name = 'before_inserts')
               AND created_at < (SELECT at FROM mark WHERE name = 'before_updates')
             FROM xorj.trader_scores WHERE id = '00000000-0000-4000-8000-000000002e02'),
          'xorj.trader_scores: created_at is the insert''s clock time, neither the 2001 the INSERT gave nor the 1999 the UPDATE set');
SELECT ok((SELECT updated_at >= (SELECT at FROM mark WHERE name = 'before_updates')
             FROM xorj.trader_scores WHERE id = '00000000-0000-4000-8000-000000002e02'),
          'xorj.trader_scores: UPDATE SET updated_at = 1999-01-01 still leaves updated_at at the clock time');

-- execution_jobs
UPDATE xorj.execution_jobs SET updated_at = created_at WHERE id = '00000000-0000-4000-8000-000000003e01';
UPDATE xorj.execution_jobs SET created_at = '1999-01-01 00:00:00+00', updated_at = '1999-01-01 00:00:00+00'
 WHERE id = '00000000-0000-4000-8000-000000003e02';
SELECT ok((SELECT updated_at >= (SELECT at FROM mark WHERE name = 'before_updates')
             FROM xorj.execution_jobs WHERE id = '00000000-0000-4000-8000-000000003e01'),
          'xorj.execution_jobs: UPDATE SET updated_at = created_at still leaves updated_at at the clock time');
SELECT ok((SELECT created_at >= (SELECT at FROM mark WHERE name = 'before_inserts')
               AND created_at < (SELECT at FROM mark WHERE name = 'before_updates')
             FROM xorj.execution_jobs WHERE id = '00000000-0000-4000-8000-000000003e02'),
          'xorj.execution_jobs: created_at is the insert''s clock time, neither the 2001 the INSERT gave nor the 1999 the UPDATE set');
SELECT ok((SELECT updated_at >= (SELECT at FROM mark WHERE name = 'before_updates')
             FROM xorj.execution_jobs WHERE id = '00000000-0000-4000-8000-000000003e02'),
          'xorj.execution_jobs: UPDATE SET updated_at = 1999-01-01 still leaves updated_at at the clock time');

-- trades
UPDATE xorj.trades SET updated_at = created_at WHERE id = '00000000-0000-4000-8000-000000004e01';
UPDATE xorj.trades SET created_at = '1999-01-01 00:00:00+00', updated_at = '1999-01-01 00:00:00+00'
 WHERE id = '00000000-0000-4000-8000-000000004e02';
SELECT ok((SELECT updated_at >= (SELECT at FROM mark WHERE name = 'before_updates')
             FROM xorj.trades WHERE id = '00000000-0000-4000-8000-000000004e01'),
          'xorj.trades: UPDATE SET updated_at = created_at still leaves updated_at at the clock time');
SELECT ok((SELECT created_at >= (SELECT at FROM mark WHERE name = 'before_inserts')
               AND created_at < (SELECT at FROM mark WHERE name = 'before_updates')
             FROM xorj.trades WHERE id = '00000000-0000-4000-8000-000000004e02'),
          'xorj.trades: created_at is the insert''s clock time, neither the 2001 the INSERT gave nor the 1999 the UPDATE set');
SELECT ok((SELECT updated_at >= (SELECT at FROM mark WHERE name = 'before_updates')
             FROM xorj.trades WHERE id = '00000000-0000-4000-8000-000000004e02'),
          'xorj.trades: UPDATE SET updated_at = 1999-01-01 still leaves updated_at at the clock time');

-- bot_states
UPDATE xorj.bot_states SET updated_at = created_at WHERE id = '00000000-0000-4000-8000-000000005e01';
UPDATE xorj.bot_states SET created_at = '1999-01-01 00:00:00+00', updated_at = '1999-01-01 00:00:00+00'
 WHERE id = '00000000-0000-4000-8000-000000005e02';
SELECT ok((SELECT updated_at >= (SELECT at FROM mark WHERE name = 'before_updates')
             FROM xorj.bot_states WHERE id = '00000000-0000-4000-8000-000000005e01'),
          'xorj.bot_states: UPDATE SET updated_at = created_at still leaves updated_at at the clock time');
SELECT ok((SELECT created_at >= (SELECT at FROM mark WHERE name = 'before_inserts')
               AND created_at < (SELECT at FROM mark WHERE name = 'before_updates')
             FROM xorj.bot_states WHERE id = '00000000-0000-4000-8000-000000005e02'),
          'xorj.bot_states: created_at is the insert''s clock time, neither the 2001 the INSERT gave nor the 1999 the UPDATE set');
SELECT ok((SELECT updated_at >= (SELECT at FROM mark WHERE name = 'before_updates')
             FROM xorj.bot_states WHERE id = '00000000-0000-4000-8000-000000005e02'),
          'xorj.bot_states: UPDATE SET updated_at = 1999-01-01 still leaves updated_at at the clock time');

-- user_settings
UPDATE xorj.user_settings SET updated_at = created_at WHERE id = '00000000-0000-4000-8000-000000006e01';
UPDATE xorj.user_settings SET created_at = '1999-01-01 00:00:00+00', updated_at = '1999-01-01 00:00:00+00'
 WHERE id = '00000000-0000-4000-8000-000000006e02';
SELECT ok((SELECT updated_at >= (SELECT at FROM mark WHERE name = 'before_updates')
             FROM xorj.user_settings WHERE id = '00000000-0000-4000-8000-000000006e01'),
          'xorj.user_settings: UPDATE SET updated_at = created_at still leaves updated_at at the clock time');
SELECT ok((SELECT created_at >= (SELECT at FROM mark WHERE name = 'before_inserts')
               AND created_at < (SELECT at FROM mark WHERE name = 'before_updates')
             FROM xorj.user_settings WHERE id = '00000000-0000-4000-8000-000000006e02'),
          'xorj.user_settings: created_at is the insert''s clock time, neither the 2001 the INSERT gave nor the 1999 the UPDATE set');
SELECT ok((SELECT updated_at >= (SELECT at FROM mark WHERE name = 'before_updates')
             FROM xorj.user_settings WHERE id = '00000000-0000-4000-8000-000000006e02'),
          'xorj.user_settings: UPDATE SET updated_at = 1999-01-01 still leaves updated_at at the clock time');

SELECT * FROM finish();
ROLLBACK;
