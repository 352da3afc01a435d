DROP INDEX IF EXISTS xorj.trades_unfinished_claim_idx;
ALTER TABLE xorj.trades
    DROP COLUMN IF EXISTS last_valid_block_height CASCADE,
    DROP COLUMN IF EXISTS claimed_by CASCADE,
    DROP COLUMN IF EXISTS claim_expires_at CASCADE;
