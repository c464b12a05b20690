"""Protobuf messages to the client's dataclasses and back."""

from __future__ import annotations

from datetime import datetime, timezone

import grpc
from tierline import (
    BatchResult,
    Channel,
    DecisionRequest,
    FeatureSource,
    InvalidRequest,
    ServiceError,
)
from tierline import messages as convert
from tierline.v1 import entitlement_pb2 as pb


def decision_message(**overrides: object) -> pb.Decision:
    message = pb.Decision(
        decision_id="01J",
        customer_id="c1",
        tier="gold",
        policy_version="2026.11.1",
        service_level=pb.ServiceLevel(
            name="premium",
            rank=2,
            sla=pb.Sla(max_wait_seconds=120, callback_offered=True, first_response_seconds=900),
        ),
        perks=[
            pb.Perk(code="free-shipping", granted_by="free-shipping"),
            pb.Perk(code="retention-discount", percent=20, granted_by="retention-offer"),
            pb.Perk(code="goodwill-credit", amount_minor=500, granted_by="complaint-goodwill"),
        ],
        routing=pb.Routing(queue="retention", priority=80, skills=["retention"]),
        matched_rules=["gold-priority-support", "retention-offer"],
        baseline_applied=True,
        metrics=pb.DecisionMetrics(
            total_micros=900, lookup_micros=300, eval_micros=500,
            feature_source=pb.FEATURE_SOURCE_REDIS, features_age_seconds=12.5,
        ),
    )  # fmt: skip
    for name, value in overrides.items():
        setattr(message, name, value)
    return message


def test_decision_reads_every_field() -> None:
    decision = convert.decision(decision_message(), latency=0.002)
    assert decision.service_level.name == "premium"
    assert decision.service_level.sla.max_wait_seconds == 120
    assert decision.service_level.sla.callback_offered
    assert not decision.service_level.sla.human_agent_guaranteed
    assert decision.routing.queue == "retention"
    assert decision.routing.skills == ("retention",)
    assert decision.matched_rules == ("gold-priority-support", "retention-offer")
    assert decision.metrics.feature_source is FeatureSource.REDIS
    assert decision.metrics.features_age_seconds == 12.5
    assert decision.latency == 0.002
    assert decision.explanation is None
    assert not decision.degraded
    assert not decision.is_fallback


def test_perk_values_keep_which_kind_they_are() -> None:
    decision = convert.decision(decision_message(), latency=0)
    assert decision.has_perk("free-shipping")
    assert not decision.has_perk("dedicated-agent")
    shipping, discount, credit = decision.perks
    assert (shipping.amount_minor, shipping.percent) == (None, None)
    assert (discount.amount_minor, discount.percent) == (None, 20.0)
    assert (credit.amount_minor, credit.percent) == (500, None)
    assert decision.perk("retention-discount") == discount
    assert decision.perk("nothing") is None


def test_explanation_is_there_when_asked_for() -> None:
    message = decision_message()
    message.explanation.features["tier"] = "gold"
    message.explanation.context["intent"] = "cancel"
    message.explanation.rules.add(rule_id="retention-offer", condition="intent == cancel")
    explanation = convert.decision(message, latency=0).explanation
    assert explanation is not None
    assert explanation.features == {"tier": "gold"}
    assert explanation.context == {"intent": "cancel"}
    assert [rule.rule_id for rule in explanation.rules] == ["retention-offer"]


def test_request_message_carries_every_field() -> None:
    when = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
    message = convert.decide_request(
        DecisionRequest(
            "c1", "social", intent="complaint", order_value="12.34", currency="EUR",
            item_count=2, attributes={"campaign": "spring-2026"}, occurred_at=when, explain=True,
        )
    )  # fmt: skip
    assert message.customer_id == "c1"
    assert message.explain
    context = message.context
    assert context.channel == pb.CHANNEL_SOCIAL == Channel.SOCIAL
    assert (context.intent, context.currency, context.item_count) == ("complaint", "EUR", 2)
    assert context.HasField("order_value_minor")
    assert context.order_value_minor == 1234
    assert dict(context.attributes) == {"campaign": "spring-2026"}
    assert context.occurred_at.ToDatetime(tzinfo=timezone.utc) == when


def test_request_without_order_leaves_order_value_unset() -> None:
    message = convert.decide_request(DecisionRequest("c1", "phone"))
    assert not message.context.HasField("order_value_minor")
    assert not message.context.HasField("occurred_at")


def test_policy_info_carries_the_baseline() -> None:
    info = convert.policy_info(
        pb.PolicyInfo(
            name="default", version="7", checksum="ab", tiers=["unknown", "gold"],
            service_levels=[pb.ServiceLevelRank(name="standard", rank=0)],
            baseline=pb.Baseline(
                service_level=pb.ServiceLevel(name="standard", sla=pb.Sla(max_wait_seconds=600)),
                routing=pb.Routing(queue="general", priority=10),
                perks=[pb.Perk(code="welcome", granted_by="baseline")],
            ),
            channel_parity=True,
        )
    )  # fmt: skip
    assert info.tiers == ("unknown", "gold")
    assert info.baseline.routing.queue == "general"
    assert info.baseline.service_level.sla.max_wait_seconds == 600
    assert [perk.code for perk in info.baseline.perks] == ["welcome"]
    assert info.channel_parity


def test_batch_results_keep_item_errors_apart() -> None:
    response = pb.DecideBatchResponse(
        results=[
            pb.DecideBatchResult(status=pb.ItemStatus(code=0), decision=decision_message()),
            pb.DecideBatchResult(
                status=pb.ItemStatus(
                    code=grpc.StatusCode.INVALID_ARGUMENT.value[0],
                    message="customer_id: too long",
                    field_violations=[pb.FieldViolation(field="customer_id", description="long")],
                )
            ),
            pb.DecideBatchResult(status=pb.ItemStatus(code=13, message="boom")),
        ]
    )
    ok, invalid, failed = convert.batch_results(response, latency=0.01)
    assert ok.ok
    assert ok.unwrap().tier == "gold"
    assert not invalid.ok
    assert isinstance(invalid.error, InvalidRequest)
    assert invalid.error.field_violations[0].field == "customer_id"
    assert isinstance(failed.error, ServiceError)
    assert failed.error.code == grpc.StatusCode.INTERNAL


def test_merge_puts_client_rejections_back_in_place() -> None:
    rejected = BatchResult(error=InvalidRequest("bad"))
    sent_a, sent_b = DecisionRequest("a", "web"), DecisionRequest("b", "web")
    answer_a = convert.batch_results(
        pb.DecideBatchResponse(results=[pb.DecideBatchResult(decision=decision_message())]), 0
    )[0]
    merged = convert.merge_batch([sent_a, rejected, sent_b], [answer_a])
    assert merged[0] is answer_a
    assert merged[1] is rejected
    assert isinstance(merged[2].error, ServiceError)  # the service sent nothing for it
