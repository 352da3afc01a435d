"""What every input must be before anything reads it: text PostgreSQL can hold and JSON
of bounded depth. The database stores text as UTF-8 without NUL, so a string with U+0000
or a lone UTF-16 surrogate (which JSON can spell, "\\ud800") is refused here, naming the
field, instead of failing inside the driver.

- `Body`: the base of every request body. After decoding it walks its fields (and the
  values of the fields that take any JSON, down to MAX_DEPTH levels) and refuses bad
  text or deeper nesting with a ValueError that names the field; the app answers 400
  with `field` (app.server.handle_validation reads the name back from the message).
- `check_query`: the same for every query parameter, before the handler runs (the
  app's before_request hook).
- `JsonRequest`: the app's request class. The JSON decoder refuses a lone surrogate
  without saying where; the body is then read again by Python's json module, which
  accepts it, to name the field (only on that error path).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, ClassVar

import msgspec
from litestar import Request
from litestar.exceptions import SerializationException

from app.errors import ApiError

# Nesting beyond this many levels of objects and arrays inside a body is refused (400).
MAX_DEPTH = 32

# A NUL, or a UTF-16 surrogate code point (only a lone one can reach a Python str).
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")

# The message of a refused field: "field `<path>`: <reason>"; app.server reads it back.
FIELD_MESSAGE = re.compile(r"^field `(?P<field>[^`]+)`: (?P<reason>.*?)(?: - at `\$[^`]*`)?$", re.S)


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored as text, or None."""
    found = _BAD_TEXT.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "text must not contain U+0000 (NUL)"
    return "text must not contain a lone UTF-16 surrogate (invalid Unicode)"


class InputProblem(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"field `{field}`: {reason}")
        self.field = field
        self.reason = reason


def _short(path: str) -> str:
    return path if len(path) <= 80 else path[:80] + "..."


def check_value(path: str, value: Any, depth: int = 0) -> None:
    """Raise InputProblem naming `path` (dotted, with [i] for elements) when `value`, or
    anything inside it, is bad text or nested deeper than MAX_DEPTH."""
    if isinstance(value, str):
        if problem := text_problem(value):
            raise InputProblem(path, problem)
    elif isinstance(value, dict):
        if depth >= MAX_DEPTH:
            raise InputProblem(_short(path), f"JSON nested deeper than {MAX_DEPTH} levels")
        for key, item in value.items():
            if isinstance(key, str) and (problem := text_problem(key)):
                raise InputProblem(path, f"a key: {problem}")
            check_value(f"{path}.{key}", item, depth + 1)
    elif isinstance(value, list):
        if depth >= MAX_DEPTH:
            raise InputProblem(_short(path), f"JSON nested deeper than {MAX_DEPTH} levels")
        for index, item in enumerate(value):
            check_value(f"{path}[{index}]", item, depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise InputProblem(path, "number out of range")
    elif (raw := getattr(value, "raw", None)) is not None:
        check_value(path, raw, depth)


class Body(msgspec.Struct, forbid_unknown_fields=True):
    """A request body: unknown fields refused, and every field checked by check_value
    once decoded (a nested Body checks its own fields, named from its parent's)."""

    __bulk__: ClassVar[tuple[str, ...]] = ()  # fields the handler checks with check_bulk

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if not isinstance(value, Body) and name not in self.__bulk__:
                check_value(name, value)


async def check_query(request: Request) -> None:
    """before_request: every query parameter's value is text PostgreSQL can hold. (A
    coroutine: Litestar would run a plain function on a worker thread.)"""
    for name, value in request.query_params.multi_items():
        if problem := text_problem(value) or text_problem(name):
            raise ApiError(400, "bad_request", f"query parameter {name!r}: {problem}", field=name)


def check_bulk(path: str, items: list[Any], encoded: bytes) -> None:
    """check_value for a large array (the scores of a run) at a fraction of its cost:
    NUL is looked for in the array's JSON text (where it is written \\u0000) before any
    element is walked, and an element is walked for depth only when it has containers
    two levels down (a score's metrics object of numbers has none)."""
    try:
        if b"\\u0000" in encoded:
            check_value(path, items)
        for index, item in enumerate(items):
            if _has_grandchild_container(item):
                check_value(f"{path}[{index}]", item, 1)
    except InputProblem as problem:
        raise ApiError(
            400, "bad_request", f"{problem.field}: {problem.reason}", field=problem.field
        ) from None


def _containers(value: Any) -> Any:
    kind = type(value)
    return value.values() if kind is dict else value if kind is list else ()


def _has_grandchild_container(item: Any) -> bool:
    for child in _containers(item):
        for grandchild in _containers(child):
            if type(grandchild) is dict or type(grandchild) is list:
                return True
    return False


class JsonRequest(Request):
    """A request whose undecodable JSON body is a 400 that says why, and names the field
    when the reason is a string PostgreSQL cannot hold."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except SerializationException as exc:
            raise _unreadable(await self.body(), str(exc)) from None


def _unreadable(body: bytes, reason: str) -> ApiError:
    try:
        value = json.loads(body)  # reads 1e400 as inf, "\\ud800" as a lone surrogate
        if isinstance(value, dict):
            for name, item in value.items():
                check_value(name, item)
    except InputProblem as problem:
        return ApiError(
            400, "bad_request", f"{problem.field}: {problem.reason}", field=problem.field
        )
    except (ValueError, RecursionError):
        pass
    return ApiError(
        400,
        "bad_request",
        f"the body is not valid JSON: {reason}",
        hint="Send one JSON object, UTF-8 encoded.",
    )
