"""`xorj localnet serve` as a real process: the local validator spoken to over real HTTP by
the project's SolanaRpcChain and by raw JSON-RPC, with transactions built and signed here
(an SPL Token Transfer by the vault's delegate, the authority of DIR/authority.json, and a
Memo).

Most tests share one server whose clock is stopped (--slot-ms of an hour): slots pass only
with xorjAdvance, so processed -> confirmed -> finalized and blockhash expiry are exact.
Each test funds its own vault (xorjFundVault). The burst runs on a second server with a
ticking clock (100 ms slots) and ends with SIGTERM (exit 0). Every wait is bounded and
each server's process group is killed whatever happens.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from app.base58 import encode as b58encode
from app.chain.base import ChainError, ChainUnavailable, SignedTransaction
from app.chain.rpc import SolanaRpcChain
from app.workers.planner import TARGETS, USDC
from tests.conftest import BIN, ROOT, cli_env, report_figures
from tests.test_api_http import _group_alive

TOKEN_PROGRAM = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
MEMO_PROGRAM = Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")
STARTUP_SECONDS = 20.0
FEE = 5000  # lamports per signature
U64_MAX = 2**64 - 1
CONFIRMED = {"commitment": "confirmed"}
GET_TX = {"encoding": "base64", "commitment": "confirmed", "maxSupportedTransactionVersion": 0}


@dataclass
class Localnet:
    proc: subprocess.Popen[bytes]
    url: str
    state_dir: Path
    log: IO[bytes]
    client: httpx.Client

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def rpc(self, method: str, *params: Any) -> dict[str, Any]:
        """The whole JSON-RPC response (result or error)."""
        body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": list(params)}
        response = self.client.post(self.url, json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def result(self, method: str, *params: Any) -> Any:
        answer = self.rpc(method, *params)
        assert "result" in answer, answer
        return answer["result"]

    def chain(self, **kwargs: Any) -> SolanaRpcChain:
        return SolanaRpcChain(self.url, **kwargs)

    def state(self) -> dict[str, Any]:
        return json.loads((self.state_dir / "localnet.json").read_text())

    def authority(self) -> Keypair:
        raw = json.loads((self.state_dir / "authority.json").read_text())
        return Keypair.from_bytes(bytes(raw))

    def new_vault(self, usdc: int = 10**9) -> dict[str, Any]:
        vault = str(Keypair().pubkey())
        funded = self.result("xorjFundVault", {"vault": vault, "usdc": usdc})
        assert funded["usdc"] == usdc
        return funded

    def token_balance(self, account: str) -> int:
        return int(self.result("getTokenAccountBalance", account)["value"]["amount"])

    def stats(self) -> dict[str, Any]:
        return self.result("xorjStats")

    def advance(self, slots: int) -> None:
        self.result("xorjAdvance", {"slots": slots})


@contextlib.contextmanager
def localnet(*args: str) -> Iterator[Localnet]:
    """`xorj localnet serve --port 0 --state-dir <tmp> args...` until it prints its URL."""
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryFile() as log:
        state_dir = Path(tmp) / "state"
        out_path = Path(tmp) / "stdout"
        with out_path.open("wb") as out:
            proc = subprocess.Popen(
                [
                    *(str(BIN / "xorj"), "localnet", "serve", "--host", "127.0.0.1"),
                    *("--port", "0", "--state-dir", str(state_dir), *args),
                ],
                cwd=ROOT,
                env=cli_env({}),
                stdout=out,
                stderr=log,
                start_new_session=True,  # its own process group, killed at the end
            )
        client = httpx.Client(timeout=10)
        try:
            url = _wait_for_url(proc, out_path, log)
            yield Localnet(proc, url, state_dir, log, client)
        finally:
            client.close()
            if proc.poll() is None or _group_alive(proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)


def _wait_for_url(proc: subprocess.Popen[bytes], out_path: Path, log: IO[bytes]) -> str:
    deadline = time.monotonic() + STARTUP_SECONDS
    prefix = "localnet listening on "
    while True:
        text = out_path.read_text()
        if prefix in text:
            return text.split(prefix, 1)[1].split()[0]
        if proc.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            pytest.fail(f"localnet did not start ({proc.poll()}):\n{log.read().decode()[-3000:]}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def net() -> Iterator[Localnet]:
    with localnet("--slot-ms", "3600000", "--blockhash-validity", "20") as server:
        yield server


def transfer(
    authority: Keypair,
    vault: dict[str, Any],
    destination: str,
    amount: int,
    blockhash: str,
    memo: str,
    last_valid: int = 0,
) -> tuple[VersionedTransaction, SignedTransaction]:
    """USDC from the vault's token account to `destination`, signed by the delegate, plus a
    Memo; the vault itself is named (read-only) as a vault program's instruction would."""
    source = Pubkey.from_string(vault["accounts"][USDC.mint])
    move = Instruction(
        TOKEN_PROGRAM,
        bytes([3]) + amount.to_bytes(8, "little"),
        [
            AccountMeta(source, is_signer=False, is_writable=True),
            AccountMeta(Pubkey.from_string(destination), is_signer=False, is_writable=True),
            AccountMeta(authority.pubkey(), is_signer=True, is_writable=False),
            AccountMeta(Pubkey.from_string(vault["vault"]), is_signer=False, is_writable=False),
        ],
    )
    note = Instruction(MEMO_PROGRAM, memo.encode(), [])
    message = MessageV0.try_compile(
        authority.pubkey(), [move, note], [], Hash.from_string(blockhash)
    )
    tx = VersionedTransaction(message, [authority])
    raw = base64.b64encode(bytes(tx)).decode()
    return tx, SignedTransaction(str(tx.signatures[0]), last_valid, raw)


def maker_usdc(net: Localnet) -> str:
    """The maker's USDC token account (its associated token account)."""
    from solders.token.associated import get_associated_token_address

    maker = Pubkey.from_string(net.state()["maker"])
    return str(get_associated_token_address(maker, Pubkey.from_string(USDC.mint)))


def raw_send(net: Localnet, signed: SignedTransaction, skip: bool) -> dict[str, Any]:
    config = {"encoding": "base64", "skipPreflight": skip, "maxRetries": 0}
    return net.rpc("sendTransaction", signed.raw, config)


def statuses(net: Localnet, *signatures: str) -> list[Any]:
    result = net.result(
        "getSignatureStatuses", list(signatures), {"searchTransactionHistory": True}
    )
    return result["value"]


# --- setup --------------------------------------------------------------------------------


def test_state_files_keys_mints_and_vault_accounts(net: Localnet) -> None:
    for name in ("authority.json", "maker.json", "localnet.json"):
        mode = stat.S_IMODE((net.state_dir / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))
    state = net.state()
    assert state["rpc_url"] == net.url
    authority = net.authority()
    assert state["authority"] == str(authority.pubkey())
    assert b58encode(bytes(authority)) not in net.output()  # the secret is never logged
    assert state["mints"] == {t.symbol: t.mint for t in (USDC, *TARGETS)}
    for token in (USDC, *TARGETS):
        info = net.result("getAccountInfo", token.mint, {"encoding": "jsonParsed"})["value"]
        assert info["data"]["parsed"]["info"]["decimals"] == token.decimals
        assert info["data"]["parsed"]["info"]["mintAuthority"] == state["maker"]
    assert net.result("getBalance", state["authority"])["value"] > 10**9

    vault = net.new_vault(usdc=123_456_789)
    assert net.state()["vaults"][vault["vault"]] == vault["accounts"]
    for mint, account in vault["accounts"].items():
        info = net.result("getAccountInfo", account, {"encoding": "jsonParsed"})["value"]
        parsed = info["data"]["parsed"]["info"]
        assert info["owner"] == str(TOKEN_PROGRAM)
        assert (parsed["mint"], parsed["owner"]) == (mint, vault["vault"])
        assert parsed["delegate"] == state["authority"]
        assert parsed["delegatedAmount"]["amount"] == str(U64_MAX)
        expected = 123_456_789 if mint == USDC.mint else 0
        assert net.token_balance(account) == expected
    balance = net.result("getTokenAccountBalance", vault["accounts"][USDC.mint])["value"]
    assert balance == {
        "amount": "123456789",
        "decimals": 6,
        "uiAmount": 123.456789,
        "uiAmountString": "123.456789",
    }
    assert net.token_balance(maker_usdc(net)) >= 10**15


def test_malformed_requests_get_json_rpc_errors(net: Localnet) -> None:
    assert net.rpc("getBlockHeightt")["error"]["code"] == -32601
    assert net.rpc("getSignatureStatuses", "not a list")["error"]["code"] == -32602
    assert net.rpc("getBalance", "not-an-address")["error"]["code"] == -32602
    assert net.rpc("sendTransaction", "AAAA", {"encoding": "base64"})["error"]["code"] == -32602
    answer = net.client.post(net.url, content=b"{not json").json()
    assert answer["error"]["code"] == -32700 and answer["id"] is None
    answer = net.client.post(net.url, json={"id": 3, "method": "getSlot"}).json()
    assert (answer["error"]["code"], answer["id"]) == (-32600, 3)
    batch = net.client.post(
        net.url,
        json=[
            {"jsonrpc": "2.0", "id": 1, "method": "getHealth"},
            {"jsonrpc": "2.0", "id": 2, "method": "getVersion"},
        ],
    ).json()
    assert batch[0]["result"] == "ok" and "solana-core" in batch[1]["result"]


def test_airdrop_and_the_encodings_of_get_transaction(net: Localnet) -> None:
    to = str(Keypair().pubkey())
    signature = net.result("requestAirdrop", to, 2 * 10**9)
    assert net.result("getBalance", to, CONFIRMED)["value"] == 2 * 10**9
    processed = net.rpc("getTransaction", signature, {"commitment": "processed"})
    assert processed["error"]["code"] == -32602
    net.advance(1)
    answer = net.rpc("getTransaction", signature, {"commitment": "confirmed"})
    assert answer["error"]["code"] == -32015  # a v0 transaction, no maxSupported...Version
    config = {"encoding": "json", "commitment": "confirmed", "maxSupportedTransactionVersion": 0}
    found = net.result("getTransaction", signature, config)
    message = found["transaction"]["message"]
    assert to in message["accountKeys"] and message["header"]["numRequiredSignatures"] == 1
    assert found["transaction"]["signatures"] == [signature]
    assert found["meta"]["postBalances"][message["accountKeys"].index(to)] == 2 * 10**9
    assert found["meta"]["preTokenBalances"] == [] and found["version"] == 0
    assert net.result("getTransaction", "1" * 64, config) is None


# --- transactions -------------------------------------------------------------------------


def test_a_transfer_lands_confirms_and_shows_its_balances(net: Localnet) -> None:
    vault = net.new_vault(usdc=10**9)
    source, destination = vault["accounts"][USDC.mint], maker_usdc(net)
    maker_before = net.token_balance(destination)
    authority = net.authority()
    with net.chain() as chain:
        blockhash = chain.get_latest_blockhash()
        assert blockhash.last_valid_block_height == chain.get_block_height() + 20
        memo = f"xorj:trade:{vault['vault'][:8]}"
        tx, signed = transfer(authority, vault, destination, 250_000, blockhash.value, memo)
        assert chain.send_transaction(signed) == signed.signature

        (status,) = statuses(net, signed.signature)
        assert status["confirmationStatus"] == "processed" and status["confirmations"] == 0
        assert chain.get_signature_statuses([signed.signature])[signed.signature].confirmed is False
        assert net.result("getTransaction", signed.signature, GET_TX) is None  # not confirmed

        net.advance(1)
        (status,) = statuses(net, signed.signature)
        assert (status["confirmationStatus"], status["confirmations"]) == ("confirmed", 1)
        assert status["err"] is None and status["status"] == {"Ok": None}
        seen = chain.get_signature_statuses([signed.signature])[signed.signature]
        assert (seen.found, seen.confirmed, seen.err, seen.slot) == (
            True,
            True,
            None,
            status["slot"],
        )

    found = net.result("getTransaction", signed.signature, GET_TX)
    assert found["slot"] == status["slot"] and found["version"] == 0
    assert found["transaction"] == [signed.raw, "base64"]
    meta = found["meta"]
    assert meta["err"] is None and meta["fee"] == FEE
    assert meta["preBalances"][0] - meta["postBalances"][0] == FEE
    assert any(memo in line for line in meta["logMessages"])
    keys = [str(k) for k in tx.message.account_keys]

    def amounts(balances: list[dict[str, Any]]) -> dict[str, tuple[str, str, str]]:
        return {
            keys[b["accountIndex"]]: (b["owner"], b["mint"], b["uiTokenAmount"]["amount"])
            for b in balances
        }

    pre, post = amounts(meta["preTokenBalances"]), amounts(meta["postTokenBalances"])
    assert pre[source] == (vault["vault"], USDC.mint, str(10**9))
    assert post[source] == (vault["vault"], USDC.mint, str(10**9 - 250_000))
    assert int(post[destination][2]) - int(pre[destination][2]) == 250_000
    assert meta["postTokenBalances"][0]["uiTokenAmount"]["decimals"] == 6
    assert net.token_balance(destination) == maker_before + 250_000

    listed = net.result("getSignaturesForAddress", vault["vault"], {"limit": 5, **CONFIRMED})
    assert [e["signature"] for e in listed] == [signed.signature]
    assert listed[0]["memo"] == f"[{len(memo)}] {memo}"
    assert listed[0]["err"] is None and listed[0]["confirmationStatus"] == "confirmed"
    assert net.result("getSignaturesForAddress", vault["vault"]) == []  # finalized: not yet
    net.advance(31)
    (status,) = statuses(net, signed.signature)
    assert (status["confirmationStatus"], status["confirmations"]) == ("finalized", None)
    assert net.result("getSignaturesForAddress", source)[0]["signature"] == signed.signature


def test_find_trade_reads_a_vaults_history_page_by_page_by_memo(
    net: Localnet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chain.find_trade (the recovery of a trade whose client broadcast before recording,
    issue 14): the vault's landed transactions whose memo names the trade, page by page
    (pages of 2 here), a memo of another trade that only starts alike not taken; a
    search cut by its page limit says it is incomplete; one that reaches transactions
    older than `since` stops there."""
    import app.chain.rpc as rpc

    vault = net.new_vault(usdc=10**9)
    destination, authority = maker_usdc(net), net.authority()
    memos = ["xorj:t1:key-1", "xorj:t2", "xorj:t1x:key-2", "a note", "xorj:t3"]
    with net.chain() as chain:
        blockhash = chain.get_latest_blockhash().value
        sent = {}
        for n, memo in enumerate(memos):
            _, signed = transfer(authority, vault, destination, 1_000 + n, blockhash, memo)
            sent[memo] = chain.send_transaction(signed)
        net.advance(1)
        monkeypatch.setattr(rpc, "SEARCH_PAGE", 2)
        found = chain.find_trade(vault["vault"], "t1", since=0)
        assert [f.signature for f in found.found] == [sent["xorj:t1:key-1"]]
        assert found.found[0].err is None and found.found[0].slot is not None
        assert (found.scanned, found.complete) == (len(memos), True)
        assert chain.find_trade(vault["vault"], "t9", since=0).found == ()

        monkeypatch.setattr(rpc, "SEARCH_PAGES", 1)
        cut = chain.find_trade(vault["vault"], "t1", since=0)
        assert (cut.scanned, cut.complete, cut.found) == (2, False, ())

        monkeypatch.setattr(rpc, "SEARCH_PAGES", 20)
        later = chain.find_trade(vault["vault"], "t1", since=time.time() + 3600)
        assert (later.scanned, later.complete) == (2, True)  # the first page is older


def test_a_resend_is_refused_and_executes_once(net: Localnet) -> None:
    vault = net.new_vault(usdc=10**9)
    source = vault["accounts"][USDC.mint]
    before = net.stats()
    with net.chain() as chain:
        blockhash = chain.get_latest_blockhash()
        _, signed = transfer(
            net.authority(), vault, maker_usdc(net), 1_000, blockhash.value, "xorj:once"
        )
        chain.send_transaction(signed)
        with pytest.raises(ChainError) as refused:
            chain.send_transaction(signed)  # preflight on
    assert refused.value.code == -32002
    assert "already been processed" in str(refused.value)
    answer = raw_send(net, signed, skip=True)  # as a node: answered, not executed
    assert answer["result"] == signed.signature
    base58 = b58encode(base64.b64decode(signed.raw))
    answer = net.rpc("sendTransaction", base58, {"skipPreflight": False})  # default: base58
    assert answer["error"]["data"]["err"] == "AlreadyProcessed"
    net.advance(1)
    assert net.token_balance(source) == 10**9 - 1_000
    after = net.stats()
    assert after["duplicates_refused"] - before["duplicates_refused"] == 3
    assert after["executed"] - before["executed"] == 1


def test_an_expired_blockhash_is_refused(net: Localnet) -> None:
    vault = net.new_vault()
    with net.chain() as chain:
        blockhash = chain.get_latest_blockhash()
        _, signed = transfer(
            net.authority(), vault, maker_usdc(net), 5, blockhash.value, "xorj:late"
        )
        net.advance(blockhash.last_valid_block_height - chain.get_block_height() + 1)
        assert chain.get_block_height() > blockhash.last_valid_block_height
        assert net.result("isBlockhashValid", blockhash.value, CONFIRMED)["value"] is False
        with pytest.raises(ChainError) as refused:
            chain.send_transaction(signed)
        assert refused.value.code == -32002 and "BlockhashNotFound" in str(refused.value)
        assert raw_send(net, signed, skip=True)["result"] == signed.signature
        net.advance(2)
        assert chain.get_signature_statuses([signed.signature])[signed.signature].found is False
    assert net.token_balance(vault["accounts"][USDC.mint]) == 10**9


def test_insufficient_funds_fail_in_preflight_and_land_failed_without(net: Localnet) -> None:
    vault = net.new_vault(usdc=100)
    source = vault["accounts"][USDC.mint]
    authority = net.authority()
    with net.chain() as chain:
        blockhash = chain.get_latest_blockhash()
        _, signed = transfer(authority, vault, maker_usdc(net), 101, blockhash.value, "xorj:big")
        with pytest.raises(ChainError) as refused:
            chain.send_transaction(signed)
        assert refused.value.code == -32002
        assert "Transaction simulation failed" in str(refused.value)
        answer = raw_send(net, signed, skip=False)
        assert answer["error"]["data"]["err"] == {"InstructionError": [0, {"Custom": 1}]}
        assert any("insufficient funds" in line for line in answer["error"]["data"]["logs"])
        assert statuses(net, signed.signature) == [None]  # refused: never landed

        assert raw_send(net, signed, skip=True)["result"] == signed.signature
        (status,) = statuses(net, signed.signature)
        assert status["err"] == {"InstructionError": [0, {"Custom": 1}]}
        net.advance(1)
        seen = chain.get_signature_statuses([signed.signature])[signed.signature]
        assert (seen.found, seen.confirmed) == (True, False)
        assert seen.err == '{"InstructionError":[0,{"Custom":1}]}'
    meta = net.result("getTransaction", signed.signature, GET_TX)["meta"]
    assert meta["status"] == {"Err": {"InstructionError": [0, {"Custom": 1}]}}
    assert meta["fee"] == FEE and meta["preBalances"][0] - meta["postBalances"][0] == FEE
    assert meta["preTokenBalances"] == meta["postTokenBalances"]
    assert net.token_balance(source) == 100
    listed = net.result("getSignaturesForAddress", vault["vault"], CONFIRMED)
    assert listed[0]["err"] == status["err"] and listed[0]["memo"] == "[8] xorj:big"


def test_dropped_transactions_are_answered_and_never_land(net: Localnet) -> None:
    vault = net.new_vault()
    net.result("xorjSetFaults", {"drop_rate": 1.0})
    try:
        with net.chain() as chain:
            blockhash = chain.get_latest_blockhash()
            _, signed = transfer(
                net.authority(), vault, maker_usdc(net), 7, blockhash.value, "xorj:lost"
            )
            assert chain.send_transaction(signed) == signed.signature
            net.advance(2)
            assert chain.get_signature_statuses([signed.signature])[signed.signature].found is False
    finally:
        net.result("xorjSetFaults", {"drop_rate": 0.0})
    assert net.token_balance(vault["accounts"][USDC.mint]) == 10**9
    assert net.stats()["dropped"] >= 1


def test_unavailable_answers_503_then_recovers(net: Localnet) -> None:
    net.result("xorjSetFaults", {"unavailable_seconds": 1.0})
    with net.chain(retries=0) as chain:
        with pytest.raises(ChainUnavailable):
            chain.get_block_height()
        body = {"jsonrpc": "2.0", "id": 1, "method": "getHealth"}
        assert net.client.post(net.url, json=body).status_code == 503
        assert net.client.get(f"{net.url}/health").status_code == 503
        assert net.stats()["unavailable_seconds"] > 0  # admin calls still answered
        deadline = time.monotonic() + 5
        while True:
            try:
                chain.get_block_height()
                break
            except ChainUnavailable:
                assert time.monotonic() < deadline, "still unavailable"
                time.sleep(0.1)


# --- throughput, on a ticking clock --------------------------------------------------------


def test_burst_of_transfers_and_sigterm() -> None:
    count = 200
    with localnet("--slot-ms", "100") as net:
        vault = net.new_vault(usdc=10**9)
        authority, destination = net.authority(), maker_usdc(net)
        with net.chain() as chain:
            started = time.perf_counter()
            signatures = []
            for i in range(count):
                blockhash = chain.get_latest_blockhash()
                _, signed = transfer(
                    authority, vault, destination, 1, blockhash.value, f"xorj:burst:{i}"
                )
                signatures.append(chain.send_transaction(signed))
            sent = time.perf_counter() - started
            deadline = time.monotonic() + 30
            while True:
                found = chain.get_signature_statuses(signatures)
                if all(s.confirmed for s in found.values()):
                    break
                assert time.monotonic() < deadline, "the burst did not confirm"
                time.sleep(0.05)
            confirmed = time.perf_counter() - started
            first = signatures[0]
            again = net.rpc("sendTransaction", _raw_of(net, first), {"encoding": "base64"})
            assert again["error"]["data"]["err"] == "AlreadyProcessed"
        assert net.token_balance(vault["accounts"][USDC.mint]) == 10**9 - count
        stats = net.stats()
        assert (stats["executed"], stats["failed"], stats["sent"]) == (count, 0, count + 1)
        report_figures(
            "localnet burst (sequential send, then wait confirmed)",
            transactions=count,
            sent_per_s=round(count / sent, 1),
            confirmed_per_s=round(count / confirmed, 1),
            ms_per_tx_send=round(sent / count * 1000, 2),
            seconds_to_all_confirmed=round(confirmed, 2),
        )
        net.proc.send_signal(signal.SIGTERM)
        assert net.proc.wait(timeout=10) == 0
        lines = [json.loads(line) for line in net.output().splitlines()]
        assert {"method", "ms", "error"} <= lines[0].keys()
        assert lines[-1]["event"] == "stopped"


def _raw_of(net: Localnet, signature: str) -> str:
    """The wire transaction of a landed signature, from getTransaction."""
    deadline = time.monotonic() + 10
    while (found := net.result("getTransaction", signature, GET_TX)) is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return found["transaction"][0]
