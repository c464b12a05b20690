"""Service tests run against `tierline serve` as a real process, on real Redis and real sockets.

Fixtures:
    shared_server   one server per module over the session Redis (default policy, no admin)
    server          shared_server with the test customers freshly loaded (the Redis is flushed)
    fresh_server    a server of the test's own over the session Redis (fresh metrics, signals)
    shared_http_server, http_server   the same, with the HTTP listener too (Connect, gRPC-Web)
    channel, stub   a gRPC channel to ``server`` and an EntitlementService stub on it
    inprocess       a server in the test process (port 0, metrics on a registry of its own)
    inprocess_stub  an EntitlementService stub on ``inprocess``
    rules_dir       a copy of rules/ in tmp_path, for tests that edit the policy
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest
from service_support import ServerFactory, load_customers, stub_on
from support.inprocess import InProcessServer, inprocess_server
from support.paths import REPO
from support.tierline_process import TierlineProcess
from tierline.v1 import entitlement_pb2_grpc


@pytest.fixture(scope="module")
def shared_server(_session_redis: Any) -> Iterator[TierlineProcess]:
    """One Tierline for a whole module: starting a process per test would cost seconds each."""
    server = TierlineProcess(_session_redis.url).start()
    yield server
    server.stop()


@pytest.fixture
def server(shared_server: TierlineProcess, redis_url: str) -> TierlineProcess:
    """The module's Tierline, with CUSTOMERS in a freshly flushed Redis."""
    load_customers(redis_url)
    return shared_server


@pytest.fixture(scope="module")
def shared_http_server(_session_redis: Any) -> Iterator[TierlineProcess]:
    """One Tierline with its HTTP listener for a whole module."""
    server = TierlineProcess(_session_redis.url, http=True).start()
    yield server
    server.stop()


@pytest.fixture
def http_server(shared_http_server: TierlineProcess, redis_url: str) -> TierlineProcess:
    """The module's Tierline with its HTTP listener, with CUSTOMERS in a freshly flushed Redis."""
    load_customers(redis_url)
    return shared_http_server


@pytest.fixture
def start_server() -> Iterator[ServerFactory]:
    """Start Tierlines of the test's own (TierlineProcess arguments: auth_file, credentials);
    all stopped afterwards."""
    started: list[TierlineProcess] = []

    def start(
        redis_url: str,
        policy: Path = REPO / "rules",
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        **security: Any,
    ) -> TierlineProcess:
        process = TierlineProcess(
            redis_url, policy=policy, extra_args=extra_args, env=env, **security
        )
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def fresh_server(start_server: ServerFactory, redis_url: str) -> TierlineProcess:
    """A Tierline of the test's own over the session Redis, with CUSTOMERS loaded."""
    load_customers(redis_url)
    return start_server(redis_url)


@pytest.fixture
def channel(server: TierlineProcess) -> Iterator[grpc.Channel]:
    """A channel to the module's server."""
    with grpc.insecure_channel(server.target) as opened:
        yield opened


@pytest.fixture
def stub(channel: grpc.Channel) -> entitlement_pb2_grpc.EntitlementServiceStub:
    """EntitlementService on the module's server."""
    return entitlement_pb2_grpc.EntitlementServiceStub(channel)


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """A copy of the default policy that the test may edit."""
    return Path(shutil.copytree(REPO / "rules", tmp_path / "rules"))


@pytest.fixture
def inprocess(redis_url: str) -> Iterator[InProcessServer]:
    """A Tierline in this process over the session Redis, CUSTOMERS loaded."""
    load_customers(redis_url)
    with inprocess_server(redis_url) as started:
        yield started


@pytest.fixture
def inprocess_stub(
    inprocess: InProcessServer,
) -> Iterator[entitlement_pb2_grpc.EntitlementServiceStub]:
    """EntitlementService on the in-process server."""
    with stub_on(inprocess.target, entitlement_pb2_grpc.EntitlementServiceStub) as stub:
        yield stub
