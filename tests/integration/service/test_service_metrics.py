"""/metrics counts exactly the requests made, by bounded labels only (never a customer id)."""

from __future__ import annotations

import grpc
import pytest
import yaml
from service_support import CUSTOMERS, TIMEOUT, label_values
from support.metrics import metric, scrape
from support.paths import REPO
from support.requests import request
from support.tierline_process import TierlineProcess
from support.waiting import wait_for
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc

pytestmark = pytest.mark.integration

DURATION = "tierline_decision_duration_seconds_count"


def rule_ids() -> list[str]:
    document = yaml.safe_load((REPO / "rules" / "entitlements.yaml").read_text())
    return [rule["id"] for rule in document["rules"]]


def test_metrics_count_the_requests_made(fresh_server: TierlineProcess) -> None:
    before = scrape(fresh_server.metrics_port)
    assert metric(before, "tierline_decisions_total") == 0
    assert set(rule_ids()) <= {
        dict(labels)["rule"] for name, labels in before if name == "tierline_rule_matches_total"
    }  # every rule's label is there from the start, at zero
    assert metric(before, DURATION, method="Decide", outcome="invalid") == 0

    with grpc.insecure_channel(fresh_server.target) as channel:
        stub = entitlement_pb2_grpc.EntitlementServiceStub(channel)
        stub.GetPolicy(pb.GetPolicyRequest(), timeout=TIMEOUT)  # not a decision
        for _ in range(5):
            stub.Decide(request("gold-1", intent="support"), timeout=TIMEOUT)
        for number in range(3):
            stub.Decide(request(f"never-seen-{number}"), timeout=TIMEOUT)
        for _ in range(2):
            stub.Decide(request("platinum-1", intent="purchase"), timeout=TIMEOUT)
        for bad in [
            request("bad id"),
            request("gold-1", channel=pb.CHANNEL_UNSPECIFIED),
            request("gold-1", item_count=-1),
            pb.DecideRequest(customer_id="gold-1"),
        ]:
            with pytest.raises(grpc.RpcError):
                stub.Decide(bad, timeout=TIMEOUT)
        batch = [request("gold-1"), request("basic-1"), request("never-seen-9"), request("x y")]
        stub.DecideBatch(pb.DecideBatchRequest(items=batch), timeout=TIMEOUT)
        with pytest.raises(grpc.RpcError):
            stub.DecideBatch(pb.DecideBatchRequest(), timeout=TIMEOUT)

    samples = scrape(fresh_server.metrics_port)
    assert metric(samples, "tierline_decisions_total") == 5 + 3 + 2 + 3
    decisions = "tierline_decisions_total"
    assert metric(samples, decisions, service_level="premium", tier="gold") == 6
    assert metric(samples, decisions, service_level="priority", tier="unknown") == 4
    assert metric(samples, decisions, service_level="concierge", tier="platinum") == 2
    assert metric(samples, decisions, service_level="standard", tier="basic") == 1
    assert metric(samples, DURATION, method="Decide", outcome="ok") == 10
    assert metric(samples, DURATION, method="Decide", outcome="invalid") == 4
    assert metric(samples, DURATION, method="Decide", outcome="error") == 0
    assert metric(samples, DURATION, method="Decide", outcome="degraded") == 0
    assert metric(samples, DURATION, method="DecideBatch", outcome="ok") == 1
    assert metric(samples, DURATION, method="DecideBatch", outcome="invalid") == 1
    matches = "tierline_rule_matches_total"
    assert metric(samples, matches, rule="gold-priority-support") == 6
    assert metric(samples, matches, rule="new-customer-care") == 4
    assert metric(samples, matches, rule="platinum-personal-support") == 2
    assert metric(samples, matches, rule="platinum-special-deals") == 2
    assert metric(samples, matches, rule="free-shipping") == 8
    assert metric(samples, matches, rule="outage-credit") == 0
    assert metric(samples, matches) == 6 + 4 + 2 + 2 + 8 + 2  # + top-tier-loyalty, twice
    assert metric(samples, "tierline_degraded_decisions_total") == 0
    assert metric(samples, "tierline_rule_evaluation_duration_seconds_count") == 13
    assert metric(samples, "tierline_feature_lookup_duration_seconds_count") == 13
    assert metric(samples, "tierline_policy_info", name="default") == 1


def test_no_label_value_names_a_customer(fresh_server: TierlineProcess) -> None:
    unknown = [f"never-seen-{number}" for number in range(20)]
    with grpc.insecure_channel(fresh_server.target) as channel:
        stub = entitlement_pb2_grpc.EntitlementServiceStub(channel)
        for customer_id in [*CUSTOMERS, *unknown]:
            stub.Decide(request(customer_id), timeout=TIMEOUT)
        stub.DecideBatch(
            pb.DecideBatchRequest(items=[request(c) for c in [*CUSTOMERS, "bad id"]]),
            timeout=TIMEOUT,
        )

    values = label_values(scrape(fresh_server.metrics_port))

    assert values
    named = {value for value in values for id_ in [*CUSTOMERS, *unknown] if id_ in value}
    assert named == set()


def test_no_created_series(server: TierlineProcess) -> None:
    """prometheus-client's `_created` timestamps are off: one series per metric child, not two."""
    with grpc.insecure_channel(server.target) as channel:
        entitlement_pb2_grpc.EntitlementServiceStub(channel).Decide(
            request("gold-1"), timeout=TIMEOUT
        )

    names = {name for name, _ in scrape(server.metrics_port)}

    assert "tierline_decisions_total" in names
    assert [name for name in names if name.endswith("_created")] == []


def test_grpc_s_own_counts_include_the_calls_no_handler_saw(fresh_server: TierlineProcess) -> None:
    """Calls gRPC ends on its own (here: a method that does not exist; under a burst: calls
    whose deadline passed before a worker took them) are in tierline_grpc_calls_total, and
    nowhere in tierline_rpcs_total."""
    calls = "tierline_grpc_calls_total"
    before = scrape(fresh_server.metrics_port)
    with grpc.insecure_channel(fresh_server.target) as channel:
        stub = entitlement_pb2_grpc.EntitlementServiceStub(channel)
        for _ in range(4):
            stub.Decide(request("gold-1"), timeout=TIMEOUT)
        missing = channel.unary_unary("/tierline.v1.EntitlementService/NoSuchMethod")
        for _ in range(3):
            with pytest.raises(grpc.RpcError) as refused:
                missing(b"", timeout=TIMEOUT)
            assert refused.value.code() is grpc.StatusCode.UNIMPLEMENTED

    def counted() -> dict[str, float] | None:
        samples = scrape(fresh_server.metrics_port)
        change = {
            result: metric(samples, calls, result=result) - metric(before, calls, result=result)
            for result in ("started", "succeeded", "failed")
        }
        return change if change["started"] >= 7 else None

    change = wait_for(counted, what="gRPC's counts copied into /metrics")
    # Health checks of the harness may be counted too: at least, never fewer.
    assert change["succeeded"] >= 4
    assert change["failed"] >= 3
    samples = scrape(fresh_server.metrics_port)
    assert metric(samples, "tierline_rpcs_total") - metric(before, "tierline_rpcs_total") == 4
