"""The OpenAPI document and the docs page, as a client reads them from a served app: every
operation tagged and described, every refusal documented with the app's ErrorBody, the
public endpoints without a token, /metrics as Prometheus text, amounts as the exact
integer-or-digits schema, and a docs page that loads nothing from outside the app."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests import dbutil
from tests.conftest import app_url_of
from tests.test_api_http import Server, serve

PUBLIC = {"/healthz", "/readyz", "/metrics"}
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def server(template_db: str, owner_role: str) -> Iterator[Server]:
    name = f"test_{os.getpid()}_openapi_contract"
    dbutil.create_database(name, owner_role, template=template_db)
    try:
        with serve(app_url_of(dbutil.url_for(name, owner_role))) as running:
            yield running
    finally:
        dbutil.drop_database(name)


@pytest.fixture(scope="module")
def document(server: Server) -> dict[str, Any]:
    response = httpx.get(f"{server.base}/schema/openapi.json", timeout=10)
    assert response.status_code == 200
    return response.json()


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def test_every_operation_is_tagged_described_and_documents_its_refusals(
    document: dict[str, Any],
) -> None:
    tags = {tag["name"] for tag in document["tags"]}
    problems = []
    count = 0
    for path, method, op in _operations(document):
        count += 1
        name = f"{method.upper()} {path}"
        if not op.get("tags") or not set(op["tags"]) <= tags:
            problems.append(f"{name}: tags {op.get('tags')}")
        if len(op.get("description") or "") < 20 or not op.get("summary"):
            problems.append(f"{name}: no summary or description")
        statuses = set(op["responses"])
        needed = {"400", "500"} | (set() if path in PUBLIC else {"401", "403", "503"})
        if "requestBody" in op:
            needed |= {"413", "422"}
        if any(p["in"] == "path" for p in op.get("parameters", [])):
            needed.add("404")
        if missing := needed - statuses:
            problems.append(f"{name}: undocumented {sorted(missing)}")
        for status, response in op["responses"].items():
            if int(status) < 400 or (path == "/readyz" and status == "503"):
                continue
            schema = response.get("content", {}).get("application/json", {}).get("schema", {})
            if schema.get("$ref") != "#/components/schemas/ErrorBody":
                problems.append(f"{name} {status}: body {schema}")
            if "code" not in response.get("description", ""):
                problems.append(f"{name} {status}: description names no code")
        public = op.get("security") == []
        if public != (path in PUBLIC):
            problems.append(f"{name}: security {op.get('security')}")
    assert count >= 30
    assert problems == [], "\n".join(problems)


def test_error_body_schema_is_the_body_the_app_sends(
    server: Server, document: dict[str, Any]
) -> None:
    schema = document["components"]["schemas"]["ErrorBody"]
    required = set(schema["required"])
    assert {"success", "error", "code", "message", "timestamp", "requestId"} <= required
    sent = httpx.get(f"{server.base}/api/bot/status", timeout=10).json()  # 401
    assert required <= set(sent), sent
    assert set(sent) <= set(schema["properties"]), sent


def test_public_metrics_and_amounts_are_described_as_they_are(
    server: Server, document: dict[str, Any]
) -> None:
    metrics = document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    (media,) = metrics
    assert media.startswith("text/plain; version=0.0.4"), metrics
    assert metrics[media]["schema"] == {"type": "string"}
    answered = httpx.get(f"{server.base}/metrics", timeout=10)
    assert answered.headers["content-type"].startswith("text/plain; version=0.0.4")
    for path in PUBLIC:
        assert httpx.get(f"{server.base}{path}", timeout=10).status_code in (200, 503)

    schemas = document["components"]["schemas"]
    amount = schemas["CreateTradeBody"]["properties"]["amount_in"]
    assert amount["oneOf"] == [
        {"type": "integer", "minimum": 0, "maximum": 2**64 - 1},
        {"type": "string", "pattern": "^[0-9]{1,20}$"},
    ] or amount["oneOf"] == [
        {"type": "integer", "maximum": 2**64 - 1, "minimum": 0},
        {"type": "string", "pattern": "^[0-9]{1,20}$"},
    ], amount
    assert schemas["Trade"]["properties"]["amount_in"]["pattern"] == "^[0-9]{1,20}$"
    # A validator cannot tell number from integer in a oneOf: no schema says both.
    text = str(schemas)
    assert "{'type': 'integer'}, {'type': 'number'}" not in text
    assert "{'type': 'number'}, {'type': 'integer'}" not in text
    enable = document["paths"]["/api/bot/enable"]["post"]["requestBody"]
    assert enable["required"] is False


def test_the_docs_page_loads_only_files_the_app_serves(server: Server) -> None:
    for page in ("/schema", "/schema/swagger"):
        html = httpx.get(f"{server.base}{page}", timeout=10)
        assert html.status_code == 200
        assert "text/html" in html.headers["content-type"]
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html.text), html.text
        assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html.text)
        assert any(a.endswith("swagger-ui-bundle.js") for a in assets), assets
        for asset in assets:
            fetched = httpx.get(f"{server.base}{asset}", timeout=10)
            assert fetched.status_code == 200, asset
            assert len(fetched.content) > 100, asset


def test_options_lists_every_method_of_the_path(server: Server, document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        documented = {m.upper() for m in item if m in METHODS} | {"OPTIONS"}
        concrete = re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path)
        answer = httpx.options(f"{server.base}{concrete}", timeout=10)
        assert answer.status_code == 204, path
        allowed = {m.strip() for m in answer.headers["allow"].split(",")}
        assert allowed == documented, (path, allowed, documented)


def test_the_safe_order_is_the_documented_one(server: Server, document: dict[str, Any]) -> None:
    """Issue 14: the API tells clients to record the signature before broadcasting, and
    what failing a PENDING trade states; both over real HTTP, with the seed's order still
    accepted (described, not refused)."""
    submitted = document["paths"]["/internal/trades/{trade_id}/submitted"]["post"]
    assert "before broadcasting" in submitted["summary"]
    assert "BEFORE broadcasting" in submitted["description"]
    assert "seed's order" in submitted["description"]
    assert "memo" in submitted["description"]
    basis = document["components"]["schemas"]["FailedBody"]["properties"]["failure_basis"]
    assert (basis.get("const"), basis.get("default")) == ("never_broadcast",) * 2, basis
    assert "never broadcast" in basis["description"]
    trade = document["components"]["schemas"]["Trade"]["properties"]
    assert {"failure_basis", "search_until_height"} <= set(trade)
