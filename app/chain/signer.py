"""base.Signer with a real ed25519 keypair: the vault authority signs an intent's swap as a
v0 transaction, so its signature (the transaction's id) is known before it is sent.

The transaction's instructions, in order:

    0. ComputeBudget SetComputeUnitLimit(compute_unit_limit)
    1. ComputeBudget SetComputeUnitPrice(compute_unit_price micro-lamports per unit)
    2.. the swap builder's instructions (app.chain.swap.SwapBuilder)
    last. Memo "xorj:<trade id>[:<client order id>]" (app.chain.spl.trade_memo)

The fee payer is the authority. The message is compiled with MessageV0.try_compile and the
bot's blockhash (no address lookup tables yet: a builder whose routes need them, such as
Jupiter's, plugs them in there, see app.chain.swap). The authority and the builder's extra
signers sign it; solders orders their signatures as the message's signer keys.

Errors building or signing (a malformed address, a builder refusing the intent, a missing
signer) are raised as ValueError, which the bot records as "never broadcast: could not
sign". No message of this module shows a secret: only public keys are ever formatted.
"""

from __future__ import annotations

import base64

from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash, ParseHashError
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from app.chain.base import Blockhash, Intent, SignedTransaction
from app.chain.spl import memo, trade_memo
from app.chain.swap import SwapBuilder

MAX_TRANSACTION_BYTES = 1232  # a packet's payload: larger transactions are refused


class KeypairSigner:
    """Signs intents with `authority` (the vault authority, also the fee payer)."""

    def __init__(
        self,
        authority: Keypair,
        builder: SwapBuilder,
        compute_unit_limit: int = 200_000,
        compute_unit_price: int = 1,
    ) -> None:
        if not 0 < compute_unit_limit <= 1_400_000:
            raise ValueError("compute_unit_limit must be within 1..1400000")
        if compute_unit_price < 0:
            raise ValueError("compute_unit_price must be >= 0")
        self.authority = authority
        self.builder = builder
        self.compute_unit_limit = compute_unit_limit
        self.compute_unit_price = compute_unit_price
        self._pubkeys: dict[int, tuple[Keypair, Pubkey]] = {}

    def __repr__(self) -> str:  # never str() a Keypair: it is the secret
        return (
            f"KeypairSigner(authority={self._pubkey(self.authority)}, builder={self.builder!r}, "
            f"compute_unit_limit={self.compute_unit_limit}, "
            f"compute_unit_price={self.compute_unit_price})"
        )

    def transaction(self, intent: Intent, blockhash: Blockhash) -> VersionedTransaction:
        """The signed transaction of `intent` with `blockhash` (see the module docstring)."""
        payer = self._pubkey(self.authority)
        try:
            recent = Hash.from_string(blockhash.value)
        except (ValueError, ParseHashError):
            raise ValueError(f"blockhash {blockhash.value!r:.60} is not a 32-byte hash") from None
        instructions = [
            set_compute_unit_limit(self.compute_unit_limit),
            set_compute_unit_price(self.compute_unit_price),
            *self.builder.instructions(intent, payer),
            memo(trade_memo(intent.trade_id, intent.client_order_id)),
        ]
        # The keypair of each signing key (a maker that is also the authority signs once).
        keypairs: dict[Pubkey, Keypair] = {payer: self.authority}
        for extra in self.builder.signers:
            keypairs.setdefault(self._pubkey(extra), extra)
        try:
            message = MessageV0.try_compile(payer, instructions, [], recent)
        except Exception as exc:  # solders' CompileError is not a ValueError
            raise ValueError(f"could not compile trade {intent.trade_id}: {exc}") from None
        # Sign in the message's signer order (the fee payer first): what
        # VersionedTransaction(message, keypairs) does, without re-deriving each keypair's
        # public key (tens of microseconds each in solders).
        signing_keys = message.account_keys[: message.header.num_required_signatures]
        missing = [str(key) for key in signing_keys if key not in keypairs]
        if missing:
            raise ValueError(f"trade {intent.trade_id}: no keypair for signer {missing}")
        if len(signing_keys) != len(keypairs):
            raise ValueError(f"trade {intent.trade_id}: a keypair the message does not need")
        data = to_bytes_versioned(message)
        tx = VersionedTransaction.populate(
            message, [keypairs[key].sign_message(data) for key in signing_keys]
        )
        size = len(bytes(tx))
        if size > MAX_TRANSACTION_BYTES:
            raise ValueError(
                f"trade {intent.trade_id}: transaction of {size} bytes, more than "
                f"{MAX_TRANSACTION_BYTES}"
            )
        return tx

    def _pubkey(self, keypair: Keypair) -> Pubkey:
        """keypair.pubkey(), cached per keypair object (it costs ~35 us in solders)."""
        entry = self._pubkeys.get(id(keypair))
        if entry is None or entry[0] is not keypair:
            entry = (keypair, keypair.pubkey())
            self._pubkeys[id(keypair)] = entry
        return entry[1]

    def sign(self, intent: Intent, blockhash: Blockhash) -> SignedTransaction:
        tx = self.transaction(intent, blockhash)
        return SignedTransaction(
            signature=str(tx.signatures[0]),
            last_valid_block_height=blockhash.last_valid_block_height,
            raw=base64.b64encode(bytes(tx)).decode("ascii"),
        )
