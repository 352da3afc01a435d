"""`xorj serve` turns Nagle's algorithm off on every connection, whatever socket its
listening socket is (app/http_protocol.py): the socket uvicorn binds for `--workers N`
has protocol 0, on which asyncio does not set TCP_NODELAY itself. Real sockets on the
loopback, the protocol class `xorj serve` passes to uvicorn; the plain one as a control.
"""

from __future__ import annotations

import asyncio
import socket

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from app.http_protocol import NoDelayH11Protocol


async def _accepted_nodelay(protocol_class: type[H11Protocol]) -> int:
    """TCP_NODELAY of the server side of one connection accepted by `protocol_class` on
    a listening socket made as uvicorn makes it for workers (protocol 0)."""

    async def app(scope, receive, send) -> None:  # never called: no request is sent
        raise AssertionError(scope)

    config = uvicorn.Config(app, http=protocol_class, log_level="warning")
    config.load()
    state = ServerState()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    assert listener.proto == 0
    listener.bind(("127.0.0.1", 0))
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: protocol_class(config=config, server_state=state, app_state={}), sock=listener
    )
    try:
        _, writer = await asyncio.open_connection(*listener.getsockname())
        while not state.connections:
            await asyncio.sleep(0.001)
        (connection,) = state.connections
        sock = connection.transport.get_extra_info("socket")
        value = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        writer.close()
        return value
    finally:
        server.close()


def test_the_serve_protocol_sets_tcp_nodelay_on_a_workers_socket() -> None:
    assert asyncio.run(_accepted_nodelay(NoDelayH11Protocol)) != 0


def test_control_uvicorns_own_protocol_leaves_nagle_on_there() -> None:
    """Why it is needed: on the same socket, uvicorn's protocol leaves the option off."""
    assert asyncio.run(_accepted_nodelay(H11Protocol)) == 0
