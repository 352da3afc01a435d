"""base.Chain over Solana's JSON-RPC 2.0 (HTTP POST, one request per call, httpx sync client).

Methods used, with the wire shapes of Solana's RPC documentation:

    getLatestBlockhash   [{"commitment": c}]  -> {"context": {...}, "value":
                         {"blockhash": str, "lastValidBlockHeight": int}}
    getBlockHeight       [{"commitment": c}]  -> int
    getSignatureStatuses [[sig, ...], {"searchTransactionHistory": true}]  -> {"context":
                         {...}, "value": [null | {"slot", "confirmations", "err",
                         "confirmationStatus", ...}, ...]}   (at most 256 signatures a call)
    sendTransaction      [raw_base64, {"encoding": "base64", "skipPreflight": skip_preflight,
                         "preflightCommitment": c, "maxRetries": 0}]  -> the signature
    getTransaction       [sig, {"encoding": "base64", "commitment": "confirmed" (or
                         "finalized" when c is), "maxSupportedTransactionVersion": 0}]
                         -> null | {"slot", "blockTime", "version", "transaction":
                         [b64, "base64"], "meta": {"err", "fee", "preTokenBalances",
                         "postTokenBalances", ...}}; a token balance is {"accountIndex",
                         "mint", "owner", "programId", "uiTokenAmount": {"amount": "<u64
                         digits>", "decimals", ...}}

Errors, so that "not found" and "could not ask" are never confused:

    * the node answers with a JSON-RPC error object -> ChainError(message, code), not
      retried (the node answered). NodeUnhealthy (-32005) is raised as ChainUnavailable (a
      subclass of ChainError, same message and code): the node is behind, ask again later.
    * transport errors (connection refused, timeouts, resets), HTTP 5xx and 429 -> retried
      `retries` times with exponential backoff (backoff, 2*backoff, 4*backoff, ...), then
      ChainUnavailable. sendTransaction alone is never retried: it is tried once, and any
      error of it means "ask the status" to the bot (the transaction may have gone out),
      so the bot's "broadcast once" holds at this level too.
    * any other non-2xx HTTP status without a JSON-RPC error body, or a malformed answer
      (not JSON, not a JSON-RPC response, wrong id, missing or ill-shaped result) ->
      ChainUnavailable at once (not retried: the caller asks again later).

A transaction whose status is only "processed" is reported found but neither confirmed nor
failed (err=None), even if its err is set: a processed block may still be skipped and the
transaction land elsewhere, so only a confirmed/finalized verdict is final.
getSignatureStatuses does not report what a swap delivered: its SignatureStatus.amount_out
and .fee stay None. get_delivery(signature, owner, mint) reads them from the landed
transaction (getTransaction): fee = meta.fee, amount_out = the sum over
meta.postTokenBalances of owner's entries for mint, less the same sum over
meta.preTokenBalances (a token account created by the transaction has no pre entry: 0; no
matching entry at all: 0). A null result is found=False (not landed, or not yet indexed by
the node); meta.err set is found, not confirmed, with the err; a transaction without meta,
or without (or with ill-shaped) token balance lists, is ChainUnavailable (ask again), never
an amount made up. The bot asks it for each trade confirmed without an amount
(app/workers/bot/monitor.py), with the trade's vault and to_token.

Secrets: an RPC URL often carries an API key (in its path, query or user info). Every
message this module raises names the endpoint as scheme://host[:port] only, and the
texts of transport errors and of response bodies are scrubbed of the rest of the URL.

Note on re-broadcasting with preflight on: a node answers sendTransaction for a transaction
that has already landed with a -32002 preflight error ("... already been processed"); the
bot must treat a ChainError from send as "ask the status", never as "failed".

skip_preflight=True sends without the node's simulation: a transaction that would fail
still lands, failed, with its error and fee on chain (what a bot on mainnet does, so a
failure is recorded from the chain rather than from a preflight answer); with preflight
on, a failing transaction is refused by sendTransaction (a ChainError) and never lands.

Signing: app.chain.signer.KeypairSigner signs real v0 transactions with the vault
authority's keypair (app.chain.keys) and a swap builder (app.chain.swap: MakerSwap, a
two-party SPL token exchange; an aggregator's builder plugs in there).
app.chain.sim.SimulatedSigner's transactions only app.chain.sim.SimulatedChain understands.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any, TypeGuard

import httpx

from app.chain.base import (
    Blockhash,
    ChainError,
    ChainUnavailable,
    FoundTransaction,
    SignatureStatus,
    SignedTransaction,
    TradeSearch,
    memo_names_trade,
)

MAX_SIGNATURES_PER_CALL = 256  # Solana's limit for getSignatureStatuses
NODE_UNHEALTHY = -32005
_FINAL_STATUSES = ("confirmed", "finalized")
# find_trade: getSignaturesForAddress pages (1000 is the RPC's limit), how many at most,
# and the clock skew allowed between the database's time and the chain's blockTime.
SEARCH_PAGE = 1000
SEARCH_PAGES = 20
SINCE_MARGIN = 120
_MAX_BACKOFF = 10.0


def compact_err(err: Any) -> str:
    """A transaction error (a string like "BlockhashNotFound" or an object like
    {"InstructionError": [0, {"Custom": 1}]}) as a short, stable string."""
    if isinstance(err, str):
        return err
    return json.dumps(err, separators=(",", ":"), sort_keys=True)


class SolanaRpcChain:
    """A Chain talking to one Solana JSON-RPC endpoint. Thread-safe; close() when done."""

    def __init__(
        self,
        url: str,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.2,
        commitment: str = "confirmed",
        skip_preflight: bool = False,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self.url = url
        self.endpoint = safe_endpoint(url)
        self._secrets = _url_secrets(url)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.commitment = commitment
        self.skip_preflight = skip_preflight
        self._ids: Iterator[int] = itertools.count(1)
        self._ids_lock = threading.Lock()
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )

    # -- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SolanaRpcChain:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- Chain -----------------------------------------------------------------------

    def get_latest_blockhash(self) -> Blockhash:
        result = self._call("getLatestBlockhash", [{"commitment": self.commitment}])
        value = _value(result, "getLatestBlockhash")
        if not isinstance(value, dict):
            raise ChainUnavailable("malformed getLatestBlockhash result: value is not an object")
        blockhash = value.get("blockhash")
        lvbh = value.get("lastValidBlockHeight")
        if not isinstance(blockhash, str) or not blockhash or not _is_int(lvbh):
            raise ChainUnavailable(f"malformed getLatestBlockhash result: {value!r:.200}")
        return Blockhash(value=blockhash, last_valid_block_height=lvbh)

    def get_genesis_hash(self) -> str:
        """Which chain the endpoint serves (getGenesisHash): see base.GENESIS."""
        result = self._call("getGenesisHash", [])
        if not isinstance(result, str) or not 32 <= len(result) <= 44:
            raise ChainUnavailable(f"malformed getGenesisHash result: {result!r:.100}")
        return result

    def get_block_height(self) -> int:
        result = self._call("getBlockHeight", [{"commitment": self.commitment}])
        if not _is_int(result):
            raise ChainUnavailable(f"malformed getBlockHeight result: {result!r:.200}")
        return result

    def get_signature_statuses(self, signatures: list[str]) -> dict[str, SignatureStatus]:
        statuses: dict[str, SignatureStatus] = {}
        for start in range(0, len(signatures), MAX_SIGNATURES_PER_CALL):
            chunk = signatures[start : start + MAX_SIGNATURES_PER_CALL]
            result = self._call("getSignatureStatuses", [chunk, {"searchTransactionHistory": True}])
            value = _value(result, "getSignatureStatuses")
            if not isinstance(value, list) or len(value) != len(chunk):
                raise ChainUnavailable(
                    "malformed getSignatureStatuses result: value is not a list of "
                    f"{len(chunk)} entries"
                )
            for signature, entry in zip(chunk, value, strict=True):
                statuses[signature] = _status(entry)
        return statuses

    def send_transaction(self, tx: SignedTransaction) -> str:
        result = self._call(
            "sendTransaction",
            [
                tx.raw,
                {
                    "encoding": "base64",
                    "skipPreflight": self.skip_preflight,
                    "preflightCommitment": self.commitment,
                    "maxRetries": 0,
                },
            ],
            retries=0,  # a send error means "ask the status", never "send again"
        )
        if not isinstance(result, str) or not result:
            raise ChainUnavailable(f"malformed sendTransaction result: {result!r:.200}")
        if result != tx.signature:
            raise ChainError(
                f"sendTransaction returned signature {result}, expected {tx.signature}"
            )
        return result

    def get_delivery(self, signature: str, owner: str, mint: str) -> SignatureStatus:
        commitment = self.commitment if self.commitment in _FINAL_STATUSES else "confirmed"
        result = self._call(
            "getTransaction",
            [
                signature,
                {
                    "encoding": "base64",
                    "commitment": commitment,
                    "maxSupportedTransactionVersion": 0,
                },
            ],
        )
        if result is None:
            return SignatureStatus(found=False)
        if not isinstance(result, dict):
            raise ChainUnavailable(f"malformed getTransaction result: {result!r:.200}")
        slot = result.get("slot")
        slot = slot if _is_int(slot) else None
        meta = result.get("meta")
        if not isinstance(meta, dict):
            raise ChainUnavailable(f"getTransaction {signature}: no status metadata (meta)")
        fee = meta.get("fee")
        if not _is_int(fee) or fee < 0:
            raise ChainUnavailable(f"malformed getTransaction meta.fee: {fee!r:.100}")
        err = meta.get("err")
        if err is not None:
            return SignatureStatus(
                found=True, confirmed=False, err=compact_err(err), slot=slot, fee=fee
            )
        after = _token_balance(meta, "postTokenBalances", owner, mint)
        # No account of the owner in the mint after the transaction: the output went
        # elsewhere (or the node did not say whose it is). Unknown, never "0 delivered".
        delivered = (
            None
            if after is None
            else after - (_token_balance(meta, "preTokenBalances", owner, mint) or 0)
        )
        return SignatureStatus(
            found=True, confirmed=True, err=None, slot=slot, amount_out=delivered, fee=fee
        )

    def find_trade(self, vault: str, trade_id: str, since: float) -> TradeSearch:
        """getSignaturesForAddress(vault) at confirmed or finalized, page by page (newest
        first), until a transaction older than `since` (less SINCE_MARGIN seconds of clock
        skew) or the end of the vault's history; at most SEARCH_PAGES pages. A page whose
        entries have no blockTime is read through (only the end of the history or the
        page limit stops the search)."""
        commitment = self.commitment if self.commitment in _FINAL_STATUSES else "confirmed"
        found: list[FoundTransaction] = []
        scanned = 0
        before: str | None = None
        for _ in range(SEARCH_PAGES):
            config: dict[str, Any] = {"limit": SEARCH_PAGE, "commitment": commitment}
            if before is not None:
                config["before"] = before
            page = self._call("getSignaturesForAddress", [vault, config])
            if not isinstance(page, list):
                raise ChainUnavailable(f"malformed getSignaturesForAddress result: {page!r:.200}")
            older = False
            for entry in page:
                signature = entry.get("signature") if isinstance(entry, dict) else None
                if not isinstance(signature, str) or not signature:
                    raise ChainUnavailable(
                        f"malformed getSignaturesForAddress entry: {entry!r:.200}"
                    )
                scanned += 1
                if memo_names_trade(entry.get("memo"), trade_id):
                    slot = entry.get("slot")
                    err = entry.get("err")
                    found.append(
                        FoundTransaction(
                            signature=signature,
                            slot=slot if _is_int(slot) else None,
                            err=None if err is None else compact_err(err),
                        )
                    )
                block_time = entry.get("blockTime")
                if _is_int(block_time) and block_time < since - SINCE_MARGIN:
                    older = True
            if older or len(page) < SEARCH_PAGE:
                return TradeSearch(found=tuple(found), scanned=scanned, complete=True)
            before = page[-1]["signature"]
        return TradeSearch(found=tuple(found), scanned=scanned, complete=False)

    # -- transport -------------------------------------------------------------------

    def _next_id(self) -> int:
        with self._ids_lock:
            return next(self._ids)

    def scrub(self, text: str) -> str:
        """`text` without the parts of the URL beyond scheme://host[:port]: the whole URL
        becomes that, its path, query or user info alone becomes ***."""
        for secret in self._secrets:
            text = text.replace(secret, self.endpoint if "://" in secret else "***")
        return text

    def _call(self, method: str, params: list[Any], retries: int | None = None) -> Any:
        """One JSON-RPC call, retried on transport errors, 5xx and 429 (`retries` times,
        default self.retries)."""
        retries = self.retries if retries is None else retries
        last: str = ""
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(min(self.backoff * 2 ** (attempt - 1), _MAX_BACKOFF))
            request_id = self._next_id()
            body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
            try:
                response = self._client.post(self.url, content=json.dumps(body))
            except httpx.RequestError as exc:  # connect, timeouts, read/write, protocol
                last = self.scrub(f"{type(exc).__name__}: {exc}")
                continue
            if response.status_code == 429 or response.status_code >= 500:
                last = f"HTTP {response.status_code}"
                continue
            try:
                return _parse(method, request_id, response)
            except ChainError as exc:  # a body may echo the URL: scrub, keep the class
                scrubbed = self.scrub(str(exc))
                if scrubbed == str(exc):
                    raise
                raise type(exc)(scrubbed, exc.code) from None
        tries = "1 try" if retries == 0 else f"{retries + 1} tries"
        raise ChainUnavailable(f"{method}: {self.endpoint} unavailable after {tries}: {last}")


def safe_endpoint(url: str) -> str:
    """scheme://host[:port] of a URL: what a message may show of it."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return "<invalid url>"
    host = parsed.host
    if ":" in host:  # IPv6
        host = f"[{host}]"
    port = f":{parsed.port}" if parsed.port is not None else ""
    return f"{parsed.scheme}://{host}{port}"


def _url_secrets(url: str) -> list[str]:
    """The texts that may reveal what safe_endpoint leaves out, longest first: the URL as
    given and as httpx normalizes it, its path, query and user info, and each path segment
    and query value of 6 characters or more."""
    found = {url}
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return [url]
    found.add(str(parsed))
    raw_path = parsed.raw_path.decode("ascii", "replace")
    if raw_path not in ("", "/"):
        found.add(raw_path)
        found.add(parsed.path)
    query = parsed.query.decode("ascii", "replace")
    if query:
        found.add(query)
    if parsed.userinfo:
        found.add(parsed.userinfo.decode("ascii", "replace"))
    if parsed.password:
        found.add(parsed.password)
    # Each path segment and query value of some length alone (a key echoed bare).
    parts = [*parsed.path.split("/"), *(v for _, v in parsed.params.multi_items())]
    found.update(p for p in parts if len(p) >= 6)
    return sorted((s for s in found if len(s) > 1 and s != "/"), key=len, reverse=True)


def _parse(method: str, request_id: int, response: httpx.Response) -> Any:
    try:
        payload = response.json()
    except ValueError:
        payload = None
    ok = 200 <= response.status_code < 300
    if not isinstance(payload, dict):
        what = "not a JSON object" if ok else f"HTTP {response.status_code}"
        raise ChainUnavailable(f"{method}: malformed response ({what}): {response.text!r:.200}")
    error = payload.get("error")
    if error is not None:
        # A parse/invalid-request error may come back with id null.
        if payload.get("id") not in (request_id, None):
            raise ChainUnavailable(f"{method}: response id {payload.get('id')!r} != {request_id}")
        raise _rpc_error(method, error)
    if not ok:
        raise ChainUnavailable(f"{method}: HTTP {response.status_code}: {response.text!r:.200}")
    if payload.get("id") != request_id:
        raise ChainUnavailable(f"{method}: response id {payload.get('id')!r} != {request_id}")
    if payload.get("jsonrpc") != "2.0" or "result" not in payload:
        raise ChainUnavailable(f"{method}: malformed JSON-RPC response: {payload!r:.200}")
    return payload["result"]


def _rpc_error(method: str, error: Any) -> ChainError:
    if not isinstance(error, dict):
        return ChainUnavailable(f"{method}: malformed JSON-RPC error: {error!r:.200}")
    code = error.get("code")
    code = code if _is_int(code) else None
    message = str(error.get("message") or "JSON-RPC error")
    data = error.get("data")
    if isinstance(data, dict) and data.get("err") is not None:
        err = compact_err(data["err"])
        if err not in message:
            message = f"{message} (err: {err})"
    message = f"{method}: {message}"
    if code == NODE_UNHEALTHY:
        return ChainUnavailable(message, code)
    return ChainError(message, code)


def _value(result: Any, method: str) -> Any:
    if not isinstance(result, dict) or "value" not in result:
        raise ChainUnavailable(f"malformed {method} result: {result!r:.200}")
    return result["value"]


def _status(entry: Any) -> SignatureStatus:
    if entry is None:
        return SignatureStatus(found=False)
    if not isinstance(entry, dict):
        raise ChainUnavailable(f"malformed signature status: {entry!r:.200}")
    slot = entry.get("slot")
    slot = slot if _is_int(slot) else None
    final = entry.get("confirmationStatus") in _FINAL_STATUSES
    err = entry.get("err")
    if not final:
        # processed (or unknown): landed in a block that may still be skipped.
        return SignatureStatus(found=True, confirmed=False, err=None, slot=slot)
    if err is not None:
        return SignatureStatus(found=True, confirmed=False, err=compact_err(err), slot=slot)
    return SignatureStatus(found=True, confirmed=True, err=None, slot=slot)


def _token_balance(meta: dict[str, Any], key: str, owner: str, mint: str) -> int | None:
    """The sum of `owner`'s token amounts in `mint` over meta[key] (pre- or
    postTokenBalances); None without such entries (a pre balance of None is an account
    created by the transaction: 0 before). A missing or null list (balances not
    recorded) is ChainUnavailable: 0 would be an amount made up."""
    entries = meta.get(key)
    if not isinstance(entries, list):
        raise ChainUnavailable(f"malformed getTransaction meta.{key}: {entries!r:.200}")
    total: int | None = None
    for entry in entries:
        if not isinstance(entry, dict):
            raise ChainUnavailable(f"malformed getTransaction meta.{key} entry: {entry!r:.200}")
        if entry.get("owner") != owner or entry.get("mint") != mint:
            continue
        ui = entry.get("uiTokenAmount")
        amount = ui.get("amount") if isinstance(ui, dict) else None
        if not isinstance(amount, str) or not amount.isascii() or not amount.isdigit():
            raise ChainUnavailable(f"malformed getTransaction meta.{key} amount: {entry!r:.200}")
        total = (total or 0) + int(amount)
    return total


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
