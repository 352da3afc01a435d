-- The realized slippage of api.mark_trade_confirmed: a value given is stored as given (at
-- most 100 %, no lower bound: a fill better than twice the quote is below -100); without
-- one (NULL) the database computes it from the trade's expected_amount_out, (expected -
-- actual) * 100 / expected, rounded half-even to 4 decimal places (a tie goes to the even
-- digit, as the bot's Decimal.quantize(..., ROUND_HALF_EVEN), not away from zero as
-- round() would), never clamped (negative for a better fill), NULL when expected is 0.
BEGIN;
SELECT plan(16);

SELECT tests.enabled_vault(tests.addr(100), tests.addr(200));
SELECT tests.running_job() AS j \gset

-- A SUBMITTED trade of pair (p_from, p_to) expecting p_expected, as the bot; its id.
CREATE FUNCTION pg_temp.submitted(p_job uuid, p_key text, p_pair integer, p_expected numeric)
RETURNS uuid LANGUAGE sql AS $fn$
    SELECT (s.trade ->> 'id')::uuid
    FROM api.create_trade(p_job, tests.addr(200), p_key, tests.addr(2 * p_pair), tests.addr(2 * p_pair + 1),
                          1000, p_expected) c
    CROSS JOIN LATERAL api.mark_trade_submitted((c.trade ->> 'id')::uuid, tests.sig(p_pair)) s
$fn$;

-- The slippage recorded when confirming trade p_trade with p_actual (and p_slippage).
CREATE FUNCTION pg_temp.confirmed(p_trade uuid, p_actual numeric, p_slippage numeric DEFAULT NULL)
RETURNS text LANGUAGE sql AS $fn$
    SELECT trade ->> 'slippage_realized' FROM api.mark_trade_confirmed(p_trade, p_actual, p_slippage)
$fn$;

SELECT tests.act_as('xorj_bot', NULL, 'bot:tester');

-- computed
SELECT pg_temp.submitted(:'j', 'c1', 1, 990) AS c1 \gset
SELECT is(pg_temp.confirmed(:'c1', 980), '1.0101',
          'without a slippage: (990 - 980) * 100 / 990 = 1.010101... is recorded as 1.0101');
SELECT is((SELECT trade ->> 'slippage_realized' FROM api.get_trade(:'c1') trade), '1.0101',
          'and stored so');
SELECT is((SELECT changed FROM api.mark_trade_confirmed(:'c1', 980)), false,
          'confirming again without a slippage is the same confirmation: unchanged');
SELECT pg_temp.submitted(:'j', 'c2', 2, 3) AS c2 \gset
SELECT is(pg_temp.confirmed(:'c2', 1), '66.6667', '(3 - 1) * 100 / 3 = 66.66666... rounds up to 66.6667');
SELECT pg_temp.submitted(:'j', 'c3', 3, 7) AS c3 \gset
SELECT is(pg_temp.confirmed(:'c3', 7), '0.0000', 'a fill of exactly the quote: 0.0000');

-- half-even ties
SELECT pg_temp.submitted(:'j', 't1', 4, 2000000) AS t1 \gset
SELECT is(pg_temp.confirmed(:'t1', 1999995), '0.0002',
          'a tie 0.00025 goes to the even digit: 0.0002 (round() would give 0.0003)');
SELECT pg_temp.submitted(:'j', 't2', 5, 2000000) AS t2 \gset
SELECT is(pg_temp.confirmed(:'t2', 1999997), '0.0002', 'a tie 0.00015 goes to the even digit: 0.0002');
SELECT pg_temp.submitted(:'j', 't3', 6, 2000000) AS t3 \gset
SELECT is(pg_temp.confirmed(:'t3', 1999999), '0.0000', 'a tie 0.00005 goes to the even digit: 0.0000');

-- negative: a better fill than quoted, never clamped
SELECT pg_temp.submitted(:'j', 'n1', 7, 1000) AS n1 \gset
SELECT is(pg_temp.confirmed(:'n1', 1003), '-0.3000', 'a fill above the quote is a negative slippage: -0.3000');
SELECT pg_temp.submitted(:'j', 'n2', 8, 2000000) AS n2 \gset
SELECT is(pg_temp.confirmed(:'n2', 2000005), '-0.0002', 'a negative tie -0.00025 goes to the even digit: -0.0002');
SELECT pg_temp.submitted(:'j', 'n3', 9, 1000) AS n3 \gset
SELECT is(pg_temp.confirmed(:'n3', 3500), '-250.0000', 'a fill of 3.5 times the quote: -250.0000, not clamped');

-- expected 0: no slippage
SELECT pg_temp.submitted(:'j', 'z1', 10, 0) AS z1 \gset
SELECT is(pg_temp.confirmed(:'z1', 5), NULL, 'expected_amount_out 0: the slippage is NULL');

-- a given value is stored as given
SELECT pg_temp.submitted(:'j', 'g1', 11, 990) AS g1 \gset
SELECT is(pg_temp.confirmed(:'g1', 980, 0.5), '0.5', 'a given slippage is stored as given, not computed');
SELECT pg_temp.submitted(:'j', 'g2', 12, 1000) AS g2 \gset
SELECT is(tests.error_fields(format('SELECT api.mark_trade_confirmed(%L, 1, 100.5)', :'g2'), 'sqlstate', 'column'),
    '{"sqlstate": "XJ422", "column": "slippage_realized"}'::jsonb, 'a slippage above 100 is refused');
SELECT is(tests.error_fields(format('SELECT api.mark_trade_confirmed(%L, 1, ''NaN'')', :'g2'), 'sqlstate', 'column'),
    '{"sqlstate": "XJ422", "column": "slippage_realized"}'::jsonb, 'a NaN slippage is refused');
SELECT is(pg_temp.confirmed(:'g2', 3000, -150),
    '-150', 'a slippage of -150 (a fill better than twice the quote) is recorded');
SELECT tests.act_as(NULL);

SELECT * FROM finish();
ROLLBACK;
