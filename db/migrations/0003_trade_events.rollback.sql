DROP TABLE IF EXISTS xorj.trade_events;
DROP FUNCTION IF EXISTS xorj.refuse_trade_event_change();
