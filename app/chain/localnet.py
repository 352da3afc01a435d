"""`xorj localnet serve`: a local Solana validator on the real runtime, in its own process.

A JSON-RPC 2.0 server over HTTP (POST, any path; GET /health answers "ok") in front of
LiteSVM (solders.litesvm: the Solana runtime with the SPL Token and Memo programs,
fees and signature verification), with the node's own parts written here: a slot clock,
blockhashes that expire, commitment levels, a permanent signature index, preflight, and
faults for tests. The modules:

    localnet_setup   the state directory: keypair files, localnet.json, mints, accounts
    localnet_ledger  the chain: clock, blockhashes, sendTransaction, the signature index
    localnet_rpc     the JSON-RPC methods in Solana's wire shapes
    localnet         this: the HTTP server and the command

Methods: getHealth, getVersion, getSlot, getBlockHeight, getLatestBlockhash,
isBlockhashValid, getMinimumBalanceForRentExemption, sendTransaction,
getSignatureStatuses, getTransaction, getSignaturesForAddress, getBalance, requestAirdrop,
getAccountInfo, getTokenAccountBalance; batches too. Admin methods (params: one object,
bare or in a list): xorjSetFaults {"drop_rate", "unavailable_seconds"}, xorjAdvance
{"slots"}, xorjStats, xorjFundVault {"vault", "usdc"}. While unavailable, any request
holding a non-admin call is answered HTTP 503 (text body), as a load balancer would.

One JSON line per call goes to stderr: {"method", "ms", "error"} (error: null, or the
JSON-RPC code and message; never params). SIGTERM or SIGINT: stop, exit 0.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MAX_BODY = 1 << 20
_LOG_LOCK = threading.Lock()


def log_line(**fields: Any) -> None:
    line = json.dumps(fields, separators=(",", ":"), default=str)
    with _LOG_LOCK:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


class RpcServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], methods: Any) -> None:
        from app.chain.localnet_ledger import RpcFault
        from app.chain.localnet_rpc import ADMIN_METHODS

        super().__init__(address, RpcHandler)
        self.methods = methods
        self.admin_methods = ADMIN_METHODS
        self.fault_class = RpcFault


class RpcHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stall
    server: RpcServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one JSON line per call instead (log_line)

    def do_GET(self) -> None:
        if self.path.split("?")[0] != "/health":
            self._reply(405, b"Method Not Allowed", "text/plain")
        elif self.server.methods.ledger.unavailable():
            self._reply(503, b"Service Unavailable", "text/plain")
        else:
            self._reply(200, b"ok", "text/plain")

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            self._reply(411, b"Length Required", "text/plain", close=True)
            return
        if int(length) > MAX_BODY:
            self._reply(413, b"Payload Too Large", "text/plain", close=True)
            return
        body = self.rfile.read(int(length))
        try:
            payload = json.loads(body)
        except ValueError:
            self._json(_error(None, -32700, "Parse error"))
            return
        calls = payload if isinstance(payload, list) else [payload]
        admin_methods = self.server.admin_methods
        admin = all(isinstance(c, dict) and c.get("method") in admin_methods for c in calls)
        if calls and not admin and self.server.methods.ledger.unavailable():
            log_line(method=_method_name(calls[0]), ms=0, error="unavailable", http=503)
            self._reply(503, b"Service Unavailable", "text/plain")
            return
        if isinstance(payload, list):
            if not payload:
                self._json(_error(None, -32600, "Invalid request"))
            else:
                self._json([self._call(c) for c in payload])
        else:
            self._json(self._call(payload))

    def _call(self, call: Any) -> dict[str, Any]:
        started = time.perf_counter()
        request_id = call.get("id") if isinstance(call, dict) else None
        if not isinstance(request_id, str | int | type(None)) or isinstance(request_id, bool):
            request_id = None
        method = _method_name(call)
        error: Any = None
        if (
            not isinstance(call, dict)
            or call.get("jsonrpc") != "2.0"
            or not isinstance(call.get("method"), str)
            or request_id != call.get("id")
        ):
            response = _error(request_id, -32600, "Invalid request")
            error = "-32600 Invalid request"
        else:
            try:
                result = self.server.methods.call(call["method"], call.get("params"))
                response = {"jsonrpc": "2.0", "result": result, "id": request_id}
            except self.server.fault_class as fault:
                response = {"jsonrpc": "2.0", "error": fault.error(), "id": request_id}
                error = f"{fault.code} {fault.message[:120]}"
            except Exception as exc:  # a bug: answer, log its class, keep serving
                response = _error(request_id, -32603, "Internal error")
                error = f"-32603 {type(exc).__name__}"
        log_line(method=method, ms=round((time.perf_counter() - started) * 1000, 3), error=error)
        return response

    def _json(self, document: Any) -> None:
        self._reply(200, json.dumps(document, separators=(",", ":")).encode(), "application/json")

    def _reply(self, status: int, body: bytes, content_type: str, close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)


def _error(request_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": request_id}


def _method_name(call: Any) -> str | None:
    method = call.get("method") if isinstance(call, dict) else None
    return method[:64] if isinstance(method, str) else None


# -- the command ---------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from app.chain.localnet_ledger import Ledger
    from app.chain.localnet_rpc import Methods
    from app.chain.localnet_setup import SetupError, load_setup

    problems = [
        (args.slot_ms <= 0, "--slot-ms must be > 0"),
        (args.blockhash_validity < 1, "--blockhash-validity must be >= 1"),
        (not 0 <= args.drop_rate <= 1, "--drop-rate must be from 0 to 1"),
        (not 0 <= args.vault_usdc < 2**64, "--vault-usdc must be from 0 to 2^64-1"),
    ]
    for bad, message in problems:
        if bad:
            print(f"xorj: {message}", file=sys.stderr)
            return 2
    state_dir = Path(args.state_dir)
    try:
        setup = load_setup(state_dir, args.vault)
    except (SetupError, ValueError, OSError) as exc:
        print(f"xorj: {exc}", file=sys.stderr)
        return 1
    ledger = Ledger(
        setup,
        slot_ms=args.slot_ms,
        blockhash_validity=args.blockhash_validity,
        vault_usdc=args.vault_usdc,
        seed=args.seed,
    )
    ledger.set_faults(drop_rate=args.drop_rate)
    try:
        server = RpcServer((args.host, args.port), Methods(ledger))
    except OSError as exc:
        print(f"xorj: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    port = server.server_address[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    setup.rpc_url = f"http://{host}:{port}"
    setup.save()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    ledger.start()
    serving = threading.Thread(target=server.serve_forever, args=(0.2,), daemon=True)
    serving.start()
    print(f"localnet listening on {setup.rpc_url} (state {args.state_dir})", flush=True)
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    ledger.stop()
    log_line(event="stopped", **ledger.stats_document())
    return 0


def register_cli(subparsers: Any) -> None:
    """Add `localnet serve` to the `xorj` command's subparsers."""
    localnet = subparsers.add_parser("localnet", help="a local Solana validator (LiteSVM)")
    sub = localnet.add_subparsers(dest="localnet_command", required=True)
    serve = sub.add_parser(
        "serve", help="serve Solana JSON-RPC over a fresh local chain (keys kept in DIR)"
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8899, help="0: any free port")
    serve.add_argument(
        "--state-dir",
        required=True,
        metavar="DIR",
        help="keypair files and localnet.json (created, or reused when present)",
    )
    serve.add_argument("--slot-ms", type=float, default=400.0, help="milliseconds per slot")
    serve.add_argument(
        "--blockhash-validity",
        type=int,
        default=150,
        help="blocks a blockhash stays valid (its lastValidBlockHeight - its height)",
    )
    serve.add_argument(
        "--vault",
        action="append",
        default=[],
        metavar="ADDR",
        help="a vault to create token accounts for (delegate: the authority); repeatable",
    )
    serve.add_argument(
        "--vault-usdc",
        type=int,
        default=10**12,
        help="USDC base units each vault starts with (default 10^12)",
    )
    serve.add_argument(
        "--drop-rate", type=float, default=0.0, help="share of sent transactions lost"
    )
    serve.add_argument("--seed", type=int, default=0, help="seed of the drop decisions")
    serve.set_defaults(func=cmd_serve)
