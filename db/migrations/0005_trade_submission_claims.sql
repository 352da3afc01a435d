-- depends: 0004_business_rules
-- The execution bot's exactly-once protocol and its sharing of work between bots:
--   last_valid_block_height: recorded with the signature before the broadcast, so a
--     restarted bot knows when an unseen transaction can no longer land;
--   claimed_by / claim_expires_at: a lease on a trade; one bot works a trade at a time,
--     and a bot that dies loses its claims when the lease runs out.

ALTER TABLE xorj.trades
    ADD COLUMN last_valid_block_height bigint,
    ADD COLUMN claimed_by text,
    ADD COLUMN claim_expires_at timestamptz,
    ADD CONSTRAINT trades_last_valid_block_height_range
        CHECK (last_valid_block_height IS NULL OR last_valid_block_height >= 0),
    ADD CONSTRAINT trades_claim_complete
        CHECK ((claimed_by IS NULL) = (claim_expires_at IS NULL)),
    ADD CONSTRAINT trades_claimed_by_length
        CHECK (claimed_by IS NULL OR length(claimed_by) BETWEEN 1 AND 200);

-- Claimable work: unfinished trades by claim expiry.
CREATE INDEX trades_unfinished_claim_idx
    ON xorj.trades (claim_expires_at NULLS FIRST)
    WHERE status IN ('PENDING', 'SUBMITTED');
