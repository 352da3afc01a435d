"""Valid, distinct Solana-shaped values for tests."""

from __future__ import annotations

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58(n: int, width: int) -> str:
    """n in base58, left-padded with '1' (base58's zero) to `width` characters."""
    digits = []
    while n:
        n, r = divmod(n, 58)
        digits.append(ALPHABET[r])
    return "".join(reversed(digits)).rjust(width, "1")


def address(n: int) -> str:
    """A valid 44-character address, distinct for each n >= 0."""
    return "Addr" + base58(n, 40)


def signature(n: int) -> str:
    """A valid 88-character transaction signature, distinct for each n >= 0."""
    return "Sig" + base58(n, 85)
