"""Valid, distinct Solana-shaped values for tests."""

from __future__ import annotations

from app.base58 import encode_int as base58


def address(n: int) -> str:
    """A valid 44-character address, distinct for each n >= 0."""
    return "Addr" + base58(n, 40)


def signature(n: int) -> str:
    """A valid 88-character transaction signature, distinct for each n >= 0."""
    return "Sig" + base58(n, 85)
