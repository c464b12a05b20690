"""The sockets the workers listen on, over real loopback connections."""

from __future__ import annotations

import asyncio
import socket

import pytest
from tierline_server.ports import bound_socket

pytestmark = pytest.mark.integration

CONNECT_TIMEOUT_SECONDS = 5.0


async def _accepted_nodelay(listening: socket.socket) -> int:
    """TCP_NODELAY of a connection an asyncio server (as Hypercorn runs) accepted on
    ``listening``."""
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def on_connection(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection: socket.socket = writer.get_extra_info("socket")
        accepted.set_result(connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(on_connection, sock=listening)
    async with server:
        _, client = await asyncio.open_connection(*listening.getsockname())
        try:
            return await asyncio.wait_for(accepted, CONNECT_TIMEOUT_SECONDS)
        finally:
            client.close()


def test_http_connections_send_answers_without_waiting_for_acknowledgements() -> None:
    # asyncio turns Nagle's algorithm off only on sockets it knows as TCP. With it on, an answer
    # written in two parts (headers, body) waits for the client's delayed ACK: about 40 ms per
    # call on every kept-alive connection after its first call.
    listening = bound_socket("127.0.0.1:0", "--http-listen", reuse_port=False)

    assert asyncio.run(_accepted_nodelay(listening)) != 0
