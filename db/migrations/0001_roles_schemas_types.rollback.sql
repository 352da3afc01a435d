-- Drops everything of xorj-state in this database. The cluster-wide roles stay: other
-- databases on the same server may use them (drop them by hand if none does).
DROP SCHEMA IF EXISTS api CASCADE;
DROP SCHEMA IF EXISTS xorj CASCADE;
ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON FUNCTIONS TO PUBLIC;
