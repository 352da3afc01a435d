"""The API's authentication: every 401 of the original system's texts, one by one.

The holes of the original (REFERENCE.md): the JWT was verified without pinning the
algorithm, and a token without `exp` never expired. Here the algorithm is pinned by
configuration, `exp` is required, an asymmetric key can never be used as an HMAC secret,
and the app refuses to start without a key. Tokens never reach the logs, and every
response carries an X-Request-ID.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from litestar.testing import TestClient

from app.auth import auth_config
from app.config import ConfigError
from app.server import create_app
from tests import dbutil
from tests.conftest import TEST_JWT_SECRET, app_url_of
from tests.solana import address

MISSING_HEADER = "Missing or invalid authorization header"
INVALID_TOKEN = "Invalid or expired session token"
WALLET = address(101)
STATUS = "/api/bot/status"


# --- building tokens by hand ---------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: dict[str, Any]) -> str:
    return _b64url(json.dumps(value, separators=(",", ":")).encode())


def _claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"wallet_address": WALLET, "iat": now, "exp": now + 600}
    claims.update(extra)
    return {k: v for k, v in claims.items() if v is not None}


def _hmac_token(claims: dict[str, Any], key: bytes, alg: str = "HS256") -> str:
    """A token signed with HMAC by hand (PyJWT refuses PEM keys as HMAC secrets)."""
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    signing_input = f"{_segment({'alg': alg, 'typ': 'JWT'})}.{_segment(claims)}"
    signature = hmac.new(key, signing_input.encode(), digest).digest()
    return f"{signing_input}.{_b64url(signature)}"


def _hs256(claims: dict[str, Any], secret: str = TEST_JWT_SECRET) -> str:
    return _hmac_token(claims, secret.encode())


def _none_token(claims: dict[str, Any]) -> str:
    """alg "none": header and payload, and an empty signature."""
    return f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(claims)}."


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _rs256(claims: dict[str, Any], key: rsa.RSAPrivateKey) -> str:
    return jwt.encode(claims, key, algorithm="RS256")


# --- one database and one app for the module (a database copy costs ~0.3 s) -------------


@pytest.fixture(scope="module")
def module_db_url(template_db: str, owner_role: str) -> Iterator[str]:
    """A migrated database shared by this module's tests (each uses its own wallets)."""
    name = f"test_{os.getpid()}_api_auth"
    dbutil.create_database(name, owner_role, template=template_db)
    try:
        yield dbutil.url_for(name, owner_role)
    finally:
        dbutil.drop_database(name)


@pytest.fixture(scope="module")
def module_app_url(module_db_url: str) -> str:
    """The application login's (xorj_app) URL of module_db_url's database: the app's."""
    return app_url_of(module_db_url)


@pytest.fixture(scope="module")
def api_client(module_app_url: str) -> Iterator[TestClient]:
    """The real app with JWT_SECRET = TEST_JWT_SECRET (module-wide: see module_db_url)."""
    app = create_app(
        database_url=module_app_url, auth=auth_config({"JWT_SECRET": TEST_JWT_SECRET}), pool_size=3
    )
    with TestClient(app) as client:
        yield client


@pytest.fixture
def app_client(module_app_url: str) -> Iterator[Callable[[dict[str, str]], TestClient]]:
    """app_client(env) -> a TestClient of the real app whose keys come from `env`."""
    with contextlib.ExitStack() as stack:

        def make(env: dict[str, str]) -> TestClient:
            app = create_app(database_url=module_app_url, auth=auth_config(env), pool_size=2)
            return stack.enter_context(TestClient(app))

        yield make


def _assert_401(response: Any, message: str) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["error"] == message
    assert body["success"] is False


# --- the header ----------------------------------------------------------------------


def test_missing_header_is_401(api_client: TestClient) -> None:
    _assert_401(api_client.get(STATUS), MISSING_HEADER)


@pytest.mark.parametrize(
    "header", ["Basic xyz", "Bearer ", "Bearer", "Bearer    ", "Token abc", "bearer"]
)
def test_malformed_header_is_401_missing(api_client: TestClient, header: str) -> None:
    _assert_401(api_client.get(STATUS, headers={"Authorization": header}), MISSING_HEADER)


def test_a_valid_token_is_accepted(api_client: TestClient) -> None:
    response = api_client.get(STATUS, headers=_bearer(_hs256(_claims())))
    assert response.status_code == 200, response.text
    assert response.json()["user_id"] == WALLET


# --- bad tokens, one by one ----------------------------------------------------------


def _bad_tokens(key: rsa.RSAPrivateKey) -> dict[str, str]:
    now = int(time.time())
    return {
        "no exp": _hs256(_claims(exp=None)),
        "expired": _hs256(_claims(iat=now - 7200, exp=now - 3600)),
        "nbf in the future": _hs256(_claims(nbf=now + 600)),
        "alg none": _none_token(_claims()),
        "alg none, signature kept": _none_token(_claims()) + _hs256(_claims()).split(".")[2],
        "other secret": _hs256(_claims(), "another-secret-of-at-least-32-bytes-ABCDEFG"),
        "RS256 while HS256 is pinned": _rs256(_claims(), key),
        "HS384 with the right secret": _hmac_token(_claims(), TEST_JWT_SECRET.encode(), "HS384"),
        "HS512 with the right secret": _hmac_token(_claims(), TEST_JWT_SECRET.encode(), "HS512"),
        "garbage": "not-a-jwt",
        "garbage with dots": "a.b.c",
        "tampered payload": (
            _hs256(_claims()).split(".")[0]
            + "."
            + _segment(_claims(wallet_address=address(102)))
            + "."
            + _hs256(_claims()).split(".")[2]
        ),
        "wallet not a Solana address": _hs256(_claims(wallet_address="0xNotASolanaAddress")),
        "wallet with a forbidden base58 letter": _hs256(_claims(wallet_address="0" * 44)),
        "wallet a number": _hs256(_claims(wallet_address=12345)),
        "no wallet at all": _hs256(_claims(wallet_address=None)),
        "role admin": _hs256(_claims(role="admin")),
        "exp a string": _hs256(_claims(exp="tomorrow")),
    }


BAD_TOKEN_CASES = [
    "no exp",
    "expired",
    "nbf in the future",
    "alg none",
    "alg none, signature kept",
    "other secret",
    "RS256 while HS256 is pinned",
    "HS384 with the right secret",
    "HS512 with the right secret",
    "garbage",
    "garbage with dots",
    "tampered payload",
    "wallet not a Solana address",
    "wallet with a forbidden base58 letter",
    "wallet a number",
    "no wallet at all",
    "role admin",
    "exp a string",
]


@pytest.mark.parametrize("case", BAD_TOKEN_CASES)
def test_bad_token_is_401_invalid(
    api_client: TestClient, rsa_key: rsa.RSAPrivateKey, case: str
) -> None:
    token = _bad_tokens(rsa_key)[case]
    _assert_401(api_client.get(STATUS, headers=_bearer(token)), INVALID_TOKEN)


def test_bad_token_on_a_write_writes_nothing(api_client: TestClient) -> None:
    wallet = address(110)
    forged = _hs256(_claims(wallet_address=wallet), "another-secret-of-at-least-32-bytes-ABCDEFG")
    _assert_401(api_client.post("/api/bot/enable", headers=_bearer(forged)), INVALID_TOKEN)
    good = _bearer(_hs256(_claims(wallet_address=wallet)))
    status = api_client.get(STATUS, headers=good)
    assert status.status_code == 200, status.text
    assert status.json()["isBotActive"] is False


def test_sub_alone_names_the_wallet(api_client: TestClient) -> None:
    token = _hs256(_claims(wallet_address=None, sub=WALLET))
    response = api_client.get(STATUS, headers=_bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["user_id"] == WALLET


def test_wallet_address_wins_over_sub(api_client: TestClient) -> None:
    token = _hs256(_claims(sub=address(103)))
    response = api_client.get(STATUS, headers=_bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["user_id"] == WALLET


# --- issuer and audience -------------------------------------------------------------

ISS_AUD_ENV = {
    "JWT_SECRET": TEST_JWT_SECRET,
    "JWT_ISSUER": "https://auth.xorj.example",
    "JWT_AUDIENCE": "xorj-api",
}


@pytest.mark.parametrize(
    ("iss", "aud", "expected"),
    [
        ("https://auth.xorj.example", "xorj-api", 200),
        ("https://evil.example", "xorj-api", 401),
        ("https://auth.xorj.example", "other-api", 401),
        (None, "xorj-api", 401),
        ("https://auth.xorj.example", None, 401),
    ],
    ids=["right", "wrong iss", "wrong aud", "no iss", "no aud"],
)
def test_issuer_and_audience_must_match_when_configured(
    app_client: Callable[[dict[str, str]], TestClient],
    iss: str | None,
    aud: str | None,
    expected: int,
) -> None:
    client = app_client(ISS_AUD_ENV)
    response = client.get(STATUS, headers=_bearer(_hs256(_claims(iss=iss, aud=aud))))
    if expected == 401:
        _assert_401(response, INVALID_TOKEN)
    else:
        assert response.status_code == 200, response.text
        assert response.json()["user_id"] == WALLET


# --- an RS256 app ----------------------------------------------------------------------


def test_rs256_app_accepts_rs256_and_refuses_key_confusion(
    app_client: Callable[[dict[str, str]], TestClient], rsa_key: rsa.RSAPrivateKey
) -> None:
    pem = _public_pem(rsa_key)
    client = app_client({"JWT_PUBLIC_KEY": pem, "JWT_ALGORITHM": "RS256"})

    accepted = client.get(STATUS, headers=_bearer(_rs256(_claims(), rsa_key)))
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["user_id"] == WALLET

    # The classic attack: HS256 with the public key's PEM (which anyone has) as secret.
    for secret in (pem, pem.strip()):
        confused = _hmac_token(_claims(), secret.encode(), "HS256")
        _assert_401(client.get(STATUS, headers=_bearer(confused)), INVALID_TOKEN)
    # Nor does a token signed with the app's old HS256 secret pass.
    _assert_401(client.get(STATUS, headers=_bearer(_hs256(_claims()))), INVALID_TOKEN)
    # Nor an RS256 token without exp.
    _assert_401(
        client.get(STATUS, headers=_bearer(_rs256(_claims(exp=None), rsa_key))), INVALID_TOKEN
    )
    # Nor one signed by another RSA key.
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _assert_401(client.get(STATUS, headers=_bearer(_rs256(_claims(), other))), INVALID_TOKEN)


# --- starting without a key ----------------------------------------------------------


def test_auth_config_without_a_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="JWT"):
        auth_config({})


@pytest.mark.parametrize("secret", ["short", "x" * 31, "é" * 15])
def test_a_secret_under_32_bytes_is_refused(secret: str) -> None:
    with pytest.raises(ConfigError, match="32"):
        auth_config({"JWT_SECRET": secret})


def test_a_secret_of_32_bytes_is_accepted() -> None:
    assert auth_config({"JWT_SECRET": "y" * 32}).algorithm == "HS256"


def test_hs_algorithm_other_than_hs256_is_refused() -> None:
    with pytest.raises(ConfigError, match="HS256"):
        auth_config({"JWT_SECRET": TEST_JWT_SECRET, "JWT_ALGORITHM": "HS384"})
    with pytest.raises(ConfigError, match="JWT_ALGORITHM"):
        auth_config({"JWT_SECRET": TEST_JWT_SECRET, "JWT_ALGORITHM": "none"})


def _without_jwt_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("JWT_"):
            monkeypatch.delenv(name)


def test_serve_without_a_key_exits_1_with_one_line(
    module_app_url: str, xorj_cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _without_jwt_variables(monkeypatch)
    proc = xorj_cli("serve", "--port", "1", env={"DATABASE_URL": module_app_url}, timeout=30)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("xorj: ")
    assert "JWT_SECRET" in lines[0]
    assert "Traceback" not in proc.stderr


def test_serve_with_a_short_secret_exits_1_with_one_line(
    module_app_url: str, xorj_cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _without_jwt_variables(monkeypatch)
    env = {"DATABASE_URL": module_app_url, "JWT_SECRET": "short"}
    proc = xorj_cli("serve", "--port", "1", env=env, timeout=30)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "32 bytes" in lines[0]
    assert "short" not in lines[0].replace("JWT_SECRET", "")  # the secret is never echoed


# --- tokens never in the logs ----------------------------------------------------------


def test_tokens_never_appear_in_logs(
    api_client: TestClient, caplog: pytest.LogCaptureFixture, rsa_key: rsa.RSAPrivateKey
) -> None:
    good = _hs256(_claims(wallet_address=address(111)))
    expired = _hs256(_claims(exp=int(time.time()) - 10))
    forged = _rs256(_claims(), rsa_key)
    signatures = [t.split(".")[2] for t in (good, expired, forged)]
    caplog.set_level(logging.DEBUG)
    assert api_client.get(STATUS, headers=_bearer(good)).status_code == 200
    assert api_client.post("/api/bot/enable", headers=_bearer(good)).status_code == 200
    assert api_client.get(STATUS, headers=_bearer(expired)).status_code == 401
    assert api_client.get(STATUS, headers=_bearer(forged)).status_code == 401
    assert api_client.get(
        STATUS, headers={"Authorization": "Bearer garbage-token"}
    ).status_code == (401)
    assert caplog.records, "the requests were not logged at all"
    assert any(r.name == "xorj.access" for r in caplog.records)
    for record in caplog.records:
        text = record.getMessage() + repr(record.args) + (record.exc_text or "")
        for token in (good, expired, forged, "garbage-token", *signatures):
            assert token not in text, record.name
    assert TEST_JWT_SECRET not in caplog.text


# --- request ids -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "auth"),
    [
        ("GET", "/healthz", False),
        ("GET", "/readyz", False),
        ("GET", "/metrics", False),
        ("GET", STATUS, True),
        ("GET", STATUS, False),
        ("POST", "/api/bot/enable", True),
        ("GET", "/api/user/settings", True),
        ("GET", "/no/such/path", False),
        ("GET", "/no/such/path", True),
        ("DELETE", STATUS, True),
    ],
)
def test_every_response_has_a_request_id(
    api_client: TestClient, method: str, path: str, auth: bool
) -> None:
    headers = _bearer(_hs256(_claims())) if auth else {}
    response = api_client.request(method, path, headers=headers)
    request_id = response.headers.get("x-request-id")
    assert request_id, (response.status_code, dict(response.headers))
    assert len(request_id) >= 8


def test_request_ids_differ_between_requests(api_client: TestClient) -> None:
    ids = {api_client.get("/healthz").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3


@pytest.mark.parametrize("auth", ["valid", "missing", "invalid"])
def test_a_client_request_id_is_echoed(api_client: TestClient, auth: str) -> None:
    headers = {"X-Request-ID": f"client-chosen-id-{auth}"}
    if auth == "valid":
        headers.update(_bearer(_hs256(_claims())))
    elif auth == "invalid":
        headers.update(_bearer("garbage"))
    response = api_client.get(STATUS, headers=headers)
    assert response.status_code == (200 if auth == "valid" else 401)
    assert response.headers["x-request-id"] == f"client-chosen-id-{auth}"
    if auth != "valid":
        assert response.json()["requestId"] == f"client-chosen-id-{auth}"


def test_an_unreasonable_client_request_id_is_replaced(api_client: TestClient) -> None:
    response = api_client.get("/healthz", headers={"X-Request-ID": "a" * 200})
    assert response.status_code == 200
    assert response.headers["x-request-id"] not in ("", "a" * 200)
    assert len(response.headers["x-request-id"]) <= 128
