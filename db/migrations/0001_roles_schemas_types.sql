-- depends:
-- Schemas, roles, types and domains of xorj-state.
--
-- xorj  private schema: tables and internal helpers; no role but the owner uses it.
-- api   the callable surface: functions and views the API, the engine and the bot use.
--
-- The roles are cluster-wide and NOLOGIN; the migrating owner becomes a member of each
-- (so it can SET ROLE to them), and other login roles are made members by the operator. They are created only when missing, so a second database on the same
-- server (or a second migrate racing this one) does not fail. Their grants come with
-- procedures/ (re-applied on every migrate).

DO $roles$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['xorj_api', 'xorj_engine', 'xorj_bot', 'xorj_readonly'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- created meanwhile by a concurrent migrate of another database
            END;
        END IF;
        -- The owner may act as each role (SET ROLE), as the API and the workers do when
        -- they connect as the owner; a separate login role gets the same grants.
        IF NOT pg_catalog.pg_has_role(current_user, r, 'MEMBER') THEN
            BEGIN
                EXECUTE format('GRANT %I TO %I', r, current_user);
            EXCEPTION WHEN insufficient_privilege THEN
                RAISE WARNING 'role % cannot be granted to %: grant it by hand to use SET ROLE', r, current_user;
            END;
        END IF;
    END LOOP;
END
$roles$;

CREATE SCHEMA xorj;
COMMENT ON SCHEMA xorj IS 'xorj-state private schema: tables and internal helpers';
CREATE SCHEMA api;
COMMENT ON SCHEMA api IS 'xorj-state callable surface: functions and views for the API, engine and bot';

REVOKE ALL ON SCHEMA xorj FROM PUBLIC;
REVOKE ALL ON SCHEMA api FROM PUBLIC;
-- Functions are executable by PUBLIC by default; here nothing is until granted. (A
-- per-schema ALTER DEFAULT PRIVILEGES can only add to the global defaults, so the revoke
-- is global: it applies to every function the owner creates in this database.)
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

CREATE TYPE xorj.run_status AS ENUM ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED');
CREATE TYPE xorj.job_status AS ENUM ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED');
CREATE TYPE xorj.trade_status AS ENUM ('PENDING', 'SUBMITTED', 'CONFIRMED', 'FAILED');
CREATE TYPE xorj.trigger_reason AS ENUM ('SCHEDULED_RUN', 'MANUAL_TRIGGER', 'RECOVERY_RUN');
CREATE TYPE xorj.risk_profile AS ENUM ('Conservative', 'Balanced', 'Aggressive');

-- A Solana address: base58 (no 0, O, I, l), 32 to 44 characters. (Length and alphabet
-- are checked apart: the same rule as ^[...]{32,44}$, about 5 times cheaper in bulk.)
CREATE DOMAIN xorj.solana_address AS text
    CONSTRAINT solana_address_base58
    CHECK (length(VALUE) BETWEEN 32 AND 44 AND VALUE ~ '^[1-9A-HJ-NP-Za-km-z]+$');

-- A Solana transaction signature: base58, 64 to 88 characters.
CREATE DOMAIN xorj.solana_signature AS text
    CONSTRAINT solana_signature_base58
    CHECK (length(VALUE) BETWEEN 64 AND 88 AND VALUE ~ '^[1-9A-HJ-NP-Za-km-z]+$');

-- A Solana u64 token amount (or lamports): a whole number in 0 .. 2^64-1, at most 20
-- digits as numeric(20,0) would hold. The base type is plain numeric on purpose: with
-- numeric(20,0) PostgreSQL would round 1.5 to 2 before any check could see it; here a
-- fraction is refused, never rounded. Never bigint: it overflows above 2^63-1.
CREATE DOMAIN xorj.u64 AS numeric
    CONSTRAINT u64_range
    CHECK (VALUE >= 0 AND VALUE <= 18446744073709551615 AND VALUE = trunc(VALUE));
