"""Decide, DecideBatch, GetPolicy, health and reflection against a real Tierline on real Redis."""

from __future__ import annotations

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from service_support import (
    CUSTOMERS,
    TIMEOUT,
    at_least_baseline,
    bad_request,
    perk_codes,
)
from support.paths import REPO
from support.requests import request
from support.tierline_process import TierlineProcess
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc, policy_admin_pb2, policy_admin_pb2_grpc

pytestmark = pytest.mark.integration

ENTITLEMENT_SERVICE = "tierline.v1.EntitlementService"
ADMIN_SERVICE = "tierline.v1.PolicyAdminService"
OK = grpc.StatusCode.OK.value[0]
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT.value[0]


def served_version() -> str:
    """The version header of the policy in rules/."""
    document = yaml.safe_load((REPO / "rules" / "policy.yaml").read_text())
    return str(document["version"])


def decide(stub: entitlement_pb2_grpc.EntitlementServiceStub, **fields: object) -> pb.Decision:
    response: pb.DecideResponse = stub.Decide(request(**fields), timeout=TIMEOUT)  # type: ignore[arg-type]
    assert response.HasField("decision")
    return response.decision


def baseline_of(stub: entitlement_pb2_grpc.EntitlementServiceStub) -> pb.Baseline:
    response = stub.GetPolicy(pb.GetPolicyRequest(), timeout=TIMEOUT)
    return response.policy.baseline


def test_a_gold_customer_gets_premium_service_and_the_gold_perks(
    stub: entitlement_pb2_grpc.EntitlementServiceStub,
) -> None:
    decision = decide(stub, customer_id="gold-1", channel=pb.CHANNEL_PHONE, intent="support")

    assert decision.customer_id == "gold-1"
    assert decision.tier == "gold"
    assert decision.service_level.name == "premium"
    assert decision.service_level.rank == 2
    assert decision.service_level.sla.max_wait_seconds == 120
    assert decision.routing.queue == "priority-support"
    assert perk_codes(decision) == {"free-shipping"}
    assert (
        next(p for p in decision.perks if p.code == "free-shipping").granted_by == "free-shipping"
    )
    assert list(decision.matched_rules) == ["gold-priority-support", "free-shipping"]
    assert decision.baseline_applied
    assert not decision.degraded
    assert decision.degraded_reason == ""
    assert decision.policy_version == served_version()
    assert decision.metrics.feature_source in (
        pb.FEATURE_SOURCE_REDIS,
        pb.FEATURE_SOURCE_NEAR_CACHE,
    )
    assert decision.metrics.total_micros > 0
    assert decision.metrics.total_micros >= decision.metrics.lookup_micros
    assert decision.metrics.features_age_seconds >= 0
    assert len(decision.decision_id) == 26
    assert not decision.HasField("explanation")


def test_a_gold_customer_cancelling_goes_to_retention_with_an_offer(
    stub: entitlement_pb2_grpc.EntitlementServiceStub,
) -> None:
    decision = decide(stub, customer_id="gold-1", channel=pb.CHANNEL_CHAT, intent="cancel")

    assert decision.service_level.name == "premium"
    assert decision.routing.queue == "retention"
    assert "retention" in decision.routing.skills
    offer = next(p for p in decision.perks if p.code == "retention-discount")
    assert offer.WhichOneof("value") == "percent"
    assert offer.percent == 20
    assert offer.granted_by == "retention-offer"


def test_a_platinum_customer_gets_concierge_service(
    stub: entitlement_pb2_grpc.EntitlementServiceStub,
) -> None:
    decision = decide(stub, customer_id="platinum-1", channel=pb.CHANNEL_WEB, intent="purchase")

    assert decision.tier == "platinum"
    assert decision.service_level.name == "concierge"
    assert decision.routing.queue == "concierge"
    assert {"dedicated-agent", "exclusive-offer", "loyalty-multiplier"} <= perk_codes(decision)


def test_an_unknown_customer_gets_the_baseline_and_new_customer_care(
    stub: entitlement_pb2_grpc.EntitlementServiceStub,
) -> None:
    baseline = baseline_of(stub)

    decision = decide(stub, customer_id="never-seen-42", channel=pb.CHANNEL_EMAIL)

    assert decision.customer_id == "never-seen-42"
    assert decision.tier == "unknown"
    assert not decision.degraded
    assert decision.metrics.feature_source == pb.FEATURE_SOURCE_MISSING
    assert decision.metrics.features_age_seconds == 0
    assert at_least_baseline(decision, baseline) == []
    assert decision.service_level.name == "priority"
    assert decision.routing.queue == "onboarding"
    assert "onboarding-guide" in perk_codes(decision)
    assert list(decision.matched_rules) == ["new-customer-care"]


def test_a_known_customer_past_new_customer_care_gets_exactly_the_baseline(
    stub: entitlement_pb2_grpc.EntitlementServiceStub,
) -> None:
    baseline = baseline_of(stub)

    decision = decide(stub, customer_id="basic-1", channel=pb.CHANNEL_PHONE, intent="support")

    assert decision.tier == "basic"
    assert list(decision.matched_rules) == []
    assert decision.service_level == baseline.service_level
    assert decision.routing == baseline.routing
    assert list(decision.perks) == list(baseline.perks)


def test_decision_ids_are_unique_and_sortable(
    stub: entitlement_pb2_grpc.EntitlementServiceStub,
) -> None:
    ids = [decide(stub, customer_id="gold-1").decision_id for _ in range(20)]

    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)


def test_explain_returns_the_features_context_and_conditions_the_rules_saw(
    stub: entitlement_pb2_grpc.EntitlementServiceStub,
) -> None:
    decision = decide(
        stub,
        customer_id="gold-1",
        channel=pb.CHANNEL_WEB,
        intent="cancel",
        order_value_minor=7500,
        currency="EUR",
        item_count=3,
        attributes={"campaign": "spring-2026"},
        explain=True,
    )

    explanation = decision.explanation
    assert explanation.features["tier"] == "gold"
    assert explanation.features["tenure_days"] == "400"
    assert explanation.features["complaints_90d"] == "0"  # a default, filled in
    assert set(explanation.features) >= {"tier", "ltv", "tenure_days", "evangelist"}
    assert explanation.context["channel"] == "web"
    assert explanation.context["intent"] == "cancel"
    assert explanation.context["order_value"] == "7500"
    assert explanation.context["currency"] == "EUR"
    assert explanation.context["item_count"] == "3"
    assert explanation.context["attributes.campaign"] == "spring-2026"
    assert [rule.rule_id for rule in explanation.rules] == list(decision.matched_rules)
    assert "campaign-code" in decision.matched_rules
    conditions = {rule.rule_id: rule.condition for rule in explanation.rules}
    assert "cancel" in conditions["retention-offer"]
    assert "tier" in conditions["retention-offer"]
    assert all(rule.condition for rule in explanation.rules)


def test_get_policy_describes_the_policy_being_served(
    stub: entitlement_pb2_grpc.EntitlementServiceStub,
) -> None:
    policy = stub.GetPolicy(pb.GetPolicyRequest(), timeout=TIMEOUT).policy

    assert policy.name == "default"
    assert policy.version == served_version()
    assert len(policy.checksum) == 64
    int(policy.checksum, 16)
    assert list(policy.tiers) == ["unknown", "basic", "standard", "growth", "gold", "platinum"]
    assert [(level.name, level.rank) for level in policy.service_levels] == [
        ("standard", 0),
        ("priority", 1),
        ("premium", 2),
        ("concierge", 3),
    ]
    assert policy.channel_parity
    baseline = policy.baseline
    assert baseline.service_level.name == "standard"
    assert baseline.service_level.rank == 0
    assert baseline.service_level.sla.max_wait_seconds == 600
    assert baseline.service_level.sla.first_response_seconds == 3600
    assert baseline.service_level.sla.callback_offered
    assert baseline.service_level.sla.human_agent_guaranteed
    assert baseline.routing.queue == "general"
    assert baseline.routing.priority == 10


def test_a_batch_answers_every_item_in_order_and_rejects_only_the_bad_ones(
    stub: entitlement_pb2_grpc.EntitlementServiceStub,
) -> None:
    items = [
        request("platinum-1", pb.CHANNEL_WEB, intent="purchase"),
        request("not a customer!", pb.CHANNEL_WEB),
        request("gold-1", pb.CHANNEL_PHONE, intent="cancel"),
        request("basic-1", pb.CHANNEL_UNSPECIFIED, intent="Shouting"),
        request("never-seen-7", pb.CHANNEL_CHAT),
        request("basic-1", pb.CHANNEL_WEB, order_value_minor=6000, currency="EUR"),
    ]

    response = stub.DecideBatch(pb.DecideBatchRequest(items=items), timeout=TIMEOUT)

    results = list(response.results)
    assert [r.status.code for r in results] == [OK, INVALID_ARGUMENT, OK, INVALID_ARGUMENT, OK, OK]
    assert [r.HasField("decision") for r in results] == [True, False, True, False, True, True]
    ok = [r.decision for r in results if r.status.code == OK]
    assert [d.customer_id for d in ok] == ["platinum-1", "gold-1", "never-seen-7", "basic-1"]
    assert [d.tier for d in ok] == ["platinum", "gold", "unknown", "basic"]
    assert ok[0].service_level.name == "concierge"
    assert ok[1].routing.queue == "retention"
    assert "onboarding-guide" in perk_codes(ok[2])
    assert "free-shipping" in perk_codes(ok[3])
    assert len({d.decision_id for d in ok}) == 4
    assert [(v.field) for v in results[1].status.field_violations] == ["customer_id"]
    assert results[1].status.message
    assert sorted(v.field for v in results[3].status.field_violations) == [
        "context.channel",
        "context.intent",
    ]
    assert all(v.description for r in results for v in r.status.field_violations)
    assert all(r.status.message == "" for r in results if r.status.code == OK)


def test_a_batch_of_the_maximum_size_is_answered(
    stub: entitlement_pb2_grpc.EntitlementServiceStub,
) -> None:
    ids = [*CUSTOMERS, "never-seen-1"]
    items = [request(ids[i % len(ids)], pb.CHANNEL_WEB) for i in range(1000)]

    response = stub.DecideBatch(pb.DecideBatchRequest(items=items), timeout=TIMEOUT)

    assert len(response.results) == 1000
    assert all(r.status.code == OK for r in response.results)
    assert [r.decision.customer_id for r in response.results] == [i.customer_id for i in items]


def test_a_full_batch_up_to_the_size_limit_is_answered(
    stub: entitlement_pb2_grpc.EntitlementServiceStub,
) -> None:
    """A DecideBatch may be 4 MiB: 1000 items of about 4 KiB (12 long attributes) each."""
    attributes = {f"{i:02d}".ljust(64, "k"): "v" * 256 for i in range(12)}
    item = request("c" * 128, pb.CHANNEL_WEB, intent="i" * 64, attributes=attributes)
    batch = pb.DecideBatchRequest(items=[item] * 1000)
    assert 3.5 * 2**20 < batch.ByteSize() <= 4 * 2**20

    response = stub.DecideBatch(batch, timeout=TIMEOUT)

    assert [r.status.code for r in response.results] == [OK] * 1000


def test_a_batch_over_its_size_limit_is_invalid_before_it_is_parsed(
    stub: entitlement_pb2_grpc.EntitlementServiceStub,
) -> None:
    attributes = {f"{i:02d}".ljust(64, "k"): "v" * 256 for i in range(32)}
    item = request("c" * 128, pb.CHANNEL_WEB, attributes=attributes)
    batch = pb.DecideBatchRequest(items=[item] * 500)  # about 5 MB

    with pytest.raises(grpc.RpcError) as caught:
        stub.DecideBatch(batch, timeout=TIMEOUT)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    ((_, description),) = bad_request(caught.value)
    assert "DecideBatch takes at most 4,194,304" in description


@pytest.mark.parametrize("size", [0, 1001])
def test_an_empty_or_oversized_batch_is_invalid(
    stub: entitlement_pb2_grpc.EntitlementServiceStub, size: int
) -> None:
    items = [request("gold-1")] * size

    with pytest.raises(grpc.RpcError) as caught:
        stub.DecideBatch(pb.DecideBatchRequest(items=items), timeout=TIMEOUT)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [field for field, _ in bad_request(caught.value)] == ["items"]


def test_health_reports_serving_for_the_server_its_service_and_redis(
    server: TierlineProcess,
) -> None:
    assert server.health("") == health_pb2.HealthCheckResponse.SERVING
    assert server.health(ENTITLEMENT_SERVICE) == health_pb2.HealthCheckResponse.SERVING
    assert server.health("tierline.features") == health_pb2.HealthCheckResponse.SERVING
    assert server.health(ADMIN_SERVICE) is None  # not served, so not known to health (NOT_FOUND)


def test_reflection_lists_the_services(channel: grpc.Channel) -> None:
    services = set(ProtoReflectionDescriptorDatabase(channel).get_services())

    assert {
        ENTITLEMENT_SERVICE,
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= services
    assert ADMIN_SERVICE not in services


def test_reflection_describes_the_decide_method(channel: grpc.Channel) -> None:
    database = ProtoReflectionDescriptorDatabase(channel)

    file = database.FindFileContainingSymbol(ENTITLEMENT_SERVICE)

    service = next(s for s in file.service if s.name == "EntitlementService")
    assert {m.name for m in service.method} == {"Decide", "DecideBatch", "GetPolicy"}


def test_policy_admin_is_unimplemented_without_the_flag(channel: grpc.Channel) -> None:
    admin = policy_admin_pb2_grpc.PolicyAdminServiceStub(channel)

    with pytest.raises(grpc.RpcError) as reload:
        admin.ReloadPolicy(policy_admin_pb2.ReloadPolicyRequest(), timeout=TIMEOUT)
    with pytest.raises(grpc.RpcError) as validate:
        admin.ValidatePolicy(policy_admin_pb2.ValidatePolicyRequest(), timeout=TIMEOUT)

    assert reload.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert validate.value.code() == grpc.StatusCode.UNIMPLEMENTED
