"""The HTTP listener's ASGI application: each service's Connect application at its path, health
for load balancers, a deadline for requests to arrive, and CORS for browser pages.

    GET /healthz                      200 while the process answers (liveness)
    GET /readyz                       200 while the server is SERVING (its policy compiled,
                                      not draining), else 503 (readiness)
    POST /tierline.v1.<Service>/<Method>   Connect (JSON or binary protobuf) and gRPC-Web

A request must arrive whole (its body, once its headers are in) within --http-read-timeout:
a client that sends it slower is answered DEADLINE_EXCEEDED (a slow or stalled client must not
hold a connection and a task for ever; headers that trickle in are cut off by the server's idle
timeout, the same setting).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.server import ConnectASGIApplication
from starlette.middleware.cors import CORSMiddleware

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CORS_METHODS = ("GET", "POST")
CORS_HEADERS = (
    "Authorization",
    "Content-Type",
    "Connect-Protocol-Version",
    "Connect-Timeout-Ms",
    "Grpc-Timeout",
    "X-Grpc-Web",
    "X-User-Agent",
)
"""What browser pages may send: the Connect and gRPC-Web headers (as connectrpc.com/cors lists
them) and our bearer token."""
CORS_EXPOSED = ("Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin")
"""What their scripts may read: gRPC-Web's status headers."""
CORS_MAX_AGE_SECONDS = 7200
"""How long a browser may keep a preflight's answer (Chromium caps it at 2 hours)."""


def http_application(
    services: Iterable[ConnectASGIApplication[Any]],
    ready: Callable[[], bool],
    read_timeout: float,
    cors_origins: tuple[str, ...],
) -> ASGIApp:
    """The listener's application: ``services`` at their paths, health answered by ``ready``,
    and CORS for ``cors_origins`` (none: no CORS headers, browsers keep other origins out)."""
    front = _Front({service.path: service for service in services}, ready, read_timeout)
    if not cors_origins:
        return front
    cors: ASGIApp = CORSMiddleware(
        front,
        allow_origins=cors_origins,
        allow_methods=CORS_METHODS,
        allow_headers=CORS_HEADERS,
        expose_headers=CORS_EXPOSED,
        max_age=CORS_MAX_AGE_SECONDS,
    )
    return cors


class _Front:
    """Routes by path; answers health itself."""

    def __init__(
        self,
        services: dict[str, ConnectASGIApplication[Any]],
        ready: Callable[[], bool],
        read_timeout: float,
    ) -> None:
        self._services = services
        self._ready = ready
        self._read_timeout = read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        path: str = scope["path"]
        if path == "/healthz":
            await _health(scope, send, live=True)
        elif path == "/readyz":
            await _health(scope, send, live=self._ready())
        else:
            service = self._services.get(path.rpartition("/")[0])
            if service is None:
                await _plain(send, 404, "no such service or method\n")
                return
            await service(scope, _in_time(receive, self._read_timeout), send)


def _in_time(receive: Receive, seconds: float) -> Receive:
    """``receive`` that refuses a body not whole within ``seconds`` from now (later calls, which
    only watch for the client leaving, wait as long as they need)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    arrived = False

    async def receive_in_time() -> Message:
        nonlocal arrived
        if arrived:
            return await receive()
        try:
            event = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0))
        except asyncio.TimeoutError:
            raise ConnectError(
                Code.DEADLINE_EXCEEDED,
                f"the request did not arrive whole within {seconds:g} s (--http-read-timeout)",
            ) from None
        arrived = event["type"] != "http.request" or not event.get("more_body", False)
        return event

    return receive_in_time


async def _health(scope: Scope, send: Send, *, live: bool) -> None:
    if scope["method"] not in ("GET", "HEAD"):
        await _plain(send, 405, "GET only\n", [(b"allow", b"GET, HEAD")])
    elif live:
        await _plain(send, 200, "ok\n")
    else:
        await _plain(send, 503, "not serving\n")


async def _plain(
    send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    """Nothing to set up or tear down: the server owns what the services use."""
    while True:
        event = await receive()
        if event["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif event["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
