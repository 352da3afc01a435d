-- trader_scores_touch fires for every row again (as 0002 made it); procedures/ stay as
-- they are until the previous release's migrate replaces them (their rows are stamped
-- by the trigger then, as before).
CREATE OR REPLACE TRIGGER trader_scores_touch BEFORE INSERT OR UPDATE ON xorj.trader_scores
    FOR EACH ROW EXECUTE FUNCTION xorj.touch_updated_at();
