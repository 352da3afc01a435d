-- The domains of 0001: a value that is not a Solana address, signature or u64 amount is
-- refused with SQLSTATE 23514 and a message naming the domain; valid values pass as is.
BEGIN;
SELECT plan(42);

-- Foundation alone: the business-rule triggers are disabled for this transaction
-- (tests/pgtap_helpers.sql says which and why).
SELECT tests.disable_rule_triggers();

-- Existence and base types (u64 is plain numeric: numeric(20,0) would round 1.5 to 2).
SELECT has_domain('xorj', 'solana_address', 'domain xorj.solana_address exists');
SELECT domain_type_is('xorj', 'solana_address', 'text', 'xorj.solana_address is based on text');
SELECT has_domain('xorj', 'solana_signature', 'domain xorj.solana_signature exists');
SELECT domain_type_is('xorj', 'solana_signature', 'text', 'xorj.solana_signature is based on text');
SELECT has_domain('xorj', 'u64', 'domain xorj.u64 exists');
SELECT domain_type_is('xorj', 'u64', 'numeric',
    'xorj.u64 is based on plain numeric (no typmod that would round)');

-- xorj.solana_address: base58, 32..44 characters.
SELECT lives_ok($$SELECT 'So11111111111111111111111111111111111111112'::xorj.solana_address$$,
    'solana_address accepts a real 43-character mint (wrapped SOL)');
SELECT lives_ok($$SELECT 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v'::xorj.solana_address$$,
    'solana_address accepts a real 44-character address (USDC mint)');
SELECT lives_ok($$SELECT '11111111111111111111111111111111'::xorj.solana_address$$,
    'solana_address accepts the 32-character system program address');
SELECT lives_ok($$SELECT 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefgh'::xorj.solana_address$$,
    'solana_address accepts 32 characters of mixed-case base58');
SELECT lives_ok($$SELECT repeat('z', 44)::xorj.solana_address$$,
    'solana_address accepts 44 characters (upper bound)');
SELECT is('EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v'::xorj.solana_address::text,
    'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v',
    'solana_address keeps the value exactly (case preserved)');
SELECT throws_ok($$SELECT repeat('z', 45)::xorj.solana_address$$,
    '23514', 'value for domain xorj.solana_address violates check constraint "solana_address_base58"',
    'solana_address refuses 45 characters');
SELECT throws_ok($$SELECT repeat('z', 31)::xorj.solana_address$$,
    '23514', 'value for domain xorj.solana_address violates check constraint "solana_address_base58"',
    'solana_address refuses 31 characters');
SELECT throws_ok($$SELECT ('0' || repeat('1', 31))::xorj.solana_address$$,
    '23514', 'value for domain xorj.solana_address violates check constraint "solana_address_base58"',
    'solana_address refuses the digit 0 (not base58)');
SELECT throws_ok($$SELECT ('O' || repeat('1', 31))::xorj.solana_address$$,
    '23514', 'value for domain xorj.solana_address violates check constraint "solana_address_base58"',
    'solana_address refuses the capital letter O (not base58)');
SELECT throws_ok($$SELECT ('I' || repeat('1', 31))::xorj.solana_address$$,
    '23514', 'value for domain xorj.solana_address violates check constraint "solana_address_base58"',
    'solana_address refuses the capital letter I (not base58)');
SELECT throws_ok($$SELECT ('l' || repeat('1', 31))::xorj.solana_address$$,
    '23514', 'value for domain xorj.solana_address violates check constraint "solana_address_base58"',
    'solana_address refuses the small letter l (not base58)');
SELECT throws_ok($$SELECT (repeat('1', 16) || ' ' || repeat('1', 16))::xorj.solana_address$$,
    '23514', 'value for domain xorj.solana_address violates check constraint "solana_address_base58"',
    'solana_address refuses a space inside');
SELECT throws_ok($$SELECT (repeat('1', 32) || E'\n')::xorj.solana_address$$,
    '23514', 'value for domain xorj.solana_address violates check constraint "solana_address_base58"',
    'solana_address refuses a trailing newline');
SELECT throws_ok($$SELECT ''::xorj.solana_address$$,
    '23514', 'value for domain xorj.solana_address violates check constraint "solana_address_base58"',
    'solana_address refuses the empty string');

-- xorj.solana_signature: base58, 64..88 characters.
SELECT lives_ok($$SELECT repeat('5', 88)::xorj.solana_signature$$,
    'solana_signature accepts 88 base58 characters (upper bound)');
SELECT lives_ok($$SELECT repeat('5', 64)::xorj.solana_signature$$,
    'solana_signature accepts 64 base58 characters (lower bound)');
SELECT throws_ok($$SELECT repeat('5', 63)::xorj.solana_signature$$,
    '23514', 'value for domain xorj.solana_signature violates check constraint "solana_signature_base58"',
    'solana_signature refuses 63 characters');
SELECT throws_ok($$SELECT repeat('5', 89)::xorj.solana_signature$$,
    '23514', 'value for domain xorj.solana_signature violates check constraint "solana_signature_base58"',
    'solana_signature refuses 89 characters');
SELECT throws_ok($$SELECT ('0' || repeat('5', 87))::xorj.solana_signature$$,
    '23514', 'value for domain xorj.solana_signature violates check constraint "solana_signature_base58"',
    'solana_signature refuses the digit 0 (not base58)');

-- xorj.u64: a whole number in 0 .. 2^64-1, fractions refused, not rounded.
SELECT lives_ok($$SELECT 0::xorj.u64$$, 'u64 accepts 0');
SELECT lives_ok($$SELECT 18446744073709551615::xorj.u64$$, 'u64 accepts 2^64-1 (18446744073709551615)');
SELECT is(18446744073709551615::xorj.u64::text, '18446744073709551615',
    'u64 keeps 2^64-1 exactly (no float, no bigint overflow)');
SELECT lives_ok($$SELECT 9223372036854775808::xorj.u64$$,
    'u64 accepts 2^63 (beyond bigint)');
SELECT lives_ok($$SELECT '1.000'::numeric::xorj.u64$$,
    'u64 accepts a whole number written with zero decimals');
SELECT throws_ok($$SELECT (-1)::xorj.u64$$,
    '23514', 'value for domain xorj.u64 violates check constraint "u64_range"',
    'u64 refuses -1');
SELECT throws_ok($$SELECT 18446744073709551616::xorj.u64$$,
    '23514', 'value for domain xorj.u64 violates check constraint "u64_range"',
    'u64 refuses 2^64 (18446744073709551616)');
SELECT throws_ok($$SELECT 1.5::xorj.u64$$,
    '23514', 'value for domain xorj.u64 violates check constraint "u64_range"',
    'u64 refuses 1.5 (a fraction is refused, not rounded)');
SELECT throws_ok($$SELECT 0.000001::xorj.u64$$,
    '23514', 'value for domain xorj.u64 violates check constraint "u64_range"',
    'u64 refuses 0.000001');
SELECT throws_ok($$SELECT 'NaN'::numeric::xorj.u64$$,
    '23514', 'value for domain xorj.u64 violates check constraint "u64_range"',
    'u64 refuses NaN');
SELECT throws_ok($$SELECT 'Infinity'::numeric::xorj.u64$$,
    '23514', 'value for domain xorj.u64 violates check constraint "u64_range"',
    'u64 refuses Infinity');
SELECT throws_ok($$SELECT '-Infinity'::numeric::xorj.u64$$,
    '23514', 'value for domain xorj.u64 violates check constraint "u64_range"',
    'u64 refuses -Infinity');

-- The columns use the domains: a bad value in a table is refused the same way.
INSERT INTO xorj.execution_jobs (id, trigger_reason)
VALUES ('00000000-0000-4000-8000-0000000000d1', 'SCHEDULED_RUN');
SELECT throws_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address,
                             to_token_address, amount_in, expected_amount_out)
    VALUES ('00000000-0000-4000-8000-0000000000d1', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB',
            'order-1', 'So11111111111111111111111111111111111111112',
            'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 1.5, 100)
$$, '23514', 'value for domain xorj.u64 violates check constraint "u64_range"',
    'a trade with amount_in 1.5 is refused by the u64 domain');
SELECT throws_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address,
                             to_token_address, amount_in, expected_amount_out)
    VALUES ('00000000-0000-4000-8000-0000000000d1', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYO',
            'order-1', 'So11111111111111111111111111111111111111112',
            'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 100, 100)
$$, '23514', 'value for domain xorj.solana_address violates check constraint "solana_address_base58"',
    'a trade whose vault address contains O is refused by the solana_address domain');
SELECT throws_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address,
                             to_token_address, amount_in, expected_amount_out, transaction_signature)
    VALUES ('00000000-0000-4000-8000-0000000000d1', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB',
            'order-1', 'So11111111111111111111111111111111111111112',
            'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 100, 100, repeat('5', 63))
$$, '23514', 'value for domain xorj.solana_signature violates check constraint "solana_signature_base58"',
    'a trade with a 63-character signature is refused by the solana_signature domain');
SELECT lives_ok($$
    INSERT INTO xorj.trades (job_id, user_vault_address, client_order_id, from_token_address,
                             to_token_address, amount_in, expected_amount_out, transaction_signature)
    VALUES ('00000000-0000-4000-8000-0000000000d1', 'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB',
            'order-1', 'So11111111111111111111111111111111111111112',
            'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 18446744073709551615, 1,
            repeat('5', 88))
$$, 'the same trade with valid values (amount 2^64-1, 88-char signature) is accepted');

SELECT * FROM finish();
ROLLBACK;
