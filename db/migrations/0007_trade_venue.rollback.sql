-- The venue of each trade is forgotten. As with the other rollbacks, procedures/ stay as
-- they are: they name the column, and work again once it is back (`xorj db migrate`) or
-- once the previous release's procedures have replaced them (its `xorj db migrate`).
ALTER TABLE xorj.trades DROP COLUMN IF EXISTS venue CASCADE;
