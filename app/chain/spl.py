"""Small instruction builders for the SPL Token and Memo programs, written from the SPL
documentation (spl.solana.com/token, spl.solana.com/memo), and the memo text of a trade.

SPL Token (program TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA), instruction Transfer:
data = [3] + amount as u64 little-endian; accounts, in order: the source token account
(writable), the destination token account (writable), the source's owner or delegate
(signer). A delegate may move at most its delegated amount, which the transfer lowers.

Memo (program MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr, v2): data = the UTF-8 text;
every account passed must sign (none needed). The text is logged on chain, so a trade's
transaction can be found from its id (and its id from the transaction).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey
from solders.token.associated import get_associated_token_address

TOKEN_PROGRAM_ID = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
MEMO_PROGRAM_ID = Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")
ASSOCIATED_TOKEN_PROGRAM_ID = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")

TRANSFER = 3  # spl_token::instruction::TokenInstruction::Transfer
U64_MAX = 2**64 - 1
MEMO_PREFIX = "xorj:"
# The Memo program takes any valid UTF-8; what bounds a memo is the 1232-byte transaction
# and the compute its check costs. Ours stay far below this.
MAX_MEMO_BYTES = 256


def transfer(
    source: Pubkey,
    destination: Pubkey,
    authority: Pubkey,
    amount: int,
    mentions: Sequence[Pubkey] = (),
) -> Instruction:
    """SPL Token Transfer of `amount` base units from `source` to `destination` (token
    accounts of one mint), signed by `authority` (the source's owner or delegate).
    `mentions`: read-only accounts appended to the instruction (the token program reads
    extra accounts only when the authority is a multisig), so that the transaction is
    listed by getSignaturesForAddress of each of them (the vault itself)."""
    if not 0 <= amount <= U64_MAX:
        raise ValueError(f"amount {amount} is not a u64")
    return Instruction(
        TOKEN_PROGRAM_ID,
        struct.pack("<BQ", TRANSFER, amount),
        [
            AccountMeta(source, is_signer=False, is_writable=True),
            AccountMeta(destination, is_signer=False, is_writable=True),
            AccountMeta(authority, is_signer=True, is_writable=False),
            *(AccountMeta(m, is_signer=False, is_writable=False) for m in mentions),
        ],
    )


def memo(text: str, signers: Sequence[Pubkey] = ()) -> Instruction:
    """A Memo v2 instruction logging `text`; each of `signers` must sign the transaction."""
    data = text.encode("utf-8")
    if len(data) > MAX_MEMO_BYTES:
        raise ValueError(f"memo of {len(data)} bytes, more than {MAX_MEMO_BYTES}")
    return Instruction(
        MEMO_PROGRAM_ID,
        data,
        [AccountMeta(s, is_signer=True, is_writable=False) for s in signers],
    )


def associated_token_address(owner: Pubkey, mint: Pubkey) -> Pubkey:
    """The associated token account of `owner` for `mint` (SPL Token program)."""
    return get_associated_token_address(owner, mint)


def trade_memo(trade_id: str, client_order_id: str | None = None) -> str:
    """The memo of a trade's transaction: "xorj:<trade id>" or, with its idempotency key,
    "xorj:<trade id>:<client order id>" (about 95 bytes for a UUID and the bot's key)."""
    if not trade_id or ":" in trade_id:
        raise ValueError("a trade id must be non-empty and without ':'")
    text = MEMO_PREFIX + trade_id
    if client_order_id:
        text += ":" + client_order_id
    if len(text.encode("utf-8")) > MAX_MEMO_BYTES:
        raise ValueError(f"trade memo longer than {MAX_MEMO_BYTES} bytes")
    return text
