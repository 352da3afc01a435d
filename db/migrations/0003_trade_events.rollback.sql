DROP TABLE IF EXISTS xorj.trade_events CASCADE;
DROP FUNCTION IF EXISTS xorj.refuse_trade_event_change();
