-- Trades: the keys of every trade ever created, xorj.trade_keys (migration 0011; see
-- trades.sql for the other files of the noun).
--
-- xorj.trades is partitioned by month, and a unique rule of a partitioned table holds
-- only within a partition. The rules that must hold across every month, and after a
-- month has left through an archive, are the unique rules of xorj.trade_keys, one
-- narrow row per trade, written by the trigger trades_unique_keys of xorj.trades in the
-- statement of each write, whoever writes (the api functions or direct SQL). It is a
-- BEFORE trigger, named to run after trades_guard and trades_touch (triggers run in name
-- order): it sees the row as it will be stored, and writes the key row before the
-- trade's event, whose foreign key names it. (It belongs to the structure of the table,
-- like the unique indexes it stands for: tests.disable_rule_triggers leaves it on.)
--   a new trade     its row (id, created_at, vault, client_order_id, tokens, venue;
--                   unfinished). A second trade with the same (vault, client_order_id)
--                   is 23505 trades_vault_client_order_key; a second unfinished one of
--                   the same vault, pair and venue is 23505
--                   trades_one_in_flight_per_pair_key.
--   a move          the signature recorded (23505 trades_transaction_signature_key when
--                   another trade has it), the trade finished (unfinished = false: its
--                   pair is free again).
-- api.create_trade and the transitions check the same rules first, under their locks,
-- for a better answer (XJ409 with the conflicting trade); these are the backstop.
--
-- Guard (trigger trade_keys_guard): a key row is written only from within a trigger
-- (pg_trigger_depth() > 1: trades_unique_keys), never by a statement of its own; it
-- never changes but for its signature (once) and unfinished (true -> false); DELETE and
-- TRUNCATE are refused. An
-- archive (xorj.archive_trade_month) leaves the keys of the trades it removes: an
-- archived trade's client_order_id and signature stay taken.

CREATE OR REPLACE FUNCTION xorj.trades_keys() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO xorj.trade_keys (id, created_at, user_vault_address, client_order_id,
                                     from_token_address, to_token_address, venue,
                                     transaction_signature, unfinished)
        VALUES (NEW.id, NEW.created_at, NEW.user_vault_address, NEW.client_order_id,
                NEW.from_token_address, NEW.to_token_address, NEW.venue,
                NEW.transaction_signature, NEW.status IN ('PENDING', 'SUBMITTED'));
    ELSIF (NEW.transaction_signature, NEW.status IN ('PENDING', 'SUBMITTED'))
          IS DISTINCT FROM (OLD.transaction_signature, OLD.status IN ('PENDING', 'SUBMITTED')) THEN
        UPDATE xorj.trade_keys
           SET transaction_signature = NEW.transaction_signature,
               unfinished = NEW.status IN ('PENDING', 'SUBMITTED')
         WHERE id = NEW.id;
    END IF;
    RETURN NEW;
END
$fn$;

CREATE OR REPLACE TRIGGER trades_unique_keys
    BEFORE INSERT OR UPDATE ON xorj.trades
    FOR EACH ROW EXECUTE FUNCTION xorj.trades_keys();

CREATE OR REPLACE FUNCTION xorj.trade_keys_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, xorj, pg_temp
AS $fn$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE') THEN
        PERFORM xorj.raise_state('trade_keys',
            format('the keys of trades are never deleted: %s is not allowed', TG_OP),
            'An archived trade keeps its key, so its client_order_id and signature stay taken.',
            p_facts => CASE WHEN TG_OP = 'DELETE' THEN jsonb_build_object('id', OLD.id)
                            ELSE '{}'::jsonb END);
    END IF;
    IF pg_trigger_depth() < 2 THEN
        PERFORM xorj.raise_state('trade_keys',
            format('the keys of trades are written by the triggers of xorj.trades only: %s is not allowed', TG_OP),
            'A trade''s key row follows its trade.',
            'Write xorj.trades (through the api functions).',
            jsonb_build_object('id', NEW.id));
    END IF;
    IF TG_OP = 'UPDATE'
       AND ((NEW.id, NEW.created_at, NEW.user_vault_address, NEW.client_order_id,
             NEW.from_token_address, NEW.to_token_address, NEW.venue)
            IS DISTINCT FROM
            (OLD.id, OLD.created_at, OLD.user_vault_address, OLD.client_order_id,
             OLD.from_token_address, OLD.to_token_address, OLD.venue)
            OR (OLD.transaction_signature IS NOT NULL
                AND NEW.transaction_signature IS DISTINCT FROM OLD.transaction_signature)
            OR (NEW.unfinished AND NOT OLD.unfinished)) THEN
        PERFORM xorj.raise_state('trade_keys',
            format('the key of trade %s cannot change', OLD.id),
            'Only its signature (once) and its end (unfinished -> finished) are recorded.',
            p_facts => jsonb_build_object('id', OLD.id));
    END IF;
    RETURN NEW;
END
$fn$;

CREATE OR REPLACE TRIGGER trade_keys_guard
    BEFORE INSERT OR UPDATE OR DELETE ON xorj.trade_keys
    FOR EACH ROW EXECUTE FUNCTION xorj.trade_keys_guard();
CREATE OR REPLACE TRIGGER trade_keys_no_truncate
    BEFORE TRUNCATE ON xorj.trade_keys
    FOR EACH STATEMENT EXECUTE FUNCTION xorj.trade_keys_guard();
