-- depends: 0011_trade_partitions

-- Scores at COPY speed (issue 13): a run's scores are written by one set-based INSERT
-- per batch (procedures/scoring.sql, xorj.insert_trader_scores), from a jsonb array
-- (api.complete_scoring_run, api.add_scoring_scores) or from lines COPYed into a
-- session's staging table (api.open_scoring_copy, api.add_scoring_copy). The staging
-- tables are TEMP tables the api creates in the loading transaction (ON COMMIT DROP), so
-- this migration adds no table; what it changes is the row trigger that stamped every
-- inserted score through PL/pgSQL.
--
-- trader_scores_touch (0002) keeps its rule, created_at = updated_at = a clock time of
-- the inserting statement, whatever the INSERT says: it now fires only for the rows that
-- do not hold such a time already (a WHEN condition, evaluated without calling the
-- function). A row whose created_at equals its updated_at and lies between the start of
-- the statement (statement_timestamp()) and now (clock_timestamp()) is stamped already;
-- any other row (the column defaults, which are two clock readings, a time given by the
-- INSERT, a time of an earlier statement) is stamped by xorj.touch_updated_at() as
-- before. The set-based INSERT gives each row of a batch the one clock reading of its
-- statement, so 1,000,000 rows no longer call PL/pgSQL 1,000,000 times. (An UPDATE of a
-- score never reaches the row trigger: the statement guard trader_scores_immutable
-- refuses it first.) CREATE OR REPLACE on the partitioned table replaces the trigger on
-- every partition as well.
CREATE OR REPLACE TRIGGER trader_scores_touch BEFORE INSERT OR UPDATE ON xorj.trader_scores
    FOR EACH ROW
    WHEN (NEW.created_at IS DISTINCT FROM NEW.updated_at
          OR NOT (NEW.created_at BETWEEN statement_timestamp() AND clock_timestamp()))
    EXECUTE FUNCTION xorj.touch_updated_at();
