"""Redis over TLS with client certificates, and the service as a Redis ACL user with only the
rights docs/security.md gives it: a real redis-server that speaks TLS only, certificates made by
trustme."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from grpc_health.v1 import health_pb2
from service_support import TIMEOUT, ServerFactory, stub_on
from support.command import tierline
from support.metrics import metric, scrape
from support.paths import REPO
from support.redis_server import RedisServer, RedisTls
from support.requests import request
from support.security import Pki
from support.waiting import wait_for
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc

pytestmark = pytest.mark.integration

SERVICE_USER = "tierline"
SERVICE_PASSWORD = "acl-password-of-the-tests-7d3e91"
SERVICE_ACL = (
    "resetkeys ~tierline:customer:* ~tierline:decisions resetchannels &tierline:invalidate "
    "-@all +ping +evalsha +script|load +type +object|encoding +memory|usage +hmget +hget "
    "+hstrlen +subscribe +xadd +xtrim"
)
"""The rules docs/security.md gives the service's Redis user (for the default key prefix,
invalidation channel and decision log stream)."""
LONG_CACHE = ("--near-cache-ttl", "600")
"""Features stay cached until an invalidation says otherwise."""
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> RedisTls:
    pki = Pki(tmp_path_factory.mktemp("redis-pki"))
    server, client = pki.server("redis"), pki.client("tierline-service")
    return RedisTls(server.cert, server.key, pki.ca_file, client.cert, client.key)


@pytest.fixture
def tls_redis(tmp_path: Path, tls_files: RedisTls) -> Iterator[RedisServer]:
    """A Redis that speaks TLS only, requires client certificates, and has the service's user."""
    user = ["--user", SERVICE_USER, "on", f">{SERVICE_PASSWORD}", *SERVICE_ACL.split()]
    server = RedisServer(tmp_path / "redis", user, tls=tls_files).start()
    yield server
    server.kill()


def service_url(redis: RedisServer, password: str = SERVICE_PASSWORD) -> str:
    return f"rediss://{SERVICE_USER}:{password}@localhost:{redis.port}/0"


def tls_args(files: RedisTls, *, client_certificate: bool = True) -> list[str]:
    args = ["--redis-tls-ca", str(files.ca)]
    if client_certificate:
        args += [
            "--redis-tls-cert",
            str(files.client_cert),
            "--redis-tls-key",
            str(files.client_key),
        ]
    return args


def decide(target: str, customer_id: str) -> pb.Decision:
    with stub_on(target, entitlement_pb2_grpc.EntitlementServiceStub) as stub:
        return stub.Decide(request(customer_id), timeout=TIMEOUT).decision


def test_the_docs_give_the_service_these_acl_rules() -> None:
    assert SERVICE_ACL in (REPO / "docs" / "security.md").read_text()


def test_features_are_read_invalidated_and_decisions_logged_over_tls_as_the_acl_user(
    start_server: ServerFactory, tls_redis: RedisServer, tls_files: RedisTls
) -> None:
    # The CLI writes over TLS too (as Redis's default user: a writer has rights of its own).
    written = tierline(
        "features", "set", "gold-1", "tier=gold", "tenure_days=400",
        "--redis-url", tls_redis.url, *tls_args(tls_files),
    )  # fmt: skip
    assert written.returncode == 0, written.stderr
    server = start_server(service_url(tls_redis), extra_args=[*tls_args(tls_files), *LONG_CACHE])

    first = decide(server.target, "gold-1")
    assert (first.tier, first.degraded) == ("gold", False)
    assert first.metrics.feature_source == pb.FEATURE_SOURCE_REDIS
    assert server.health("tierline.features") == SERVING

    changed = tierline(
        "features", "set", "gold-1", "tier=platinum",
        "--redis-url", tls_redis.url, *tls_args(tls_files),
    )  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    # Only the invalidation (over the ACL user's subscription) can end the long cache.
    wait_for(lambda: decide(server.target, "gold-1").tier == "platinum", what="invalidation")

    with tls_redis.client() as client:
        wait_for(lambda: client.xlen("tierline:decisions") >= 2, what="the decision log")
    samples = scrape(server.metrics_port)
    assert metric(samples, "tierline_redis_errors_total") == 0
    assert metric(samples, "tierline_decision_log_dropped_total") == 0


def test_without_a_client_certificate_redis_refuses_and_decisions_degrade(
    start_server: ServerFactory, tls_redis: RedisServer, tls_files: RedisTls
) -> None:
    server = start_server(
        service_url(tls_redis), extra_args=tls_args(tls_files, client_certificate=False)
    )

    decision = decide(server.target, "gold-1")

    assert decision.degraded
    assert decision.metrics.feature_source == pb.FEATURE_SOURCE_UNAVAILABLE
    assert server.health("tierline.features") == NOT_SERVING


def test_a_wrong_acl_password_degrades_decisions_and_counts_auth_errors(
    start_server: ServerFactory, tls_redis: RedisServer, tls_files: RedisTls
) -> None:
    server = start_server(
        service_url(tls_redis, password="not-the-password"), extra_args=tls_args(tls_files)
    )

    assert decide(server.target, "gold-1").degraded
    assert metric(scrape(server.metrics_port), "tierline_redis_errors_total", kind="auth") >= 1
    assert "not-the-password" not in server.output
