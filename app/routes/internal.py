"""Internal endpoints for the quant engine and the execution bot (service tokens)."""

from __future__ import annotations

handlers: list = []
