-- depends: 0011_trade_partitions

-- Exactly-once for clients that broadcast before they record (issue 14): the seed's
-- order, FR-2.2 create PENDING then FR-2.3 updateToSubmitted after the broadcast. A
-- PENDING trade may then have landed on chain without its signature being known here.
--
--   * records_signature_first: set when the trade is created by a client that records
--     the signature before it broadcasts (api.create_trade with p_worker: the project's
--     bot, which holds a claim from the start). Its PENDING trade was never broadcast.
--     False for every other trade (HTTP clients, the seed's order), and for the trades
--     created before this migration (searched for, which is the safe side).
--   * search_until_height: the block height after which no transaction of a PENDING
--     trade of the seed's order can still land, recorded once by the first recovery that
--     looks for it on chain (api.start_trade_search): the last valid block height of the
--     newest blockhash at that time, plus a margin.
--   * failure_basis: why a PENDING trade was failed, required for PENDING -> FAILED
--     (procedures/trades_guard.sql, api.mark_trade_failed): 'never_broadcast' (the
--     caller knows it never sent the transaction: the project's bot by its protocol, or
--     the client saying so over HTTP) or 'not_found_on_chain' (searched over the whole
--     window, found nothing). NULL for every other trade, and for the FAILED trades of
--     before this migration.
--
-- Columns without a default, or with a constant one, are added without rewriting the
-- partitions; each CHECK is validated on the rows there are.
ALTER TABLE xorj.trades
    ADD COLUMN records_signature_first boolean NOT NULL DEFAULT false,
    ADD COLUMN search_until_height bigint,
    ADD COLUMN failure_basis text,
    ADD CONSTRAINT trades_search_until_height_positive
        CHECK (search_until_height IS NULL OR search_until_height > 0),
    ADD CONSTRAINT trades_failure_basis_known
        CHECK (failure_basis IN ('never_broadcast', 'not_found_on_chain')),
    ADD CONSTRAINT trades_failure_basis_only_failed
        CHECK (failure_basis IS NULL OR status = 'FAILED');
COMMENT ON COLUMN xorj.trades.records_signature_first IS
    'Created by a client that records the signature before it broadcasts (the project''s bot)';
COMMENT ON COLUMN xorj.trades.search_until_height IS
    'PENDING, seed order: no transaction of this trade can land after this block height';
COMMENT ON COLUMN xorj.trades.failure_basis IS
    'Why a PENDING trade was failed: never_broadcast or not_found_on_chain';
