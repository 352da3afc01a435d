"""What a swap is made of: a SwapBuilder turns an intent into the instructions that move
the vault's tokens, and names the keypairs they need besides the vault authority.

app.chain.signer.KeypairSigner wraps those instructions in the transaction (compute
budget first, the trade's memo last), compiles a v0 message with the bot's blockhash and
signs it, so the signature is known before anything is sent (the exactly-once protocol
records it first).

MakerSwap, the builder shipped, is the offline stand-in for an aggregator: an atomic
two-party SPL token exchange with a market maker whose keypair the bot holds (a local
validator, LiteSVM, a devnet with test mints). In one transaction:

    1. Transfer intent.amount_in of from_token: vault's associated token account ->
       maker's associated token account, signed by the vault authority as the DELEGATE of
       the vault's account (the vault owner approved it: `spl-token approve`), so the bot
       never holds the vault owner's key and can move at most the approved amount;
    2. Transfer out = expected_amount_out * (10000 - slippage_bps) // 10000 of to_token:
       maker's associated token account -> vault's associated token account, signed by
       the maker.

Either transfer failing (funds, delegation, a missing account) fails both: the vault never
pays without being paid. Both associated token accounts of each side must exist.

Where a real aggregator plugs in (Jupiter; NOT implemented and NOT tested here): a
JupiterSwap builder would, in `instructions`, ask Jupiter's quote API for the intent
(inputMint=from_token, outputMint=to_token, amount=amount_in, slippageBps), then POST the
quote to /swap-instructions with userPublicKey = the vault authority. That answer gives
computeBudgetInstructions, setupInstructions (e.g. creating the vault's output token
account), swapInstruction, cleanupInstruction (e.g. unwrapping SOL) and
addressLookupTableAddresses. The builder returns setup + swap + cleanup (KeypairSigner adds
its own compute budget and memo: drop Jupiter's compute budget instructions, or let the
builder's win), and the lookup tables must be fetched (getMultipleAccounts, decoded with
solders' AddressLookupTable) and passed to MessageV0.try_compile in place of the empty
list KeypairSigner passes today: a Jupiter route rarely fits in 1232 bytes without them.
This keeps what matters to the protocol: the bot still chooses the blockhash and signs
locally, so the signature is known and recorded before the transaction is sent (Jupiter's
/swap endpoint, which returns a whole transaction with its own blockhash, does not). A
Jupiter route spends the vault's tokens with the authority as signer, so the vault's
token accounts must be owned by, or delegate to, the authority the route names; the
expected amount then comes from the quote, and what was delivered from the chain
(Chain.get_delivery), never from the quote.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Protocol

from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from app.chain.base import Intent
from app.chain.spl import associated_token_address, transfer


class SwapBuilder(Protocol):
    """The instructions of an intent's swap, the vault authority signing for the vault."""

    @property
    def signers(self) -> Sequence[Keypair]:
        """Keypairs the instructions need besides the authority (may be empty)."""
        ...

    def instructions(self, intent: Intent, authority: Pubkey) -> list[Instruction]: ...


def address(value: str, what: str) -> Pubkey:
    """A base58 address as a Pubkey; ValueError naming `what` if it is not one."""
    try:
        return Pubkey.from_string(value)
    except ValueError:
        raise ValueError(f"{what} is not a Solana address: {value!r:.60}") from None


class MakerSwap:
    """An atomic two-party exchange with a maker (see the module docstring)."""

    def __init__(self, maker: Keypair, slippage_bps: int = 0) -> None:
        if not 0 <= slippage_bps <= 10_000:
            raise ValueError("slippage_bps must be within [0, 10000]")
        self.maker = maker
        self.maker_pubkey = maker.pubkey()  # derived once: ~35 us a call in solders
        self.slippage_bps = slippage_bps

    def __repr__(self) -> str:  # never str() a Keypair: it is the secret
        return f"MakerSwap(maker={self.maker_pubkey}, slippage_bps={self.slippage_bps})"

    @property
    def signers(self) -> Sequence[Keypair]:
        return (self.maker,)

    def amount_out(self, intent: Intent) -> int:
        """What the maker pays: the expected amount less the slippage, rounded down."""
        return intent.expected_amount_out * (10_000 - self.slippage_bps) // 10_000

    def instructions(self, intent: Intent, authority: Pubkey) -> list[Instruction]:
        vault = address(intent.vault, "vault")
        from_mint = address(intent.from_token, "from_token")
        to_mint = address(intent.to_token, "to_token")
        maker = self.maker_pubkey
        return [
            transfer(
                _ata(vault, from_mint),
                _ata(maker, from_mint),
                authority,
                intent.amount_in,
                mentions=(vault,),  # the vault's own address: its history lists the swap
            ),
            transfer(
                _ata(maker, to_mint),
                _ata(vault, to_mint),
                maker,
                self.amount_out(intent),
            ),
        ]


@functools.lru_cache(maxsize=4096)
def _ata(owner: Pubkey, mint: Pubkey) -> Pubkey:
    """associated_token_address, remembered: a program address search costs ~14 us."""
    return associated_token_address(owner, mint)
