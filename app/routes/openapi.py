"""The OpenAPI document, told truthfully, and the docs page that works offline.

- `ErrorBody`: the JSON body of every 4xx and 5xx (app.errors.ApiError.body).
- `errors(*statuses)`: the `responses=` of a handler for the refusals that are its own
  (a 404 of an id, 409 of a state change, 412 of a stale version).
- `finalize(doc)`: after Litestar has built the document, every operation gets the
  statuses every request of its kind can meet (400/413/422 with a body, 400/422 with
  query parameters, 404 with path ids, 401/403 with a token, 500/503 when it reads the
  database), all with ErrorBody; the public endpoints need no token.
- `AmountSchema`: how the u64 amount inputs (app.routes.amounts.AmountInput) appear.
- `openapi_config()`: the document's config; its Swagger UI page loads its scripts from
  /schema/assets, files of the swagger-ui-bundle package served by the app.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import msgspec
import swagger_ui_bundle
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components, OpenAPIType, Schema, SecurityScheme, Tag
from litestar.plugins import OpenAPISchemaPlugin
from litestar.static_files import create_static_files_router
from litestar.typing import FieldDefinition

from app.routes.amounts import AMOUNT_SCHEMA, AmountInput

ASSETS_PATH = "/schema/assets"
DOCS_PATH = "/schema/swagger"

ERROR_CODES = {
    400: "bad_request (the request cannot be read: JSON, types, text, nesting, headers)",
    401: "unauthorized (no token, or a bad or expired one)",
    403: "forbidden (the token's role may not call this), 42501 (the database refused the caller)",
    404: "not_found (no such path), XJ404 (no such run, job or trade)",
    409: "XJ409 (a conflict or duplicate: see rule), XJ423 (a status change the current "
    "status does not allow), 23505, 23503, 23P01",
    412: "XJ412 (If-Match names an older version of the settings)",
    413: "payload_too_large (the body is over the limit)",
    422: "XJ422 (an invalid value: see field), 23514, 23502, or a SQLSTATE of class 22",
    500: "internal (an unexpected error, logged with the request id)",
    503: "unavailable, a SQLSTATE of class 08, 53 or 57, 40001, 40P01 or 57014 (the "
    "database is unreachable, busy or timed out: retry after Retry-After seconds)",
}


class ErrorBody(msgspec.Struct, omit_defaults=True):
    """The body of every refusal. `error` is the original system's message field (kept for
    its clients); `code` says which refusal it is (see each response's description);
    `field` names the input refused, `rule` the rule that refused it."""

    success: bool
    error: str
    code: str
    message: str
    detail: str | None
    hint: str | None
    timestamp: str
    requestId: str | None
    field: str | msgspec.UnsetType = msgspec.UNSET
    rule: str | msgspec.UnsetType = msgspec.UNSET
    conflicting_trade_id: str | msgspec.UnsetType | None = msgspec.UNSET


def _description(status: int) -> str:
    return f"{HTTPStatus(status).phrase}: code {ERROR_CODES[status]}"


def errors(*statuses: int) -> dict[int, ResponseSpec]:
    """The `responses=` of a handler for the refusals of its own (beyond finalize's)."""
    return {
        status: ResponseSpec(ErrorBody, description=_description(status), generate_examples=False)
        for status in statuses
    }


class AmountSchema(OpenAPISchemaPlugin):
    """AmountInput in the document: an integer 0..2^64-1 or a string of digits."""

    @staticmethod
    def is_plugin_supported_type(value: Any) -> bool:
        return value is AmountInput

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        integer, string = AMOUNT_SCHEMA["oneOf"]
        return Schema(
            description=AMOUNT_SCHEMA["description"],
            one_of=[
                Schema(
                    type=OpenAPIType.INTEGER,
                    minimum=integer["minimum"],
                    maximum=integer["maximum"],
                ),
                Schema(type=OpenAPIType.STRING, pattern=string["pattern"]),
            ],
            examples=AMOUNT_SCHEMA["examples"],
        )


TAGS = [
    Tag(name="user", description="A user's own bot, settings and trades (user tokens)"),
    Tag(name="scoring", description="The quant engine's scoring runs and the ranked traders"),
    Tag(name="jobs", description="The execution bot's jobs (bot token)"),
    Tag(name="trades", description="The execution bot's trades (bot token)"),
    Tag(name="ops", description="Liveness, readiness and metrics (no token)"),
]

# Operations that need no token (the JWT middleware lets their paths through).
PUBLIC = {"/healthz", "/readyz", "/metrics"}


def openapi_config(version: str) -> OpenAPIConfig:
    favicon = f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>"
    return OpenAPIConfig(
        title="xorj-state",
        version=version,
        description=(
            "The durable state of the XORJ copy-trading bot. Every refusal is the JSON "
            "ErrorBody; amounts are u64 integers in base units (JSON integers or strings "
            "of digits in requests, strings in answers)."
        ),
        path="/schema",
        tags=TAGS,
        use_handler_docstrings=True,
        components=Components(
            security_schemes={
                "BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
            }
        ),
        security=[{"BearerToken": []}],
        render_plugins=[
            SwaggerRenderPlugin(
                path=["/swagger", "/"],
                js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
                css_url=f"{ASSETS_PATH}/swagger-ui.css",
                standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
                favicon=favicon,
            ),
            JsonRenderPlugin(),
            YamlRenderPlugin(),
        ],
    )


def assets_router() -> Any:
    """The Swagger UI files of the installed swagger-ui-bundle package."""
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[swagger_ui_bundle.swagger_ui_path],
        include_in_schema=False,
        opt={"public": True},
    )


def _error_response(status: int) -> dict[str, Any]:
    return {
        "description": _description(status),
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }


def _statuses(path: str, operation: dict[str, Any]) -> set[int]:
    params = operation.get("parameters", [])
    found: set[int] = {400, 500}  # 400: any query parameter with NUL (inputs.check_query)
    if path not in PUBLIC:
        found |= {401, 403, 503}
    if "requestBody" in operation:
        found |= {400, 413, 422}
    if any(p.get("in") == "query" for p in params):
        found |= {400, 422}
    if any(p.get("in") == "path" for p in params):
        found.add(404)
    if any(p.get("in") == "header" for p in params):
        found.add(400)
    return found


def _framework_default(response: dict[str, Any]) -> bool:
    """Litestar's own 400 (a ValidationException body the app never sends)."""
    return "status_code" in str(response.get("content", ""))


def _optional_body(operation: dict[str, Any]) -> None:
    """A body declared `X | None` may be left out (or be JSON null): not required."""
    body = operation.get("requestBody")
    if not body:
        return
    for media in body.get("content", {}).values():
        if {"type": "null"} in media.get("schema", {}).get("oneOf", []):
            body["required"] = False


def finalize(doc: dict[str, Any]) -> None:
    """Complete Litestar's document in place (see the module's docstring)."""
    for path, item in doc.get("paths", {}).items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "delete", "patch"}:
                continue
            responses = operation.setdefault("responses", {})
            for status in sorted(_statuses(path, operation)):
                key = str(status)
                if key not in responses or _framework_default(responses[key]):
                    responses[key] = _error_response(status)
            if path in PUBLIC:
                operation["security"] = []
            _optional_body(operation)
