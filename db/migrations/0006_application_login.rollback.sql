DROP INDEX IF EXISTS xorj.bot_state_events_txid_idx;
ALTER TABLE xorj.bot_state_events DROP COLUMN IF EXISTS txid;
-- The login xorj_app and the memberships stay as they are: roles are cluster-wide, and
-- other databases on the same server may be at 0006 (giving the owner the four roles
-- back here would give them back everywhere). Code of 0005, whose processes log in as
-- the owner and SET ROLE down, needs `GRANT xorj_api, xorj_engine, xorj_bot,
-- xorj_readonly TO <owner>` by hand.
