"""GET /api/bot/trades, the user's own trade history, over real HTTP: `xorj serve` as a
process (tests/test_api_http.py's `serve`), tokens from `xorj token`, trades created and
moved through the bot's /internal endpoints.

A user sees the trades of their registered vault, newest first, with u64 amounts as
exact strings and the signature and timestamps of their progress; pages follow a cursor
and stay stable while trades are created between them; another user never sees them,
not even through a cursor; service tokens are 403 and no token 401.

One server and one database for the module (the tokens are made in parallel); each test
uses wallets and vaults of its own, so they do not depend on one another's order.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests import dbutil
from tests.conftest import app_url_of
from tests.solana import address, signature
from tests.test_api_http import _token, serve

HISTORY = "/api/bot/trades"
U64_MAX = "18446744073709551615"
FIELDS = {
    "id",
    "client_order_id",
    "status",
    "venue",
    "from_token_address",
    "to_token_address",
    "amount_in",
    "expected_amount_out",
    "actual_amount_out",
    "transaction_signature",
    "slippage_realized",
    "gas_fee",
    "error_message",
    "created_at",
    "submitted_at",
    "completed_at",
    "updated_at",
}

# wallets (users), their vaults, and the token pairs of the trades
WALLETS = {"A": address(7001), "B": address(7002), "C": address(7003), "P": address(7004)}
VAULTS = {"A": address(7101), "B": address(7102), "P": address(7104)}
_pairs = itertools.count(0)


@dataclass
class World:
    client: httpx.Client
    auth: dict[str, dict[str, str]]  # who -> Authorization header
    job_id: str

    def get(self, who: str, **params: Any) -> httpx.Response:
        return self.client.get(HISTORY, headers=self.auth[who], params=params or None)

    def history(self, who: str, **params: Any) -> dict[str, Any]:
        response = self.get(who, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["success"] is True
        return body

    def bot(self, path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
        response = self.client.post(path, headers=self.auth["bot"], json=body)
        assert response.status_code == status, response.text
        return response.json()

    def trade(self, who: str, key: str, amount_in: str = "1000", expected: str = "990") -> str:
        """A new PENDING trade of `who`'s vault (a token pair of its own): its id."""
        n = next(_pairs)
        created = self.bot(
            "/internal/trades",
            {
                "job_id": self.job_id,
                "user_vault_address": VAULTS[who],
                "client_order_id": key,
                "from_token_address": address(8000 + 2 * n),
                "to_token_address": address(8001 + 2 * n),
                "amount_in": amount_in,
                "expected_amount_out": expected,
            },
            201,
        )
        return created["trade"]["id"]


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert "Traceback" not in response.text
    return body


def _ids(body: dict[str, Any]) -> list[str]:
    return [t["id"] for t in body["trades"]]


@pytest.fixture(scope="module")
def world(template_db: str, owner_role: str) -> Iterator[World]:
    name = f"test_{os.getpid()}_trade_history"
    dbutil.create_database(name, owner_role, template=template_db)
    try:
        who = {
            **{k: {"wallet": w} for k, w in WALLETS.items()},
            "bot": {"role": "bot"},
            "engine": {"role": "engine"},
        }
        with ThreadPoolExecutor(len(who)) as pool:
            tokens = dict(zip(who, pool.map(lambda kw: _token(**kw), who.values()), strict=True))
        auth = {k: {"Authorization": f"Bearer {t}"} for k, t in tokens.items()}
        with serve(app_url_of(dbutil.url_for(name, owner_role))) as server:
            with httpx.Client(base_url=server.base, timeout=15) as client:
                for user, vault in VAULTS.items():
                    enabled = client.post(
                        "/api/bot/enable", headers=auth[user], json={"vaultAddress": vault}
                    )
                    assert enabled.status_code == 200, enabled.text
                job = client.post(
                    "/internal/execution-jobs",
                    headers=auth["bot"],
                    json={"trigger_reason": "SCHEDULED_RUN"},
                )
                assert job.status_code == 201, job.text
                job_id = job.json()["id"]
                started = client.post(
                    f"/internal/execution-jobs/{job_id}/start",
                    headers=auth["bot"],
                    json={"worker_id": "w1"},
                )
                assert started.status_code == 200, started.text
                yield World(client, auth, job_id)
            assert "Traceback" not in server.output(), server.output()
    finally:
        dbutil.drop_database(name)


@pytest.fixture(scope="module")
def a_trades(world: World) -> dict[str, str]:
    """A's trades, oldest first: a1 CONFIRMED (2^64-1 in and out), a2 FAILED, a3 PENDING."""
    a1 = world.trade("A", "a1", U64_MAX, U64_MAX)
    a2 = world.trade("A", "a2")
    a3 = world.trade("A", "a3")
    world.bot(f"/internal/trades/{a1}/submitted", {"transaction_signature": signature(7001)})
    world.bot(
        f"/internal/trades/{a1}/confirmed",
        {"actual_amount_out": U64_MAX, "slippage_realized": 0.5, "gas_fee": "5000"},
    )
    world.bot(f"/internal/trades/{a2}/failed", {"error_message": "slippage exceeded"})
    return {"a1": a1, "a2": a2, "a3": a3}


def test_a_user_sees_their_trades_newest_first_with_exact_amounts(
    world: World, a_trades: dict[str, str]
) -> None:
    response = world.get("A")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert body["requestId"] == response.headers["x-request-id"]
    assert body["timestamp"].endswith("Z")
    assert _ids(body) == [a_trades["a3"], a_trades["a2"], a_trades["a1"]]
    assert body["nextCursor"] is None  # 3 trades: the page of 50 is not full

    for trade in body["trades"]:
        assert set(trade) == FIELDS  # no job, claim, worker or block height
    a3, a2, a1 = body["trades"]
    # u64 amounts are JSON strings, exact above 2^53
    assert f'"amount_in":"{U64_MAX}"' in response.text
    assert (a1["amount_in"], a1["expected_amount_out"], a1["actual_amount_out"]) == (
        U64_MAX,
        U64_MAX,
        U64_MAX,
    )
    assert a1["gas_fee"] == "5000"
    assert (a1["status"], a1["client_order_id"]) == ("CONFIRMED", "a1")
    assert a1["transaction_signature"] == signature(7001)
    assert a1["slippage_realized"] == 0.5
    assert a1["created_at"] <= a1["submitted_at"] <= a1["completed_at"] <= a1["updated_at"]
    assert (a2["status"], a2["error_message"], a2["completed_at"] is not None) == (
        "FAILED",
        "slippage exceeded",
        True,
    )
    assert (a3["status"], a3["transaction_signature"], a3["submitted_at"]) == (
        "PENDING",
        None,
        None,
    )
    assert (a3["amount_in"], a3["actual_amount_out"], a3["gas_fee"]) == ("1000", None, None)


def test_status_filter_and_refused_parameters(world: World, a_trades: dict[str, str]) -> None:
    assert _ids(world.history("A", status="CONFIRMED")) == [a_trades["a1"]]
    assert _ids(world.history("A", status="FAILED")) == [a_trades["a2"]]
    assert _ids(world.history("A", status="PENDING")) == [a_trades["a3"]]
    assert _ids(world.history("A", status="SUBMITTED")) == []

    for bad in ("DONE", "confirmed"):
        body = _error(world.get("A", status=bad), 422)
        assert body["field"] == "status"
    for bad in (0, 201, -1):
        body = _error(world.get("A", limit=bad), 422)
        assert body["field"] == "limit"
    assert len(world.history("A", limit=200)["trades"]) == 3
    # outside int32, or not a UUID: a type error, 400 (never a 500)
    assert "limit" in _error(world.get("A", limit=2**31), 400)["detail"]
    assert "cursor" in _error(world.get("A", cursor="not-a-uuid"), 400)["detail"]


def test_pages_follow_the_cursor_across_new_trades(world: World) -> None:
    p = [world.trade("P", f"p{i}") for i in range(1, 6)]  # p[0] oldest .. p[4] newest

    page1 = world.history("P", limit=2)
    assert _ids(page1) == [p[4], p[3]]
    assert page1["nextCursor"] == p[3]  # a full page names its last trade

    new = [world.trade("P", "p6"), world.trade("P", "p7")]  # created between the pages
    page2 = world.history("P", limit=2, cursor=page1["nextCursor"])
    assert _ids(page2) == [p[2], p[1]]
    assert page2["nextCursor"] == p[1]

    world.bot(f"/internal/trades/{p[4]}/submitted", {"transaction_signature": signature(7004)})
    new.append(world.trade("P", "p8"))
    page3 = world.history("P", limit=2, cursor=page2["nextCursor"])
    assert _ids(page3) == [p[0]]
    assert page3["nextCursor"] is None  # the last page is not full

    seen = _ids(page1) + _ids(page2) + _ids(page3)
    assert seen == list(reversed(p))  # no duplicate, no gap, in order
    assert not set(new) & set(seen)
    assert _ids(world.history("P", limit=3)) == list(reversed(new))  # the new ones on top

    # a cursor is a position: the status filter pages from it too
    pending = world.history("P", status="PENDING", limit=2)
    assert _ids(pending) == [new[2], new[1]]
    rest = world.history("P", status="PENDING", limit=10, cursor=pending["nextCursor"])
    assert _ids(rest) == [new[0], p[3], p[2], p[1], p[0]]  # p5 is SUBMITTED now


def test_another_user_never_sees_them(world: World, a_trades: dict[str, str]) -> None:
    b1 = world.trade("B", "b1")
    body = world.history("B", limit=200)
    assert _ids(body) == [b1]
    assert not set(a_trades.values()) & set(_ids(body))

    # A's trade as B's cursor: 422 on cursor, the same refusal as for no trade at all
    mine = _error(world.get("B", cursor=a_trades["a1"]), 422)
    nobody = _error(world.get("B", cursor=str(uuid.uuid4())), 422)
    assert mine["field"] == nobody["field"] == "cursor"
    assert (mine["message"], mine["detail"]) == (nobody["message"], nobody["detail"])
    # and A cannot page through B's
    assert _error(world.get("A", cursor=b1), 422)["field"] == "cursor"
    assert b1 not in _ids(world.history("A", limit=200))

    # a wallet without a vault: no trades, and no cursor is its own
    none = world.history("C")
    assert (none["trades"], none["nextCursor"]) == ([], None)
    assert _error(world.get("C", cursor=a_trades["a1"]), 422)["field"] == "cursor"


def test_service_tokens_are_refused_and_a_token_is_required(world: World) -> None:
    for service in ("bot", "engine"):
        assert _error(world.get(service), 403)["code"] == "forbidden"
    assert _error(world.client.get(HISTORY), 401)["error"] == (
        "Missing or invalid authorization header"
    )
    schema = world.client.get("/schema/openapi.json")
    assert schema.status_code == 200
    operation = schema.json()["paths"][HISTORY]["get"]
    assert operation["summary"] and operation["description"]
    assert {p["name"] for p in operation["parameters"]} >= {"status", "cursor", "limit"}
