"""The original system's user endpoints over the real app and a real database.

GET /api/bot/status, POST /api/bot/enable and /disable, GET/POST/PUT /api/user/settings,
with the shapes of REFERENCE.md; the holes of the original closed: settings only for the
token's own wallet, state in the database (a restart loses nothing), validation by the
database naming the field, optimistic locking with ETag / If-Match, role separation.

The tests share one migrated database (a copy costs ~0.3 s) and each uses wallets of its
own, so they do not depend on one another.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from app.auth import auth_config
from app.server import create_app
from tests import dbutil
from tests.conftest import TEST_JWT_SECRET, app_url_of
from tests.solana import address

STATUS = "/api/bot/status"
ENABLE = "/api/bot/enable"
DISABLE = "/api/bot/disable"
SETTINGS = "/api/user/settings"

_numbers = itertools.count(2000)

Token = Callable[..., str]


def new_address() -> str:
    """A wallet or vault address no other test of this module uses."""
    return address(next(_numbers))


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _error(response: Any, status: int) -> dict[str, Any]:
    """The JSON error body of a refusal with `status`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False
    assert isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in response.text
    return body


@pytest.fixture(scope="module")
def module_db_url(template_db: str, owner_role: str) -> Iterator[str]:
    name = f"test_{os.getpid()}_api_user"
    dbutil.create_database(name, owner_role, template=template_db)
    try:
        yield dbutil.url_for(name, owner_role)
    finally:
        dbutil.drop_database(name)


@pytest.fixture(scope="module")
def module_app_url(module_db_url: str) -> str:
    """The application login's (xorj_app) URL of module_db_url's database: the app's."""
    return app_url_of(module_db_url)


def _app(url: str, **kwargs: Any) -> TestClient:
    app = create_app(
        database_url=url, auth=auth_config({"JWT_SECRET": TEST_JWT_SECRET}), pool_size=3, **kwargs
    )
    return TestClient(app)


@pytest.fixture(scope="module")
def client(module_app_url: str) -> Iterator[TestClient]:
    with _app(module_app_url) as test_client:
        yield test_client


@pytest.fixture
def user(make_token: Token) -> Callable[[str], dict[str, str]]:
    """user(wallet) -> the Authorization header of that wallet's user token."""

    def headers(wallet: str) -> dict[str, str]:
        return _auth(make_token(wallet=wallet))

    return headers


# --- GET /api/bot/status ---------------------------------------------------------------

REFERENCE_STATUS_KEYS = {
    "user_id",
    "status",
    "last_execution",
    "isBotActive",
    "vaultAddress",
    "configuration",
    "performance",
}
ZERO_PERFORMANCE = {
    "total_trades": 0,
    "confirmed_trades": 0,
    "failed_trades": 0,
    "pending_trades": 0,
    "success_rate": 0,
    "total_volume": "0",
    "last_trade_at": None,
}


def test_status_of_a_new_wallet_is_the_default(client: TestClient, user: Any) -> None:
    wallet = new_address()
    response = client.get(STATUS, headers=user(wallet))
    assert response.status_code == 200, response.text
    body = response.json()
    # The original's keys, plus canTrade and circuit_breakers (now from the database).
    assert set(body) == REFERENCE_STATUS_KEYS | {"canTrade", "circuit_breakers"}
    assert set(body["configuration"]) == {
        "risk_profile",
        "slippage_tolerance",
        "enabled",
        "max_trade_amount",
    }
    assert body["user_id"] == wallet
    assert body["status"] == "stopped"
    assert body["isBotActive"] is False
    assert body["vaultAddress"] is None
    assert body["canTrade"] is False
    assert body["last_execution"] is None
    assert body["configuration"]["enabled"] is False
    assert body["configuration"]["risk_profile"] == "Balanced"
    assert body["performance"] == ZERO_PERFORMANCE
    assert body["circuit_breakers"]["trading_halted"] is True
    assert body["circuit_breakers"]["vault_registered"] is False


# --- POST /api/bot/enable and /disable -------------------------------------------------


def test_enable_without_a_body_as_the_seed_curl_does(client: TestClient, user: Any) -> None:
    """curl -X POST -H "Authorization: Bearer T" .../api/bot/enable: no body, no type."""
    wallet = new_address()
    response = client.post(ENABLE, headers=user(wallet))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert body["enabled"] is True
    assert body["changed"] is True
    assert isinstance(body["message"], str) and body["message"]
    assert body["status"]["canTrade"] is False
    assert body["status"]["vaultAddress"] is None

    status = client.get(STATUS, headers=user(wallet)).json()
    assert status["status"] == "active"
    assert status["isBotActive"] is True
    assert status["canTrade"] is False  # no vault: it cannot trade yet
    assert status["configuration"]["enabled"] is True


def test_enable_with_a_json_content_type_and_no_body(client: TestClient, user: Any) -> None:
    headers = {**user(new_address()), "Content-Type": "application/json"}
    response = client.post(ENABLE, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["enabled"] is True


def test_enable_with_a_vault_registers_it(client: TestClient, user: Any) -> None:
    wallet, vault = new_address(), new_address()
    response = client.post(ENABLE, headers=user(wallet), json={"vaultAddress": vault})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["success"], body["enabled"], body["changed"]) == (True, True, True)
    assert body["status"]["vaultAddress"] == vault
    assert body["status"]["canTrade"] is True

    status = client.get(STATUS, headers=user(wallet)).json()
    assert (status["status"], status["vaultAddress"], status["canTrade"]) == (
        "active",
        vault,
        True,
    )


def test_enabling_again_changes_nothing(client: TestClient, user: Any) -> None:
    wallet, vault = new_address(), new_address()
    assert client.post(ENABLE, headers=user(wallet), json={"vaultAddress": vault}).json()["changed"]
    again = client.post(ENABLE, headers=user(wallet))
    assert again.status_code == 200, again.text
    assert (again.json()["success"], again.json()["enabled"], again.json()["changed"]) == (
        True,
        True,
        False,
    )
    same_vault = client.post(ENABLE, headers=user(wallet), json={"vaultAddress": vault})
    assert same_vault.status_code == 200, same_vault.text
    assert same_vault.json()["changed"] is False
    assert same_vault.json()["status"]["vaultAddress"] == vault


def test_disable_stops_the_bot_and_keeps_the_vault(client: TestClient, user: Any) -> None:
    wallet, vault = new_address(), new_address()
    assert client.post(ENABLE, headers=user(wallet), json={"vaultAddress": vault}).is_success
    response = client.post(DISABLE, headers=user(wallet))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["success"], body["enabled"], body["changed"]) == (True, False, True)
    assert body["status"]["status"] == "stopped"

    status = client.get(STATUS, headers=user(wallet)).json()
    assert status["status"] == "stopped"
    assert status["isBotActive"] is False
    assert status["canTrade"] is False
    assert status["vaultAddress"] == vault

    again = client.post(DISABLE, headers=user(wallet))
    assert again.status_code == 200, again.text
    assert (again.json()["enabled"], again.json()["changed"]) == (False, False)


def test_a_vault_of_another_wallet_is_409_vault_in_use(client: TestClient, user: Any) -> None:
    owner, intruder, vault = new_address(), new_address(), new_address()
    assert client.post(ENABLE, headers=user(owner), json={"vaultAddress": vault}).is_success
    body = _error(client.post(ENABLE, headers=user(intruder), json={"vaultAddress": vault}), 409)
    assert body["rule"] == "vault_in_use"
    # Nothing changed for either wallet.
    assert client.get(STATUS, headers=user(owner)).json()["vaultAddress"] == vault
    intruder_status = client.get(STATUS, headers=user(intruder)).json()
    assert (intruder_status["isBotActive"], intruder_status["vaultAddress"]) == (False, None)


@pytest.mark.parametrize("vault", ["not-a-vault", "0" * 44, "short", "A" * 45, "", 42], ids=repr)
def test_a_bad_vault_address_is_422_naming_it(client: TestClient, user: Any, vault: Any) -> None:
    wallet = new_address()
    response = client.post(ENABLE, headers=user(wallet), json={"vaultAddress": vault})
    if isinstance(vault, int):
        # A number is refused by the app's body type before the database: 400.
        _error(response, 400)
    else:
        assert _error(response, 422)["field"] == "vaultAddress"
    assert client.get(STATUS, headers=user(wallet)).json()["isBotActive"] is False


def test_an_unknown_field_in_the_enable_body_is_400(client: TestClient, user: Any) -> None:
    wallet = new_address()
    response = client.post(
        ENABLE, headers=user(wallet), json={"vaultAddress": new_address(), "admin": True}
    )
    body = _error(response, 400)
    assert "admin" in (body["detail"] or body["error"])
    assert client.get(STATUS, headers=user(wallet)).json()["isBotActive"] is False


def test_state_survives_a_restart(module_app_url: str, user: Any) -> None:
    wallet, vault = new_address(), new_address()
    with _app(module_app_url) as first:
        assert first.post(ENABLE, headers=user(wallet), json={"vaultAddress": vault}).is_success
        saved = first.post(SETTINGS, headers=user(wallet), json={"riskProfile": "Conservative"})
        assert saved.status_code == 200, saved.text
    with _app(module_app_url) as second:
        status = second.get(STATUS, headers=user(wallet)).json()
        assert (status["status"], status["isBotActive"], status["vaultAddress"]) == (
            "active",
            True,
            vault,
        )
        assert status["configuration"]["risk_profile"] == "Conservative"
        settings = second.get(SETTINGS, headers=user(wallet)).json()["data"]
        assert settings["riskProfile"] == "Conservative"


# --- /api/user/settings ----------------------------------------------------------------

SETTINGS_KEYS = {
    "walletAddress",
    "riskProfile",
    "maxDrawdownLimit",
    "positionSizePercent",
    "stopLossEnabled",
    "takeProfitEnabled",
    "investmentAmount",
    "lastUpdated",
    "createdAt",
}


def _settings(client: TestClient, headers: dict[str, str]) -> dict[str, Any] | None:
    response = client.get(SETTINGS, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_settings_never_saved_are_null(client: TestClient, user: Any) -> None:
    wallet = new_address()
    for params in ({}, {"walletAddress": wallet}):
        response = client.get(SETTINGS, headers=user(wallet), params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["success"] is True
        assert body["data"] is None
        assert {"timestamp", "requestId"} <= set(body)
        assert "etag" not in response.headers


def test_reading_another_wallets_settings_is_403(client: TestClient, user: Any) -> None:
    me, other = new_address(), new_address()
    saved = client.post(SETTINGS, headers=user(other), json={"investmentAmount": 4321.5})
    assert saved.status_code == 200, saved.text
    response = client.get(SETTINGS, headers=user(me), params={"walletAddress": other})
    body = _error(response, 403)
    assert "data" not in body
    assert "4321" not in response.text
    assert "etag" not in response.headers


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_saving_settings(client: TestClient, user: Any, method: str) -> None:
    wallet = new_address()
    response = client.request(
        method,
        SETTINGS,
        headers=user(wallet),
        json={
            "walletAddress": wallet,
            "riskProfile": "Aggressive",
            "settings": {"maxDrawdownLimit": 20},
            "investmentAmount": 5000,
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"1"'
    body = response.json()
    assert body["success"] is True
    assert {"timestamp", "requestId"} <= set(body)
    data = body["data"]
    assert set(data) >= SETTINGS_KEYS
    assert data["walletAddress"] == wallet
    assert data["riskProfile"] == "Aggressive"
    assert data["maxDrawdownLimit"] == 20
    assert data["investmentAmount"] == 5000
    assert data["positionSizePercent"] == 5  # defaults for what was not given
    assert data["stopLossEnabled"] is True
    assert data["takeProfitEnabled"] is True
    assert data["version"] == 1

    read = client.get(SETTINGS, headers=user(wallet), params={"walletAddress": wallet})
    assert read.status_code == 200, read.text
    assert read.headers["etag"] == '"1"'
    assert read.json()["data"] == data


def test_saving_another_wallets_settings_is_403(client: TestClient, user: Any) -> None:
    me, other = new_address(), new_address()
    for method in ("POST", "PUT"):
        response = client.request(
            method,
            SETTINGS,
            headers=user(me),
            json={"walletAddress": other, "riskProfile": "Aggressive"},
        )
        assert _error(response, 403)["field"] == "walletAddress"
    assert _settings(client, user(other)) is None  # read as that wallet: nothing written
    assert _settings(client, user(me)) is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"settings": {"maxDrawdownLimit": 51}}, "maxDrawdownLimit"),
        ({"settings": {"maxDrawdownLimit": 0.5}}, "maxDrawdownLimit"),
        ({"settings": {"positionSizePercent": 0}}, "positionSizePercent"),
        ({"settings": {"positionSizePercent": 26}}, "positionSizePercent"),
        ({"riskProfile": "Reckless"}, "riskProfile"),
        ({"settings": {"riskProfile": "Reckless"}}, "riskProfile"),
        ({"settings": {"stopLossEnabled": "yes"}}, "stopLossEnabled"),
        ({"settings": {"takeProfitEnabled": 1}}, "takeProfitEnabled"),
        ({"settings": {"maxDrawdownLimit": "10"}}, "maxDrawdownLimit"),
        ({"investmentAmount": 0}, "investmentAmount"),
        ({"investmentAmount": 1000000.01}, "investmentAmount"),
        ({"investmentAmount": -5}, "investmentAmount"),
    ],
    ids=lambda v: str(v).replace(" ", ""),
)
def test_invalid_settings_are_422_naming_the_field(
    client: TestClient, user: Any, body: dict[str, Any], field: str
) -> None:
    wallet = new_address()
    error = _error(client.post(SETTINGS, headers=user(wallet), json=body), 422)
    assert error["field"] == field
    assert _settings(client, user(wallet)) is None  # nothing written


def test_limits_themselves_are_accepted(client: TestClient, user: Any) -> None:
    wallet = new_address()
    response = client.post(
        SETTINGS,
        headers=user(wallet),
        json={
            "settings": {"maxDrawdownLimit": 50, "positionSizePercent": 25},
            "investmentAmount": 1000000,
        },
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["maxDrawdownLimit"], data["positionSizePercent"]) == (50, 25)
    assert data["investmentAmount"] == 1000000


def test_an_unknown_setting_is_400_before_the_database(client: TestClient, user: Any) -> None:
    wallet = new_address()
    for body in (
        {"settings": {"leverage": 10}},
        {"walletAddress": wallet, "leverage": 10},
    ):
        error = _error(client.post(SETTINGS, headers=user(wallet), json=body), 400)
        assert "leverage" in (error["detail"] or error["error"])
    assert _settings(client, user(wallet)) is None


def test_a_field_given_twice_with_different_values_is_400(client: TestClient, user: Any) -> None:
    wallet = new_address()
    for body in (
        {"riskProfile": "Balanced", "settings": {"riskProfile": []}},
        {"investmentAmount": 10, "settings": {"investmentAmount": 20}},
    ):
        error = _error(client.post(SETTINGS, headers=user(wallet), json=body), 400)
        assert error["field"] in body, error
        assert "twice" in error["error"]
    assert _settings(client, user(wallet)) is None
    # The same value in both places is one value.
    same = {"riskProfile": "Aggressive", "settings": {"riskProfile": "Aggressive"}}
    saved = client.post(SETTINGS, headers=user(wallet), json=same)
    assert saved.status_code == 200, saved.text
    assert saved.json()["data"]["riskProfile"] == "Aggressive"


def test_if_match_optimistic_locking(client: TestClient, user: Any) -> None:
    wallet = new_address()
    first = client.post(
        SETTINGS, headers={**user(wallet), "If-Match": '"0"'}, json={"riskProfile": "Balanced"}
    )
    assert first.status_code == 200, first.text
    etag = first.headers["etag"]
    assert etag == '"1"'

    second = client.post(
        SETTINGS,
        headers={**user(wallet), "If-Match": etag},
        json={"riskProfile": "Conservative"},
    )
    assert second.status_code == 200, second.text
    assert second.headers["etag"] == '"2"'
    assert second.json()["data"]["riskProfile"] == "Conservative"

    stale = client.put(
        SETTINGS,
        headers={**user(wallet), "If-Match": etag},
        json={"riskProfile": "Aggressive"},
    )
    body = _error(stale, 412)
    assert "current_version=2" in (body["detail"] or "")
    data = _settings(client, user(wallet))
    assert data is not None
    assert (data["riskProfile"], data["version"]) == ("Conservative", 2)  # nothing written


@pytest.mark.parametrize(
    "if_match", ["abc", '"abc"', "*", '"-1"', '"1.5"', "", '"100000000000000000000"']
)
def test_if_match_not_a_number_is_400(client: TestClient, user: Any, if_match: str) -> None:
    wallet = new_address()
    response = client.post(
        SETTINGS, headers={**user(wallet), "If-Match": if_match}, json={"riskProfile": "Balanced"}
    )
    _error(response, 400)
    assert _settings(client, user(wallet)) is None


# --- roles -----------------------------------------------------------------------------


def test_a_user_token_on_an_internal_endpoint_is_403(client: TestClient, user: Any) -> None:
    body = _error(client.get("/internal/ranked-traders", headers=user(new_address())), 403)
    assert body["code"] == "forbidden"


@pytest.mark.parametrize("role", ["bot", "engine"])
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", STATUS), ("POST", ENABLE), ("POST", DISABLE), ("GET", SETTINGS), ("POST", SETTINGS)],
)
def test_a_service_token_on_a_user_endpoint_is_403(
    client: TestClient, make_token: Token, role: str, method: str, path: str
) -> None:
    kwargs: dict[str, Any] = {"json": {"riskProfile": "Aggressive"}} if path == SETTINGS else {}
    response = client.request(method, path, headers=_auth(make_token(role=role)), **kwargs)
    assert _error(response, 403)["code"] == "forbidden"


# --- bodies ----------------------------------------------------------------------------


def test_an_oversized_body_is_413(module_app_url: str, user: Any) -> None:
    wallet = new_address()
    body = b'{"riskProfile": "Aggressive", "pad": "' + b"x" * 4096 + b'"}'
    assert len(body) > 4000
    with _app(module_app_url, max_body_bytes=1024) as small:
        response = small.post(
            SETTINGS,
            headers={**user(wallet), "Content-Type": "application/json"},
            content=body,
        )
        error = _error(response, 413)
        assert error["code"] == "payload_too_large"
        assert response.headers.get("x-request-id")

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds when streamed
            yield b'{"riskProfile": "Aggressive", "pad": "'
            for _ in range(8):
                yield b"x" * 512
            yield b'"}'

        streamed = small.post(
            SETTINGS,
            headers={**user(wallet), "Content-Type": "application/json"},
            content=chunks(),
        )
        assert _error(streamed, 413)["code"] == "payload_too_large"
        assert _settings(small, user(wallet)) is None
        # A body under the limit still works on that app.
        assert small.post(SETTINGS, headers=user(wallet), json={}).status_code == 200


@pytest.mark.parametrize(
    "content",
    [b'{"riskProfile": ', b"not json", b"[1, 2", b'{"riskProfile": "Aggressive",}'],
    ids=["truncated", "text", "array", "trailing comma"],
)
def test_malformed_json_is_400(client: TestClient, user: Any, content: bytes) -> None:
    wallet = new_address()
    for path in (SETTINGS, ENABLE):
        response = client.post(
            path, headers={**user(wallet), "Content-Type": "application/json"}, content=content
        )
        _error(response, 400)
    assert _settings(client, user(wallet)) is None
    assert client.get(STATUS, headers=user(wallet)).json()["isBotActive"] is False


def test_a_json_body_of_the_wrong_shape_is_400(client: TestClient, user: Any) -> None:
    wallet = new_address()
    for content in (b"[]", b'"Aggressive"', b'{"settings": []}', b'{"walletAddress": 5}'):
        response = client.post(
            SETTINGS, headers={**user(wallet), "Content-Type": "application/json"}, content=content
        )
        _error(response, 400)
    assert _settings(client, user(wallet)) is None


def test_a_lost_connection_is_503_not_500() -> None:
    """A connection that drops mid-request carries no SQLSTATE: it is the database being
    unreachable (503 with Retry-After), not a bug (500)."""
    import psycopg

    from app.errors import from_database

    error = from_database(psycopg.OperationalError("server closed the connection unexpectedly"))
    assert error.status == 503
    assert error.headers.get("Retry-After")
