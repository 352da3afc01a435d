"""The local validator's wire shapes (app.chain.localnet): JSON-RPC errors as a Solana node
writes them, transaction errors, token amounts, memos, and the encodings of a landed
transaction for getTransaction.

Transaction errors are written as the RPC does ("BlockhashNotFound",
{"InstructionError": [0, {"Custom": 1}]}), and a preflight failure is the node's
-32002 "Transaction simulation failed: <the error's text>" with data {err, logs,
accounts, unitsConsumed, returnData, innerInstructions, replacementBlockhash}.
Memos are what getSignaturesForAddress gives: each top-level Memo (v1 or v3) instruction
as "[<length in bytes>] <text>" ("(unparseable)" when not UTF-8), joined with "; ".
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from solders.account import Account
from solders.message import Message, MessageV0
from solders.token.state import Mint
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import TransactionMetadata
from solders.transaction_status import TransactionStatus

from app.base58 import ALPHABET
from app.base58 import encode as b58encode
from app.chain.localnet_setup import MINT_LEN, TOKEN_PROGRAMS, token_account_of

MEMO_PROGRAMS = (
    "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr",
    "Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo",
)

# JSON-RPC error codes of Solana nodes
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
PARSE_ERROR = -32700
PREFLIGHT_FAILURE = -32002
SIGNATURE_VERIFICATION_FAILURE = -32003
UNSUPPORTED_TRANSACTION_VERSION = -32015

_INSTRUCTION_ERRORS = {
    "InsufficientFunds": "insufficient funds for instruction",
    "InvalidAccountData": "invalid account data for instruction",
    "InvalidArgument": "invalid program argument",
    "InvalidInstructionData": "invalid instruction data",
    "MissingRequiredSignature": "missing required signature for instruction",
    "IncorrectProgramId": "incorrect program id for instruction",
    "UninitializedAccount": "instruction requires an initialized account",
}
_TRANSACTION_ERRORS = {
    "BlockhashNotFound": "Blockhash not found",
    "AlreadyProcessed": "This transaction has already been processed",
    "AccountNotFound": "Attempt to debit an account but found no record of a prior credit.",
    "InsufficientFundsForFee": "Insufficient funds for fee",
    "SignatureFailure": "Transaction did not pass signature verification",
}


class RpcFault(Exception):
    """A JSON-RPC error object to answer."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def error(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def invalid_params(message: str) -> RpcFault:
    return RpcFault(INVALID_PARAMS, f"Invalid params: {message}")


def err_json(err: Any) -> Any:
    """A TransactionErrorType as the RPC writes it: "BlockhashNotFound",
    {"InstructionError": [0, {"Custom": 1}]}, ..."""
    return json.loads(TransactionStatus(0, None, None, err, None).to_json())["err"]


def err_text(err: Any) -> str:
    """The node's Display text of an RPC error (after "Transaction simulation failed: ")."""
    if isinstance(err, str):
        return _TRANSACTION_ERRORS.get(err, err)
    if isinstance(err, dict) and "InstructionError" in err:
        index, inner = err["InstructionError"]
        if isinstance(inner, dict) and "Custom" in inner:
            text = f"custom program error: {inner['Custom']:#x}"
        else:
            text = _INSTRUCTION_ERRORS.get(inner, str(inner)) if isinstance(inner, str) else ""
            text = text or json.dumps(inner, separators=(",", ":"))
        return f"Error processing Instruction {index}: {text}"
    return json.dumps(err, separators=(",", ":"))


def preflight_failure(err: Any, logs: list[str] | None = None, units: int = 0) -> RpcFault:
    return RpcFault(
        PREFLIGHT_FAILURE,
        f"Transaction simulation failed: {err_text(err)}",
        {
            "err": err,
            "logs": logs or [],
            "accounts": None,
            "unitsConsumed": units,
            "returnData": None,
            "innerInstructions": None,
            "replacementBlockhash": None,
        },
    )


def ui_amount(amount: int, decimals: int) -> dict[str, Any]:
    digits = str(amount).rjust(decimals + 1, "0")
    whole, frac = (digits[:-decimals], digits[-decimals:].rstrip("0")) if decimals else (digits, "")
    return {
        "amount": str(amount),
        "decimals": decimals,
        "uiAmount": amount / 10**decimals,
        "uiAmountString": f"{whole}.{frac}" if frac else whole,
    }


def memo_of(message: Message | MessageV0) -> str | None:
    """The memos of the top-level Memo instructions as real nodes give them:
    "[<length in bytes>] <text>", joined with "; "."""
    keys = [str(k) for k in message.account_keys]
    memos = []
    for ix in message.instructions:
        if ix.program_id_index < len(keys) and keys[ix.program_id_index] in MEMO_PROGRAMS:
            data = bytes(ix.data)
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = "(unparseable)"
            memos.append(f"[{len(data)}] {text}")
    return "; ".join(memos) if memos else None


@dataclass(frozen=True)
class Landed:
    """A transaction in a block, succeeded (err None) or failed."""

    signature: str
    slot: int
    block_time: int
    tx: VersionedTransaction
    err: Any
    fee: int
    logs: list[str]
    units: int
    inner: list[dict[str, Any]]
    pre_balances: list[int]
    post_balances: list[int]
    pre_tokens: list[dict[str, Any]]
    post_tokens: list[dict[str, Any]]
    memo: str | None


def inner_instructions(meta: TransactionMetadata) -> list[dict[str, Any]]:
    found = []
    for index, group in enumerate(meta.inner_instructions()):
        if group:
            found.append(
                {
                    "index": index,
                    "instructions": [
                        {
                            "programIdIndex": ix.program_id_index,
                            "accounts": list(bytes(ix.accounts)),
                            "data": b58encode(bytes(ix.data)),
                            "stackHeight": inner.stack_height(),
                        }
                        for inner in group
                        for ix in (inner.instruction(),)
                    ],
                }
            )
    return found


def b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        digit = ALPHABET.find(char)
        if digit < 0:
            raise ValueError("invalid base58 character")
        number = number * 58 + digit
    zeros = len(text) - len(text.lstrip("1"))
    return b"\0" * zeros + number.to_bytes((number.bit_length() + 7) // 8, "big")


def status_of(landed: Landed) -> dict[str, Any]:
    return {"Ok": None} if landed.err is None else {"Err": landed.err}


def meta_of(landed: Landed) -> dict[str, Any]:
    return {
        "err": landed.err,
        "status": status_of(landed),
        "fee": landed.fee,
        "preBalances": landed.pre_balances,
        "postBalances": landed.post_balances,
        "innerInstructions": landed.inner,
        "logMessages": landed.logs,
        "preTokenBalances": landed.pre_tokens,
        "postTokenBalances": landed.post_tokens,
        "rewards": [],
        "loadedAddresses": {"writable": [], "readonly": []},
        "computeUnitsConsumed": landed.units,
    }


def encode_transaction(tx: VersionedTransaction, encoding: str) -> Any:
    if encoding == "base64":
        return [base64.b64encode(bytes(tx)).decode(), "base64"]
    if encoding == "base58":
        return [b58encode(bytes(tx)), "base58"]
    message = tx.message
    parsed = encoding == "jsonParsed"
    keys = [str(k) for k in message.account_keys]
    header = message.header
    out: dict[str, Any] = {}
    if parsed:
        out["accountKeys"] = [
            {
                "pubkey": key,
                "signer": i < header.num_required_signatures,
                "source": "transaction",
                "writable": _writable(i, header, len(keys)),
            }
            for i, key in enumerate(keys)
        ]
    else:
        out["accountKeys"] = keys
        out["header"] = {
            "numReadonlySignedAccounts": header.num_readonly_signed_accounts,
            "numReadonlyUnsignedAccounts": header.num_readonly_unsigned_accounts,
            "numRequiredSignatures": header.num_required_signatures,
        }
    out["recentBlockhash"] = str(message.recent_blockhash)
    out["instructions"] = [_instruction(ix, keys, parsed) for ix in message.instructions]
    if isinstance(message, MessageV0):
        out["addressTableLookups"] = [
            {
                "accountKey": str(lookup.account_key),
                "writableIndexes": list(bytes(lookup.writable_indexes)),
                "readonlyIndexes": list(bytes(lookup.readonly_indexes)),
            }
            for lookup in message.address_table_lookups
        ]
    return {"signatures": [str(s) for s in tx.signatures], "message": out}


def _instruction(ix: Any, keys: list[str], parsed: bool) -> dict[str, Any]:
    accounts, data = list(bytes(ix.accounts)), bytes(ix.data)
    if not parsed:
        return {
            "accounts": accounts,
            "data": b58encode(data),
            "programIdIndex": ix.program_id_index,
            "stackHeight": None,
        }
    program = keys[ix.program_id_index]
    if program in MEMO_PROGRAMS:
        text = data.decode("utf-8", "replace")
        return {"parsed": text, "program": "spl-memo", "programId": program, "stackHeight": None}
    return {
        "accounts": [keys[a] for a in accounts if a < len(keys)],
        "data": b58encode(data),
        "programId": program,
        "stackHeight": None,
    }


def _writable(index: int, header: Any, count: int) -> bool:
    signed = header.num_required_signatures
    if index < signed:
        return index < signed - header.num_readonly_signed_accounts
    return index < count - header.num_readonly_unsigned_accounts


def parsed_account(account: Account, decimals: int | None) -> dict[str, Any] | None:
    """jsonParsed for token accounts and mints, as the node's spl-token parser gives them;
    None for any other account (answered in base64, as a node does)."""
    state = token_account_of(account)
    space = len(account.data)
    if state is not None and decimals is not None:
        info = {
            "isNative": state.is_native is not None,
            "mint": str(state.mint),
            "owner": str(state.owner),
            "state": "frozen" if str(state.state).endswith("Frozen") else "initialized",
            "tokenAmount": ui_amount(state.amount, decimals),
        }
        if state.delegate is not None:
            info["delegate"] = str(state.delegate)
            info["delegatedAmount"] = ui_amount(state.delegated_amount, decimals)
        parsed = {"info": info, "type": "account"}
    elif state is None and space == MINT_LEN and account.owner in TOKEN_PROGRAMS:
        try:
            mint = Mint.from_bytes(bytes(account.data))
        except ValueError:
            return None
        authority = mint.mint_authority
        freeze = mint.freeze_authority
        parsed = {
            "info": {
                "decimals": mint.decimals,
                "freezeAuthority": None if freeze is None else str(freeze),
                "isInitialized": mint.is_initialized,
                "mintAuthority": None if authority is None else str(authority),
                "supply": str(mint.supply),
            },
            "type": "mint",
        }
    else:
        return None
    return {"parsed": parsed, "program": "spl-token", "space": space}
