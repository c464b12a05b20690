"""Claiming the gRPC port for one `tierline serve`, whose workers then share it.

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


class PortClaim:
    """Holds ``host:port`` for this server's workers (port 0: a free port, chosen now)."""

    def __init__(self, listen: str) -> None:
        host, _, port_text = listen.rpartition(":")
        self.host = host
        family = socket.AF_INET6 if host.startswith("[") else socket.AF_INET
        bind_host = host.strip("[]")
        probe = socket.socket(family, socket.SOCK_STREAM)
        # SO_REUSEADDR: connections of a server that just stopped (TIME_WAIT) do not count;
        # a listening socket, or our claim below (which does not set it), does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((bind_host, int(port_text)))
            port = probe.getsockname()[1]
        except OSError as error:
            raise PortInUse(
                f"--listen {listen}: cannot bind ({error.strerror}): another server or program "
                "is using it; choose another port or stop it"
            ) from None
        finally:
            probe.close()
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            self._socket.bind((bind_host, port))
        except OSError as error:  # taken between the two binds
            self._socket.close()
            raise PortInUse(f"--listen {listen}: cannot bind ({error.strerror})") from None
        self.port: int = port

    @property
    def address(self) -> str:
        """host:port with the port actually claimed."""
        return f"{self.host}:{self.port}"

    def close(self) -> None:
        """Give the port back."""
        self._socket.close()
