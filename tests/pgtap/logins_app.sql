-- The application login xorj_app (migration 0006): it can log in, holds no right of its
-- own (NOINHERIT), is a member of the four NOLOGIN roles and of nothing else, owns nothing
-- and reaches no table; the owner of the schema is no longer a member of the four roles.
-- (What a session logged in as xorj_app can do is proven over a real connection in
-- tests/test_logins.py: here the suite's superuser session cannot stand in for it.)
BEGIN;
SELECT plan(14);

SELECT has_role('xorj_app', 'the login xorj_app exists');
SELECT is((SELECT rolcanlogin FROM pg_roles WHERE rolname = 'xorj_app'), true, 'xorj_app can log in');
SELECT is((SELECT rolinherit FROM pg_roles WHERE rolname = 'xorj_app'), false,
          'xorj_app is NOINHERIT: it holds no right of the roles it may SET ROLE to');
SELECT is((SELECT ARRAY[rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls]
             FROM pg_roles WHERE rolname = 'xorj_app'),
          ARRAY[false, false, false, false, false],
          'xorj_app is not a superuser and cannot create roles or databases, replicate or bypass row security');
SELECT set_eq(
    $$SELECT r.rolname::text FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
       WHERE m.member = 'xorj_app'::regrole$$,
    ARRAY['xorj_api', 'xorj_engine', 'xorj_bot', 'xorj_readonly'],
    'xorj_app is a member of exactly the four NOLOGIN roles');
SELECT is(pg_has_role('xorj_app', (SELECT nspowner FROM pg_namespace WHERE nspname = 'xorj'), 'MEMBER'),
          false, 'xorj_app is not a member of the owner: SET ROLE to it is refused');
SELECT is_empty(
    $$SELECT r FROM unnest(ARRAY['xorj_api', 'xorj_engine', 'xorj_bot', 'xorj_readonly']) r
       WHERE pg_has_role((SELECT nspowner FROM pg_namespace WHERE nspname = 'xorj'), r, 'MEMBER')$$,
    'the owner is a member of none of the four roles: it only migrates');
SELECT is_empty(
    $$SELECT c.oid::regclass FROM pg_class c
       WHERE c.relnamespace IN ('xorj'::regnamespace, 'api'::regnamespace)
         AND (has_table_privilege('xorj_app', c.oid,
                  'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
              OR has_any_column_privilege('xorj_app', c.oid, 'SELECT, INSERT, UPDATE, REFERENCES'))$$,
    'xorj_app has no privilege on any table, view or column of xorj and api');
SELECT is_empty(
    $$SELECT p.oid::regprocedure FROM pg_proc p
       WHERE p.pronamespace IN ('xorj'::regnamespace, 'api'::regnamespace)
         AND has_function_privilege('xorj_app', p.oid, 'EXECUTE')$$,
    'xorj_app executes no function by itself (only after SET ROLE to one of the four)');
SELECT is(has_schema_privilege('xorj_app', 'xorj', 'USAGE'), false, 'xorj_app cannot use the schema xorj');
SELECT is(has_schema_privilege('xorj_app', 'api', 'USAGE'), false,
          'xorj_app cannot even look up names in api without a role');
SELECT is(has_schema_privilege('xorj_app', 'public', 'CREATE'), false,
          'xorj_app cannot create objects in the schema public');
SELECT is_empty(
    $$SELECT c.oid::regclass::text FROM pg_class c WHERE c.relowner = 'xorj_app'::regrole
      UNION ALL SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.proowner = 'xorj_app'::regrole
      UNION ALL SELECT n.nspname::text FROM pg_namespace n WHERE n.nspowner = 'xorj_app'::regrole$$,
    'xorj_app owns no relation, function or schema');
SELECT is(pg_has_role('xorj_app', 'xorj_api', 'USAGE'), false,
          'membership without USAGE: the rights of xorj_api come only with SET ROLE');

SELECT * FROM finish();
ROLLBACK;
