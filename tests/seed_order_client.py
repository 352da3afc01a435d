"""A client of the seed's order (FR-2.2 then FR-2.3: create the trade PENDING over HTTP,
sign and broadcast its swap, and only then record the signature with /submitted), which
kills itself with SIGKILL at the step it is told: the process tests/test_seed_order.py
runs many times on the local validator.

    python -m tests.seed_order_client --base URL --rpc-url URL --state-dir DIR \
        --job ID --vault V --from-token M --to-token M --amount-in N --expected-out N \
        --key CLIENT_ORDER_ID --crash after_broadcast|before_broadcast

The bot's token is read from XORJ_TEST_TOKEN. Before it dies it prints one JSON line, the
truth the test checks the recovery against: {"trade_id", "signature", "sent"}.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

import httpx

from app.chain.base import Intent
from app.chain.keys import load_keypair
from app.chain.rpc import SolanaRpcChain
from app.chain.signer import KeypairSigner
from app.chain.swap import MakerSwap

CRASHES = ("after_broadcast", "before_broadcast")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="seed_order_client")
    for name in ("base", "rpc-url", "state-dir", "job", "vault", "from-token", "to-token", "key"):
        p.add_argument(f"--{name}", required=True)
    p.add_argument("--amount-in", type=int, required=True)
    p.add_argument("--expected-out", type=int, required=True)
    p.add_argument("--slippage-bps", type=int, default=50)
    p.add_argument("--crash", choices=CRASHES, required=True)
    args = p.parse_args(argv)
    headers = {"Authorization": f"Bearer {os.environ['XORJ_TEST_TOKEN']}"}
    state = Path(args.state_dir)

    # FR-2.2: the trade, PENDING.
    created = httpx.post(
        f"{args.base}/internal/trades",
        headers=headers,
        timeout=10,
        json={
            "job_id": args.job,
            "user_vault_address": args.vault,
            "client_order_id": args.key,
            "from_token_address": args.from_token,
            "to_token_address": args.to_token,
            "amount_in": args.amount_in,
            "expected_amount_out": args.expected_out,
            "venue": "localnet",
        },
    )
    if created.status_code != 201:
        print(f"create: {created.status_code} {created.text}", file=sys.stderr)
        return 1
    trade_id = created.json()["trade"]["id"]

    # Sign with a fresh blockhash, as the seed's executor does.
    signer = KeypairSigner(
        load_keypair(str(state / "authority.json")),
        MakerSwap(load_keypair(str(state / "maker.json"), what="maker"), args.slippage_bps),
    )
    with SolanaRpcChain(args.rpc_url) as chain:
        tx = signer.sign(
            Intent(
                trade_id=trade_id,
                vault=args.vault,
                from_token=args.from_token,
                to_token=args.to_token,
                amount_in=args.amount_in,
                expected_amount_out=args.expected_out,
                client_order_id=args.key,
            ),
            chain.get_latest_blockhash(),
        )
        sent = args.crash == "after_broadcast"
        if sent:
            chain.send_transaction(tx)
    print(json.dumps({"trade_id": trade_id, "signature": tx.signature, "sent": sent}), flush=True)
    # FR-2.3 would record the signature now (/submitted): the client dies first.
    os.kill(os.getpid(), signal.SIGKILL)
    return 2  # not reached


if __name__ == "__main__":
    sys.exit(main())
