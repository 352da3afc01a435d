"""The thin HTTP path (app/dbapi/aio.py, app/dbapi/core.py, app/auth.py, app/server.py)
on a real PostgreSQL: what its shortcuts must not change.

* One round trip: the prelude and the call go as one query string. The call runs as the
  role with the claims, actor and statement_timeout of the prelude, and none of them is
  left on the pooled connection for the next request, after an answer or a refusal, on
  either way of sending (one trip, or BEGIN/prelude/call/COMMIT for large parameters),
  directly and behind a real PgBouncer in transaction mode.
* No probe per request: a pooled connection the server has closed is seen without a
  round trip and dropped, and the request succeeds on a new one; a connection lost while
  its statement runs is not retried (its commit may have happened): 503.
* GET /api/bot/status passes the database's JSON on as it is: the same document as
  decoding it into BotStatus and encoding it again.
* A token seen again is not parsed again, but its signature and its expiry are checked
  again.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import msgspec
import psycopg
import pytest
from litestar.testing import TestClient
from psycopg.types.json import Jsonb

from app.auth import InvalidToken, Verifier, auth_config, issue
from app.dbapi.aio import Database
from app.dbapi.core import ONE_TRIP_MAX_TEXT, VALUE, Call, one_trip, prelude_params
from app.errors import ApiError
from app.routes.user import BotStatus, _bot_status
from app.seed import user_claims
from app.server import create_app, new_request_id
from tests.conftest import TEST_JWT_SECRET, app_url_of
from tests.solana import address

WHO = Call(
    "SELECT json_build_object('user', current_user::text,"
    " 'claims', current_setting('request.jwt.claims', true),"
    " 'actor', current_setting('xorj.actor', true),"
    " 'timeout', current_setting('statement_timeout'),"
    " 'pid', pg_backend_pid(), 'echo', %(echo)s::text)",
    {"echo": "x"},
    VALUE,
)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _session(conn: psycopg.AsyncConnection[Any]) -> tuple[Any, ...]:
    """What a pooled connection holds between requests."""
    cur = await conn.execute(
        "SELECT current_user::text, current_setting('request.jwt.claims', true),"
        " current_setting('xorj.actor', true), current_setting('statement_timeout'),"
        " pg_backend_pid()"
    )
    return await cur.fetchone()  # type: ignore[return-value]


def test_one_trip_is_taken_for_small_scalar_parameters_only() -> None:
    prelude = prelude_params("xorj_api", {"sub": "w"}, "api:w", 1000)
    sql, params = one_trip(WHO.sql, {"echo": "x"}, prelude)  # type: ignore[misc]
    assert sql.count(";") == 1 and sql.endswith(WHO.sql)
    assert params["xorj_role"] == "xorj_api" and params["echo"] == "x"
    assert one_trip(WHO.sql, {"echo": "x" * (ONE_TRIP_MAX_TEXT + 1)}, prelude) is None
    assert one_trip(WHO.sql, {"echo": Jsonb({"a": 1})}, prelude) is None
    assert one_trip(WHO.sql, ("x",), prelude) is None  # positional: the extended way
    assert one_trip(WHO.sql, {"xorj_role": "xorj_engine"}, prelude) is None  # never overwritten


@pytest.mark.parametrize(
    "echo", ["small", "x" * (ONE_TRIP_MAX_TEXT + 10)], ids=["one_trip", "extended"]
)
def test_the_call_runs_as_the_prelude_says_and_nothing_stays_on_the_connection(
    app_url: str, echo: str
) -> None:
    claims = user_claims(address(1))

    async def scenario() -> tuple[Any, ...]:
        database = Database(app_url, max_size=1, statement_timeout=7.0)
        await database.open()
        try:
            call = Call(WHO.sql, {"echo": echo}, VALUE)
            seen = await database.run(call, "user", "api:someone", claims)
            async with database._connection() as conn:
                after_answer = await _session(conn)
            with pytest.raises(ApiError) as refused:
                # A refusal of the database inside the call: the transaction is rolled back.
                await database.run(Call("SELECT api.bot_status(1)", {}, VALUE), "bot", "bot:x")
            async with database._connection() as conn:
                after_refusal = await _session(conn)
            return seen, after_answer, after_refusal, refused.value
        finally:
            await database.close()

    seen, after_answer, after_refusal, refused = run(scenario())
    assert seen["user"] == "xorj_api"
    assert json.loads(seen["claims"]) == claims
    assert seen["actor"] == "api:someone"
    assert seen["timeout"] == "7s"
    assert seen["echo"] == echo
    assert refused.status >= 400
    for session in (after_answer, after_refusal):
        user, leftover_claims, actor, timeout, pid = session
        assert pid == seen["pid"]  # the same pooled connection (max_size=1)
        assert user == "xorj_app"
        assert leftover_claims in (None, "")
        assert actor in (None, "")
        assert timeout != "7s"


def test_the_statement_timeout_of_the_prelude_holds_for_the_call(app_url: str) -> None:
    async def scenario() -> ApiError:
        database = Database(app_url, max_size=1, statement_timeout=0.2)
        await database.open()
        try:
            with pytest.raises(ApiError) as timed_out:
                await database.run(Call("SELECT pg_sleep(3)::text", {}, VALUE), "readonly")
            return timed_out.value
        finally:
            await database.close()

    started = time.monotonic()
    error = run(scenario())
    assert error.code == "57014" and error.status == 503
    assert time.monotonic() - started < 2.5


def _terminate(admin_url: str, pid: int) -> None:
    with psycopg.connect(admin_url, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
        for _ in range(100):  # until the backend is gone
            row = admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,))
            if row.fetchone() is None:
                return
            time.sleep(0.02)


def test_a_connection_the_server_closed_is_dropped_without_a_probe(
    app_url: str, admin_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> tuple[int, int, int]:
        database = Database(app_url, max_size=2)
        await database.open()
        try:
            first = (await database.run(WHO, "readonly"))["pid"]
            await asyncio.to_thread(_terminate, admin_url, first)
            # The next request: on the dead connection nothing is sent; it gets a new one.
            second = (await database.run(WHO, "readonly"))["pid"]
            third = (await database.run(WHO, "readonly"))["pid"]
            return first, second, third
        finally:
            await database.close()

    with caplog.at_level("INFO", logger="xorj.db"):
        first, second, third = run(scenario())
    assert second != first and third == second
    assert "dropping a pooled connection the server has closed" in caplog.text
    # No check of its own per checkout: the pool runs none either.
    assert Database("postgresql:///x").pool._check is None


def test_a_connection_lost_while_its_statement_runs_is_503_and_not_retried(
    app_url: str, admin_url: str
) -> None:
    async def scenario() -> tuple[ApiError, int]:
        database = Database(app_url, max_size=1)
        await database.open()
        try:
            pid = (await database.run(WHO, "readonly"))["pid"]
            sleeper = asyncio.create_task(
                database.run(Call("SELECT pg_sleep(5)::text", {}, VALUE), "readonly")
            )
            await asyncio.sleep(0.5)
            await asyncio.to_thread(_terminate, admin_url, pid)
            with pytest.raises(ApiError) as lost:
                await sleeper
            after = (await database.run(WHO, "readonly"))["pid"]
            assert after != pid
            return lost.value, after
        finally:
            await database.close()

    started = time.monotonic()
    error, _ = run(scenario())
    assert error.status == 503
    assert time.monotonic() - started < 4  # not run again on another connection


# --- the HTTP side -----------------------------------------------------------------------


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient[Any]]:
    config = auth_config({"JWT_SECRET": TEST_JWT_SECRET})
    app = create_app(database_url=app_url_of(db_url), auth=config, pool_size=2)
    with TestClient(app) as test_client:
        yield test_client


def test_bot_status_passes_the_database_json_on_unchanged_in_meaning(
    client: TestClient[Any], app_url: str
) -> None:
    from app.dbapi.sync import SyncDatabase

    wallet, vault = address(31), address(32)
    config = auth_config({"JWT_SECRET": TEST_JWT_SECRET})
    headers = {"Authorization": f"Bearer {issue(config, wallet=wallet)}"}
    fresh = client.get("/api/bot/status", headers=headers)
    assert fresh.status_code == 200 and fresh.json()["isBotActive"] is False
    assert client.post("/api/bot/enable", json={"vaultAddress": vault}, headers=headers).is_success
    saved = client.post(
        "/api/user/settings",
        json={"investmentAmount": 1234.5, "riskProfile": "Aggressive"},
        headers=headers,
    )
    assert saved.status_code == 200, saved.text
    answer = client.get("/api/bot/status", headers=headers)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    # What the handler answered before: the database's object decoded into BotStatus and
    # encoded again.
    db = SyncDatabase(app_url, "test", role="xorj_api")
    try:
        value = db.value("SELECT api.bot_status()", claims=user_claims(wallet))
    finally:
        db.close()
    before = json.loads(msgspec.json.encode(_bot_status(value)))
    assert answer.json() == before
    assert answer.json()["configuration"]["max_trade_amount"] == 1234.5
    assert answer.json()["canTrade"] is True and answer.json()["vaultAddress"] == vault
    msgspec.json.decode(answer.content, type=BotStatus)  # the documented shape, strictly


def test_request_ids_have_the_uuid4_form_and_do_not_repeat(client: TestClient[Any]) -> None:
    ids = {new_request_id() for _ in range(5000)}
    assert len(ids) == 5000
    form = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
    assert all(form.match(i) for i in ids)
    given = client.get("/healthz", headers={"X-Request-ID": "mine-1"})
    assert given.headers["x-request-id"] == "mine-1"
    made = client.get("/healthz").headers["x-request-id"]
    assert form.match(made)


def test_a_token_seen_again_is_checked_again_for_expiry_and_signature() -> None:
    config = auth_config({"JWT_SECRET": TEST_JWT_SECRET})
    verifier = Verifier(config)
    wallet = address(41)
    token = issue(config, wallet=wallet, ttl=2)
    assert verifier.verify(token).wallet == wallet
    assert verifier.verify(token).wallet == wallet  # from the cache
    assert token in verifier.seen
    # Another signature on the same header and payload is another token: verified fully.
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}AAAA"
    with pytest.raises(InvalidToken):
        verifier.verify(forged)
    assert forged not in verifier.seen
    # A key the verifier does not hold: the cached principal is never handed out.
    other = Verifier(auth_config({"JWT_SECRET": "another secret of at least 32 bytes!"}))
    with pytest.raises(InvalidToken):
        other.verify(token)
    time.sleep(2.1)
    with pytest.raises(InvalidToken, match="ExpiredSignatureError"):
        verifier.verify(token)
    assert token not in verifier.seen


def test_nothing_of_a_call_reaches_the_next_transaction_behind_pgbouncer(app_url: str) -> None:
    """PgBouncer in transaction mode hands a server connection to whichever client comes
    next: after each one-trip call (an answer, then a refusal), another client's
    transaction on the same server connection sees the bare login, no claims, no actor,
    the default statement_timeout."""
    from tests.pgbouncer import PgBouncer, available

    assert available(), "pgbouncer is not installed: `make test` installs it (Debian: pgbouncer)"
    claims = user_claims(address(51))

    async def scenario(url: str) -> tuple[set[int], list[tuple[Any, ...]]]:
        database = Database(url, max_size=1, statement_timeout=7.0)
        await database.open()
        used: set[int] = set()
        after: list[tuple[Any, ...]] = []
        try:
            async with await psycopg.AsyncConnection.connect(
                url, autocommit=True, prepare_threshold=None
            ) as other:
                for _ in range(20):
                    used.add((await database.run(WHO, "user", "api:leak", claims))["pid"])
                    after.append(await _session(other))
                    with pytest.raises(ApiError):  # a refusal inside the call
                        await database.run(Call("SELECT api.bot_status(1)", {}, VALUE), "user")
                    after.append(await _session(other))
            return used, after
        finally:
            await database.close()

    with PgBouncer.start("transaction") as bouncer:
        used, after = run(scenario(bouncer.url_for(app_url)))
    assert any(pid in used for *_, pid in after), "no server connection was shared"
    for user, leftover_claims, actor, timeout, _ in after:
        assert user == "xorj_app"
        assert leftover_claims in (None, "") and actor in (None, "")
        assert timeout != "7s"


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
def test_a_token_seen_again_is_checked_again_with_an_asymmetric_key(algorithm: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    private = {
        "RS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
        "EdDSA": ed25519.Ed25519PrivateKey.generate,
    }[algorithm]()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    config = auth_config(
        {"JWT_PUBLIC_KEY": public_pem, "JWT_PRIVATE_KEY": private_pem, "JWT_ALGORITHM": algorithm}
    )
    verifier = Verifier(config)
    token = issue(config, role="bot")
    assert verifier.verify(token).kind == "bot"
    assert verifier.verify(token).actor == "bot:bot-service"  # from the cache, checked again
    head, payload, signature = token.split(".")
    with pytest.raises(InvalidToken):
        verifier.verify(f"{head}.{payload}.{signature[::-1]}")
