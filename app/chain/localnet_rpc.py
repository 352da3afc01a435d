"""The local validator's JSON-RPC methods (app.chain.localnet), in Solana's wire shapes.

Defaults as on a real node: commitment "finalized" where a method takes one (so
getTransaction and getSignaturesForAddress need {"commitment": "confirmed"} to see a
transaction before it is 32 slots old, and refuse "processed"), sendTransaction's encoding
base58, getTransaction's encoding json. Account reads (getBalance, getAccountInfo,
getTokenAccountBalance) show the newest state whatever the commitment; only their
context.slot follows it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from solders.hash import Hash
from solders.message import Message, MessageV0
from solders.transaction import VersionedTransaction

from app.base58 import encode as b58encode
from app.chain.localnet_ledger import COMMITMENTS, Ledger
from app.chain.localnet_setup import mint_decimals, parse_pubkey, token_account_of
from app.chain.localnet_wire import (
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    UNSUPPORTED_TRANSACTION_VERSION,
    RpcFault,
    b58decode,
    encode_transaction,
    invalid_params,
    meta_of,
    parsed_account,
    status_of,
    ui_amount,
)

SOLANA_CORE = "2.2.0"
PACKET_DATA_SIZE = 1232
MAX_SIGNATURE_STATUSES = 256
MAX_SIGNATURES_FOR_ADDRESS = 1000
ADMIN_METHODS = frozenset({"xorjSetFaults", "xorjAdvance", "xorjStats", "xorjFundVault"})
_BELOW_CONFIRMED = "Method does not support commitment below `confirmed`"


def _args(params: Any, least: int, most: int) -> list[Any]:
    if params is None:
        params = []
    if not isinstance(params, list) or not least <= len(params) <= most:
        want = f"{least}" if least == most else f"{least} to {most}"
        raise invalid_params(f"expected {want} parameters")
    return params + [None] * (most - len(params))


def _config(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_params("the configuration must be an object")
    return value


def _commitment(config: dict[str, Any], at_least_confirmed: bool = False) -> str:
    commitment = config.get("commitment") or "finalized"
    commitment = {"recent": "processed", "single": "confirmed", "max": "finalized"}.get(
        commitment, commitment
    )
    if commitment not in COMMITMENTS:
        raise invalid_params(f"unknown commitment {str(commitment)[:40]!r}")
    if at_least_confirmed and commitment == "processed":
        raise RpcFault(INVALID_PARAMS, _BELOW_CONFIRMED)
    return commitment


def _pubkey(value: Any) -> Any:
    try:
        return parse_pubkey(value)
    except ValueError:
        raise RpcFault(INVALID_PARAMS, "Invalid param: Invalid") from None


def _signature(value: Any) -> str:
    if not isinstance(value, str) or not 64 <= len(value) <= 88:
        raise RpcFault(INVALID_PARAMS, "Invalid param: Invalid")
    try:
        if len(b58decode(value)) != 64:
            raise ValueError
    except ValueError:
        raise RpcFault(INVALID_PARAMS, "Invalid param: Invalid") from None
    return value


def _int(value: Any, name: str, least: int = 0, most: int = 2**64 - 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not least <= value <= most:
        raise invalid_params(f"{name} must be an integer from {least} to {most}")
    return value


def _admin_config(params: Any) -> dict[str, Any]:
    """Admin methods take one object, bare or as the only element of the params list."""
    if isinstance(params, list):
        params = _args(params, 0, 1)[0]
    return _config(params)


LOCALNET_GENESIS = str(Hash.hash(b"xorj localnet genesis"))


class Methods:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.table: dict[str, Callable[[Any], Any]] = {
            "getHealth": lambda _: "ok",
            # Not a public cluster's: a bot with --venue live refuses this chain.
            "getGenesisHash": lambda _: LOCALNET_GENESIS,
            "getVersion": lambda _: {"solana-core": SOLANA_CORE, "feature-set": 0},
            "getSlot": self.get_slot,
            "getBlockHeight": self.get_block_height,
            "getLatestBlockhash": self.get_latest_blockhash,
            "isBlockhashValid": self.is_blockhash_valid,
            "getMinimumBalanceForRentExemption": self.get_rent_exemption,
            "sendTransaction": self.send_transaction,
            "getSignatureStatuses": self.get_signature_statuses,
            "getTransaction": self.get_transaction,
            "getSignaturesForAddress": self.get_signatures_for_address,
            "getBalance": self.get_balance,
            "requestAirdrop": self.request_airdrop,
            "getAccountInfo": self.get_account_info,
            "getTokenAccountBalance": self.get_token_account_balance,
            "xorjSetFaults": self.set_faults,
            "xorjAdvance": self.advance,
            "xorjStats": lambda _: self.ledger.stats_document(),
            "xorjFundVault": self.fund_vault,
        }

    def call(self, method: str, params: Any) -> Any:
        handler = self.table.get(method)
        if handler is None:
            raise RpcFault(METHOD_NOT_FOUND, "Method not found")
        return handler(params)

    def _context(self, commitment: str = "processed") -> dict[str, Any]:
        return {"slot": self.ledger.slot_at(commitment), "apiVersion": SOLANA_CORE}

    # -- the clock -------------------------------------------------------------------

    def get_slot(self, params: Any) -> int:
        commitment = _commitment(_config(_args(params, 0, 1)[0]))
        with self.ledger.lock:
            return self.ledger.slot_at(commitment)

    def get_block_height(self, params: Any) -> int:
        commitment = _commitment(_config(_args(params, 0, 1)[0]))
        with self.ledger.lock:
            return self.ledger.height_at(commitment)

    def get_latest_blockhash(self, params: Any) -> dict[str, Any]:
        commitment = _commitment(_config(_args(params, 0, 1)[0]))
        with self.ledger.lock:
            blockhash, last_valid = self.ledger.blockhash_at(commitment)
            return {
                "context": self._context(commitment),
                "value": {"blockhash": blockhash, "lastValidBlockHeight": last_valid},
            }

    def is_blockhash_valid(self, params: Any) -> dict[str, Any]:
        blockhash, config = _args(params, 1, 2)
        commitment = _commitment(_config(config))
        if not isinstance(blockhash, str):
            raise invalid_params("the blockhash must be a base58 string")
        with self.ledger.lock:
            last_valid = self.ledger.valid.get(blockhash)
            valid = last_valid is not None and last_valid >= self.ledger.height
            return {"context": self._context(commitment), "value": valid}

    def get_rent_exemption(self, params: Any) -> int:
        size = _int(_args(params, 1, 2)[0], "the data length", 0, 10 * 2**20)
        with self.ledger.lock:
            return self.ledger.svm.minimum_balance_for_rent_exemption(size)

    # -- transactions ----------------------------------------------------------------

    def send_transaction(self, params: Any) -> str:
        data, config = _args(params, 1, 2)
        config = _config(config)
        encoding = config.get("encoding") or "base58"
        if encoding not in ("base58", "base64"):
            raise invalid_params(
                f"unsupported encoding: {str(encoding)[:20]}. Supported encodings: base58, base64"
            )
        if not isinstance(data, str):
            raise invalid_params("the transaction must be a string")
        skip = config.get("skipPreflight", False)
        if not isinstance(skip, bool):
            raise invalid_params("skipPreflight must be a boolean")
        _commitment({"commitment": config.get("preflightCommitment")})
        if config.get("maxRetries") is not None:
            _int(config["maxRetries"], "maxRetries", 0, 2**32 - 1)
        try:
            raw = b58decode(data) if encoding == "base58" else base64.b64decode(data, validate=True)
        except ValueError as exc:
            raise RpcFault(INVALID_PARAMS, f"invalid {encoding} encoding: {exc}") from None
        if len(raw) > PACKET_DATA_SIZE:
            raise RpcFault(
                INVALID_PARAMS,
                f"{encoding} encoded solana_transaction::versioned::"
                f"VersionedTransaction too large: {len(raw)} bytes (max: "
                f"{PACKET_DATA_SIZE} bytes)",
            )
        try:
            tx = VersionedTransaction.from_bytes(raw)
            tx.sanitize()
        except Exception as exc:  # solders raises its own error classes here
            raise RpcFault(
                INVALID_PARAMS,
                "failed to deserialize solana_transaction::"
                f"versioned::VersionedTransaction: {type(exc).__name__}",
            ) from None
        if not isinstance(tx.message, Message | MessageV0) or not tx.signatures:
            raise RpcFault(INVALID_PARAMS, "invalid transaction: unsupported version")
        return self.ledger.send(tx, skip_preflight=skip)

    def get_signature_statuses(self, params: Any) -> dict[str, Any]:
        signatures, config = _args(params, 1, 2)
        search = bool(_config(config).get("searchTransactionHistory", False))
        if not isinstance(signatures, list):
            raise invalid_params("expected a list of signatures")
        if len(signatures) > MAX_SIGNATURE_STATUSES:
            raise invalid_params(f"Too many inputs provided; max {MAX_SIGNATURE_STATUSES}")
        signatures = [_signature(s) for s in signatures]
        with self.ledger.lock:
            value = []
            for signature in signatures:
                landed = self.ledger.find(signature, search_history=search)
                if landed is None:
                    value.append(None)
                    continue
                status = self.ledger.status(landed)
                value.append(
                    {
                        "slot": landed.slot,
                        "confirmations": (
                            None if status == "finalized" else self.ledger.slot - landed.slot
                        ),
                        "err": landed.err,
                        "status": status_of(landed),
                        "confirmationStatus": status,
                    }
                )
            return {"context": self._context(), "value": value}

    def get_transaction(self, params: Any) -> dict[str, Any] | None:
        signature, config = _args(params, 1, 2)
        signature = _signature(signature)
        config = {"encoding": config} if isinstance(config, str) else _config(config)
        encoding = config.get("encoding") or "json"
        if encoding not in ("json", "jsonParsed", "base64", "base58"):
            raise invalid_params(f"unsupported encoding: {str(encoding)[:20]}")
        commitment = _commitment(config, at_least_confirmed=True)
        max_version = config.get("maxSupportedTransactionVersion")
        if max_version is not None and max_version != 0:
            raise invalid_params("maxSupportedTransactionVersion must be 0")
        with self.ledger.lock:
            landed = self.ledger.find(signature)
            if landed is None or not self.ledger.reached(landed, commitment):
                return None
        version: int | str = 0 if isinstance(landed.tx.message, MessageV0) else "legacy"
        if version == 0 and max_version is None:
            raise RpcFault(
                UNSUPPORTED_TRANSACTION_VERSION,
                "Transaction version (0) is not supported by the requesting client. Please "
                "try the request again with the following configuration parameter: "
                '"maxSupportedTransactionVersion": 0',
            )
        result = {
            "slot": landed.slot,
            "blockTime": landed.block_time,
            "transaction": encode_transaction(landed.tx, encoding),
            "meta": meta_of(landed),
        }
        if max_version is not None:
            result["version"] = version
        return result

    def get_signatures_for_address(self, params: Any) -> list[dict[str, Any]]:
        address, config = _args(params, 1, 2)
        address = str(_pubkey(address))
        config = _config(config)
        commitment = _commitment(config, at_least_confirmed=True)
        limit = config.get("limit")
        limit = MAX_SIGNATURES_FOR_ADDRESS if limit is None else limit
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1000:
            raise invalid_params(f"Invalid limit; max {MAX_SIGNATURES_FOR_ADDRESS}")
        before, until = config.get("before"), config.get("until")
        before = None if before is None else _signature(before)
        until = None if until is None else _signature(until)
        with self.ledger.lock:
            found = []
            started = before is None
            for signature in reversed(self.ledger.by_address.get(address, [])):
                if not started:
                    started = signature == before
                    continue
                if signature == until or len(found) == limit:
                    break
                landed = self.ledger.index[signature]
                if self.ledger.reached(landed, commitment):
                    found.append(
                        {
                            "signature": signature,
                            "slot": landed.slot,
                            "err": landed.err,
                            "memo": landed.memo,
                            "blockTime": landed.block_time,
                            "confirmationStatus": self.ledger.status(landed),
                        }
                    )
            return found

    # -- accounts --------------------------------------------------------------------

    def get_balance(self, params: Any) -> dict[str, Any]:
        address, config = _args(params, 1, 2)
        commitment = _commitment(_config(config))
        pubkey = _pubkey(address)
        with self.ledger.lock:
            value = self.ledger.svm.get_balance(pubkey) or 0
            return {"context": self._context(commitment), "value": value}

    def request_airdrop(self, params: Any) -> str:
        address, lamports, _ = _args(params, 2, 3)
        return self.ledger.airdrop(_pubkey(address), _int(lamports, "lamports", 1, 10**16))

    def get_account_info(self, params: Any) -> dict[str, Any]:
        address, config = _args(params, 1, 2)
        config = _config(config)
        commitment = _commitment(config)
        encoding = config.get("encoding") or "binary"
        if encoding not in ("binary", "base58", "base64", "jsonParsed"):
            raise invalid_params(f"unsupported encoding: {str(encoding)[:20]}")
        pubkey = _pubkey(address)
        with self.ledger.lock:
            account = self.ledger.svm.get_account(pubkey)
            decimals = None
            state = token_account_of(account)
            if state is not None:
                decimals = mint_decimals(self.ledger.svm, state.mint)
            context = self._context(commitment)
        if account is None or (account.lamports == 0 and not account.data):
            return {"context": context, "value": None}
        data = bytes(account.data)
        slice_ = config.get("dataSlice")
        if slice_ is not None:
            slice_ = _config(slice_)
            offset = _int(slice_.get("offset"), "dataSlice.offset", 0, 2**32)
            data = data[offset : offset + _int(slice_.get("length"), "dataSlice.length", 0, 2**32)]
        if encoding == "jsonParsed":
            encoded: Any = parsed_account(account, decimals) or [
                base64.b64encode(data).decode(),
                "base64",
            ]
        elif encoding == "base64":
            encoded = [base64.b64encode(data).decode(), "base64"]
        elif len(data) > 128:
            raise RpcFault(
                INVALID_PARAMS,
                "Encoded binary (base 58) data should be less than "
                "128 bytes, please use Base64 encoding.",
            )
        else:
            encoded = b58encode(data) if encoding == "binary" else [b58encode(data), "base58"]
        value = {
            "data": encoded,
            "executable": account.executable,
            "lamports": account.lamports,
            "owner": str(account.owner),
            "rentEpoch": account.rent_epoch,
            "space": len(account.data),
        }
        return {"context": context, "value": value}

    def get_token_account_balance(self, params: Any) -> dict[str, Any]:
        address, config = _args(params, 1, 2)
        commitment = _commitment(_config(config))
        pubkey = _pubkey(address)
        with self.ledger.lock:
            account = self.ledger.svm.get_account(pubkey)
            if account is None:
                raise RpcFault(INVALID_PARAMS, "Invalid param: could not find account")
            state = token_account_of(account)
            decimals = None if state is None else mint_decimals(self.ledger.svm, state.mint)
            if state is None or decimals is None:
                raise RpcFault(INVALID_PARAMS, "Invalid param: not a Token account")
            return {
                "context": self._context(commitment),
                "value": ui_amount(state.amount, decimals),
            }

    # -- admin -----------------------------------------------------------------------

    def set_faults(self, params: Any) -> dict[str, Any]:
        config = _admin_config(params)
        self.ledger.set_faults(config.get("drop_rate"), config.get("unavailable_seconds"))
        return self.ledger.stats_document()

    def advance(self, params: Any) -> dict[str, Any]:
        config = _admin_config(params)
        self.ledger.advance(_int(config.get("slots", 1), "slots", 0, 10_000))
        return self.ledger.stats_document()

    def fund_vault(self, params: Any) -> dict[str, Any]:
        config = _admin_config(params)
        return self.ledger.fund_vault(config.get("vault"), config.get("usdc", 0))
