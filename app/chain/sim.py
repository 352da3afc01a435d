"""A deterministic simulated chain and signer, for local runs and tests (crash tests included).

SimulatedChain implements base.Chain:

* Time: the block height starts at START_HEIGHT and advances by `blocks_per_call` on every
  get_block_height / get_latest_blockhash call (time passes as the bot works); advance()
  moves it explicitly. get_latest_blockhash returns a base58 blockhash derived from (seed,
  height) and last_valid_block_height = height + blockhash_validity.
* Sending: every call counts one broadcast of the signature (`broadcasts`,
  `broadcast_count`). The first broadcast of a signature decides its fate, once and for
  all (re-sending never lands it twice, nor revives a dropped one):
    - sent when height >= its last valid block height: "expired", never lands (it could
      only land in the next block, past its last valid one);
    - else with probability drop_rate: "dropped", never lands;
    - else it lands in the next block (slot = height + 1) and, with probability
      failure_rate, fails on chain (err "InstructionError: slippage", fee paid), or
      confirms with amount_out = expected_amount_out less a deterministic 0..1% slippage
      and fee FEE_LAMPORTS.
  A landed transaction is visible to get_signature_statuses (and get_delivery, which
  gives the same answer for the vault and target token it was signed for) once the
  height has reached its slot (the next get_block_height call); dropped and expired ones
  are never found. A transaction that lands always lands at or before its last valid
  block height, so "not found while the height is past its last valid one" means it never
  will.
* Randomness is a hash of (seed, signature, purpose) (sha256; Python's hash() is salted per
  process), so a signature's outcome does not depend on call order, on other signatures,
  or on which process sends it.
* `latency` seconds of sleep per call. With `unavailable_rate`, a call raises
  ChainUnavailable with that probability, drawn from (seed, a per-instance call counter);
  an unavailable send_transaction has, with probability 1/2, already broadcast the
  transaction (the answer was lost, as with a real timeout).
* state_file: the chain's state (height, broadcasts, outcomes) lives in that JSON file,
  read under an flock of `<state_file>.lock` at every call and rewritten atomically (temp
  file, fsync, os.replace, fsync of the directory) at every mutation, so it survives
  SIGKILL and is shared by several processes without losing updates. The file records the
  seed; opening it with another seed raises ValueError. Without state_file the state is
  in memory (thread-safe).

SimulatedSigner implements base.Signer for SimulatedChain only: the signature is an
88-character base58 string (a 64-byte value, like a real ed25519 signature) derived from
(trade_id, blockhash), and raw is base64 of a small JSON document the chain decodes.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app import base58
from app.chain.base import (
    Blockhash,
    ChainError,
    ChainUnavailable,
    FoundTransaction,
    Intent,
    SignatureStatus,
    SignedTransaction,
    TradeSearch,
)

START_HEIGHT = 1_000
FEE_LAMPORTS = 5_000
FAILED_ERR = "InstructionError: slippage"
MAX_SLIPPAGE_BPS = 100  # 1%
STATE_VERSION = 1

# Outcomes of a signature, decided at its first broadcast.
CONFIRMED = "confirmed"
FAILED = "failed"
DROPPED = "dropped"
EXPIRED = "expired"


def sim_signature(trade_id: str, blockhash: str) -> str:
    """The simulated signature of a trade's transaction with a blockhash: 64 bytes with the
    top bit set (so always 88 base58 characters), deterministic."""
    digest = bytearray(
        hashlib.sha512(f"xorj-sim-signature\0{trade_id}\0{blockhash}".encode()).digest()
    )
    digest[0] |= 0x80
    return base58.encode(bytes(digest))


def _fresh_state(seed: int) -> dict[str, Any]:
    return {
        "version": STATE_VERSION,
        "seed": seed,
        "height": START_HEIGHT,
        "broadcasts": {},
        "txs": {},
    }


class SimulatedChain:
    def __init__(
        self,
        seed: int = 0,
        latency: float = 0.0,
        drop_rate: float = 0.0,
        failure_rate: float = 0.0,
        blocks_per_call: int = 1,
        blockhash_validity: int = 150,
        state_file: str | os.PathLike[str] | None = None,
        unavailable_rate: float = 0.0,
    ) -> None:
        for name, rate in (
            ("drop_rate", drop_rate),
            ("failure_rate", failure_rate),
            ("unavailable_rate", unavailable_rate),
        ):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        if blocks_per_call < 0 or blockhash_validity < 0:
            raise ValueError("blocks_per_call and blockhash_validity must be >= 0")
        self.seed = seed
        self.latency = latency
        self.drop_rate = drop_rate
        self.failure_rate = failure_rate
        self.blocks_per_call = blocks_per_call
        self.blockhash_validity = blockhash_validity
        self.unavailable_rate = unavailable_rate
        self.state_file = Path(state_file) if state_file is not None else None
        self._mutex = threading.Lock()
        self._calls = 0
        self._memory: dict[str, Any] = _fresh_state(seed)
        if self.state_file is not None:
            with self._locked(exclusive=True):
                if self.state_file.exists():
                    stored = self._load()
                    if stored.get("seed") != seed:
                        raise ValueError(
                            f"{self.state_file} holds a chain of seed {stored.get('seed')!r}, "
                            f"not {seed!r}"
                        )
                else:
                    self._save(self._memory)

    # -- Chain -----------------------------------------------------------------------

    def get_latest_blockhash(self) -> Blockhash:
        self._begin_call()
        with self._state(write=True) as state:
            state["height"] += self.blocks_per_call
            height = state["height"]
        return Blockhash(
            value=self._blockhash_at(height),
            last_valid_block_height=height + self.blockhash_validity,
        )

    def get_block_height(self) -> int:
        self._begin_call()
        with self._state(write=True) as state:
            state["height"] += self.blocks_per_call
            return int(state["height"])

    def get_signature_statuses(self, signatures: list[str]) -> dict[str, SignatureStatus]:
        self._begin_call()
        with self._state(write=False) as state:
            height = state["height"]
            txs = state["txs"]
            return {sig: _status(txs.get(sig), height) for sig in signatures}

    def get_delivery(self, signature: str, owner: str, mint: str) -> SignatureStatus:
        """What get_signature_statuses says of `signature`, from the recorded outcome (it
        carries the amount and the fee already); the amount is 0 when `owner`/`mint` are
        not the vault and target token the transaction was signed for."""
        self._begin_call()
        with self._state(write=False) as state:
            tx = state["txs"].get(signature)
            status = _status(tx, state["height"])
        if status.amount_out is not None and tx is not None:
            vault, to = tx.get("vault"), tx.get("to")  # absent from older state files
            if (vault is not None and vault != owner) or (to is not None and to != mint):
                status = dataclasses.replace(status, amount_out=0)
        return status

    def send_transaction(self, tx: SignedTransaction) -> str:
        lost_answer = self._begin_call(send=True)
        payload = self._decode(tx)
        signature = tx.signature
        with self._state(write=True) as state:
            broadcasts = state["broadcasts"]
            broadcasts[signature] = broadcasts.get(signature, 0) + 1
            if signature not in state["txs"]:
                state["txs"][signature] = self._decide(signature, payload, state["height"])
        if lost_answer:
            raise ChainUnavailable("simulated: sendTransaction answer lost")
        return signature

    def find_trade(self, vault: str, trade_id: str, since: float) -> TradeSearch:
        """The landed transactions signed for `trade_id` and `vault` (what the simulated
        transaction carries in place of a memo), visible once the height reached their
        slot; the whole history is searched (`since` is not needed)."""
        self._begin_call()
        found = []
        with self._state(write=False) as state:
            height = state["height"]
            for signature, tx in state["txs"].items():
                if tx.get("trade_id") != trade_id or tx.get("vault") not in (None, vault):
                    continue
                status = _status(tx, height)
                if status.found:
                    found.append(FoundTransaction(signature, status.slot, status.err))
            scanned = len(state["txs"])
        found.sort(key=lambda f: f.slot or 0, reverse=True)
        return TradeSearch(found=tuple(found), scanned=scanned, complete=True)

    # -- inspection and control (tests, local runs) ------------------------------------

    @property
    def broadcasts(self) -> Counter[str]:
        """Broadcasts per signature (a snapshot: changing it changes nothing)."""
        with self._state(write=False) as state:
            return Counter({sig: int(n) for sig, n in state["broadcasts"].items()})

    def broadcast_count(self, signature: str) -> int:
        with self._state(write=False) as state:
            return int(state["broadcasts"].get(signature, 0))

    def outcome(self, signature: str) -> str | None:
        """CONFIRMED, FAILED, DROPPED or EXPIRED as decided at the first broadcast; None if
        never sent. (What the chain knows, not what get_signature_statuses shows yet.)"""
        with self._state(write=False) as state:
            tx = state["txs"].get(signature)
            return None if tx is None else str(tx["outcome"])

    def peek_block_height(self) -> int:
        """The current height, without letting time pass."""
        with self._state(write=False) as state:
            return int(state["height"])

    def advance(self, blocks: int = 1) -> int:
        """Let `blocks` blocks pass; returns the new height."""
        if blocks < 0:
            raise ValueError("blocks must be >= 0")
        with self._state(write=True) as state:
            state["height"] += blocks
            return int(state["height"])

    # -- internals -------------------------------------------------------------------

    def _unit(self, *parts: object) -> float:
        """A uniform number in [0, 1) from (seed, parts), the same in every process."""
        key = json.dumps([self.seed, *parts], separators=(",", ":")).encode()
        return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2**64

    def _blockhash_at(self, height: int) -> str:
        return base58.encode(
            hashlib.sha256(f"xorj-sim-blockhash\0{self.seed}\0{height}".encode()).digest()
        )

    def _begin_call(self, send: bool = False) -> bool:
        """Latency and simulated unavailability. For a send, returns whether the transaction
        goes out but its answer is lost (the caller raises ChainUnavailable after)."""
        if self.latency > 0:
            time.sleep(self.latency)
        if self.unavailable_rate <= 0:
            return False
        with self._mutex:
            self._calls += 1
            call = self._calls
        if self._unit("unavailable", call) >= self.unavailable_rate:
            return False
        if send and self._unit("answer-lost", call) < 0.5:
            return True
        raise ChainUnavailable("simulated: node unavailable")

    def _decode(self, tx: SignedTransaction) -> dict[str, Any]:
        try:
            payload = json.loads(base64.b64decode(tx.raw, validate=True))
            trade_id, blockhash = str(payload["trade_id"]), str(payload["blockhash"])
            int(payload["lvbh"])  # _decide reads both: refuse a transaction without them
            int(payload["expected_amount_out"])
        except (binascii.Error, ValueError, KeyError, TypeError) as exc:
            raise ChainError(f"failed to deserialize transaction: {exc}", -32602) from exc
        if sim_signature(trade_id, blockhash) != tx.signature:
            raise ChainError("Transaction signature verification failure", -32003)
        return dict(payload)

    def _decide(self, signature: str, payload: dict[str, Any], height: int) -> dict[str, Any]:
        lvbh = int(payload["lvbh"])
        record: dict[str, Any] = {
            "trade_id": payload["trade_id"],
            "vault": payload.get("vault"),
            "to": payload.get("to"),
            "lvbh": lvbh,
            "sent_at": height,
            "slot": None,
            "amount_out": None,
            "fee": None,
        }
        if height >= lvbh:
            record["outcome"] = EXPIRED
        elif self._unit("drop", signature) < self.drop_rate:
            record["outcome"] = DROPPED
        else:
            record["slot"] = height + 1
            record["fee"] = FEE_LAMPORTS
            if self._unit("fail", signature) < self.failure_rate:
                record["outcome"] = FAILED
            else:
                expected = int(payload["expected_amount_out"])
                bps = min(int(self._unit("slippage", signature) * (MAX_SLIPPAGE_BPS + 1)), 100)
                record["outcome"] = CONFIRMED
                record["amount_out"] = expected - expected * bps // 10_000
        return record

    @contextlib.contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        with self._mutex:
            if self.state_file is None:
                yield
                return
            lock_path = f"{self.state_file}.lock"
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
                yield
            finally:
                os.close(fd)  # releases the flock

    @contextlib.contextmanager
    def _state(self, write: bool) -> Iterator[dict[str, Any]]:
        """The state under the lock; saved when `write` and the block raised nothing."""
        with self._locked(exclusive=write):
            if self.state_file is None:
                yield self._memory
                return
            state = self._load()
            yield state
            if write:
                self._save(state)

    def _load(self) -> dict[str, Any]:
        assert self.state_file is not None
        with open(self.state_file, encoding="utf-8") as f:
            state = json.load(f)
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise ValueError(f"{self.state_file}: not a simulated chain state")
        return state

    def _save(self, state: dict[str, Any]) -> None:
        assert self.state_file is not None
        directory = self.state_file.parent
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{self.state_file.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(state, f, separators=(",", ":"))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.state_file)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _status(tx: dict[str, Any] | None, height: int) -> SignatureStatus:
    if tx is None or tx["slot"] is None or tx["slot"] > height:
        return SignatureStatus(found=False)
    if tx["outcome"] == FAILED:
        return SignatureStatus(
            found=True, confirmed=False, err=FAILED_ERR, slot=tx["slot"], fee=tx["fee"]
        )
    return SignatureStatus(
        found=True,
        confirmed=True,
        slot=tx["slot"],
        amount_out=tx["amount_out"],
        fee=tx["fee"],
    )


class SimulatedSigner:
    """base.Signer for SimulatedChain: no keys and no state, the signature is a hash of
    (trade_id, blockhash), so re-signing an intent with the same blockhash gives the same
    signature (in any process: the chain it is sent to need not be known here)."""

    def sign(self, intent: Intent, blockhash: Blockhash) -> SignedTransaction:
        payload = {
            "trade_id": intent.trade_id,
            "vault": intent.vault,
            "from": intent.from_token,
            "to": intent.to_token,
            "amount_in": intent.amount_in,
            "expected_amount_out": intent.expected_amount_out,
            "blockhash": blockhash.value,
            "lvbh": blockhash.last_valid_block_height,
        }
        raw = base64.b64encode(
            json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        ).decode("ascii")
        return SignedTransaction(
            signature=sim_signature(intent.trade_id, blockhash.value),
            last_valid_block_height=blockhash.last_valid_block_height,
            raw=raw,
        )
