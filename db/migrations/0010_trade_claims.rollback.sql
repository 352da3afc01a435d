-- The leases go back into xorj.trades (the live ones; as with the other rollbacks,
-- procedures/ stay as they are until the previous release's migrate replaces them).
DROP TRIGGER IF EXISTS trades_release_claim ON xorj.trades;
ALTER TABLE xorj.trades
    ADD COLUMN claimed_by text,
    ADD COLUMN claim_expires_at timestamptz,
    ADD CONSTRAINT trades_claim_complete
        CHECK ((claimed_by IS NULL) = (claim_expires_at IS NULL)),
    ADD CONSTRAINT trades_claimed_by_length
        CHECK (claimed_by IS NULL OR length(claimed_by) BETWEEN 1 AND 200);
UPDATE xorj.trades t
   SET claimed_by = c.claimed_by, claim_expires_at = c.claim_expires_at
  FROM xorj.trade_claims c
 WHERE c.trade_id = t.id;
DROP TABLE xorj.trade_claims;
