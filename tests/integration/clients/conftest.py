"""Client tests run against a real ``tierline serve`` on real Redis, and against dead ends.

Fixtures:
    tierline        a Tierline server (subprocess) with the default policy and a few customers
    http_tierline   the same with its HTTP listener (Connect, gRPC-Web) at ``http_url``
    silent_target   a TCP listener that accepts connections and never answers (a hung service)
    refused_target  a loopback port with nothing listening (a service that is down)
    baseline        a baseline for clients to be configured with
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from client_support import seed
from support.tierline_process import TierlineProcess, free_port
from tierline import Baseline, Routing, ServiceLevel, Sla


@pytest.fixture
def tierline(redis_url: str) -> Iterator[TierlineProcess]:
    """A running Tierline with the default policy; stop() and start() it for outages."""
    seed(redis_url)
    server = TierlineProcess(redis_url).start()
    yield server
    server.stop()


@pytest.fixture
def http_tierline(redis_url: str) -> Iterator[TierlineProcess]:
    """A running Tierline with its HTTP listener."""
    seed(redis_url)
    server = TierlineProcess(redis_url, http=True).start()
    yield server
    server.stop()


@pytest.fixture
def silent_target() -> Iterator[str]:
    """host:port of a listener that accepts TCP connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.05)  # so that the thread notices the end of the test
    accepted: list[socket.socket] = []
    closing = threading.Event()

    def accept() -> None:
        while not closing.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(connection)  # kept open, never read nor answered

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    closing.set()
    thread.join(timeout=5)
    listener.close()
    for connection in accepted:
        connection.close()


@pytest.fixture
def refused_target() -> str:
    """host:port where nothing listens: connections are refused."""
    return f"127.0.0.1:{free_port()}"


@pytest.fixture
def baseline() -> Baseline:
    """A configured baseline, different from the default policy's so tests can tell them apart."""
    return Baseline(
        service_level=ServiceLevel("standard", 0, Sla(900, callback_offered=True)),
        routing=Routing("configured-queue", 5),
    )
