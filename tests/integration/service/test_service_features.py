"""The service over the feature store: the near-cache and its invalidations, and stored values
that do not fit the policy's types."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import grpc
import pytest
from service_support import TIMEOUT, ServerFactory, load_customers
from support.customers import write_features
from support.metrics import metric, scrape
from support.paths import REPO
from support.requests import request
from support.tierline_process import TierlineProcess
from support.waiting import wait_for
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc

pytestmark = pytest.mark.integration

LONG_CACHE = ("--near-cache-ttl", "300", "--near-cache-negative-ttl", "300")
"""A near-cache that outlives the test: only an invalidation can make it let go."""


def features_set(redis_url: str, customer_id: str, *pairs: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "tierline_server.cli", "features", "set", customer_id, *pairs,
         "--redis-url", redis_url],
        cwd=REPO, check=True, capture_output=True, timeout=TIMEOUT * 3,
    )  # fmt: skip


def test_a_features_write_reaches_decisions_through_the_near_cache(
    start_server: ServerFactory, redis_server: Any
) -> None:
    load_customers(redis_server.url)
    server = start_server(redis_server.url, extra_args=LONG_CACHE)
    with redis_server.client() as client:
        wait_for(
            lambda: client.pubsub_numsub("tierline:invalidate")[0][1] >= 1,
            what="the server to listen for invalidations",
        )
    with grpc.insecure_channel(server.target) as channel:
        stub = entitlement_pb2_grpc.EntitlementServiceStub(channel)

        def decide(customer_id: str) -> pb.Decision:
            return stub.Decide(request(customer_id), timeout=TIMEOUT).decision

        assert decide("gold-1").metrics.feature_source == pb.FEATURE_SOURCE_REDIS
        cached = decide("gold-1")
        assert (cached.tier, cached.metrics.feature_source) == (
            "gold",
            pb.FEATURE_SOURCE_NEAR_CACHE,
        )
        assert decide("newcomer-1").metrics.feature_source == pb.FEATURE_SOURCE_MISSING
        assert decide("newcomer-1").tier == "unknown"

        features_set(redis_server.url, "gold-1", "tier=platinum")
        features_set(redis_server.url, "newcomer-1", "tier=gold", "tenure_days=400")

        upgraded = wait_for(lambda: (d := decide("gold-1")).tier == "platinum" and d)
        assert upgraded.service_level.name == "concierge"
        known = wait_for(lambda: (d := decide("newcomer-1")).tier == "gold" and d)
        assert known.service_level.name == "premium"


def test_stored_values_of_the_wrong_type_fall_back_to_their_defaults(
    fresh_server: TierlineProcess, redis_url: str
) -> None:
    write_features(
        redis_url,
        {
            "odd-1": {"tier": "gold", "tenure_days": "ages", "ltv": "lots"},
            "odd-2": {"tier": "diamond", "tenure_days": "400"},
        },
    )

    with grpc.insecure_channel(fresh_server.target) as channel:
        stub = entitlement_pb2_grpc.EntitlementServiceStub(channel)
        odd_1 = stub.Decide(request("odd-1", explain=True), timeout=TIMEOUT).decision
        odd_2 = stub.Decide(request("odd-2", explain=True), timeout=TIMEOUT).decision

    assert odd_1.tier == "gold"
    assert odd_1.explanation.features["tenure_days"] == "0"  # the default: a new customer
    assert "new-customer-care" in odd_1.matched_rules
    assert odd_2.tier == "unknown"  # not a tier the policy knows
    assert odd_2.explanation.features["tenure_days"] == "400"
    assert not odd_1.degraded
    assert not odd_2.degraded
    samples = scrape(fresh_server.metrics_port)
    assert metric(samples, "tierline_undecodable_features_total") == 3
