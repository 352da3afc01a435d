"""The real signer: the vault authority's keypair (app.chain.keys), the SPL builders
(app.chain.spl), the maker swap (app.chain.swap) and KeypairSigner (app.chain.signer),
checked offline and then run on LiteSVM (solders.litesvm, an in-process Solana runtime
with the SPL Token and Memo programs): the transaction the bot signs is accepted, moves
exactly the amounts it says, and fails atomically when it cannot."""

from __future__ import annotations

import base64
import json
import struct
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from solders.account import Account
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.token.state import Mint, TokenAccount, TokenAccountState
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata, TransactionMetadata
from solders.transaction_status import InstructionErrorCustom, TransactionErrorInstructionError

from app import base58
from app.chain.base import Blockhash, Intent
from app.chain.keys import KEY_VARIABLE, load_keypair
from app.chain.signer import KeypairSigner
from app.chain.spl import (
    MEMO_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
    associated_token_address,
    memo,
    trade_memo,
    transfer,
)
from app.chain.swap import MakerSwap
from app.config import ConfigError

COMPUTE_BUDGET_PROGRAM_ID = Pubkey.from_string("ComputeBudget111111111111111111111111111111")
INSUFFICIENT_FUNDS = 1  # spl_token::error::TokenError::InsufficientFunds
OWNER_MISMATCH = 4  # spl_token::error::TokenError::OwnerMismatch

# -- the keypair ------------------------------------------------------------------------


def secret_of(kp: Keypair) -> str:
    """The base58 secret: what must never appear in a message."""
    return str(kp)  # str() of a Keypair IS its secret, which is the point here


def write_keypair(path: Path, kp: Keypair, mode: int = 0o600) -> Path:
    path.write_text(json.dumps(list(bytes(kp))))
    path.chmod(mode)
    return path


def assert_no_secret(exc: BaseException, kp: Keypair) -> None:
    texts = [str(exc), repr(exc), *(str(a) for a in exc.args)]
    secret = secret_of(kp)
    as_json = json.dumps(list(bytes(kp)))
    for text in texts:
        assert secret not in text and secret[:16] not in text, text
        assert as_json[:40] not in text, text
    # Nothing chained that could carry the input (a JSON error keeps the document).
    assert exc.__cause__ is None
    assert exc.__context__ is None or exc.__suppress_context__


def test_keypair_file_0600_is_loaded(tmp_path: Path) -> None:
    kp = Keypair()
    path = write_keypair(tmp_path / "id.json", kp)
    loaded = load_keypair(str(path), env={})
    assert loaded.pubkey() == kp.pubkey()
    assert bytes(loaded) == bytes(kp)
    assert load_keypair(path, env={}).pubkey() == kp.pubkey()  # a PathLike too


def test_keypair_file_readable_by_others_is_refused_naming_chmod(tmp_path: Path) -> None:
    kp = Keypair()
    for mode in (0o644, 0o640, 0o604, 0o660, 0o610):
        path = write_keypair(tmp_path / f"id-{mode:o}.json", kp, mode)
        with pytest.raises(ConfigError) as excinfo:
            load_keypair(str(path), env={KEY_VARIABLE: secret_of(kp)})  # the file is chosen
        message = str(excinfo.value)
        assert f"mode {mode:04o}" in message and f"chmod 600 {path}" in message, message
        assert_no_secret(excinfo.value, kp)
    assert load_keypair(str(write_keypair(tmp_path / "ro.json", kp, 0o400))).pubkey() == (
        kp.pubkey()
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "is not JSON"),
        ('{"secret": [1, 2, 3]}', "does not hold a JSON array"),
        ("[1, 2, 3]", "holds 3 values, expected 64"),
        (json.dumps([7] * 65), "holds 65 values, expected 64"),
        (json.dumps([7] * 63 + [256]), "value 63 is not an integer 0..255"),
        (json.dumps([7] * 63 + [-1]), "value 63 is not an integer 0..255"),
        (json.dumps([7] * 63 + [1.5]), "value 63 is not an integer 0..255"),
        (json.dumps([7] * 63 + [True]), "value 63 is not an integer 0..255"),
        ("\xff\xfe", "is not JSON"),
    ],
)
def test_bad_keypair_files_are_refused(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "id.json"
    path.write_text(content, encoding="latin-1")
    path.chmod(0o600)
    with pytest.raises(ConfigError, match=expected) as excinfo:
        load_keypair(str(path), env={})
    assert excinfo.value.__cause__ is None


def test_keypair_file_errors_never_show_the_secret(tmp_path: Path) -> None:
    kp = Keypair()
    raw = list(bytes(kp))
    path = tmp_path / "id.json"
    cases = {
        # The secret's bytes with a syntax error at the end: a JSON parser message would
        # quote the document; ours does not.
        json.dumps(raw)[:-1] + ",]": "is not JSON",
        json.dumps([*raw, 1]): "holds 65 values",
        # The right length, but the public half is another key's.
        json.dumps(raw[:32] + list(bytes(Keypair().pubkey()))): "not an ed25519 keypair",
    }
    for content, expected in cases.items():
        path.write_text(content)
        path.chmod(0o600)
        with pytest.raises(ConfigError, match=expected) as excinfo:
            load_keypair(str(path), env={})
        assert_no_secret(excinfo.value, kp)


def test_missing_keypair_file_and_no_key_at_all(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(ConfigError, match=f"keypair file {missing} does not exist"):
        load_keypair(str(missing), env={})
    with pytest.raises(ConfigError, match="is not a regular file"):
        load_keypair(str(tmp_path), env={})
    with pytest.raises(ConfigError, match=f"no vault authority key.*{KEY_VARIABLE}"):
        load_keypair(None, env={})
    with pytest.raises(ConfigError, match="no vault authority key"):
        load_keypair(None, env={KEY_VARIABLE: "  "})


def test_keypair_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    kp = Keypair()
    assert load_keypair(None, env={KEY_VARIABLE: secret_of(kp)}).pubkey() == kp.pubkey()
    assert load_keypair(None, env={KEY_VARIABLE: f" {secret_of(kp)}\n"}).pubkey() == (kp.pubkey())
    assert load_keypair(None, env={"OTHER": secret_of(kp)}, variable="OTHER").pubkey() == (
        kp.pubkey()
    )
    monkeypatch.setenv(KEY_VARIABLE, secret_of(kp))  # default: os.environ
    assert load_keypair(None).pubkey() == kp.pubkey()
    # A secret whose first byte is 0 (a leading '1' in base58) round-trips too.
    zero_first = Keypair.from_seed(bytes(32))
    for seed in range(256):
        candidate = Keypair.from_seed(bytes([seed]) + bytes(31))
        if bytes(candidate)[0] == 0:
            zero_first = candidate
            break
    assert load_keypair(None, env={KEY_VARIABLE: secret_of(zero_first)}).pubkey() == (
        zero_first.pubkey()
    )


def test_bad_environment_keys_are_refused_without_the_secret() -> None:
    kp = Keypair()
    secret = secret_of(kp)
    other = Keypair()
    cases = {
        secret[:-1] + "0": "is not base58",  # '0' is outside the alphabet
        secret[:20] + "l" + secret[21:]: "is not base58",
        secret[:-8]: r"decodes to \d+ bytes, expected 64",
        base58.encode(bytes(kp)[:32]): "decodes to 32 bytes, expected 64",
        base58.encode(bytes(kp)[:32] + bytes(other.pubkey())): "not an ed25519 keypair",
    }
    for value, expected in cases.items():
        with pytest.raises(ConfigError, match=expected) as excinfo:
            load_keypair(None, env={KEY_VARIABLE: value})
        assert KEY_VARIABLE in str(excinfo.value)
        assert_no_secret(excinfo.value, kp)
        assert value not in str(excinfo.value)


def test_reprs_show_public_keys_only() -> None:
    authority, maker = Keypair(), Keypair()
    signer = KeypairSigner(authority, MakerSwap(maker, slippage_bps=30))
    text = repr(signer) + str(signer) + repr(signer.builder)
    assert str(authority.pubkey()) in text and str(maker.pubkey()) in text
    for kp in (authority, maker):
        assert secret_of(kp) not in text


# -- the SPL builders -------------------------------------------------------------------


def test_transfer_instruction_layout() -> None:
    source, destination, authority = (Pubkey.new_unique() for _ in range(3))
    ix = transfer(source, destination, authority, 1_000_000)
    assert ix.program_id == TOKEN_PROGRAM_ID
    assert ix.data == bytes([3]) + (1_000_000).to_bytes(8, "little")
    assert [(a.pubkey, a.is_signer, a.is_writable) for a in ix.accounts] == [
        (source, False, True),
        (destination, False, True),
        (authority, True, False),
    ]
    assert transfer(source, destination, authority, 2**64 - 1).data[1:] == b"\xff" * 8
    for bad in (-1, 2**64):
        with pytest.raises(ValueError, match="u64"):
            transfer(source, destination, authority, bad)


def test_memo_and_trade_memo() -> None:
    trade_id = str(uuid.uuid4())
    assert trade_memo(trade_id) == f"xorj:{trade_id}"
    key = "xorj-" + "ab" * 24
    text = trade_memo(trade_id, key)
    assert text == f"xorj:{trade_id}:{key}" and len(text.encode()) == 95
    ix = memo(text)
    assert ix.program_id == MEMO_PROGRAM_ID and ix.data == text.encode() and ix.accounts == []
    signer = Pubkey.new_unique()
    (meta,) = memo("hi", [signer]).accounts
    assert (meta.pubkey, meta.is_signer, meta.is_writable) == (signer, True, False)
    assert memo("é").data == "é".encode()
    for bad in ("", "a:b"):
        with pytest.raises(ValueError):
            trade_memo(bad)
    with pytest.raises(ValueError, match="longer"):
        trade_memo(trade_id, "x" * 300)


def test_associated_token_address_is_the_ata_pda() -> None:
    owner, mint = Pubkey.new_unique(), Pubkey.new_unique()
    ata_program = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")
    expected, _ = Pubkey.find_program_address(
        [bytes(owner), bytes(TOKEN_PROGRAM_ID), bytes(mint)], ata_program
    )
    assert associated_token_address(owner, mint) == expected


# -- the signed transaction -------------------------------------------------------------


def make_intent(
    vault: Pubkey,
    from_mint: Pubkey,
    to_mint: Pubkey,
    amount_in: int = 1_000_000,
    expected: int = 6_666_666,
    client_order_id: str | None = "xorj-" + "0f" * 24,
) -> Intent:
    return Intent(
        trade_id=str(uuid.uuid4()),
        vault=str(vault),
        from_token=str(from_mint),
        to_token=str(to_mint),
        amount_in=amount_in,
        expected_amount_out=expected,
        client_order_id=client_order_id,
    )


def decode(raw: str) -> VersionedTransaction:
    return VersionedTransaction.from_bytes(base64.b64decode(raw, validate=True))


def test_signed_transaction_verifies_and_carries_memo_budget_and_both_signers() -> None:
    authority, maker = Keypair(), Keypair()
    vault, from_mint, to_mint = (Pubkey.new_unique() for _ in range(3))
    swap = MakerSwap(maker, slippage_bps=50)
    signer = KeypairSigner(authority, swap, compute_unit_limit=80_000, compute_unit_price=1000)
    intent = make_intent(vault, from_mint, to_mint)
    blockhash = Blockhash("EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N", 1383)
    signed = signer.sign(intent, blockhash)

    tx = decode(signed.raw)
    assert tx.verify_with_results() == [True, True]
    tx.verify_and_hash_message()  # raises if any signature is wrong
    assert str(tx.signatures[0]) == signed.signature
    assert signed.last_valid_block_height == 1383
    assert len(signed.signature) in range(64, 89)
    message = tx.message
    assert isinstance(message, MessageV0)
    assert str(message.recent_blockhash) == blockhash.value
    assert message.address_table_lookups == []
    keys = message.account_keys
    assert message.header.num_required_signatures == 2
    assert keys[0] == authority.pubkey() and keys[1] == maker.pubkey()  # fee payer first
    signed_bytes = to_bytes_versioned(message)  # 0x80 (v0) + the message
    assert [sig.verify(keys[i], signed_bytes) for i, sig in enumerate(tx.signatures)] == [
        True,
        True,
    ]

    programs = [keys[ix.program_id_index] for ix in message.instructions]
    assert programs == [
        COMPUTE_BUDGET_PROGRAM_ID,
        COMPUTE_BUDGET_PROGRAM_ID,
        TOKEN_PROGRAM_ID,
        TOKEN_PROGRAM_ID,
        MEMO_PROGRAM_ID,
    ]
    limit, price, pay, receive, note = message.instructions
    assert limit.data == bytes([2]) + struct.pack("<I", 80_000)
    assert price.data == bytes([3]) + struct.pack("<Q", 1000)
    assert note.data.decode() == f"xorj:{intent.trade_id}:{intent.client_order_id}"
    assert pay.data == bytes([3]) + struct.pack("<Q", 1_000_000)
    assert receive.data == bytes([3]) + struct.pack("<Q", 6_666_666 * 9950 // 10_000)
    vault_in = associated_token_address(vault, from_mint)
    maker_in = associated_token_address(maker.pubkey(), from_mint)
    maker_out = associated_token_address(maker.pubkey(), to_mint)
    vault_out = associated_token_address(vault, to_mint)
    # The vault itself rides along read-only, so that its address history lists the swap.
    assert [keys[i] for i in pay.accounts] == [vault_in, maker_in, authority.pubkey(), vault]
    assert [keys[i] for i in receive.accounts] == [maker_out, vault_out, maker.pubkey()]

    # Deterministic (ed25519): the same intent and blockhash give the same transaction.
    assert signer.sign(intent, blockhash) == signed
    other = signer.sign(intent, Blockhash("11111111111111111111111111111111", 1383))
    assert other.signature != signed.signature
    # Without a client order id the memo is the trade id alone.
    bare = decode(
        signer.sign(make_intent(vault, from_mint, to_mint, client_order_id=None), blockhash).raw
    )
    assert bare.message.instructions[-1].data.decode().count(":") == 1


def test_signing_errors_are_value_errors() -> None:
    authority, maker = Keypair(), Keypair()
    signer = KeypairSigner(authority, MakerSwap(maker))
    mint = Pubkey.new_unique()
    blockhash = Blockhash("EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N", 10)
    intent = make_intent(Pubkey.new_unique(), mint, Pubkey.new_unique())
    with pytest.raises(ValueError, match="vault is not a Solana address"):
        signer.sign(Intent("t", "not-an-address", str(mint), str(mint), 1, 1), blockhash)
    with pytest.raises(ValueError, match="blockhash"):
        signer.sign(intent, Blockhash("xyz", 10))
    with pytest.raises(ValueError, match="u64"):
        signer.sign(make_intent(Pubkey.new_unique(), mint, mint, amount_in=2**64), blockhash)
    with pytest.raises(ValueError):
        KeypairSigner(authority, MakerSwap(maker), compute_unit_limit=0)
    with pytest.raises(ValueError):
        MakerSwap(maker, slippage_bps=10_001)


def test_a_maker_that_is_the_authority_signs_once() -> None:
    authority = Keypair()
    signer = KeypairSigner(authority, MakerSwap(authority))
    intent = make_intent(Pubkey.new_unique(), Pubkey.new_unique(), Pubkey.new_unique())
    tx = decode(signer.sign(intent, Blockhash(str(Pubkey.new_unique()), 5)).raw)
    assert tx.message.header.num_required_signatures == 1
    assert tx.verify_with_results() == [True]


def test_signing_time_is_well_under_a_millisecond() -> None:
    signer = KeypairSigner(Keypair(), MakerSwap(Keypair(), slippage_bps=50))
    mints = [Pubkey.new_unique() for _ in range(2)]
    blockhash = Blockhash("EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N", 10)
    intents = [make_intent(Pubkey.new_unique(), *mints) for _ in range(500)]
    signer.sign(intents[0], blockhash)  # warm up
    times = []
    for intent in intents:
        start = time.perf_counter()
        signer.sign(intent, blockhash)
        times.append(time.perf_counter() - start)
    times.sort()
    median, p99 = times[len(times) // 2], times[int(len(times) * 0.99)]
    print(f"KeypairSigner.sign: median {median * 1e6:.0f} us, p99 {p99 * 1e6:.0f} us")
    assert median < 0.001  # measured ~0.1 ms; generous for a loaded machine


# -- on LiteSVM -------------------------------------------------------------------------

USDC_DECIMALS, TARGET_DECIMALS = 6, 9


@dataclass
class Market:
    svm: LiteSVM
    authority: Keypair
    maker: Keypair
    vault: Pubkey
    from_mint: Pubkey
    to_mint: Pubkey

    def balance(self, owner: Pubkey, mint: Pubkey) -> int:
        account = self.svm.get_account(associated_token_address(owner, mint))
        assert account is not None
        return TokenAccount.from_bytes(account.data).amount

    def token_account(self, owner: Pubkey, mint: Pubkey) -> TokenAccount:
        account = self.svm.get_account(associated_token_address(owner, mint))
        assert account is not None
        return TokenAccount.from_bytes(account.data)

    def set_token_account(
        self,
        owner: Pubkey,
        mint: Pubkey,
        amount: int,
        delegate: Pubkey | None = None,
        delegated_amount: int = 0,
    ) -> None:
        data = bytes(
            TokenAccount(
                mint=mint,
                owner=owner,
                amount=amount,
                delegate=delegate,
                state=TokenAccountState.Initialized,
                is_native=None,
                delegated_amount=delegated_amount,
            )
        )
        assert len(data) == 165
        lamports = self.svm.minimum_balance_for_rent_exemption(len(data))
        self.svm.set_account(
            associated_token_address(owner, mint), Account(lamports, data, TOKEN_PROGRAM_ID)
        )

    def send(self, signer: KeypairSigner, intent: Intent) -> tuple[str, object]:
        blockhash = Blockhash(str(self.svm.latest_blockhash()), 1_000)
        signed = signer.sign(intent, blockhash)
        return signed.signature, self.svm.send_transaction(decode(signed.raw))


@pytest.fixture
def market() -> Iterator[Market]:
    svm = LiteSVM()
    authority, maker = Keypair(), Keypair()
    vault = Keypair().pubkey()  # the vault owner's key stays with its owner
    from_mint, to_mint = Pubkey.new_unique(), Pubkey.new_unique()
    for mint, decimals in ((from_mint, USDC_DECIMALS), (to_mint, TARGET_DECIMALS)):
        data = bytes(Mint(Pubkey.new_unique(), 10**18, decimals, True))
        assert len(data) == 82
        lamports = svm.minimum_balance_for_rent_exemption(len(data))
        svm.set_account(mint, Account(lamports, data, TOKEN_PROGRAM_ID))
    svm.airdrop(authority.pubkey(), 10**9)  # the fee payer
    m = Market(svm, authority, maker, vault, from_mint, to_mint)
    # The vault holds 10 USDC and approved the bot's authority for 5 (spl-token approve).
    m.set_token_account(vault, from_mint, 10_000_000, authority.pubkey(), 5_000_000)
    m.set_token_account(vault, to_mint, 0)
    m.set_token_account(maker.pubkey(), from_mint, 0)
    m.set_token_account(maker.pubkey(), to_mint, 100 * 10**TARGET_DECIMALS)
    yield m


def test_maker_swap_lands_on_litesvm_and_moves_exactly_the_amounts(market: Market) -> None:
    m = market
    swap = MakerSwap(m.maker, slippage_bps=50)
    signer = KeypairSigner(m.authority, swap)
    intent = make_intent(m.vault, m.from_mint, m.to_mint, 1_000_000, 6_666_666_666)
    out = 6_666_666_666 * 9950 // 10_000
    fee_payer_before = m.svm.get_balance(m.authority.pubkey())
    signature, result = m.send(signer, intent)

    assert isinstance(result, TransactionMetadata), result
    assert str(result.signature()) == signature
    memo_text = f"xorj:{intent.trade_id}:{intent.client_order_id}"
    assert any(memo_text in line for line in result.logs()), result.logs()
    assert m.balance(m.vault, m.from_mint) == 10_000_000 - 1_000_000
    assert m.balance(m.maker.pubkey(), m.from_mint) == 1_000_000
    assert m.balance(m.vault, m.to_mint) == out
    assert m.balance(m.maker.pubkey(), m.to_mint) == 100 * 10**TARGET_DECIMALS - out
    # The delegation shrinks by what was spent; the vault still owns its account.
    vault_in = m.token_account(m.vault, m.from_mint)
    assert (vault_in.delegate, vault_in.delegated_amount) == (m.authority.pubkey(), 4_000_000)
    # Two signatures at 5000 lamports plus the priority fee, paid by the authority.
    fee = result.fee() if callable(getattr(result, "fee", None)) else None
    spent = fee_payer_before - m.svm.get_balance(m.authority.pubkey())
    assert spent >= 10_000 and (fee is None or spent == fee)
    assert m.svm.get_transaction(Signature.from_string(signature)) is not None
    # The same signed bytes are refused a second time (the signature is the id).
    again = m.svm.send_transaction(
        decode(signer.sign(intent, Blockhash(str(m.svm.latest_blockhash()), 1_000)).raw)
    )
    assert isinstance(again, FailedTransactionMetadata)
    assert m.balance(m.vault, m.to_mint) == out


def instruction_error(result: object) -> tuple[int, int]:
    assert isinstance(result, FailedTransactionMetadata), result
    err = result.err()
    assert isinstance(err, TransactionErrorInstructionError), err
    assert isinstance(err.err, InstructionErrorCustom), err.err
    return err.index, err.err.code


def test_insufficient_funds_fail_with_an_instruction_error_and_move_nothing(
    market: Market,
) -> None:
    m = market
    signer = KeypairSigner(m.authority, MakerSwap(m.maker))
    before = {
        (owner, mint): m.balance(owner, mint)
        for owner in (m.vault, m.maker.pubkey())
        for mint in (m.from_mint, m.to_mint)
    }
    # More than the vault holds (within a large approval): the first transfer fails.
    m.set_token_account(m.vault, m.from_mint, 10_000_000, m.authority.pubkey(), 50_000_000)
    _, result = m.send(signer, make_intent(m.vault, m.from_mint, m.to_mint, 20_000_000, 1))
    assert instruction_error(result) == (2, INSUFFICIENT_FUNDS)
    # More than the maker holds: the second fails, and the first is undone with it.
    _, result = m.send(signer, make_intent(m.vault, m.from_mint, m.to_mint, 1_000_000, 10**12))
    assert instruction_error(result) == (3, INSUFFICIENT_FUNDS)
    # More than the approval: refused by the token program too.
    _, result = m.send(signer, make_intent(m.vault, m.from_mint, m.to_mint, 60_000_000, 1))
    assert instruction_error(result)[0] == 2
    after = {key: m.balance(*key) for key in before}
    assert after == before


def test_an_authority_that_is_not_the_delegate_is_refused(market: Market) -> None:
    m = market
    stranger = Keypair()
    m.svm.airdrop(stranger.pubkey(), 10**9)
    signer = KeypairSigner(stranger, MakerSwap(m.maker))
    _, result = m.send(signer, make_intent(m.vault, m.from_mint, m.to_mint, 1_000, 1))
    assert instruction_error(result) == (2, OWNER_MISMATCH)
    assert m.balance(m.vault, m.from_mint) == 10_000_000


def test_a_tampered_transaction_is_refused(market: Market) -> None:
    m = market
    signer = KeypairSigner(m.authority, MakerSwap(m.maker))
    intent = make_intent(m.vault, m.from_mint, m.to_mint, 1_000, 1)
    tx = signer.transaction(intent, Blockhash(str(m.svm.latest_blockhash()), 1_000))
    raw = bytearray(bytes(tx))
    at = bytes(raw).index(f"xorj:{intent.trade_id}".encode())
    raw[at + 5] ^= 0x01  # the memo's trade id, one bit: the signatures no longer match
    result = m.svm.send_transaction(VersionedTransaction.from_bytes(bytes(raw)))
    assert isinstance(result, FailedTransactionMetadata)
    assert "Signature" in str(result.err()), result.err()
    assert m.balance(m.vault, m.from_mint) == 10_000_000
