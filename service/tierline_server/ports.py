"""Claiming the ports of one `tierline serve` (gRPC, and HTTP when it listens), whose workers
then share them.

Workers listen with SO_REUSEPORT so that the kernel spreads connections over them; but then any
other process of the same user could listen on the port too, and two servers with different
policies would silently split the traffic. So the supervisor first binds the address WITHOUT
SO_REUSEPORT (which fails if anything holds the port), then keeps a bound, non-listening
SO_REUSEPORT socket for as long as it runs: a later server's check fails on it, while its own
workers may still join. A bound socket that does not listen receives no connections.
"""

from __future__ import annotations

import socket


class PortInUse(Exception):
    """The address is taken (by another server, or another program)."""


def bound_socket(
    listen: str, flag: str, *, reuse_port: bool, reuse_address: bool = True
) -> socket.socket:
    """A TCP socket bound to ``listen`` (host:port; port 0: a free port), not yet listening;
    with ``reuse_port``, beside the other workers of a supervisor that claimed the port.
    PortInUse, naming ``flag``, when the address cannot be had."""
    host, _, port_text = listen.rpartition(":")
    family = socket.AF_INET6 if host.startswith("[") else socket.AF_INET
    # IPPROTO_TCP named, not left 0: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on
    # connections of sockets it knows as TCP, and with it on, an HTTP answer written in parts
    # waits for the client's delayed ACK (about 40 ms a call on a kept-alive connection).
    bound = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    if reuse_address:
        # Connections of a server that just stopped (TIME_WAIT) do not count; a listening
        # socket, or a claim (which does not set it), does.
        bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        bound.bind((host.strip("[]"), int(port_text)))
    except OSError as error:
        bound.close()
        raise PortInUse(
            f"{flag} {listen}: cannot bind ({error.strerror}): another server or program "
            "is using it; choose another port or stop it"
        ) from None
    return bound


class PortClaim:
    """Holds ``host:port`` for this server's workers (port 0: a free port, chosen now)."""

    def __init__(self, listen: str, flag: str = "--listen") -> None:
        host = listen.rpartition(":")[0]
        self.host = host
        probe = bound_socket(listen, flag, reuse_port=False)
        port: int = probe.getsockname()[1]
        probe.close()
        # Bound for as long as the server runs; taken between the two binds: PortInUse too.
        self._socket = bound_socket(f"{host}:{port}", flag, reuse_port=True, reuse_address=False)
        self.port = port

    @property
    def address(self) -> str:
        """host:port with the port actually claimed."""
        return f"{self.host}:{self.port}"

    def close(self) -> None:
        """Give the port back."""
        self._socket.close()
