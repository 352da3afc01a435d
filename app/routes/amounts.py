"""The u64 amounts of the trade bodies, read exactly.

An amount is a JSON integer (any number of digits: the JSON decoder keeps integers exact)
or a JSON string of ASCII digits (JavaScript cannot send integers above 2^53 exactly as
numbers). Anything else is refused with 422 naming the field, before it can be rounded:
a number written with a fraction or an exponent (1.5, 1e3, 9007199254740993.0, even 1.0,
which went through a binary double on the way here), a string that is not only digits
("1e3", "-1", " 1"), true, null, an array or an object. Whether the integer fits
0..2^64-1 is the database's rule (the u64 domain: XJ422 naming the field); Python only
refuses more than MAX_DIGITS digits, which no u64 has, so the database never sees them.

`AmountInput` is the type of such a field: Litestar hands it the decoded JSON value as it
is (its `_decoder`), and the OpenAPI document shows it as AMOUNT_SCHEMA (app.server's
schema plugin). Answers carry amounts as strings of digits (AMOUNT_STRING).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import msgspec

from app.errors import ApiError

U64_MAX = 2**64 - 1
MAX_DIGITS = 40
RULE = (
    "an amount is a JSON integer or a string of ASCII digits, from 0 to "
    "18446744073709551615 (2^64-1), in base units; a number with a fraction or an "
    "exponent is refused even when it looks whole"
)

# An amount in an answer: a string of digits, exact whatever its size.
AmountString = Annotated[
    str,
    msgspec.Meta(
        pattern="^[0-9]{1,20}$",
        description="A u64 amount in base units, as a string of digits (exact above 2^53)",
        examples=["18446744073709551615"],
    ),
]


class AmountInput:
    """The JSON value given for an amount, unread until `amount()` checks it."""

    __slots__ = ("raw",)

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    @staticmethod
    def _decoder(_: Any, value: Any) -> AmountInput:
        # Litestar's signature model calls this for every value of an AmountInput field.
        return value if isinstance(value, AmountInput) else AmountInput(value)


def _described(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return msgspec.json.encode(value).decode()
    if isinstance(value, float):
        return "a number with a fraction or an exponent"
    if isinstance(value, str):
        return "a string that is not only ASCII digits"
    return f"a JSON {'array' if isinstance(value, list) else 'object'}"


def amount(field: str, value: AmountInput | None) -> Decimal | None:
    """The exact amount of `value` for the database (None when absent), or a 422 naming
    `field`."""
    if value is None:
        return None
    raw = value.raw
    digits: str | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        digits = str(abs(raw))
    elif isinstance(raw, str) and raw.isascii() and raw.isdigit():
        digits = raw
    if digits is None:
        raise ApiError(
            422,
            "XJ422",
            f"{field} must be a JSON integer or a string of digits, not {_described(raw)}",
            hint=RULE,
            field=field,
        )
    if isinstance(raw, str) and len(raw) > 20:
        # The schema's pattern (^[0-9]{1,20}$): no u64 needs more, leading zeros included.
        raise ApiError(
            422,
            "XJ422",
            f"{field} is out of range: a string amount has at most 20 digits",
            hint=RULE,
            field=field,
        )
    if len(digits.lstrip("0")) > MAX_DIGITS:
        raise ApiError(
            422,
            "XJ422",
            f"{field} is out of range: it has more than {MAX_DIGITS} digits",
            hint=RULE,
            field=field,
        )
    return Decimal(raw)


def decimal(value: float | None) -> Decimal | None:
    """A JSON number for a numeric parameter, as written (its shortest repr)."""
    return None if value is None else Decimal(repr(value))


AMOUNT_SCHEMA: dict[str, Any] = {
    "description": "A u64 amount in base units: " + RULE + ".",
    "oneOf": [
        {"type": "integer", "minimum": 0, "maximum": U64_MAX},
        {"type": "string", "pattern": "^[0-9]{1,20}$"},
    ],
    "examples": [1000000, "18446744073709551615"],
}
