"""What the execution bot needs of a chain, and nothing more.

The protocol that makes submission exactly-once (README, "Execution bot") uses it so:
fetch a recent blockhash (with the last block height at which a transaction using it can
land) -> sign the intent's transaction with it (the signature is its id) -> record both
in the database -> broadcast -> ask for the signature's status until it is final, or
until the block height has passed its last valid one (then it can never land) -> for a
confirmed one whose status does not say what the swap delivered, ask the landed
transaction (get_delivery).

"Not found" and "could not ask" are different answers: a network error raises
ChainUnavailable and is never taken as "not found".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# The genesis hashes of Solana's public clusters (getGenesisHash): what a venue checks.
MAINNET_GENESIS = "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d"
PUBLIC_TEST_GENESIS = {
    "EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG": "devnet",
    "4uhcVJyU9pJkvQyS88uRDiswHXSCkY3zQawwpjk2NsNY": "testnet",
}


def venue_problem(venue: str, genesis: str) -> str | None:
    """Why a chain of this genesis hash is not `venue`, or None. live: mainnet-beta only
    (only live trades count in performance, and a live bot claims live trades); localnet:
    any chain but mainnet-beta (a local validator, or devnet/testnet: a test chain)."""
    if venue == "live" and genesis != MAINNET_GENESIS:
        cluster = PUBLIC_TEST_GENESIS.get(genesis, "not a public cluster")
        return (
            f"--venue live needs mainnet-beta, but the endpoint's genesis hash is {genesis} "
            f"({cluster}); a test chain is --venue localnet"
        )
    if venue == "localnet" and genesis == MAINNET_GENESIS:
        return "--venue localnet, but the endpoint serves mainnet-beta: use --venue live"
    return None


class ChainError(Exception):
    """The chain answered with an error (JSON-RPC error object)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class ChainUnavailable(ChainError):
    """The chain could not be asked (transport error, timeout, 5xx): try again later."""


@dataclass(frozen=True)
class Intent:
    """A trade to place: what the bot recorded as the trade row before signing."""

    trade_id: str
    vault: str
    from_token: str
    to_token: str
    amount_in: int
    expected_amount_out: int
    client_order_id: str | None = None  # the trade's idempotency key, put in the memo


@dataclass(frozen=True)
class Blockhash:
    value: str  # base58
    last_valid_block_height: int


@dataclass(frozen=True)
class SignedTransaction:
    signature: str  # base58, 64..88 characters
    last_valid_block_height: int
    raw: str  # the wire transaction, base64


@dataclass(frozen=True)
class SignatureStatus:
    """The chain's view of one signature.

    found=False: the chain does not know it (yet). found=True with err=None and
    confirmed=True: it landed; err set: it landed and failed on chain.
    """

    found: bool
    confirmed: bool = False
    err: str | None = None
    slot: int | None = None
    amount_out: int | None = None  # what the swap delivered, when known
    fee: int | None = None  # lamports


class Signer(Protocol):
    """Builds and signs the swap transaction of an intent with a recent blockhash. The
    signature is known before anything is sent: it is the transaction's id."""

    def sign(self, intent: Intent, blockhash: Blockhash) -> SignedTransaction: ...


class Chain(Protocol):
    def get_latest_blockhash(self) -> Blockhash: ...

    def get_block_height(self) -> int: ...

    def get_signature_statuses(self, signatures: list[str]) -> dict[str, SignatureStatus]: ...

    def send_transaction(self, tx: SignedTransaction) -> str: ...

    def get_delivery(self, signature: str, owner: str, mint: str) -> SignatureStatus:
        """The landed transaction of `signature`: found/confirmed/err/slot as
        get_signature_statuses says them, fee = its fee (lamports), and amount_out = how
        much `owner`'s token balance in `mint` changed in it (post - pre, summed over
        owner's token accounts of that mint; 0 when it has none). found=False when the
        chain does not know the transaction (yet)."""
        ...

    def find_trade(self, vault: str, trade_id: str, since: float) -> TradeSearch:
        """The landed transactions of `vault` whose memo names `trade_id` (the project's
        signer puts "xorj:<trade id>[:<client order id>]" in each: app.chain.spl), newest
        first, looked for back to `since` (a UNIX time: the trade's creation; nothing
        older can be its transaction). For a trade whose signature was never recorded."""
        ...


@dataclass(frozen=True)
class FoundTransaction:
    signature: str
    slot: int | None
    err: str | None  # set: it landed and failed on chain


@dataclass(frozen=True)
class TradeSearch:
    """What find_trade saw: the transactions naming the trade, how many of the vault's
    transactions it read, and whether it reached back to `since` (False: it stopped at
    its page limit, and a trade not found is not known to be missing)."""

    found: tuple[FoundTransaction, ...]
    scanned: int
    complete: bool


def memo_names_trade(memo: str | None, trade_id: str) -> bool:
    """Whether a memo, as getSignaturesForAddress gives it ("[<length>] <text>", several
    joined by "; "), holds the memo of trade `trade_id`."""
    if not memo:
        return False
    mark = "xorj:" + trade_id
    for part in memo.split("; "):
        text = part.split("] ", 1)[1] if part.startswith("[") and "] " in part else part
        if text == mark or text.startswith(mark + ":"):
            return True
    return False
