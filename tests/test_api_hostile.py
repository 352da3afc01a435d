"""Every input answered, never a 5xx: hostile input to every operation of the OpenAPI
document, over real HTTP to `xorj serve` as a real process on a real migrated database.

The operations are read from the running server's /schema/openapi.json; OPERATIONS says
how to call each one (its token, the kind of id each path parameter needs, a valid
baseline body). An operation of the document missing from OPERATIONS is a failure, so a
new endpoint cannot go untested. For each operation the test sends:

  1. each string field of the body (nested ones too) set to "a\\u0000b" (NUL) and to a
     lone surrogate "\\ud800": 400 or 422 whose "field" contains the field's name;
  2. each documented query parameter set to %00: 400 or 422 with field = its name; set
     to %ED%A0%80 (an encoded surrogate) or %FF: anything but a 5xx; an integer one set
     to +-99999999999999999999 or 1e400: a 4xx;
  3. each path parameter replaced by %00 and by 10,000 characters: 404 or 400;
  4. a body nested 100,000 deep, JSON nested 1,000 and 40 deep where any JSON goes
     (nesting is bounded at 32 levels): 400; invalid UTF-8, truncated JSON, an empty
     body, an array / string / number instead of the object, each field set to each
     other JSON type (null, true, 12, "s", [], {}), a NUL in a key where any key goes:
     a 4xx;
  5. an If-Match of garbage (settings), an X-Request-ID of 10,000 characters (never
     echoed back), a bearer token of 5,000 characters (401 where a token is needed);
  6. 1e400, -1e400 and 10**400 in each numeric field: a 4xx.

Every answer must be below 500, and a 4xx must be the JSON error body (success false,
error, code, message, detail, hint, timestamp, requestId). Every violation is collected
and the test fails once at the end, listing them all.

Ids for path parameters are made in setup through the API (a scoring run, a job, a
trade); an operation that moves its resource (a 2xx to a POST) gets a fresh one before
its next input, so each input meets the state its baseline needs.
"""

from __future__ import annotations

import copy
import fnmatch
import itertools
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from app.auth import auth_config, issue
from tests import dbutil
from tests.conftest import TEST_JWT_SECRET, app_url_of, report_figures
from tests.solana import address, signature
from tests.test_api_http import serve

USER = address(80_000)  # the wallet of the user endpoints
USER_VAULT = address(80_001)
OWNER = address(80_002)  # the owner of the vault the trades are for
VAULT = address(80_003)
FROM_TOKEN = address(80_004)
WORKER = "w-hostile"
_numbers = itertools.count(81_000)

NUL = "a\u0000b"
SURROGATE = "\ud800"
LONG = "a" * 10_000
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
ERROR_KEYS = ("success", "error", "code", "message", "detail", "hint", "timestamp", "requestId")

Path = tuple[str | int, ...]


# --- JSON text -------------------------------------------------------------------------


class Raw:
    """A fragment of JSON text, written as it is (1e400, 10**400, deep nesting)."""

    def __init__(self, text: str) -> None:
        self.text = text


def to_json(value: Any) -> str:
    """JSON text of `value`, with Raw fragments as written; strings escaped to ASCII (a NUL
    as \\u0000, a lone surrogate as \\ud800)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(to_json(v) for v in value) + "]"
    return json.dumps(value)


def show(path: Path) -> str:
    """scores[0].wallet_address"""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def leaf_name(path: Path) -> str:
    """The name of the field at `path`: its last key."""
    return next(str(p) for p in reversed(path) if isinstance(p, str))


def walk(value: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every value inside `value` with its path (not `value` itself)."""
    if isinstance(value, dict | list):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            yield (*path, key), item
            yield from walk(item, (*path, key))


def with_value(body: Any, path: Path, value: Any) -> Any:
    changed = copy.deepcopy(body)
    target = changed
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return changed


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


# u64 amounts: a JSON integer or a string of digits.
AMOUNT_FIELDS = {"amount_in", "expected_amount_out", "actual_amount_out", "gas_fee"}


def right_types(path: Path, value: Any) -> set[str]:
    """The JSON types a field may have (a value of another type must be refused)."""
    if leaf_name(path) in AMOUNT_FIELDS and not isinstance(path[-1], int):
        return {"number", "string"}
    return {json_type(value)}


def deep(levels: int) -> Raw:
    return Raw("[" * levels + "]" * levels)


# --- the operations --------------------------------------------------------------------


@dataclass
class Op:
    """How to call one operation with a valid request (the baseline)."""

    who: str | None  # 'user', 'engine', 'bot' or None (no token)
    body: Callable[[World], Any] | None = None  # a fresh valid body per call
    ids: dict[str, str] = field(default_factory=dict)  # path parameter -> kind of resource
    optional: tuple[str, ...] = ()  # fields (show() patterns) where null is valid
    any_json: tuple[Path, ...] = ()  # where the app's type takes any JSON (deep nesting)
    free: tuple[Path, ...] = ()  # contents not checked (any type, any key, any number)
    extra_strings: dict[str, str] = field(default_factory=dict)  # more string fields to try
    if_match: bool = False


def _trade_body(world: World) -> dict[str, Any]:
    n = next(_numbers)
    return {
        "job_id": world.trading_job,
        "user_vault_address": VAULT,
        "client_order_id": f"hostile-{n}",
        "from_token_address": FROM_TOKEN,
        "to_token_address": address(n),
        "amount_in": "1000",
        "expected_amount_out": 2500,
    }


def _settings_body(top: str) -> Callable[[World], dict[str, Any]]:
    """A settings body with `top` (riskProfile or investmentAmount) at the top and the
    other fields inside `settings`: each field given once (given twice, the top one wins
    and the nested one is never read)."""
    values: dict[str, Any] = {
        "maxDrawdownLimit": 20,
        "positionSizePercent": 5,
        "stopLossEnabled": True,
        "takeProfitEnabled": True,
        "riskProfile": "Balanced",
        "investmentAmount": 5000,
    }

    def body(world: World) -> dict[str, Any]:
        nested = {k: v for k, v in values.items() if k != top}
        return {"walletAddress": USER, top: values[top], "settings": nested}

    return body


def _settings(top: str, nested: str) -> Op:
    """POST and PUT /api/user/settings: the same handler, each with one of the two
    arrangements, so that both fields are tried at the top and inside settings."""
    return Op(
        "user",
        _settings_body(top),
        optional=("walletAddress", top, "settings", "settings.*"),
        any_json=((top,), ("settings", nested), ("settings", "maxDrawdownLimit")),
        if_match=True,
    )


WORKER_BODY = Op("bot", lambda w: {"worker_id": WORKER}, ids={"job_id": "job_running"})

OPERATIONS: dict[tuple[str, str], Op] = {
    ("GET", "/healthz"): Op(None),
    ("GET", "/readyz"): Op(None),
    ("GET", "/metrics"): Op(None),
    ("GET", "/api/bot/status"): Op("user"),
    ("GET", "/api/bot/trades"): Op("user"),
    ("POST", "/api/bot/enable"): Op(
        "user", lambda w: {"vaultAddress": USER_VAULT}, optional=("vaultAddress",)
    ),
    ("POST", "/api/bot/disable"): Op("user"),
    ("GET", "/api/user/settings"): Op("user"),
    ("POST", "/api/user/settings"): _settings("riskProfile", "investmentAmount"),
    ("PUT", "/api/user/settings"): _settings("investmentAmount", "riskProfile"),
    ("POST", "/internal/scoring-runs"): Op("engine"),
    ("POST", "/internal/scoring-runs/{run_id}/start"): Op("engine", ids={"run_id": "run_pending"}),
    ("POST", "/internal/scoring-runs/{run_id}/complete"): Op(
        "engine",
        lambda w: {
            "scores": [
                {
                    "wallet_address": address(next(_numbers)),
                    "xorj_trust_score": 50.5,
                    "metrics": {"roi": 0.12, "note": "steady"},
                }
            ],
            "allow_empty": False,
        },
        ids={"run_id": "run_running"},
        optional=("allow_empty", "scores[0].metrics"),
        any_json=(("scores",), ("scores", 0, "metrics")),
        free=(("scores", 0, "metrics"),),
    ),
    ("POST", "/internal/scoring-runs/{run_id}/fail"): Op(
        "engine", lambda w: {"error": "data source down"}, ids={"run_id": "run_pending"}
    ),
    ("GET", "/internal/scoring-runs/{run_id}/scores"): Op("bot", ids={"run_id": "run_pending"}),
    ("GET", "/internal/ranked-traders"): Op("bot"),
    ("POST", "/internal/execution-jobs"): Op(
        "bot",
        lambda w: {
            "trigger_reason": "MANUAL_TRIGGER",
            "parameters": {"strategy": "default", "size": 3, "nested": {"note": "x"}},
        },
        optional=("parameters",),
        any_json=(("parameters",),),
        free=(("parameters",),),
    ),
    ("POST", "/internal/execution-jobs/reap"): Op("bot", lambda w: {"stale_after_seconds": 86400}),
    ("POST", "/internal/execution-jobs/{job_id}/start"): Op(
        "bot", lambda w: {"worker_id": WORKER}, ids={"job_id": "job_pending"}
    ),
    ("POST", "/internal/execution-jobs/{job_id}/heartbeat"): WORKER_BODY,
    ("POST", "/internal/execution-jobs/{job_id}/complete"): WORKER_BODY,
    ("POST", "/internal/execution-jobs/{job_id}/fail"): Op(
        "bot",
        lambda w: {"error": "boom", "worker_id": WORKER},
        ids={"job_id": "job_running"},
        optional=("worker_id",),
    ),
    ("GET", "/internal/trades"): Op("bot"),
    ("POST", "/internal/trades"): Op("bot", _trade_body),
    ("GET", "/internal/trades/recover"): Op("bot"),
    ("GET", "/internal/trades/{trade_id}"): Op("bot", ids={"trade_id": "trade_pending"}),
    ("GET", "/internal/trades/{trade_id}/events"): Op("bot", ids={"trade_id": "trade_pending"}),
    ("POST", "/internal/trades/{trade_id}/submitted"): Op(
        "bot",
        lambda w: {
            "transaction_signature": signature(next(_numbers)),
            "last_valid_block_height": 1000,
        },
        ids={"trade_id": "trade_pending"},
        optional=("last_valid_block_height", "worker_id"),
        # worker_id names the bot holding the trade's claim: a trade created without a
        # claim refuses any (409 claim_lost), so it is only tried with hostile text.
        extra_strings={"worker_id": WORKER},
    ),
    ("POST", "/internal/trades/{trade_id}/confirmed"): Op(
        "bot",
        lambda w: {"actual_amount_out": 2400, "slippage_realized": 0.5, "gas_fee": "5000"},
        ids={"trade_id": "trade_submitted"},
        optional=("slippage_realized", "gas_fee"),
    ),
    ("POST", "/internal/trades/{trade_id}/failed"): Op(
        "bot",
        lambda w: {"error_message": "no route", "gas_fee": 5000},
        ids={"trade_id": "trade_submitted"},
        optional=("gas_fee",),
    ),
}


# --- the server and its resources ------------------------------------------------------


@pytest.fixture(scope="module")
def module_db_url(template_db: str, owner_role: str) -> Iterator[str]:
    name = f"test_{os.getpid()}_api_hostile"
    dbutil.create_database(name, owner_role, template=template_db)
    try:
        yield dbutil.url_for(name, owner_role)
    finally:
        dbutil.drop_database(name)


class World:
    """The running server, a token per caller, and the resources ids name."""

    def __init__(self, client: httpx.Client) -> None:
        config = auth_config({"JWT_SECRET": TEST_JWT_SECRET})
        self.client = client
        self.tokens = {
            "user": issue(config, wallet=USER),
            "engine": issue(config, role="engine"),
            "bot": issue(config, role="bot"),
        }
        owner = {"Authorization": f"Bearer {issue(config, wallet=OWNER)}"}
        self.setup("POST", "/api/bot/enable", "user", {"vaultAddress": USER_VAULT})
        enabled = client.post("/api/bot/enable", json={"vaultAddress": VAULT}, headers=owner)
        assert enabled.status_code == 200, enabled.text
        self.trading_job = self.new_job(running=True)
        self.held: dict[tuple[str, str, str], str] = {}  # (method, path, param) -> id
        self.log: Callable[[], str] = str  # the tail of the server's output

    def headers(self, who: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}

    def setup(self, method: str, path: str, who: str, body: Any = None) -> dict[str, Any]:
        """A request of the setup, which must succeed."""
        response = self.client.request(method, path, json=body, headers=self.headers(who))
        if not response.is_success:
            pytest.fail(f"setup {method} {path}: {response.status_code} {response.text[:500]}")
        return response.json()

    def new_run(self, running: bool = False) -> str:
        run_id = self.setup("POST", "/internal/scoring-runs", "engine")["id"]
        if running:
            self.setup("POST", f"/internal/scoring-runs/{run_id}/start", "engine")
        return run_id

    def new_job(self, running: bool = False) -> str:
        body = {"trigger_reason": "MANUAL_TRIGGER"}
        job_id = self.setup("POST", "/internal/execution-jobs", "bot", body)["id"]
        if running:
            path = f"/internal/execution-jobs/{job_id}/start"
            self.setup("POST", path, "bot", {"worker_id": WORKER})
        return job_id

    def new_trade(self, submitted: bool = False) -> str:
        trade_id = self.setup("POST", "/internal/trades", "bot", _trade_body(self))["trade"]["id"]
        if submitted:
            body = {"transaction_signature": signature(next(_numbers))}
            self.setup("POST", f"/internal/trades/{trade_id}/submitted", "bot", body)
        return trade_id

    def make(self, kind: str) -> str:
        return {
            "run_pending": lambda: self.new_run(),
            "run_running": lambda: self.new_run(running=True),
            "job_pending": lambda: self.new_job(),
            "job_running": lambda: self.new_job(running=True),
            "trade_pending": lambda: self.new_trade(),
            "trade_submitted": lambda: self.new_trade(submitted=True),
        }[kind]()

    def ids(self, key: tuple[str, str], op: Op) -> dict[str, str]:
        """The ids of the operation's path parameters (made when first needed)."""
        found = {}
        for param, kind in op.ids.items():
            slot = (*key, param)
            if slot not in self.held:
                self.held[slot] = self.make(kind)
            found[param] = self.held[slot]
        return found

    def moved(self, key: tuple[str, str]) -> None:
        """The operation moved its resources: fresh ones for its next request."""
        for slot in [s for s in self.held if s[:2] == key]:
            del self.held[slot]


@pytest.fixture(scope="module")
def world(module_db_url: str) -> Iterator[World]:
    with (
        serve(app_url_of(module_db_url)) as server,
        httpx.Client(base_url=server.base, timeout=60) as client,
    ):
        world = World(client)
        world.log = server.output
        yield world


# --- the expectations ------------------------------------------------------------------


@dataclass
class Case:
    """One hostile input to an operation and what the answer must be."""

    what: str
    expect: str  # 'field', 'field=', '4xx', '400', '404', '401', '<500'
    name: str = ""  # the field or parameter the answer must name
    body: Callable[[Any], bytes] | None = None  # a fresh baseline -> the body to send
    query: str = ""  # raw query string, sent as written
    path_values: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    token: str | None = None  # instead of the operation's token


def error_body_problem(response: httpx.Response) -> str:
    """'' when the response carries the JSON error body; else what is wrong with it."""
    try:
        body = response.json()
    except ValueError:
        return "the body is not JSON"
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    missing = [k for k in ERROR_KEYS if k not in body]
    if missing:
        return f"the error body lacks {missing}"
    if body["success"] is not False:
        return "success is not false"
    wrong = [k for k in ("error", "code", "message") if not isinstance(body[k], str)]
    if wrong:
        return f"not strings: {wrong}"
    if "field" in body and not isinstance(body["field"], str):
        return "field is not a string"
    return ""


def problem_with(case: Case, response: httpx.Response) -> str:
    """'' when the answer keeps the contract for this case; else what is wrong."""
    status = response.status_code
    if status >= 500:
        return "a 5xx"
    is_4xx = 400 <= status < 500
    if is_4xx and (wrong := error_body_problem(response)):
        return wrong
    wanted = {
        "field": (400, 422),
        "field=": (400, 422),
        "400": (400,),
        "404": (400, 404),
        "401": (401,),
    }.get(case.expect)
    if wanted is not None and status not in wanted:
        return f"status {status}, wanted {'/'.join(map(str, wanted))}"
    if case.expect == "4xx" and not is_4xx:
        return f"status {status}, wanted a 4xx"
    if case.expect in ("field", "field="):
        given = response.json().get("field")
        if not isinstance(given, str):
            return f"no field (wanted one naming {case.name!r})"
        if case.expect == "field=" and given != case.name:
            return f"field {given!r}, wanted {case.name!r}"
        if case.expect == "field" and case.name not in given:
            return f"field {given!r} does not name {case.name!r}"
    if "X-Request-ID" in case.headers and response.headers.get("x-request-id") == LONG:
        return "the 10,000-character X-Request-ID was echoed back"
    return ""


# --- the inputs ------------------------------------------------------------------------


def is_free(op: Op, path: Path) -> bool:
    """Inside an area whose contents are not checked (not the area itself)."""
    return any(len(path) > len(area) and path[: len(area)] == area for area in op.free)


def is_optional(op: Op, path: Path) -> bool:
    return any(fnmatch.fnmatchcase(show(path), pattern) for pattern in op.optional)


def _replacing(path: Path, value: Any) -> Callable[[Any], bytes]:
    """The body maker: a fresh baseline with `value` at `path`."""
    return lambda baseline: to_json(with_value(baseline, path, value)).encode()


def _constant(content: bytes) -> Callable[[Any], bytes]:
    return lambda baseline: content


def body_cases(op: Op, baseline: Any, required: bool) -> Iterator[Case]:
    """The hostile bodies of an operation whose baseline body looks like `baseline` (each
    is made from a fresh baseline when sent)."""

    # 1. Hostile text in every string field (and the extra ones).
    strings = [(path, value) for path, value in walk(baseline) if isinstance(value, str)]
    strings += [((name,), value) for name, value in op.extra_strings.items()]
    for path, _ in strings:
        for label, bad in (("NUL", NUL), ("lone surrogate", SURROGATE)):
            yield Case(
                f"{show(path)} = {label}",
                "field",
                leaf_name(path),
                body=_replacing(path, bad),
            )
    # 4. Bodies that are not the object.
    yield Case("body nested 100,000 deep", "400", body=_constant(deep(100_000).text.encode()))
    yield Case("body of invalid UTF-8", "4xx", body=_constant(b'{"x": "\xff"}'))
    if strings:
        path = strings[0][0]
        invalid = _replacing(path, "@@FF@@")
        yield Case(
            f"{show(path)} with invalid UTF-8",
            "4xx",
            body=lambda fresh: invalid(fresh).replace(b"@@FF@@", b"\xff"),
        )
    yield Case(
        "truncated JSON", "4xx", body=lambda fresh: (b := to_json(fresh).encode())[: len(b) // 2]
    )
    yield Case("empty body", "4xx" if required else "<500", body=_constant(b""))
    for label, other in (("array", b"[]"), ("string", b'"s"'), ("number", b"12")):
        yield Case(f"body is a JSON {label}", "4xx", body=_constant(other))
    # Deep nesting where any JSON goes: bounded at 32 levels.
    for path in op.any_json:
        current = dict(walk(baseline))[path]
        for levels in (1000, 40):
            nested = {"a": deep(levels)} if isinstance(current, dict) else deep(levels)
            yield Case(
                f"{show(path)} nested {levels} deep",
                "400",
                body=_replacing(path, nested),
            )
        if isinstance(current, dict):
            yield Case(
                f"{show(path)} with a NUL in a key",
                "4xx",
                body=_replacing(path, {NUL: "x"}),
            )
    # Every field set to each other JSON type.
    for path, value in walk(baseline):
        if is_free(op, path):
            continue
        for other in (None, True, 12, "s", [], {}):
            if json_type(other) in right_types(path, value):
                expect = "<500"  # the right type: the value may well be valid
            elif other is None and is_optional(op, path):
                expect = "<500"
            else:
                expect = "4xx"
            yield Case(
                f"{show(path)} = {json.dumps(other)}",
                expect,
                body=_replacing(path, other),
            )
    # 6. Huge numbers in every numeric field.
    for path, value in walk(baseline):
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        for huge in ("1e400", "-1e400", "1" + "0" * 400):
            label = "10**400" if len(huge) > 10 else huge
            yield Case(
                f"{show(path)} = {label}",
                "<500" if is_free(op, path) else "4xx",
                body=_replacing(path, Raw(huge)),
            )


def query_cases(parameters: list[dict[str, Any]]) -> Iterator[Case]:
    """2 and 6: hostile values of every documented query parameter."""
    for parameter in parameters:
        if parameter.get("in") != "query":
            continue
        name = parameter["name"]
        yield Case(f"?{name}=%00", "field=", name, query=f"{name}=%00")
        yield Case(f"?{name}=%ED%A0%80", "<500", query=f"{name}=%ED%A0%80")
        yield Case(f"?{name}=%FF", "<500", query=f"{name}=%FF")
        if "integer" in json.dumps(parameter.get("schema", {})):
            for huge in ("99999999999999999999", "-99999999999999999999", "1e400"):
                yield Case(f"?{name}={huge}", "4xx", query=f"{name}={huge}")


def path_cases(op: Op) -> Iterator[Case]:
    """3: each path parameter replaced by %00 and by 10,000 characters."""
    for param in op.ids:
        yield Case(f"{{{param}}} = %00", "404", path_values={param: "%00"})
        yield Case(f"{{{param}}} = 10,000 chars", "404", path_values={param: LONG})


def header_cases(op: Op) -> Iterator[Case]:
    """5: garbage headers."""
    yield Case("X-Request-ID of 10,000 chars", "<500", headers={"X-Request-ID": LONG})
    yield Case("bearer of 5,000 chars", "401" if op.who else "<500", token="x" * 5000)
    if op.if_match:
        for garbage in ("*", '"-1"', '"99999999999999999999"', 'W/"x"'):
            yield Case(f"If-Match: {garbage}", "4xx", headers={"If-Match": garbage})


# --- the test --------------------------------------------------------------------------


def _send(world: World, key: tuple[str, str], op: Op, case: Case | None) -> httpx.Response:
    """The request of `case` (None: the baseline) to the operation `key`."""
    method, template = key
    case = case or Case("baseline", "<500")
    values = {**world.ids(key, op), **case.path_values}
    path = template.format(**values)
    url = f"{path}?{case.query}" if case.query else path
    token = case.token if case.token is not None else (world.tokens[op.who] if op.who else None)
    headers = {**case.headers}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    content = None
    if op.body is not None:
        baseline = op.body(world)  # fresh: a new client_order_id, signature, ...
        content = case.body(baseline) if case.body else to_json(baseline).encode()
    if content is not None:
        headers["Content-Type"] = "application/json"
    response = world.client.request(method, url, content=content, headers=headers)
    if method != "GET" and response.is_success:
        world.moved(key)
    return response


def _snippet(response: httpx.Response) -> str:
    return response.text[:200].replace("\n", " ")


def test_every_operation_answers_hostile_input_without_a_5xx(world: World) -> None:
    document = world.client.get("/schema/openapi.json")
    assert document.status_code == 200, document.text
    operations = {
        (method.upper(), path): operation
        for path, item in document.json()["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }
    violations = [
        f"{m} {p}: in the OpenAPI document but not in OPERATIONS (add how to call it)"
        for m, p in sorted(set(operations) - set(OPERATIONS))
    ]
    violations += [
        f"{m} {p}: in OPERATIONS but not in the OpenAPI document"
        for m, p in sorted(set(OPERATIONS) - set(operations))
    ]
    tried: Counter[str] = Counter()
    server_errors = 0
    for key in sorted(set(operations) & set(OPERATIONS)):
        op, operation = OPERATIONS[key], operations[key]
        label = f"{key[0]} {key[1]}"
        # The table's baseline must be valid, or the inputs below test nothing.
        baseline = _send(world, key, op, None)
        if not baseline.is_success:
            violations.append(f"{label} | baseline | {baseline.status_code} | {_snippet(baseline)}")
        cases = [*query_cases(operation.get("parameters", [])), *path_cases(op)]
        cases += header_cases(op)
        if op.body is not None:
            request_body = operation.get("requestBody") or {}
            cases += body_cases(op, op.body(world), bool(request_body.get("required")))
        for case in cases:
            response = _send(world, key, op, case)
            tried[label] += 1
            server_errors += response.status_code >= 500
            if problem := problem_with(case, response):
                violations.append(
                    f"{label} | {case.what} | {response.status_code} | {problem} | "
                    f"{_snippet(response)}"
                )
    report_figures(
        "hostile inputs",
        total=sum(tried.values()),
        operations=len(tried),
        server_errors_5xx=server_errors,
        violations=len(violations),
    )
    report_figures("hostile inputs per operation", **dict(sorted(tried.items())))
    errors = [line for line in world.log().splitlines() if '"level": "error"' in line]
    assert not violations, (
        f"{len(violations)} violations:\n"
        + "\n".join(violations)
        + ("\nserver errors logged (last ones):\n" + "\n".join(errors[-5:]) if errors else "")
    )
