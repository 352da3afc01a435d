-- depends: 0009_flat_trade_costs
-- A bot's lease on an unfinished trade moves out of xorj.trades into a narrow table of
-- its own: one row per claimed trade (who, until when), inserted by a claim, updated in
-- place by a renewal, deleted by a release or when the trade finishes. The table holds
-- only the leases alive now (tens to thousands of rows, whatever the length of the
-- log), its rows are small and its pages half empty (fillfactor 50), and the only
-- columns indexed (trade_id, claimed_by) never change in a renewal: a renewal is a HOT
-- update that touches no index, and xorj.trades is updated only by status moves.
-- The rules (procedures/trades_claims.sql): a lease exists only on a PENDING or
-- SUBMITTED trade; a finished trade has none.

CREATE TABLE xorj.trade_claims (
    trade_id         uuid PRIMARY KEY REFERENCES xorj.trades (id) ON DELETE RESTRICT,
    claimed_by       text NOT NULL,
    claim_expires_at timestamptz NOT NULL,
    CONSTRAINT trade_claims_claimed_by_length CHECK (length(claimed_by) BETWEEN 1 AND 200)
) WITH (fillfactor = 50);
COMMENT ON TABLE xorj.trade_claims IS
    'The live leases of bots on unfinished trades: one row per claimed trade';
-- A worker's leases: renewal and release.
CREATE INDEX trade_claims_worker_idx ON xorj.trade_claims (claimed_by);

INSERT INTO xorj.trade_claims (trade_id, claimed_by, claim_expires_at)
SELECT t.id, t.claimed_by, t.claim_expires_at
FROM xorj.trades t
WHERE t.claimed_by IS NOT NULL AND t.status IN ('PENDING', 'SUBMITTED');

ALTER TABLE xorj.trades
    DROP COLUMN claimed_by,
    DROP COLUMN claim_expires_at;
