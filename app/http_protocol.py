"""The HTTP/1.1 protocol `xorj serve` runs: uvicorn's (h11), with TCP_NODELAY set on every
connection.

asyncio sets TCP_NODELAY on a connection only when its listening socket was created with
protocol IPPROTO_TCP. With `--workers N` uvicorn binds the socket itself, with protocol
0, and hands it to the workers: their connections kept Nagle's algorithm on, so a
response written in two parts (head, then body) on a keep-alive connection waited for the
client's delayed ACK, about 40 ms, and every endpoint was capped near 700 requests/s
whatever its work. With one worker the socket came from asyncio and had the option.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol

_TCP_FAMILIES = (socket.AF_INET, socket.AF_INET6)


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol that turns Nagle's algorithm off on its connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in _TCP_FAMILIES:
            with contextlib.suppress(OSError):  # the peer is already gone: nothing to tune
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
