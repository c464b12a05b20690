"""Building clients from settings, and naming failures (no connection is made here)."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio
from redis import exceptions
from tierline_server.config import RedisSettings
from tierline_server.features import redis_client


@pytest.mark.parametrize(
    ("url", "flag", "cluster", "node_url"),
    [
        ("redis://h:6379/0", False, False, "redis://h:6379/0"),
        ("rediss://u:pw@h:6380/1", False, False, "rediss://u:pw@h:6380/1"),
        ("redis+cluster://h:7000", False, True, "redis://h:7000"),
        ("rediss+cluster://u:pw@h:7000", False, True, "rediss://u:pw@h:7000"),
        ("redis://h:7000", True, True, "redis://h:7000"),
    ],
)
def test_cluster_by_scheme_or_flag(url: str, flag: bool, cluster: bool, node_url: str) -> None:
    settings = RedisSettings(url=url, cluster=flag)
    assert redis_client.is_cluster(settings) is cluster
    assert redis_client.node_url(settings) == node_url


def test_request_client_leaves_the_budget_to_the_read_path_and_reconnects_once() -> None:
    settings = RedisSettings(url="redis://127.0.0.1:1/0", timeout_seconds=0.004)
    client = redis_client.request_client(settings)
    assert isinstance(client, redis.asyncio.Redis)
    options = client.connection_pool.connection_kwargs
    assert options["socket_timeout"] is None
    assert options["socket_connect_timeout"] == settings.connect_timeout_seconds
    assert options["retry"].get_retries() == 1


def test_request_client_for_a_cluster_has_the_connect_timeout_as_a_backstop() -> None:
    settings = RedisSettings(url="redis+cluster://127.0.0.1:1")
    client = redis_client.request_client(settings)
    assert isinstance(client, redis.asyncio.RedisCluster)
    assert client.get_connection_kwargs()["socket_timeout"] == settings.connect_timeout_seconds


@pytest.mark.parametrize(
    ("error", "kind", "outage"),
    [
        (exceptions.TimeoutError("read"), "timeout", True),
        (asyncio.TimeoutError(), "timeout", True),
        (exceptions.ConnectionError("refused"), "connection", True),
        (ConnectionRefusedError(), "connection", True),
        (exceptions.BusyLoadingError("loading"), "connection", True),
        (exceptions.AuthenticationError("WRONGPASS"), "auth", True),
        (exceptions.NoPermissionError("NOPERM"), "auth", True),
        (exceptions.ReadOnlyError("READONLY"), "readonly", True),
        (exceptions.MovedError("3999 127.0.0.1:7001"), "cluster", True),
        (exceptions.ClusterDownError("CLUSTERDOWN"), "cluster", True),
        (exceptions.TryAgainError("TRYAGAIN"), "cluster", True),
        (exceptions.SlotNotCoveredError("no node"), "cluster", True),
        (exceptions.ResponseError("WRONGTYPE"), "other", False),
        (exceptions.DataError("bad"), "other", True),
    ],
)
def test_error_kinds(error: BaseException, kind: str, outage: bool) -> None:
    assert redis_client.error_kind(error).value == kind
    assert redis_client.is_outage(error) is outage
