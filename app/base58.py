"""Base58 with the Bitcoin/Solana alphabet (no 0, O, I, l): the one encoder of the project
and its tests."""

from __future__ import annotations

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def encode_int(n: int, width: int = 0) -> str:
    """A non-negative integer in base58, left-padded with '1' (base58's zero) to `width`."""
    digits = []
    while n:
        n, r = divmod(n, 58)
        digits.append(ALPHABET[r])
    return "".join(reversed(digits)).rjust(width, "1")


def encode(data: bytes) -> str:
    """Bytes in base58 as Solana writes keys and signatures: each leading zero byte is '1'."""
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + encode_int(int.from_bytes(data, "big"))
