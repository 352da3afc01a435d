"""The local validator's keys, mints and token accounts (app.chain.localnet).

The state directory holds, each written with mode 0600 (the directory 0700 when created):

    authority.json  the bot's vault authority: a Solana CLI keypair file (a JSON array of
                    the 64 secret-key bytes); the delegate of every vault token account
    maker.json      the market maker: holds a large balance of every mint, and is each
                    mint's mint authority
    localnet.json   {"rpc_url", "authority", "maker", "mints": {symbol: mint},
                    "vaults": {vault: {mint: token_account}}}

Keypair files are reused when present (so the addresses stay the same from one start to
the next); the ledger itself is not kept: every start is a fresh chain on which the mints
and accounts below are created again.

Mints: USDC and every target of app.workers.planner, at the planner's addresses and
decimals (so a planned trade names mints that exist), mint authority = the maker.
Token accounts are associated token accounts (the address the ATA program would derive),
written directly with set_account: the maker's in every mint (MAKER_TOKENS base units),
and each vault's in every mint (USDC funded, the others empty), delegate = authority with
delegated_amount = 2^64-1, as a vault program delegating to the bot would. Accounts of
the wrapped-SOL mint are native accounts (is_native = their rent reserve, lamports =
reserve + amount), as the token program keeps them.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from solders.account import Account
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.token.associated import get_associated_token_address
from solders.token.state import Mint, TokenAccount, TokenAccountState

from app.workers.planner import TARGETS, USDC

TOKEN_PROGRAM = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
TOKEN_2022_PROGRAM = Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
TOKEN_PROGRAMS = (TOKEN_PROGRAM, TOKEN_2022_PROGRAM)
SYSTEM_PROGRAM = Pubkey.from_string("11111111111111111111111111111111")
NATIVE_MINT = Pubkey.from_string("So11111111111111111111111111111111111111112")
TOKEN_ACCOUNT_LEN = 165
MINT_LEN = 82
U64_MAX = 2**64 - 1

MAKER_TOKENS = 10**15  # base units of every mint held by the maker
MAKER_LAMPORTS = 10**15  # 1,000,000 SOL
AUTHORITY_LAMPORTS = 10**12  # 1,000 SOL: fees for 200 million signatures
DEFAULT_VAULT_USDC = 10**12  # base units: 1,000,000 USDC

TOKENS = (USDC, *TARGETS)


class SetupError(Exception):
    """The state directory cannot be used (unreadable keypair, bad localnet.json)."""


@dataclass
class Setup:
    """What the chain is set up with; `vaults` grows with xorjFundVault."""

    state_dir: Path
    authority: Keypair
    maker: Keypair
    vaults: dict[str, dict[str, str]] = field(default_factory=dict)
    rpc_url: str = ""

    @property
    def mints(self) -> dict[str, str]:
        return {token.symbol: token.mint for token in TOKENS}

    def document(self) -> dict[str, Any]:
        return {
            "rpc_url": self.rpc_url,
            "authority": str(self.authority.pubkey()),
            "maker": str(self.maker.pubkey()),
            "mints": self.mints,
            "vaults": self.vaults,
        }

    def save(self) -> None:
        write_private(self.state_dir / "localnet.json", json.dumps(self.document(), indent=2))


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, mode 0600 from the start."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text + "\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def load_keypair(path: Path) -> Keypair:
    """A Solana CLI keypair file: a JSON array of the 64 secret-key bytes."""
    try:
        raw = json.loads(path.read_text())
        if not isinstance(raw, list) or len(raw) != 64:
            raise ValueError("not a JSON array of 64 bytes")
        return Keypair.from_bytes(bytes(raw))
    except (OSError, ValueError, TypeError) as exc:  # never the file's content
        raise SetupError(f"{path}: not a usable keypair file ({type(exc).__name__})") from None


def load_or_create_keypair(path: Path) -> Keypair:
    if path.exists():
        os.chmod(path, 0o600)
        return load_keypair(path)
    keypair = Keypair()
    write_private(path, json.dumps(list(bytes(keypair))))
    return keypair


def load_setup(state_dir: Path, vaults: list[str]) -> Setup:
    """The keys of `state_dir` (created when missing), with the vaults recorded there by an
    earlier start plus `vaults`."""
    for vault in vaults:
        parse_pubkey(vault)  # refuse a bad address before anything is created
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    setup = Setup(
        state_dir=state_dir,
        authority=load_or_create_keypair(state_dir / "authority.json"),
        maker=load_or_create_keypair(state_dir / "maker.json"),
    )
    known: list[str] = []
    state_file = state_dir / "localnet.json"
    if state_file.exists():
        try:
            known = list(json.loads(state_file.read_text()).get("vaults") or {})
        except (OSError, ValueError, AttributeError) as exc:
            raise SetupError(f"{state_file}: unreadable ({type(exc).__name__})") from None
    for vault in [*known, *vaults]:
        parse_pubkey(vault)
        setup.vaults.setdefault(vault, {})
    return setup


def parse_pubkey(text: Any) -> Pubkey:
    if not isinstance(text, str) or not 32 <= len(text) <= 44:
        raise ValueError(f"not a base58 address: {str(text)[:60]!r}")
    try:
        return Pubkey.from_string(text)
    except ValueError:
        raise ValueError(f"not a base58 address: {text[:60]!r}") from None


# -- accounts ----------------------------------------------------------------------------


def install(svm: Any, setup: Setup, vault_usdc: int) -> None:
    """Create the mints, fund the maker and the authority, create and fund the vaults."""
    maker = setup.maker.pubkey()
    for token in TOKENS:
        mint = Pubkey.from_string(token.mint)
        state = Mint(mint_authority=maker, supply=0, decimals=token.decimals, is_initialized=True)
        svm.set_account(mint, _account(svm, bytes(state), TOKEN_PROGRAM))
    add_lamports(svm, maker, MAKER_LAMPORTS)
    add_lamports(svm, setup.authority.pubkey(), AUTHORITY_LAMPORTS)
    for token in TOKENS:
        mint = Pubkey.from_string(token.mint)
        set_token_account(svm, maker, mint, MAKER_TOKENS, delegate=None)
    for vault in list(setup.vaults):
        fund_vault(svm, setup, vault, vault_usdc)


def fund_vault(svm: Any, setup: Setup, vault: str, usdc: int) -> dict[str, Any]:
    """Give `vault` its token account in every mint (delegate = authority) when missing and
    add `usdc` base units to its USDC account. Returns {vault, accounts, usdc}."""
    owner = parse_pubkey(vault)
    if not 0 <= usdc <= U64_MAX:
        raise ValueError("usdc must be an integer from 0 to 2^64-1")
    authority = setup.authority.pubkey()
    accounts: dict[str, str] = {}
    balance = 0
    for token in TOKENS:
        mint = Pubkey.from_string(token.mint)
        address = get_associated_token_address(owner, mint)
        current = read_token_account(svm, address)
        amount = current.amount if current is not None else 0
        add = usdc if token is USDC else 0
        if amount + add > U64_MAX:
            raise ValueError("the vault's USDC balance would pass 2^64-1")
        if current is None or add:
            set_token_account(svm, owner, mint, amount + add, delegate=authority)
        if token is USDC:
            balance = amount + add
        accounts[token.mint] = str(address)
    setup.vaults[vault] = accounts
    return {"vault": vault, "accounts": accounts, "usdc": balance}


def add_lamports(svm: Any, address: Pubkey, lamports: int) -> None:
    current = svm.get_account(address)
    if current is None:
        svm.set_account(address, Account(lamports, b"", SYSTEM_PROGRAM, False, U64_MAX))
    else:
        svm.set_account(
            address,
            Account(
                current.lamports + lamports,
                current.data,
                current.owner,
                current.executable,
                current.rent_epoch,
            ),
        )


def set_token_account(
    svm: Any, owner: Pubkey, mint: Pubkey, amount: int, delegate: Pubkey | None
) -> Pubkey:
    """Write `owner`'s associated token account of `mint` holding `amount`, and keep the
    mint's supply equal to what its accounts hold."""
    address = get_associated_token_address(owner, mint)
    previous = read_token_account(svm, address)
    rent = svm.minimum_balance_for_rent_exemption(TOKEN_ACCOUNT_LEN)
    native = mint == NATIVE_MINT
    state = TokenAccount(
        mint=mint,
        owner=owner,
        amount=amount,
        delegate=delegate,
        state=TokenAccountState.Initialized,
        is_native=rent if native else None,
        delegated_amount=U64_MAX if delegate is not None else 0,
    )
    lamports = rent + amount if native else rent
    svm.set_account(address, Account(lamports, bytes(state), TOKEN_PROGRAM, False, U64_MAX))
    mint_account = svm.get_account(mint)
    if mint_account is not None:
        old = Mint.from_bytes(bytes(mint_account.data)[:MINT_LEN])
        before = previous.amount if previous is not None else 0
        state = Mint(
            mint_authority=old.mint_authority,
            supply=max(0, min(U64_MAX, old.supply + amount - before)),
            decimals=old.decimals,
            is_initialized=old.is_initialized,
            freeze_authority=old.freeze_authority,
        )
        svm.set_account(mint, _account(svm, bytes(state), TOKEN_PROGRAM))
    return address


def read_token_account(svm: Any, address: Pubkey) -> TokenAccount | None:
    account = svm.get_account(address)
    return token_account_of(account)


def token_account_of(account: Account | None) -> TokenAccount | None:
    """The token account state of an account owned by a token program, else None."""
    if account is None or account.owner not in TOKEN_PROGRAMS:
        return None
    data = bytes(account.data)
    if len(data) < TOKEN_ACCOUNT_LEN or (
        len(data) > TOKEN_ACCOUNT_LEN and account.owner == TOKEN_PROGRAM
    ):
        return None
    try:  # an uninitialized account raises too, as the token program would refuse it
        return TokenAccount.from_bytes(data[:TOKEN_ACCOUNT_LEN])
    except ValueError:
        return None


def mint_decimals(svm: Any, mint: Pubkey) -> int | None:
    account = svm.get_account(mint)
    if account is None or account.owner not in TOKEN_PROGRAMS or len(account.data) < MINT_LEN:
        return None
    try:
        return Mint.from_bytes(bytes(account.data)[:MINT_LEN]).decimals
    except ValueError:
        return None


def _account(svm: Any, data: bytes, owner: Pubkey) -> Account:
    lamports = svm.minimum_balance_for_rent_exemption(len(data))
    return Account(lamports, data, owner, False, U64_MAX)
