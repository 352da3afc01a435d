"""SolanaRpcChain against a local HTTP server speaking Solana's JSON-RPC wire format.

Shapes as in Solana's RPC documentation (solana.com/docs/rpc/http): getLatestBlockhash ->
{"context": {"apiVersion", "slot"}, "value": {"blockhash", "lastValidBlockHeight"}},
getBlockHeight -> u64, getSignatureStatuses -> {"context", "value": [null | {"slot",
"confirmations", "err", "status", "confirmationStatus"}]}, sendTransaction -> the first
signature; errors as {"jsonrpc": "2.0", "error": {"code", "message", "data"}, "id"}.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from app.chain.base import ChainError, ChainUnavailable, SignatureStatus, SignedTransaction
from app.chain.rpc import SolanaRpcChain
from tests.solana import address, signature

# A reply: (HTTP status, body bytes, seconds to wait before answering).
Reply = tuple[int, bytes, float]
Handler = Callable[[dict[str, Any]], Reply]

BLOCKHASH = "EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N"
CONTEXT = {"apiVersion": "2.1.16", "slot": 341197053}


def ok(request: dict[str, Any], result: Any) -> Reply:
    body = {"jsonrpc": "2.0", "result": result, "id": request["id"]}
    return 200, json.dumps(body).encode(), 0.0


def rpc_error(request: dict[str, Any], code: int, message: str, data: Any = None) -> Reply:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    body = {"jsonrpc": "2.0", "error": error, "id": request["id"]}
    return 200, json.dumps(body).encode(), 0.0


def landed(slot: int, err: Any = None, status: str = "confirmed") -> dict[str, Any]:
    return {
        "slot": slot,
        "confirmations": None if status == "finalized" else 10,
        "err": err,
        "status": {"Ok": None} if err is None else {"Err": err},
        "confirmationStatus": status,
    }


class FakeNode:
    """A Solana node's answers; `handler` may be replaced by a test."""

    def __init__(self) -> None:
        self.height = 1233
        self.statuses: dict[str, dict[str, Any]] = {}
        self.transactions: dict[str, dict[str, Any]] = {}  # getTransaction results
        self.handler: Handler = self.answer

    def answer(self, request: dict[str, Any]) -> Reply:
        method, params = request["method"], request["params"]
        if method == "getLatestBlockhash":
            value = {"blockhash": BLOCKHASH, "lastValidBlockHeight": self.height + 150}
            return ok(request, {"context": CONTEXT, "value": value})
        if method == "getBlockHeight":
            return ok(request, self.height)
        if method == "getSignatureStatuses":
            sigs = params[0]
            if len(sigs) > 256:
                return rpc_error(request, -32602, "Too many inputs provided; max 256")
            value = [self.statuses.get(sig) for sig in sigs]
            return ok(request, {"context": CONTEXT, "value": value})
        if method == "sendTransaction":
            return ok(request, signature(1))
        if method == "getTransaction":
            return ok(request, self.transactions.get(params[0]))
        return rpc_error(request, -32601, "Method not found")


class Server:
    def __init__(self) -> None:
        self.node = FakeNode()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        server = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                request = json.loads(self.rfile.read(length))
                server.requests.append(request)
                server.headers.append(dict(self.headers))
                status, body, delay = server.node.handler(request)
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def methods(self) -> list[str]:
        return [r["method"] for r in self.requests]


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.stop()


@pytest.fixture
def chain(server: Server) -> Iterator[SolanaRpcChain]:
    with SolanaRpcChain(server.url, timeout=2.0, retries=3, backoff=0.01) as c:
        yield c


def tx(n: int = 1) -> SignedTransaction:
    return SignedTransaction(signature=signature(n), last_valid_block_height=1383, raw="AQID")


# -- requests and results -----------------------------------------------------------


def test_get_latest_blockhash(server: Server, chain: SolanaRpcChain) -> None:
    bh = chain.get_latest_blockhash()
    assert bh.value == BLOCKHASH and bh.last_valid_block_height == 1383
    assert server.requests == [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "getLatestBlockhash",
            "params": [{"commitment": "confirmed"}],
        }
    ]
    assert server.headers[0]["Content-Type"] == "application/json"


def test_get_block_height_and_ids_increment(server: Server, chain: SolanaRpcChain) -> None:
    assert chain.get_block_height() == 1233
    server.node.height = 1240
    assert chain.get_block_height() == 1240
    assert server.requests == [
        {
            "jsonrpc": "2.0",
            "id": i,
            "method": "getBlockHeight",
            "params": [{"commitment": "confirmed"}],
        }
        for i in (1, 2)
    ]


def test_commitment_is_configurable(server: Server) -> None:
    with SolanaRpcChain(server.url, commitment="finalized") as c:
        c.get_block_height()
        c.get_latest_blockhash()
    assert [r["params"] for r in server.requests] == [[{"commitment": "finalized"}]] * 2


def test_signature_statuses(server: Server, chain: SolanaRpcChain) -> None:
    ok_sig, final_sig, failed_sig, processed_sig, processed_failed_sig, unknown_sig = (
        signature(n) for n in range(1, 7)
    )
    custom_err = {"InstructionError": [2, {"Custom": 6001}]}
    server.node.statuses = {
        ok_sig: landed(100),
        final_sig: landed(101, status="finalized"),
        failed_sig: landed(102, err=custom_err),
        processed_sig: landed(103, status="processed"),
        processed_failed_sig: landed(104, err="AccountInUse", status="processed"),
    }
    sigs = [ok_sig, final_sig, failed_sig, processed_sig, processed_failed_sig, unknown_sig]
    statuses = chain.get_signature_statuses(sigs)
    assert server.requests == [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "getSignatureStatuses",
            "params": [sigs, {"searchTransactionHistory": True}],
        }
    ]
    assert statuses == {
        ok_sig: SignatureStatus(found=True, confirmed=True, err=None, slot=100),
        final_sig: SignatureStatus(found=True, confirmed=True, err=None, slot=101),
        # Landed and failed on chain: found, not confirmed, the error kept compactly.
        failed_sig: SignatureStatus(
            found=True, confirmed=False, err='{"InstructionError":[2,{"Custom":6001}]}', slot=102
        ),
        # Only processed: found but not final either way.
        processed_sig: SignatureStatus(found=True, confirmed=False, err=None, slot=103),
        processed_failed_sig: SignatureStatus(found=True, confirmed=False, err=None, slot=104),
        unknown_sig: SignatureStatus(found=False),
    }


def test_string_err_kept_as_is(server: Server, chain: SolanaRpcChain) -> None:
    server.node.statuses = {signature(1): landed(7, err="InsufficientFundsForFee")}
    status = chain.get_signature_statuses([signature(1)])[signature(1)]
    assert status == SignatureStatus(
        found=True, confirmed=False, err="InsufficientFundsForFee", slot=7
    )


def test_no_signatures_no_request(server: Server, chain: SolanaRpcChain) -> None:
    assert chain.get_signature_statuses([]) == {}
    assert server.requests == []


def test_more_than_256_signatures_split(server: Server, chain: SolanaRpcChain) -> None:
    sigs = [signature(n) for n in range(300)]
    server.node.statuses = {sigs[0]: landed(1), sigs[299]: landed(2)}
    statuses = chain.get_signature_statuses(sigs)
    assert [len(r["params"][0]) for r in server.requests] == [256, 44]
    assert server.requests[0]["params"][0] + server.requests[1]["params"][0] == sigs
    assert [r["id"] for r in server.requests] == [1, 2]
    assert list(statuses) == sigs
    assert statuses[sigs[0]].confirmed and statuses[sigs[299]].confirmed
    assert sum(s.found for s in statuses.values()) == 2


def test_send_transaction(server: Server, chain: SolanaRpcChain) -> None:
    assert chain.send_transaction(tx(1)) == signature(1)
    assert server.requests == [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "sendTransaction",
            "params": [
                "AQID",
                {
                    "encoding": "base64",
                    "skipPreflight": False,
                    "preflightCommitment": "confirmed",
                    "maxRetries": 0,
                },
            ],
        }
    ]


def test_skip_preflight_is_passed_on(server: Server) -> None:
    with SolanaRpcChain(server.url, skip_preflight=True) as c:
        assert c.send_transaction(tx(1)) == signature(1)
    (request,) = server.requests
    assert request["params"][1] == {
        "encoding": "base64",
        "skipPreflight": True,
        "preflightCommitment": "confirmed",
        "maxRetries": 0,
    }


def test_send_returning_another_signature_is_an_error(
    server: Server, chain: SolanaRpcChain
) -> None:
    with pytest.raises(ChainError, match="expected") as excinfo:
        chain.send_transaction(tx(2))
    assert not isinstance(excinfo.value, ChainUnavailable)


# -- errors ------------------------------------------------------------------------


def test_jsonrpc_error_is_chain_error_not_retried(server: Server, chain: SolanaRpcChain) -> None:
    data = {
        "accounts": None,
        "err": "BlockhashNotFound",
        "logs": [],
        "unitsConsumed": 0,
    }
    server.node.handler = lambda r: rpc_error(
        r, -32002, "Transaction simulation failed: Blockhash not found", data
    )
    with pytest.raises(ChainError) as excinfo:
        chain.send_transaction(tx(1))
    assert type(excinfo.value) is ChainError
    assert excinfo.value.code == -32002
    assert "Blockhash not found" in str(excinfo.value)
    assert len(server.requests) == 1


def test_jsonrpc_error_on_statuses(server: Server, chain: SolanaRpcChain) -> None:
    server.node.handler = lambda r: rpc_error(r, -32602, "Invalid param: WrongSize")
    with pytest.raises(ChainError) as excinfo:
        chain.get_signature_statuses([signature(1)])
    assert excinfo.value.code == -32602 and type(excinfo.value) is ChainError
    assert len(server.requests) == 1


def test_node_unhealthy_is_unavailable(server: Server, chain: SolanaRpcChain) -> None:
    server.node.handler = lambda r: rpc_error(
        r, -32005, "Node is behind by 42 slots", {"numSlotsBehind": 42}
    )
    with pytest.raises(ChainUnavailable) as excinfo:
        chain.get_block_height()
    assert excinfo.value.code == -32005
    assert len(server.requests) == 1


def test_503_twice_then_ok(server: Server, chain: SolanaRpcChain) -> None:
    def flaky(request: dict[str, Any]) -> Reply:
        if len(server.requests) <= 2:
            return 503, b"Service Unavailable", 0.0
        return server.node.answer(request)

    server.node.handler = flaky
    assert chain.get_block_height() == 1233
    assert len(server.requests) == 3
    assert [r["id"] for r in server.requests] == [1, 2, 3]
    assert {r["method"] for r in server.requests} == {"getBlockHeight"}


def test_429_retried_then_unavailable(server: Server) -> None:
    server.node.handler = lambda r: (429, b'{"error":"rate limited"}', 0.0)
    with (
        SolanaRpcChain(server.url, retries=2, backoff=0.01) as c,
        pytest.raises(ChainUnavailable, match="429"),
    ):
        c.get_signature_statuses([signature(1)])
    assert len(server.requests) == 3


def test_timeout_is_unavailable_in_bounded_time(server: Server) -> None:
    server.node.handler = lambda r: (*server.node.answer(r)[:2], 2.0)
    with SolanaRpcChain(server.url, timeout=0.2, retries=2, backoff=0.05) as c:
        start = time.monotonic()
        with pytest.raises(ChainUnavailable, match="Timeout"):
            c.get_signature_statuses([signature(1)])
        elapsed = time.monotonic() - start
    assert len(server.requests) == 3
    assert 0.6 <= elapsed < 1.5  # 3 x 0.2 s timeouts + 0.05 + 0.1 s backoff


def test_connection_refused_is_unavailable_never_not_found() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Nothing listens on the port any more.
    with SolanaRpcChain(f"http://127.0.0.1:{port}/", retries=2, backoff=0.01) as c:
        with pytest.raises(ChainUnavailable, match="Connect"):
            c.get_signature_statuses([signature(1)])
        with pytest.raises(ChainUnavailable):
            c.get_block_height()
        with pytest.raises(ChainUnavailable):
            c.send_transaction(tx(1))


@pytest.mark.parametrize(
    "reply",
    [
        (200, b"<html>Bad gateway</html>", 0.0),
        (200, b'{"jsonrpc": "2.0", "id": 1', 0.0),  # truncated
        (200, b'["not", "an", "object"]', 0.0),
        (200, b'{"jsonrpc": "2.0", "id": 1}', 0.0),  # no result
        (200, b'{"jsonrpc": "2.0", "result": 5, "id": 99}', 0.0),  # wrong id
        (200, b'{"jsonrpc": "2.0", "result": {"context": {}}, "id": 1}', 0.0),  # no value
        (200, b'{"jsonrpc": "2.0", "result": {"context": {}, "value": []}, "id": 1}', 0.0),
        (403, b"Forbidden", 0.0),
    ],
)
def test_malformed_response_is_unavailable(
    server: Server, chain: SolanaRpcChain, reply: Reply
) -> None:
    server.node.handler = lambda r: reply
    with pytest.raises(ChainUnavailable):
        chain.get_signature_statuses([signature(1)])
    assert len(server.requests) == 1


def test_malformed_results_per_method(server: Server, chain: SolanaRpcChain) -> None:
    server.node.handler = lambda r: ok(r, "1233")
    with pytest.raises(ChainUnavailable):
        chain.get_block_height()
    server.node.handler = lambda r: ok(r, {"context": CONTEXT, "value": {"blockhash": 5}})
    with pytest.raises(ChainUnavailable):
        chain.get_latest_blockhash()
    server.node.handler = lambda r: ok(r, None)
    with pytest.raises(ChainUnavailable):
        chain.send_transaction(tx(1))
    server.node.handler = lambda r: ok(r, {"context": CONTEXT, "value": ["confirmed"]})
    with pytest.raises(ChainUnavailable):
        chain.get_signature_statuses([signature(1)])


def test_send_is_tried_once_even_on_transport_errors(server: Server, chain: SolanaRpcChain) -> None:
    """A send error means "ask the status": the same transaction is never posted twice."""
    server.node.handler = lambda r: (503, b"Service Unavailable", 0.0)
    with pytest.raises(ChainUnavailable, match="after 1 try"):
        chain.send_transaction(tx(1))
    assert server.methods == ["sendTransaction"]
    server.requests.clear()
    with pytest.raises(ChainUnavailable, match="after 4 tries"):  # the others: retried
        chain.get_block_height()
    assert server.methods == ["getBlockHeight"] * 4


# -- no secret of the URL in any message ------------------------------------------------

SECRET = "k3y-5ecret-0123456789"


def _secret_url(base: str) -> str:
    host = base.removeprefix("http://").rstrip("/")
    return f"http://user:{SECRET}pw@{host}/v2/{SECRET}?api-key={SECRET}"


def test_messages_show_only_scheme_host_and_port(server: Server) -> None:
    url = _secret_url(server.url)
    endpoint = server.url.rstrip("/")
    # 5xx after the retries, a body echoing the URL, a JSON-RPC error echoing it.
    replies: list[Handler] = [
        lambda r: (503, b"down", 0.0),
        lambda r: (404, f"Cannot POST {url} (/v2/{SECRET})".encode(), 0.0),
        lambda r: rpc_error(r, -32600, f"bad key {SECRET} for {url}"),
    ]
    with SolanaRpcChain(url, retries=1, backoff=0.01) as c:
        assert c.endpoint == endpoint
        for handler in replies:
            server.node.handler = handler
            with pytest.raises(ChainError) as excinfo:
                c.get_block_height()
            message = str(excinfo.value)
            assert SECRET not in message, message
            assert "user:" not in message
    assert server.requests  # the real URL was used for the requests


def test_transport_error_messages_hide_the_url_secrets() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = _secret_url(f"http://127.0.0.1:{port}/")
    for target in (url, f"ftp://127.0.0.1:{port}/{SECRET}"):  # refused; unsupported scheme
        with (
            SolanaRpcChain(target, retries=0, timeout=0.5) as c,
            pytest.raises(ChainUnavailable) as excinfo,
        ):
            c.get_block_height()
        message = str(excinfo.value)
        assert SECRET not in message, message
        assert f"127.0.0.1:{port}" in message


# -- get_delivery (getTransaction) ------------------------------------------------------

VAULT = address(1)
OTHER_OWNER = address(2)
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
JUP = "JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN"
TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"


def balance(index: int, owner: str, mint: str, amount: int, decimals: int = 6) -> dict[str, Any]:
    """A meta.pre/postTokenBalances entry as a node writes it."""
    ui = amount / 10**decimals
    return {
        "accountIndex": index,
        "mint": mint,
        "owner": owner,
        "programId": TOKEN_PROGRAM,
        "uiTokenAmount": {
            "amount": str(amount),
            "decimals": decimals,
            "uiAmount": ui,
            "uiAmountString": str(ui),
        },
    }


def landed_tx(
    pre: list[dict[str, Any]] | None,
    post: list[dict[str, Any]] | None,
    err: Any = None,
    fee: Any = 10_000,
    slot: int = 341197050,
) -> dict[str, Any]:
    """A getTransaction result (encoding base64), as a node answers it."""
    meta: dict[str, Any] = {
        "err": err,
        "status": {"Ok": None} if err is None else {"Err": err},
        "fee": fee,
        "preBalances": [1_000_000_000, 2_039_280, 2_039_280],
        "postBalances": [999_990_000, 2_039_280, 2_039_280],
        "innerInstructions": [],
        "logMessages": ["Program MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr success"],
        "rewards": [],
        "loadedAddresses": {"writable": [], "readonly": []},
        "computeUnitsConsumed": 12_345,
    }
    if pre is not None:
        meta["preTokenBalances"] = pre
    if post is not None:
        meta["postTokenBalances"] = post
    return {
        "slot": slot,
        "blockTime": 1_733_000_000,
        "version": 0,
        "transaction": ["AQID", "base64"],
        "meta": meta,
    }


def test_get_delivery_request_and_amount(server: Server, chain: SolanaRpcChain) -> None:
    """amount_out = the vault's post - pre balance in the target mint; the vault's other
    mints, other owners' accounts of the mint, and the fee payer's SOL are not counted."""
    server.node.transactions[signature(1)] = landed_tx(
        pre=[
            balance(1, VAULT, USDC, 10_000_000),
            balance(2, VAULT, JUP, 500),
            balance(3, OTHER_OWNER, JUP, 9_000_000),
            balance(4, OTHER_OWNER, USDC, 0),
        ],
        post=[
            balance(1, VAULT, USDC, 9_000_000),
            balance(2, VAULT, JUP, 1_250_500),
            balance(3, OTHER_OWNER, JUP, 7_750_000),
            balance(4, OTHER_OWNER, USDC, 1_000_000),
        ],
    )
    status = chain.get_delivery(signature(1), VAULT, JUP)
    assert status == SignatureStatus(
        found=True, confirmed=True, err=None, slot=341197050, amount_out=1_250_000, fee=10_000
    )
    assert server.requests == [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "getTransaction",
            "params": [
                signature(1),
                {
                    "encoding": "base64",
                    "commitment": "confirmed",
                    "maxSupportedTransactionVersion": 0,
                },
            ],
        }
    ]
    # The same transaction seen from the other side of the swap: the maker's JUP went out.
    assert chain.get_delivery(signature(1), OTHER_OWNER, JUP).amount_out == -1_250_000
    assert chain.get_delivery(signature(1), VAULT, USDC).amount_out == -1_000_000


def test_get_delivery_sums_accounts_and_counts_created_ones(
    server: Server, chain: SolanaRpcChain
) -> None:
    # The vault's JUP account created by the transaction (no pre entry), plus a second
    # JUP account of the vault (not its associated one) that was credited too.
    server.node.transactions[signature(1)] = landed_tx(
        pre=[balance(1, VAULT, USDC, 10_000_000), balance(5, VAULT, JUP, 7)],
        post=[
            balance(1, VAULT, USDC, 9_000_000),
            balance(2, VAULT, JUP, 1_250_000),
            balance(5, VAULT, JUP, 10),
        ],
    )
    assert chain.get_delivery(signature(1), VAULT, JUP).amount_out == 1_250_003
    # No account of the owner in the mint after it: what was delivered is unknown (the
    # output went to another owner's account), never taken as 0.
    server.node.transactions[signature(2)] = landed_tx(pre=[], post=[])
    assert chain.get_delivery(signature(2), VAULT, JUP) == SignatureStatus(
        found=True, confirmed=True, slot=341197050, amount_out=None, fee=10_000
    )
    # An account the transaction created: nothing before it, its balance after.
    server.node.transactions[signature(3)] = landed_tx(pre=[], post=[balance(2, VAULT, JUP, 9)])
    assert chain.get_delivery(signature(3), VAULT, JUP).amount_out == 9


def test_get_delivery_failed_and_unknown(server: Server, chain: SolanaRpcChain) -> None:
    err = {"InstructionError": [2, {"Custom": 1}]}
    server.node.transactions[signature(1)] = landed_tx(
        pre=[balance(1, VAULT, USDC, 10)], post=[balance(1, VAULT, USDC, 10)], err=err, fee=5_000
    )
    assert chain.get_delivery(signature(1), VAULT, JUP) == SignatureStatus(
        found=True,
        confirmed=False,
        err='{"InstructionError":[2,{"Custom":1}]}',
        slot=341197050,
        fee=5_000,
    )
    # null: not landed, or not served yet.
    assert chain.get_delivery(signature(9), VAULT, JUP) == SignatureStatus(found=False)


def test_get_delivery_finalized_commitment(server: Server) -> None:
    with SolanaRpcChain(server.url, commitment="finalized") as c:
        c.get_delivery(signature(1), VAULT, JUP)
    with SolanaRpcChain(server.url, commitment="processed") as c:  # not for getTransaction
        c.get_delivery(signature(1), VAULT, JUP)
    assert [r["params"][1]["commitment"] for r in server.requests] == ["finalized", "confirmed"]


@pytest.mark.parametrize(
    "result",
    [
        "not an object",
        {"slot": 5},  # no meta
        {"slot": 5, "meta": None},
        landed_tx(pre=[], post=[], fee="5000"),
        landed_tx(pre=[], post=[], fee=None),
        landed_tx(pre=None, post=[balance(1, VAULT, JUP, 5)]),  # balances not recorded
        landed_tx(pre=[], post=None),
        landed_tx(pre=[], post="[]"),  # type: ignore[arg-type]
        landed_tx(pre=[], post=[5]),  # type: ignore[list-item]
        landed_tx(pre=[], post=[{**balance(1, VAULT, JUP, 5), "uiTokenAmount": {"amount": 5}}]),
        landed_tx(pre=[], post=[{**balance(1, VAULT, JUP, 5), "uiTokenAmount": {"amount": "-5"}}]),
        landed_tx(pre=[], post=[{**balance(1, VAULT, JUP, 5), "uiTokenAmount": None}]),
    ],
)
def test_get_delivery_malformed_is_unavailable_never_an_amount(
    server: Server, chain: SolanaRpcChain, result: Any
) -> None:
    server.node.transactions[signature(1)] = result
    with pytest.raises(ChainUnavailable):
        chain.get_delivery(signature(1), VAULT, JUP)
    assert len(server.requests) == 1  # not retried: the node answered


def test_get_delivery_errors(server: Server, chain: SolanaRpcChain) -> None:
    # A JSON-RPC error: ChainError, not retried.
    server.node.handler = lambda r: rpc_error(r, -32602, "Invalid param: WrongSize")
    with pytest.raises(ChainError) as excinfo:
        chain.get_delivery("not-a-signature", VAULT, JUP)
    assert type(excinfo.value) is ChainError and excinfo.value.code == -32602
    assert len(server.requests) == 1
    # A node that pruned the slot says so with an error, not with null: still ChainError.
    server.node.handler = lambda r: rpc_error(
        r, -32009, "Slot 5 was skipped, or missing in long-term storage"
    )
    with pytest.raises(ChainError, match="long-term storage"):
        chain.get_delivery(signature(1), VAULT, JUP)
    # Behind: unavailable. 5xx: retried, then unavailable.
    server.node.handler = lambda r: rpc_error(r, -32005, "Node is behind by 42 slots")
    with pytest.raises(ChainUnavailable):
        chain.get_delivery(signature(1), VAULT, JUP)
    server.requests.clear()
    server.node.handler = lambda r: (503, b"Service Unavailable", 0.0)
    with pytest.raises(ChainUnavailable, match="after 4 tries"):
        chain.get_delivery(signature(1), VAULT, JUP)
    assert server.methods == ["getTransaction"] * 4


def test_get_delivery_retries_transport_errors_then_answers(
    server: Server, chain: SolanaRpcChain
) -> None:
    server.node.transactions[signature(1)] = landed_tx(
        pre=[], post=[balance(2, VAULT, JUP, 42)], fee=5_001
    )

    def flaky(request: dict[str, Any]) -> Reply:
        if len(server.requests) == 1:
            return 502, b"Bad Gateway", 0.0
        return server.node.answer(request)

    server.node.handler = flaky
    status = chain.get_delivery(signature(1), VAULT, JUP)
    assert (status.amount_out, status.fee) == (42, 5_001)
    assert server.methods == ["getTransaction"] * 2
