"""The Litestar app: verify the token, call one database function, map the answer.

create_app() builds it from the environment (or from explicit arguments in tests):
DATABASE_* for the database (app.config), JWT_* for the keys, XORJ_MAX_BODY_BYTES for the
request body limit (default 16 MiB, enough for 100,000 scores). It runs in every worker
process of `xorj serve --workers N`, so each configures its own logging (one JSON line
per request, with a timestamp and the worker's pid) and shares the metrics of the others
(app.metrics).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Litestar, Request, Response
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    ValidationException,
)
from litestar.middleware import (
    AbstractAuthenticationMiddleware,
    AuthenticationResult,
    DefineMiddleware,
)
from litestar.middleware._utils import should_bypass_middleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app import config as app_config
from app.auth import (
    INVALID_TOKEN,
    MISSING_HEADER,
    AuthConfig,
    InvalidToken,
    Principal,
    Verifier,
    auth_config,
)
from app.dbapi.aio import Database
from app.errors import ApiError
from app.metrics import Metrics
from app.routes.common import request_id
from app.routes.inputs import FIELD_MESSAGE, MAX_DEPTH, JsonRequest, check_query
from app.routes.openapi import AmountSchema, assets_router, finalize, openapi_config

log = logging.getLogger("xorj.api")
access_log = logging.getLogger("xorj.access")

PUBLIC_PATHS = ["^/healthz$", "^/readyz$", "^/metrics$", "^/schema"]
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
POOL_GAUGE_SECONDS = 1.0


class JWTMiddleware(AbstractAuthenticationMiddleware):
    """Bearer JWT: 401 with the original system's bodies for a missing or bad token.

    The 401 is sent from here (not raised) so that it passes through the request-context
    middleware like every other response: request id header, access log, metrics."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not should_bypass_middleware(
            exclude_http_methods=self.exclude_http_methods,
            exclude_opt_key=self.exclude_opt_key,
            exclude_path_pattern=self.exclude,
            scope=scope,
            scopes=self.scopes,
        ):
            try:
                scope["user"], scope["auth"] = _authenticate(scope)
            except NotAuthorizedException as exc:
                request: Request = Request(scope, receive)
                response = handle_not_authorized(request, exc)
                await response.to_asgi_response(app=None, request=request)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        user, token = _authenticate(connection.scope)
        return AuthenticationResult(user=user, auth=token)


def _authenticate(scope: Scope) -> tuple[Principal, str]:
    """The principal of the request's bearer token (read from the raw headers), or
    NotAuthorizedException with the original system's message."""
    header = ""
    for name, value in scope["headers"]:
        if name == b"authorization":
            header = value.decode("latin-1")
            break
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise NotAuthorizedException(detail=MISSING_HEADER)
    state = scope.setdefault("state", {})
    try:
        principal = scope["app"].state.verifier.verify(token)
    except InvalidToken as exc:
        state["auth_failure"] = str(exc)
        raise NotAuthorizedException(detail=INVALID_TOKEN) from exc
    state["wallet"] = principal.wallet or principal.actor
    return principal, token


_ids = random.Random()  # request ids: unique, not secret (uuid4's form, without a syscall)
os.register_at_fork(after_in_child=_ids.seed)


def new_request_id() -> str:
    h = f"{_ids.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


class RequestContextMiddleware:
    """Outermost: a request id (X-Request-ID, echoed when the client sent a sane one), one
    structured log line per request, and the request metrics."""

    def __init__(self, app: ASGIApp, allow: dict[str, str] | None = None) -> None:
        self.app = app
        # Allow of an OPTIONS answer by path template: Litestar 2's own OPTIONS handler
        # lists only the methods of the first handler registered on a path (litestar#4169).
        self.allow = allow or {}
        self.pid = os.getpid()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                given = value.decode("latin-1")
                if len(given) <= 128 and given.isprintable():
                    request_id = given
                break
        request_id = request_id or new_request_id()
        id_header = (b"x-request-id", request_id.encode("latin-1"))
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers")
                message["headers"] = headers = list(headers) if headers else []
                headers.append(id_header)
                if scope["method"] == "OPTIONS":
                    allow = self.allow.get(scope.get("path_template", ""))
                    mutable = MutableScopeHeaders.from_message(message)
                    if allow and "allow" in mutable:
                        mutable["Allow"] = allow
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("path_template") or "unmatched"
            metrics: Metrics = scope["app"].state.metrics
            metrics.observe_request(route, scope["method"], status, elapsed)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    msgspec.json.encode(
                        {
                            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
                            "pid": self.pid,
                            "request_id": request_id,
                            "method": scope["method"],
                            "route": route,
                            "path": scope["path"],
                            "status": status,
                            "ms": round(elapsed * 1000, 2),
                            "wallet": state.get("wallet"),
                            "auth_failure": state.get("auth_failure"),
                            "error_code": state.get("error_code"),
                        }
                    ).decode()
                )


def _error_response(request: Request, error: ApiError) -> Response:
    request.scope.setdefault("state", {})["error_code"] = error.code
    return Response(
        content=error.body(request_id(request)), status_code=error.status, headers=error.headers
    )


def handle_api_error(request: Request, exc: ApiError) -> Response:
    return _error_response(request, exc)


def handle_not_authorized(request: Request, exc: NotAuthorizedException) -> Response:
    message = exc.detail if exc.detail in (MISSING_HEADER, INVALID_TOKEN) else INVALID_TOKEN
    return _error_response(request, ApiError(401, "unauthorized", message))


def handle_validation(request: Request, exc: ValidationException) -> Response:
    """400 naming the input: the body field (from msgspec's location, or from the
    message of app.routes.inputs), the query parameter or the path parameter."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    problems = [p for p in extra if isinstance(p, dict)]
    field = None
    parts = []
    for problem in problems:
        message = str(problem.get("message") or "")
        name, message = _field_of(message, problem.get("key"))
        field = field or name
        parts.append(f"{name or problem.get('source') or 'body'}: {message}")
    detail = "; ".join(parts) or exc.detail
    if field and parts:
        message = f"{field}: {parts[0].split(': ', 1)[1]}"
    else:
        message = parts[0] if parts else exc.detail
    return _error_response(
        request, ApiError(400, "bad_request", message, detail=detail, field=field)
    )


_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<field>[^`]*)`")
_AT = re.compile(r" - at `\$(?P<where>[^`]*)`$")


def _field_of(message: str, key: Any) -> tuple[str | None, str]:
    """The input a validation message is about, and the message without its location.
    A body's location is `$.data...` (Litestar's name of the body), a parameter's its
    own name (the problem's key)."""
    where = ""
    if found := _AT.search(message):
        where = found["where"]
        message = message[: found.start()]
    if where.startswith(".data"):
        where = where[len(".data") :]
    elif key and key != "data":
        where = f".{key}{where}"
    if own := FIELD_MESSAGE.match(message):
        where = f"{where}.{own['field']}"
        message = own["reason"]
    elif unknown := _UNKNOWN.match(message):
        where = f"{where}.{unknown['field']}"
    return (where.lstrip(".") or None), message


def handle_http(request: Request, exc: HTTPException) -> Response:
    code = {
        400: "bad_request",
        404: "not_found",
        405: "method_not_allowed",
        413: "payload_too_large",
    }.get(exc.status_code, "http_error")
    return _error_response(
        request, ApiError(exc.status_code, code, exc.detail, headers=dict(exc.headers or {}))
    )


def handle_too_deep(request: Request, exc: RecursionError) -> Response:
    """JSON nested beyond what the decoder can follow (thousands of levels)."""
    return _error_response(
        request,
        ApiError(400, "bad_request", f"JSON nested deeper than {MAX_DEPTH} levels", field="body"),
    )


def handle_internal(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error (request %s)", request_id(request))
    return _error_response(
        request, ApiError(500, "internal", "internal error", hint="The error was logged.")
    )


def create_app(
    database_url: str | None = None,
    auth: AuthConfig | None = None,
    max_body_bytes: int | None = None,
    pool_size: int | None = None,
) -> Litestar:
    from app.migrate import expected_version
    from app.routes import ops
    from app.routes.history import UserTradesController
    from app.routes.jobs import ExecutionJobController
    from app.routes.scoring import ScoringController
    from app.routes.trades import TradeController
    from app.routes.user import UserController

    auth = auth or auth_config()  # refuses to start without a key
    url = database_url or app_config.database_urls().app
    if max_body_bytes is None:
        max_body_bytes = int(os.environ.get("XORJ_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES))
    configure_logging()
    database = Database(
        url,
        max_size=pool_size or app_config.max_connections(),
        idle_seconds=app_config.idle_seconds(),
        statement_timeout=app_config.statement_timeout(),
    )
    metrics = Metrics()
    metrics.database = database
    database.error_counter = metrics.db_errors

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await database.check_login()  # a superuser or the owner: refuse to start
        await database.open()
        refresher = asyncio.create_task(_refresh_pool(metrics))
        try:
            yield
        finally:
            refresher.cancel()
            await database.close()

    application = Litestar(
        route_handlers=[
            *ops.handlers,
            UserController,
            UserTradesController,
            ScoringController,
            ExecutionJobController,
            TradeController,
            assets_router(),
        ],
        middleware=[DefineMiddleware(JWTMiddleware, exclude=PUBLIC_PATHS)],
        exception_handlers={
            ApiError: handle_api_error,
            NotAuthorizedException: handle_not_authorized,
            ValidationException: handle_validation,
            RecursionError: handle_too_deep,
            HTTPException: handle_http,
            Exception: handle_internal,
        },
        lifespan=[lifespan],
        state=_state(
            database=database,
            auth=auth,
            verifier=Verifier(auth),
            metrics=metrics,
            expected=expected_version(),
        ),
        request_max_body_size=max_body_bytes,
        openapi_config=openapi_config(_version()),
        plugins=[AmountSchema()],
        before_request=check_query,
        request_class=JsonRequest,
        debug=False,
        logging_config=None,  # `xorj serve` configures logging: one JSON line per request
    )
    # The document, completed once (it is cached and served as it is): app.routes.openapi.
    finalize(application.plugins.get(OpenAPIPlugin).provide_openapi_schema())
    # Outermost, around Litestar's router and exception handling, so that 404 and 405
    # (which never reach route middleware) get a request id, a log line and metrics too.
    application.asgi_handler = RequestContextMiddleware(
        application.asgi_handler, _allowed_methods(application)
    )
    return application


async def _refresh_pool(metrics: Metrics) -> None:
    """The pool gauges of this worker, written once a second (not per request)."""
    while True:
        metrics.refresh_pool()
        await asyncio.sleep(POOL_GAUGE_SECONDS)


def _allowed_methods(application: Litestar) -> dict[str, str]:
    allowed: dict[str, set[str]] = {}
    for route in application.routes:
        methods = getattr(route, "methods", None)
        if methods:
            for template in {route.path, route.path_format}:
                allowed.setdefault(template, set()).update(methods)
    return {template: ", ".join(sorted(methods)) for template, methods in allowed.items()}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("xorj-state")
    except PackageNotFoundError:
        return "0.0.0"


def _state(**values: Any):
    from litestar.datastructures import State

    return State(values)


class JsonLines(logging.Formatter):
    """One JSON object per record: the access log's own JSON as it is, any other record as
    {"ts", "pid", "level", "logger", "message"} (with the exception, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        if record.name == access_log.name:
            return record.getMessage()
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "pid": record.process,
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging() -> None:
    """JSON lines on stderr, in each worker process, unless logging is configured already
    (pytest, an embedding application)."""
    root = logging.getLogger()
    if not root.handlers:
        # A record without the thread, the process name or the caller's frame (the lines
        # name none of them): the logging docs' "Optimization".
        logging.logThreads = False
        logging.logMultiprocessing = False
        logging._srcfile = None  # type: ignore[attr-defined]
        handler = logging.StreamHandler()
        handler.setFormatter(JsonLines())
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
