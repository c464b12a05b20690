"""Real Redis for integration tests: a redis-server on a free loopback port, and a 3-node cluster.

Fixtures:
    redis_url          URL of a session-wide server, flushed before each test
    redis_server       a server of the test's own, to stop, kill, pause and restart (outages)
    redis_cluster_url  redis+cluster:// URL of a session-wide 3-node cluster, flushed per test
    pki                a test CA (trustme) that issues server and client certificates

``RedisServer(...)`` can also be used directly for a server with its own arguments (a password).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.redis_server import RedisClusterNodes, RedisServer
from support.security import Pki


@pytest.fixture(scope="session")
def _session_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(_session_redis: RedisServer) -> str:
    """URL of a real Redis, empty at the start of the test."""
    with _session_redis.client() as client:
        client.flushall()
    return _session_redis.url


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of the test's own (started), to stop and restart for outage tests."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.kill()


@pytest.fixture(scope="session")
def _session_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterNodes]:
    cluster = RedisClusterNodes(tmp_path_factory.mktemp("cluster")).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def redis_cluster_url(_session_cluster: RedisClusterNodes) -> str:
    """redis+cluster:// URL of a real 3-node Redis Cluster, empty at the start of the test."""
    _session_cluster.flush()
    return _session_cluster.url


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA of the session's own, its certificates made as tests ask (never committed)."""
    return Pki(tmp_path_factory.mktemp("pki"))
