"""The local validator's chain (app.chain.localnet): LiteSVM behind one lock, a slot clock,
a blockhash registry, a signature index, faults and counters.

LiteSVM runs the real runtime (the SPL Token and Memo programs, fees, signature
verification) with its own blockhash check off; this module does what a node around the
runtime does:

* the clock: each slot advances the block height by 1 and expires LiteSVM's blockhash, so
  each slot has its own blockhash, valid while block height <= its lastValidBlockHeight
  (its height + blockhash_validity). The slot number runs FIRST_SLOT ahead of the block
  height (as on a real cluster, where skipped slots put them apart), so a client that
  confuses the two is caught.
* commitment: a transaction lands in the current slot: "processed" in it, "confirmed"
  once 1 more slot has passed, "finalized" 32 slots after it.
* the signature index keeps every landed transaction (succeeded or failed) for good:
  LiteSVM's own history is short and is not relied on. A signature already there is
  never executed again.
* sendTransaction as a node does it: see Ledger.send.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from solders.clock import Clock
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata, TransactionMetadata
from solders.transaction_status import TransactionErrorInstructionError

from app.chain.localnet_setup import (
    Setup,
    add_lamports,
    fund_vault,
    install,
    mint_decimals,
    token_account_of,
)
from app.chain.localnet_wire import (
    INTERNAL_ERROR,
    SIGNATURE_VERIFICATION_FAILURE,
    Landed,
    RpcFault,
    err_json,
    inner_instructions,
    invalid_params,
    memo_of,
    preflight_failure,
    ui_amount,
)

FIRST_SLOT = 1000  # the slot of block height 0
CONFIRMED_AFTER = 1  # slots after the landing slot
FINALIZED_AFTER = 32
STATUS_CACHE_SLOTS = 300  # what getSignatureStatuses searches without searchTransactionHistory
COMMITMENTS = ("processed", "confirmed", "finalized")
FAUCET_LAMPORTS = 10**18
MAX_ADVANCE = 10_000


@dataclass
class Stats:
    sent: int = 0  # sendTransaction calls that got as far as a decoded transaction
    executed: int = 0  # landed, succeeded or failed
    failed: int = 0  # landed with an err
    dropped: int = 0  # answered, then lost (drop_rate)
    duplicates_refused: int = 0
    expired_refused: int = 0
    preflight_refused: int = 0  # failed simulation (or signature verification)
    rejected: int = 0  # skipPreflight, then refused by the runtime before any fee
    airdrops: int = 0


@dataclass
class Faults:
    drop_rate: float = 0.0
    unavailable_until: float = 0.0  # time.monotonic()


@dataclass
class Ledger:
    setup: Setup
    slot_ms: float = 400.0
    blockhash_validity: int = 150
    vault_usdc: int = 0
    seed: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)
    stats: Stats = field(default_factory=Stats)
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self) -> None:
        self.svm = LiteSVM().with_blockhash_check(False).with_sigverify(True)
        self.rng = random.Random(self.seed)
        self.height = 0
        self.slot = FIRST_SLOT
        self.epoch_start = int(time.time())
        self.valid: dict[str, int] = {}  # blockhash -> lastValidBlockHeight, oldest first
        # (slot, blockhash, lastValidBlockHeight) of the newest blocks, for commitments
        self.recent: deque[tuple[int, str, int]] = deque(maxlen=FINALIZED_AFTER + 1)
        self.index: dict[str, Landed] = {}
        self.by_address: defaultdict[str, list[str]] = defaultdict(list)
        self.faucet = Keypair()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        with self.lock:
            install(self.svm, self.setup, self.vault_usdc)
            add_lamports(self.svm, self.faucet.pubkey(), FAUCET_LAMPORTS)
            self._register_blockhash()

    # -- the clock -------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="localnet-clock", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        period = self.slot_ms / 1000
        due = time.monotonic() + period
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            with self.lock:
                self.produce_slot()
            due += period
            if time.monotonic() - due > 10 * period:  # stalled: do not catch up in a burst
                due = time.monotonic() + period

    def produce_slot(self) -> None:
        """One slot (caller holds the lock): height + 1, a new blockhash."""
        self.slot += 1
        self.height += 1
        self.svm.expire_blockhash()
        self._register_blockhash()
        while self.valid:
            oldest = next(iter(self.valid))
            if self.valid[oldest] >= self.height:
                break
            del self.valid[oldest]

    def _register_blockhash(self) -> None:
        blockhash = str(self.svm.latest_blockhash())
        last_valid = self.height + self.blockhash_validity
        self.valid[blockhash] = last_valid
        self.recent.append((self.slot, blockhash, last_valid))
        now = int(time.time())
        self.svm.set_clock(Clock(self.slot, self.epoch_start, 0, 0, now))

    def advance(self, slots: int) -> None:
        if not 0 <= slots <= MAX_ADVANCE:
            raise invalid_params(f"slots must be an integer from 0 to {MAX_ADVANCE}")
        with self.lock:
            for _ in range(slots):
                self.produce_slot()

    # -- commitment ------------------------------------------------------------------

    def slot_at(self, commitment: str) -> int:
        behind = {"processed": 0, "confirmed": CONFIRMED_AFTER, "finalized": FINALIZED_AFTER}
        return max(FIRST_SLOT, self.slot - behind[commitment])

    def height_at(self, commitment: str) -> int:
        return self.slot_at(commitment) - FIRST_SLOT

    def blockhash_at(self, commitment: str) -> tuple[str, int]:
        """(blockhash, lastValidBlockHeight) of the newest block at `commitment`."""
        slot = self.slot_at(commitment)
        _, blockhash, last_valid = next((r for r in self.recent if r[0] == slot), self.recent[0])
        return blockhash, last_valid

    def status(self, landed: Landed) -> str:
        age = self.slot - landed.slot
        if age >= FINALIZED_AFTER:
            return "finalized"
        return "confirmed" if age >= CONFIRMED_AFTER else "processed"

    def reached(self, landed: Landed, commitment: str) -> bool:
        return COMMITMENTS.index(self.status(landed)) >= COMMITMENTS.index(commitment)

    def find(self, signature: str, search_history: bool = True) -> Landed | None:
        landed = self.index.get(signature)
        if landed is None:
            return None
        if not search_history and self.slot - landed.slot > STATUS_CACHE_SLOTS:
            return None
        return landed

    # -- faults ----------------------------------------------------------------------

    def set_faults(self, drop_rate: Any = None, unavailable_seconds: Any = None) -> None:
        with self.lock:
            if drop_rate is not None:
                if not _number(drop_rate) or not 0 <= drop_rate <= 1:
                    raise invalid_params("drop_rate must be a number from 0 to 1")
                self.faults.drop_rate = float(drop_rate)
            if unavailable_seconds is not None:
                if not _number(unavailable_seconds) or not 0 <= unavailable_seconds <= 3600:
                    raise invalid_params("unavailable_seconds must be a number from 0 to 3600")
                self.faults.unavailable_until = time.monotonic() + unavailable_seconds

    def unavailable(self) -> bool:
        return time.monotonic() < self.faults.unavailable_until

    def stats_document(self) -> dict[str, Any]:
        with self.lock:
            return {
                "slot": self.slot,
                "block_height": self.height,
                **vars(self.stats),
                "drop_rate": self.faults.drop_rate,
                "unavailable_seconds": round(
                    max(0.0, self.faults.unavailable_until - time.monotonic()), 3
                ),
            }

    def fund_vault(self, vault: Any, usdc: Any) -> dict[str, Any]:
        if not isinstance(usdc, int) or isinstance(usdc, bool):
            raise invalid_params("usdc must be an integer (base units)")
        with self.lock:
            try:
                result = fund_vault(self.svm, self.setup, vault, usdc)
            except ValueError as exc:
                raise invalid_params(str(exc)) from None
            self.setup.save()
            return result

    # -- transactions ----------------------------------------------------------------

    def send(self, tx: VersionedTransaction, skip_preflight: bool) -> str:
        """What a node does with sendTransaction; returns the signature.

        Preflight (skip_preflight False) refuses, with the node's JSON-RPC errors: a bad
        signature (-32003), then with -32002 "Transaction simulation failed: ..." (data:
        err, logs) an unknown or expired blockhash (BlockhashNotFound), a signature already
        landed (AlreadyProcessed), a failing simulation (e.g. an InstructionError).
        Without preflight the signature is answered whatever happens, as a node forwards
        the transaction to the leader: an expired or already-landed one is never executed
        (its status stays what it was); any other is executed and lands with its err,
        fee charged, unless the runtime refuses it before charging a fee (a bad
        signature, no funds for the fee: then it never lands).
        Either way, with drop_rate r the transaction is lost with probability r after
        preflight: answered, never executed."""
        signature = str(tx.signatures[0])
        message = tx.message
        with self.lock:
            self.stats.sent += 1
            if not skip_preflight and not all(tx.verify_with_results()):
                self.stats.preflight_refused += 1
                raise RpcFault(
                    SIGNATURE_VERIFICATION_FAILURE, "Transaction signature verification failure"
                )
            last_valid = self.valid.get(str(message.recent_blockhash))
            if last_valid is None or last_valid < self.height:
                self.stats.expired_refused += 1
                if skip_preflight:
                    return signature
                raise preflight_failure("BlockhashNotFound")
            if signature in self.index:
                self.stats.duplicates_refused += 1
                if skip_preflight:
                    return signature
                raise preflight_failure("AlreadyProcessed")
            if not skip_preflight:
                simulated = self.svm.simulate_transaction(tx)
                if isinstance(simulated, FailedTransactionMetadata):
                    self.stats.preflight_refused += 1
                    meta = simulated.meta()
                    err = err_json(simulated.err())
                    raise preflight_failure(err, meta.logs(), meta.compute_units_consumed())
            if self.faults.drop_rate and self.rng.random() < self.faults.drop_rate:
                self.stats.dropped += 1
                return signature
            self._execute(tx, signature)
            return signature

    def _execute(self, tx: VersionedTransaction, signature: str) -> Landed | None:
        keys = list(tx.message.account_keys)
        pre_balances = [self._lamports(k) for k in keys]
        pre_tokens = self._token_balances(keys)
        result = self.svm.send_transaction(tx)
        post_balances = [self._lamports(k) for k in keys]
        if isinstance(result, TransactionMetadata):
            meta, err = result, None
        else:
            meta, raw_err = result.meta(), result.err()
            err = err_json(raw_err)
            charged = bool(keys) and post_balances[0] < pre_balances[0]
            if not (isinstance(raw_err, TransactionErrorInstructionError) or charged):
                self.stats.rejected += 1  # refused before any fee: not in a block
                return None
            self.stats.failed += 1
        self.stats.executed += 1
        landed = Landed(
            signature=signature,
            slot=self.slot,
            block_time=int(time.time()),
            tx=tx,
            err=err,
            fee=meta.fee(),
            logs=list(meta.logs()),
            units=meta.compute_units_consumed(),
            inner=inner_instructions(meta),
            pre_balances=pre_balances,
            post_balances=post_balances,
            pre_tokens=pre_tokens,
            post_tokens=self._token_balances(keys),
            memo=memo_of(tx.message),
        )
        self.index[signature] = landed
        for key in dict.fromkeys(str(k) for k in keys):
            self.by_address[key].append(signature)
        return landed

    def airdrop(self, to: Pubkey, lamports: int) -> str:
        """A system transfer from the faucet, landing like any transaction."""
        with self.lock:
            blockhash = self.svm.latest_blockhash()
            ix = transfer(
                TransferParams(from_pubkey=self.faucet.pubkey(), to_pubkey=to, lamports=lamports)
            )
            message = MessageV0.try_compile(self.faucet.pubkey(), [ix], [], blockhash)
            tx = VersionedTransaction(message, [self.faucet])
            signature = str(tx.signatures[0])
            if signature in self.index:
                raise RpcFault(
                    INTERNAL_ERROR,
                    "airdrop request failed: an identical airdrop "
                    "landed in this slot; try again in the next one",
                )
            landed = self._execute(tx, signature)
            if landed is None or landed.err is not None:
                raise RpcFault(INTERNAL_ERROR, "airdrop request failed")
            self.stats.airdrops += 1
            return signature

    def _lamports(self, key: Pubkey) -> int:
        return self.svm.get_balance(key) or 0

    def _token_balances(self, keys: list[Pubkey]) -> list[dict[str, Any]]:
        balances = []
        for index, key in enumerate(keys):
            account = self.svm.get_account(key)
            state = token_account_of(account)
            if state is None or account is None:
                continue
            decimals = mint_decimals(self.svm, state.mint)
            if decimals is None:
                continue
            balances.append(
                {
                    "accountIndex": index,
                    "mint": str(state.mint),
                    "owner": str(state.owner),
                    "programId": str(account.owner),
                    "uiTokenAmount": ui_amount(state.amount, decimals),
                }
            )
        return balances


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
