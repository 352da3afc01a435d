-- depends: 0005_trade_submission_claims
-- Production posture: one application login, and a feed of bot state changes that works
-- behind a transaction pooler.
--
-- xorj_app is the login every application process connects as (the API, the bot, the
-- engine loader, the operator commands): LOGIN, NOINHERIT, member of the four NOLOGIN
-- roles and of nothing else (PostgREST's authenticator). NOINHERIT means the login itself
-- holds no right at all: a process reaches the api functions only after
-- set_config('role', 'xorj_api' | 'xorj_engine' | 'xorj_bot' | 'xorj_readonly', true) in
-- its transaction, and `RESET ROLE` leaves it with nothing. It is not a member of the
-- owner, so `SET ROLE xorj_owner` is refused, and it owns nothing, so it can neither alter
-- a table nor disable a trigger. The role is cluster-wide: created when missing (without
-- a password: `xorj db migrate` sets one from XORJ_APP_PASSWORD, or a DBA runs ALTER ROLE).
--
-- The owner only migrates: it stops being a member of the four roles (0001 made it one so
-- that the processes could log in as the owner and SET ROLE down; they no longer do).

DO $login$
DECLARE
    r text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'xorj_app') THEN
        BEGIN
            CREATE ROLE xorj_app LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- created meanwhile by a concurrent migrate of another database
        END;
    END IF;
    -- A login made by hand beforehand (with its password) keeps it; its attributes are
    -- made the ones above.
    BEGIN
        ALTER ROLE xorj_app LOGIN NOINHERIT NOCREATEDB NOCREATEROLE NOREPLICATION;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE WARNING 'cannot alter role xorj_app: make it LOGIN NOINHERIT by hand';
    END;
    FOREACH r IN ARRAY ARRAY['xorj_api', 'xorj_engine', 'xorj_bot', 'xorj_readonly'] LOOP
        IF NOT pg_catalog.pg_has_role('xorj_app', r, 'MEMBER') THEN
            BEGIN
                EXECUTE format('GRANT %I TO xorj_app', r);
            EXCEPTION WHEN unique_violation THEN
                NULL;  -- granted meanwhile by a concurrent migrate of another database
            END;
        END IF;
        IF pg_catalog.pg_has_role(current_user, r, 'MEMBER') THEN
            BEGIN
                EXECUTE format('REVOKE %I FROM %I', r, current_user);
            EXCEPTION WHEN insufficient_privilege THEN
                RAISE WARNING 'role % cannot be revoked from %: revoke it by hand', r, current_user;
            END;
        END IF;
    END LOOP;
END
$login$;

-- Where PostgreSQL still lets every role create objects in the schema public (before
-- 15), the login could create tables there: refused when the owner may decide it.
DO $public$
BEGIN
    IF has_schema_privilege('public', 'public', 'CREATE') THEN
        BEGIN
            REVOKE CREATE ON SCHEMA public FROM PUBLIC;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE WARNING 'cannot revoke CREATE on schema public from PUBLIC: ask the DBA to';
        END;
    END IF;
END
$public$;

-- The feed of bot state changes, read by bots that cannot LISTEN (behind a transaction
-- pooler, notifications never arrive): each event carries the id of the transaction
-- that wrote it, so a reader can page by "every transaction not finished at my last
-- read" (api.bot_state_changes) and miss nothing, whatever the commit order.
ALTER TABLE xorj.bot_state_events
    ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX bot_state_events_txid_idx ON xorj.bot_state_events (txid, id);
