"""The simulated chain and signer: deterministic, durable, shared safely between processes."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app import base58
from app.chain.base import Blockhash, ChainError, ChainUnavailable, Intent, SignedTransaction
from app.chain.sim import (
    CONFIRMED,
    DROPPED,
    EXPIRED,
    FAILED,
    FAILED_ERR,
    FEE_LAMPORTS,
    SimulatedChain,
    SimulatedSigner,
)
from tests.solana import address

REPO = Path(__file__).resolve().parent.parent


def intent(n: int, expected: int = 1_000_000) -> Intent:
    return Intent(
        trade_id=f"00000000-0000-4000-8000-{n:012d}",
        vault=address(n),
        from_token=address(10_000),
        to_token=address(10_001),
        amount_in=500_000,
        expected_amount_out=expected,
    )


def send_one(chain: SimulatedChain, n: int) -> SignedTransaction:
    tx = SimulatedSigner().sign(intent(n), chain.get_latest_blockhash())
    assert chain.send_transaction(tx) == tx.signature
    return tx


def test_base58() -> None:
    assert base58.encode(b"") == ""
    assert base58.encode(b"\0\0\x01") == "112"
    assert base58.encode(bytes([255] * 4)) == "7YXq9G"


def test_signer_signature_shape_and_determinism() -> None:
    chain = SimulatedChain()
    signer = SimulatedSigner()
    bh = chain.get_latest_blockhash()
    assert set(bh.value) <= set(base58.ALPHABET) and 32 <= len(bh.value) <= 44
    tx = signer.sign(intent(1), bh)
    assert len(tx.signature) == 88 and set(tx.signature) <= set(base58.ALPHABET)
    assert tx.last_valid_block_height == bh.last_valid_block_height
    assert signer.sign(intent(1), bh) == tx  # same intent, same blockhash: same signature
    other_bh = chain.get_latest_blockhash()
    assert other_bh.value != bh.value
    assert signer.sign(intent(1), other_bh).signature != tx.signature
    assert signer.sign(intent(2), bh).signature != tx.signature
    payload = json.loads(base64.b64decode(tx.raw))
    assert payload == {
        "trade_id": intent(1).trade_id,
        "vault": intent(1).vault,
        "from": intent(1).from_token,
        "to": intent(1).to_token,
        "amount_in": 500_000,
        "expected_amount_out": 1_000_000,
        "blockhash": bh.value,
        "lvbh": bh.last_valid_block_height,
    }
    # 1000 signatures: all 88 characters, all distinct.
    sigs = {signer.sign(intent(n), bh).signature for n in range(1000)}
    assert len(sigs) == 1000 and {len(s) for s in sigs} == {88}


def test_time_passes_with_calls() -> None:
    chain = SimulatedChain(blocks_per_call=2, blockhash_validity=150)
    h0 = chain.peek_block_height()
    assert chain.get_block_height() == h0 + 2
    bh = chain.get_latest_blockhash()
    assert bh.last_valid_block_height == h0 + 4 + 150
    assert chain.peek_block_height() == h0 + 4
    chain.get_signature_statuses([])
    assert chain.advance(10) == h0 + 14


def test_send_lands_at_next_height_and_confirms() -> None:
    chain = SimulatedChain(seed=1)
    tx = send_one(chain, 1)
    height = chain.peek_block_height()
    # Lands in the next block: not visible until the height reaches it.
    assert chain.get_signature_statuses([tx.signature])[tx.signature].found is False
    assert chain.get_block_height() == height + 1
    status = chain.get_signature_statuses([tx.signature])[tx.signature]
    assert status.found and status.confirmed and status.err is None
    assert status.slot == height + 1
    assert status.fee == FEE_LAMPORTS
    assert status.amount_out is not None and 990_000 <= status.amount_out <= 1_000_000
    assert chain.outcome(tx.signature) == CONFIRMED


def test_failed_on_chain() -> None:
    chain = SimulatedChain(failure_rate=1.0)
    tx = send_one(chain, 1)
    chain.get_block_height()
    status = chain.get_signature_statuses([tx.signature])[tx.signature]
    assert status.found and not status.confirmed
    assert status.err == FAILED_ERR and status.fee == FEE_LAMPORTS and status.amount_out is None
    assert chain.outcome(tx.signature) == FAILED


def test_get_delivery_answers_as_the_status() -> None:
    """get_delivery gives what get_signature_statuses gives (amount and fee included) for
    the vault and target token the transaction was signed for; another owner or mint got
    nothing; not found, failed and unavailable answer as the statuses do."""
    chain = SimulatedChain(seed=1)
    tx = send_one(chain, 1)
    vault, to = intent(1).vault, intent(1).to_token
    assert chain.get_delivery(tx.signature, vault, to).found is False  # lands next block
    chain.get_block_height()
    status = chain.get_signature_statuses([tx.signature])[tx.signature]
    assert status.amount_out is not None
    assert chain.get_delivery(tx.signature, vault, to) == status
    assert chain.get_delivery(tx.signature, address(999), to).amount_out == 0
    assert chain.get_delivery(tx.signature, vault, intent(1).from_token).amount_out == 0
    assert chain.get_delivery("never-sent", vault, to).found is False

    failing = SimulatedChain(failure_rate=1.0)
    tx = send_one(failing, 1)
    failing.get_block_height()
    failed = failing.get_delivery(tx.signature, vault, to)
    assert failed == failing.get_signature_statuses([tx.signature])[tx.signature]
    assert failed.err == FAILED_ERR and failed.fee == FEE_LAMPORTS

    with pytest.raises(ChainUnavailable):
        SimulatedChain(unavailable_rate=1.0).get_delivery(tx.signature, vault, to)


def test_broadcast_counting_and_no_double_landing() -> None:
    chain = SimulatedChain(seed=3)
    tx = send_one(chain, 1)
    chain.get_block_height()
    first = chain.get_signature_statuses([tx.signature])[tx.signature]
    for _ in range(4):
        assert chain.send_transaction(tx) == tx.signature
        chain.get_block_height()
    assert chain.broadcast_count(tx.signature) == 5
    assert chain.broadcasts[tx.signature] == 5
    assert chain.broadcast_count("never-sent") == 0
    assert chain.get_signature_statuses([tx.signature])[tx.signature] == first  # same slot


def test_unknown_signature_not_found() -> None:
    chain = SimulatedChain()
    statuses = chain.get_signature_statuses(["x", "y"])
    assert statuses == {
        "x": statuses["x"],
        "y": statuses["y"],
    }
    assert not statuses["x"].found and not statuses["y"].found


def test_forged_or_garbled_transaction_rejected() -> None:
    chain = SimulatedChain()
    tx = SimulatedSigner().sign(intent(1), chain.get_latest_blockhash())
    forged = SignedTransaction(tx.signature[:-1] + "z", tx.last_valid_block_height, tx.raw)
    with pytest.raises(ChainError) as excinfo:
        chain.send_transaction(forged)
    assert excinfo.value.code == -32003
    with pytest.raises(ChainError) as excinfo:
        chain.send_transaction(SignedTransaction(tx.signature, 1, "not base64!"))
    assert excinfo.value.code == -32602
    assert chain.broadcasts == {}


def test_determinism_and_order_independence() -> None:
    def run(order: list[int]) -> dict[int, tuple[str | None, int | None]]:
        chain = SimulatedChain(seed=42, drop_rate=0.3, failure_rate=0.3)
        signer = SimulatedSigner()
        bh = Blockhash("FixedBlockhash1111111111111111111111111111111", 10_000)
        txs = {n: signer.sign(intent(n), bh) for n in order}
        for n in order:
            chain.send_transaction(txs[n])
        chain.advance(5)
        statuses = chain.get_signature_statuses([tx.signature for tx in txs.values()])
        return {
            n: (chain.outcome(tx.signature), statuses[tx.signature].amount_out)
            for n, tx in txs.items()
        }

    forward = run(list(range(50)))
    assert forward == run(list(range(50)))  # same seed, same calls
    assert forward == run(list(reversed(range(50))))  # per-signature, whatever the order
    assert {outcome for outcome, _ in forward.values()} == {CONFIRMED, FAILED, DROPPED}

    a, b = SimulatedChain(seed=7), SimulatedChain(seed=7)
    assert [a.get_latest_blockhash() for _ in range(3)] == [
        b.get_latest_blockhash() for _ in range(3)
    ]
    assert (
        SimulatedChain(seed=8).get_latest_blockhash()
        != SimulatedChain(seed=7).get_latest_blockhash()
    )


def test_rates_roughly_honoured() -> None:
    chain = SimulatedChain(seed=2024, drop_rate=0.2, failure_rate=0.1)
    txs = [send_one(chain, n) for n in range(1000)]
    chain.get_block_height()
    statuses = chain.get_signature_statuses([tx.signature for tx in txs])
    dropped = sum(not s.found for s in statuses.values())
    failed = sum(s.found and s.err is not None for s in statuses.values())
    confirmed = sum(s.confirmed for s in statuses.values())
    assert dropped + failed + confirmed == 1000
    assert 150 <= dropped <= 250  # 200 expected
    assert 0.06 <= failed / (1000 - dropped) <= 0.14  # 10% of those landed
    outcomes = [chain.outcome(tx.signature) for tx in txs]
    assert outcomes.count(DROPPED) == dropped and outcomes.count(FAILED) == failed
    amounts = [s.amount_out for s in statuses.values() if s.confirmed]
    assert all(a is not None and 990_000 <= a <= 1_000_000 for a in amounts)
    assert len(set(amounts)) > 50  # slippage varies per signature


def test_sent_after_expiry_never_lands() -> None:
    chain = SimulatedChain(blockhash_validity=150)
    signer = SimulatedSigner()
    bh = chain.get_latest_blockhash()
    tx = signer.sign(intent(1), bh)
    chain.advance(150)  # height == lvbh: the next block would be past it
    chain.send_transaction(tx)
    assert chain.outcome(tx.signature) == EXPIRED
    for _ in range(5):
        chain.get_block_height()
        assert not chain.get_signature_statuses([tx.signature])[tx.signature].found
    # Still valid one block earlier: lands exactly at its last valid block height.
    bh2 = chain.get_latest_blockhash()
    tx2 = signer.sign(intent(2), bh2)
    chain.advance(149)
    chain.send_transaction(tx2)
    assert chain.get_block_height() == bh2.last_valid_block_height
    assert chain.get_signature_statuses([tx2.signature])[tx2.signature].slot == (
        bh2.last_valid_block_height
    )


def test_dropped_never_lands_and_is_known_expired() -> None:
    chain = SimulatedChain(drop_rate=1.0, blockhash_validity=20)
    tx = send_one(chain, 1)
    chain.send_transaction(tx)  # a re-broadcast does not revive it
    height = chain.get_block_height()
    while height <= tx.last_valid_block_height:
        assert not chain.get_signature_statuses([tx.signature])[tx.signature].found
        height = chain.get_block_height()
    # The height has passed the last valid one and the chain does not know the signature:
    # it can never land.
    assert height > tx.last_valid_block_height
    assert not chain.get_signature_statuses([tx.signature])[tx.signature].found
    assert chain.outcome(tx.signature) == DROPPED
    assert chain.broadcast_count(tx.signature) == 2


def test_unavailable_rate() -> None:
    chain = SimulatedChain(seed=5, unavailable_rate=0.3)
    errors = 0
    for _ in range(300):
        try:
            chain.get_block_height()
        except ChainUnavailable:
            errors += 1
    assert 50 <= errors <= 130
    # Deterministic from the seed and the call counter.
    again = SimulatedChain(seed=5, unavailable_rate=0.3)
    pattern = []
    for _ in range(300):
        try:
            again.get_block_height()
            pattern.append(True)
        except ChainUnavailable:
            pattern.append(False)
    assert pattern.count(False) == errors
    # A send whose answer is lost may have gone out: the broadcast is counted either way.
    sender = SimulatedChain(seed=5, unavailable_rate=0.5)
    signer = SimulatedSigner()
    bh = Blockhash("FixedBlockhash1111111111111111111111111111111", 10_000)
    lost_but_sent = 0
    for n in range(100):
        tx = signer.sign(intent(n), bh)
        try:
            sender.send_transaction(tx)
        except ChainUnavailable:
            lost_but_sent += sender.broadcast_count(tx.signature)
    assert lost_but_sent > 0
    assert sum(sender.broadcasts.values()) < 100


def test_latency() -> None:
    import time

    chain = SimulatedChain(latency=0.02)
    start = time.monotonic()
    for _ in range(3):
        chain.get_block_height()
    assert time.monotonic() - start >= 0.06


def test_state_file_survives_a_new_instance(tmp_path: Path) -> None:
    path = tmp_path / "chain.json"
    chain = SimulatedChain(seed=9, state_file=path, failure_rate=0.5)
    txs = [send_one(chain, n) for n in range(10)]
    chain.send_transaction(txs[0])
    height = chain.get_block_height()
    before = chain.get_signature_statuses([tx.signature for tx in txs])
    del chain

    reopened = SimulatedChain(seed=9, state_file=path, failure_rate=0.5)
    assert reopened.peek_block_height() == height
    assert reopened.get_signature_statuses([tx.signature for tx in txs]) == before
    assert reopened.broadcast_count(txs[0].signature) == 2
    assert sum(reopened.broadcasts.values()) == 11
    assert {p.name for p in tmp_path.iterdir()} == {"chain.json", "chain.json.lock"}
    with pytest.raises(ValueError, match="seed"):
        SimulatedChain(seed=10, state_file=path)


SHARED_BLOCKHASH = Blockhash("SharedBlockhash111111111111111111111111111111", 10**9)
SHARED_INTENT = Intent("shared", "v", "a", "b", 1, 100)

_WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from app.chain.base import Intent
    from app.chain.sim import SimulatedChain, SimulatedSigner
    from tests.test_chain_sim import SHARED_BLOCKHASH, SHARED_INTENT

    path, who, n, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    chain = SimulatedChain(seed=11, state_file=path)
    signer = SimulatedSigner()
    shared = signer.sign(SHARED_INTENT, SHARED_BLOCKHASH)
    while not go.exists():
        time.sleep(0.005)
    for i in range(n):
        chain.send_transaction(shared)
        own = signer.sign(
            Intent(f"{who}-{i}", "v", "a", "b", 1, 100), chain.get_latest_blockhash()
        )
        chain.send_transaction(own)
    """
)


def test_two_processes_share_one_state_file(tmp_path: Path) -> None:
    path = tmp_path / "chain.json"
    go = tmp_path / "go"
    chain = SimulatedChain(seed=11, state_file=path)  # creates the file
    start = chain.peek_block_height()
    n = 40
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(path), who, str(n), str(go)],
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in ("bot1", "bot2")
    ]
    go.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err

    shared = SimulatedSigner().sign(SHARED_INTENT, SHARED_BLOCKHASH).signature
    broadcasts = chain.broadcasts  # read back from the file
    assert broadcasts[shared] == 2 * n  # the same signature from both processes
    others = {sig: count for sig, count in broadcasts.items() if sig != shared}
    assert len(others) == 2 * n and set(others.values()) == {1}
    # Every get_latest_blockhash of either process advanced the one shared height.
    assert chain.peek_block_height() == start + 2 * n
    assert all(chain.outcome(sig) == CONFIRMED for sig in others)
