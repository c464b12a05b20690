"""Redis going away mid-run: decisions degrade to the baseline (plus context-only rules) with an
OK status, health reports the feature store down, and everything recovers when Redis is back."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2
from service_support import (
    TIMEOUT,
    ServerFactory,
    at_least_baseline,
    load_customers,
    perk_codes,
)
from support.metrics import metric, scrape
from support.requests import request
from support.waiting import wait_for
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc

pytestmark = pytest.mark.integration

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
FEATURE_RULES = {"gold-priority-support", "new-customer-care", "retention-offer", "free-shipping"}
"""Rules that read customer features: none of them may match without features."""


class Counting:
    """An EntitlementService client that counts the degraded decisions it receives."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.stub = entitlement_pb2_grpc.EntitlementServiceStub(channel)
        self.degraded = 0

    def decide(self, **fields: object) -> pb.Decision:
        decision = self.stub.Decide(request(**fields), timeout=TIMEOUT).decision  # type: ignore[arg-type]
        self.degraded += decision.degraded
        return decision

    def batch(self, *items: pb.DecideRequest) -> list[pb.DecideBatchResult]:
        results = list(
            self.stub.DecideBatch(pb.DecideBatchRequest(items=items), timeout=TIMEOUT).results
        )
        self.degraded += sum(result.decision.degraded for result in results)
        return results


def check_degraded(decision: pb.Decision, baseline: pb.Baseline) -> None:
    assert decision.degraded
    assert decision.degraded_reason == "features_unavailable"
    assert decision.metrics.feature_source == pb.FEATURE_SOURCE_UNAVAILABLE
    assert decision.metrics.features_age_seconds == 0
    assert decision.tier == "unknown"
    assert decision.baseline_applied
    assert at_least_baseline(decision, baseline) == []
    assert not FEATURE_RULES & set(decision.matched_rules)


OUTAGES = {"stopped": ("stop", "start"), "killed": ("kill", "start"), "hung": ("pause", "resume")}
"""How Redis fails and comes back: shut down, crashed, frozen (answers nothing, so reads time
out), as methods of the ``redis_server`` fixture."""


@pytest.mark.parametrize("outage", list(OUTAGES))
def test_decisions_degrade_while_redis_is_down_and_recover_when_it_is_back(
    start_server: ServerFactory, redis_server: Any, outage: str
) -> None:
    fail, recover = (getattr(redis_server, name) for name in OUTAGES[outage])
    load_customers(redis_server.url)
    # a short read budget, so that a hung Redis shows quickly
    server = start_server(redis_server.url, extra_args=["--redis-timeout", "0.2"])
    with grpc.insecure_channel(server.target) as channel:
        client = Counting(channel)
        baseline = client.stub.GetPolicy(pb.GetPolicyRequest(), timeout=TIMEOUT).policy.baseline
        normal = client.decide(customer_id="gold-1", intent="support")
        assert (normal.tier, normal.service_level.name, normal.degraded) == (
            "gold",
            "premium",
            False,
        )
        wait_for(lambda: server.health("tierline.features") == SERVING, what="Redis reachable")

        fail()

        # the near-cache may answer from memory for its short TTL: wait for the first miss
        degraded = wait_for(
            lambda: (d := client.decide(customer_id="gold-1", intent="support")).degraded and d,
            what="a degraded decision",
        )
        check_degraded(degraded, baseline)
        assert degraded.service_level == baseline.service_level
        assert degraded.routing == baseline.routing

        unknown = client.decide(customer_id="never-seen-9", channel=pb.CHANNEL_CHAT)
        check_degraded(unknown, baseline)

        outage_call = client.decide(customer_id="gold-1", intent="outage")
        check_degraded(outage_call, baseline)
        assert "outage-credit" in perk_codes(outage_call)
        assert "outage-credit" in outage_call.matched_rules
        assert outage_call.routing.queue == "incident"

        campaign = client.decide(customer_id="platinum-1", attributes={"campaign": "spring-2026"})
        check_degraded(campaign, baseline)
        assert "campaign-discount" in perk_codes(campaign)

        results = client.batch(
            request("gold-1", pb.CHANNEL_WEB), request("bad id"), request("platinum-1")
        )
        assert [r.status.code for r in results] == [0, 3, 0]
        check_degraded(results[0].decision, baseline)
        check_degraded(results[2].decision, baseline)

        wait_for(
            lambda: server.health("tierline.features") == NOT_SERVING,
            what="tierline.features NOT_SERVING",
        )
        assert server.health("") == SERVING  # still answering (degraded) decisions
        assert server.health("tierline.v1.EntitlementService") == SERVING

        recover()
        load_customers(redis_server.url)  # a stopped or killed Redis comes back empty

        recovered = wait_for(
            lambda: not (d := client.decide(customer_id="gold-1", intent="support")).degraded and d,
            what="a normal decision after Redis came back",
        )
        assert (recovered.tier, recovered.service_level.name) == ("gold", "premium")
        assert recovered.degraded_reason == ""
        assert recovered.metrics.feature_source in (
            pb.FEATURE_SOURCE_REDIS,
            pb.FEATURE_SOURCE_NEAR_CACHE,
        )
        wait_for(
            lambda: server.health("tierline.features") == SERVING,
            what="tierline.features SERVING again",
        )

    samples = scrape(server.metrics_port)
    duration = "tierline_decision_duration_seconds_count"
    assert metric(samples, "tierline_degraded_decisions_total") == client.degraded
    # two of the degraded decisions came in the one degraded batch
    assert metric(samples, duration, method="Decide", outcome="degraded") == client.degraded - 2
    assert metric(samples, duration, method="DecideBatch", outcome="degraded") == 1


def test_a_server_started_while_redis_is_down_degrades_and_logs_each_change(
    start_server: ServerFactory, redis_server: Any
) -> None:
    redis_server.stop()

    server = start_server(redis_server.url)

    with grpc.insecure_channel(server.target) as channel:
        client = Counting(channel)
        baseline = client.stub.GetPolicy(pb.GetPolicyRequest(), timeout=TIMEOUT).policy.baseline
        check_degraded(client.decide(customer_id="gold-1"), baseline)
        wait_for(lambda: server.health("tierline.features") == NOT_SERVING, what="NOT_SERVING")
        assert server.health("") == SERVING

        redis_server.start()
        load_customers(redis_server.url)

        recovered = wait_for(
            lambda: not (d := client.decide(customer_id="gold-1")).degraded and d,
            what="a normal decision once Redis is up",
        )
        assert recovered.tier == "gold"
        assert wait_for(lambda: server.health("tierline.features") == SERVING, what="SERVING")

        redis_server.stop()
        wait_for(lambda: server.health("tierline.features") == NOT_SERVING, what="NOT_SERVING")

    assert server.stop() == 0
    changes = [
        (event["event"], event["level"], event["redis"])
        for event in server.events()
        if event["event"] in ("redis reachable", "redis unreachable")
    ]
    # The state at start, then each change: no repeats while it holds.
    assert changes == [
        ("redis unreachable", "warning", redis_server.url),
        ("redis reachable", "warning", redis_server.url),
        ("redis unreachable", "warning", redis_server.url),
    ]
