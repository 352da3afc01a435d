-- The enum types of 0001: each exists in schema xorj with exactly its labels, in order
-- (the order is the sort order of the status columns).
BEGIN;
SELECT plan(10);

SELECT has_enum('xorj', 'run_status', 'enum xorj.run_status exists');
SELECT enum_has_labels('xorj', 'run_status', ARRAY['PENDING', 'RUNNING', 'COMPLETED', 'FAILED'],
    'xorj.run_status is PENDING, RUNNING, COMPLETED, FAILED');

SELECT has_enum('xorj', 'job_status', 'enum xorj.job_status exists');
SELECT enum_has_labels('xorj', 'job_status', ARRAY['PENDING', 'RUNNING', 'COMPLETED', 'FAILED'],
    'xorj.job_status is PENDING, RUNNING, COMPLETED, FAILED');

SELECT has_enum('xorj', 'trade_status', 'enum xorj.trade_status exists');
SELECT enum_has_labels('xorj', 'trade_status', ARRAY['PENDING', 'SUBMITTED', 'CONFIRMED', 'FAILED'],
    'xorj.trade_status is PENDING, SUBMITTED, CONFIRMED, FAILED');

SELECT has_enum('xorj', 'trigger_reason', 'enum xorj.trigger_reason exists');
SELECT enum_has_labels('xorj', 'trigger_reason',
    ARRAY['SCHEDULED_RUN', 'MANUAL_TRIGGER', 'RECOVERY_RUN'],
    'xorj.trigger_reason is SCHEDULED_RUN, MANUAL_TRIGGER, RECOVERY_RUN');

SELECT has_enum('xorj', 'risk_profile', 'enum xorj.risk_profile exists');
SELECT enum_has_labels('xorj', 'risk_profile', ARRAY['Conservative', 'Balanced', 'Aggressive'],
    'xorj.risk_profile is Conservative, Balanced, Aggressive');

SELECT * FROM finish();
ROLLBACK;
