"""The HTTP listener of one worker: Hypercorn (HTTP/1.1 and HTTP/2, h2c too) on the worker's
event loop, beside gRPC, on a port the workers share like gRPC's (SO_REUSEPORT, claimed by the
supervisor), with the same TLS files as gRPC, re-read when they change.

Stop: Hypercorn stops listening, closes idle connections (HTTP/2: GOAWAY), lets the calls in
progress finish within the grace period and closes each connection after its last answer.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from typing import Any

from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config, Sockets
from hypercorn.utils import wrap_app

from tierline_server import tls
from tierline_server.config import ServerConfig
from tierline_server.ports import bound_socket

ALPN = ["h2", "http/1.1"]
LISTEN_BACKLOG = 1024
"""Connections waiting to be accepted (Hypercorn's default, 100, is short for bursts)."""
STOPPED_LISTENING_POLL_SECONDS = 0.005


class HttpListener:
    """The HTTP listener: bound at construction (so that a taken port fails at once), serving
    from start()."""

    def __init__(self, config: ServerConfig, *, share_port: bool) -> None:
        """PortInUse when the address cannot be had; TlsFilesError for TLS files that cannot
        be used."""
        settings = config.http
        # Its own watch of the TLS files: gRPC's asks for changes on its own handshakes.
        certificates = tls.watch_for(config.tls)
        self._socket = bound_socket(settings.listen, "--http-listen", reuse_port=share_port)
        self.port: int = self._socket.getsockname()[1]
        self._config = _HypercornConfig(
            None if certificates is None else tls.following_context(certificates, ALPN)
        )
        self._config.keep_alive_timeout = settings.read_timeout_seconds
        self._config.ssl_handshake_timeout = settings.read_timeout_seconds
        self._config.graceful_timeout = config.grace_seconds
        self._config.h2_max_concurrent_streams = config.streams_per_connection
        self._config.backlog = LISTEN_BACKLOG
        self._config.include_server_header = False
        # Hypercorn's own lines ("Running on ... CTRL + C to quit") do not apply here; its
        # warnings and errors go to the server's log like every other library's.
        errors = logging.getLogger("hypercorn.error")
        errors.setLevel(logging.WARNING)
        self._config.errorlog = errors
        self._config.accesslog = None
        self._stop = asyncio.Event()
        self._serving: asyncio.Task[None] | None = None

    @property
    def scheme(self) -> str:
        """http or https."""
        return "https" if self._config.ssl_enabled else "http"

    async def start(self, app: Any) -> None:
        """Serve ``app`` (ASGI) until stop()."""
        sockets = (
            Sockets([self._socket], [], [])
            if self._config.ssl_enabled
            else Sockets([], [self._socket], [])
        )
        self._serving = asyncio.create_task(
            worker_serve(
                wrap_app(app, self._config.wsgi_max_body_size, "asgi"),
                self._config,
                sockets=sockets,
                shutdown_trigger=self._stop.wait,
            )
        )
        while not self._listening():  # Hypercorn listens a moment after its task starts
            if self._serving.done():
                await self._serving  # raises what stopped it
            await asyncio.sleep(STOPPED_LISTENING_POLL_SECONDS)

    async def stop_listening(self) -> None:
        """Stop taking connections; calls in progress go on (stop() waits for them)."""
        self._stop.set()
        # Hypercorn closes the listening socket a few loop turns after its trigger.
        while self._socket.fileno() != -1 and self._serving is not None:
            if self._serving.done():
                break
            await asyncio.sleep(STOPPED_LISTENING_POLL_SECONDS)

    async def stop(self) -> None:
        """Stop listening and wait until the calls in progress are answered (at most the grace
        period)."""
        await self.stop_listening()
        if self._serving is not None:
            await self._serving
        self._socket.close()

    def _listening(self) -> bool:
        return self._socket.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1


class _HypercornConfig(Config):
    """Hypercorn's configuration with a TLS context of ours (one that follows the files)."""

    def __init__(self, context: ssl.SSLContext | None) -> None:
        self._context = context

    @property
    def ssl_enabled(self) -> bool:
        """Whether the listener speaks TLS."""
        return self._context is not None

    def create_ssl_context(self) -> ssl.SSLContext | None:
        """Our context: the watched files, ALPN h2 and http/1.1, client certificates required
        under mutual TLS."""
        return self._context
