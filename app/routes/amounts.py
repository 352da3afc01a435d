"""The u64 amounts of the trade bodies: the JSON type (`Amount`: a JSON integer, or a
string of digits for values above 2^53, which JavaScript cannot send exactly) and what
goes to the database (`amount`, `decimal`: Decimals). Whether an amount fits 0..2^64-1
is the database's to say (XJ422 naming the field)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import msgspec

from app.errors import ApiError

Amount = Annotated[
    int | Annotated[str, msgspec.Meta(pattern=r"^[0-9]+$")],
    msgspec.Meta(
        description="A u64 amount in base units: a JSON integer, or a string of digits "
        "(for values above 2^53). The database refuses values outside 0..2^64-1.",
        examples=["18446744073709551615"],
    ),
]


def amount(field: str, value: int | str | None) -> Decimal | None:
    """A u64 amount for the database: a JSON integer as it is, a string only of ASCII
    digits (the schema's pattern ends in $, which lets a trailing newline through)."""
    if value is None:
        return None
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ApiError(
            400,
            "bad_request",
            f"{field} must be a whole number: a JSON integer or a string of digits",
            field=field,
        )
    return Decimal(value)


def decimal(value: float | None) -> Decimal | None:
    """A JSON number for a numeric parameter, as written (its shortest repr)."""
    return None if value is None else Decimal(repr(value))
