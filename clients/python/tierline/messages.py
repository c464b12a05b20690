"""Between the client's types and the API's protobuf messages."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from tierline.errors import FieldViolation, ServiceError, item_error
from tierline.interaction import DecisionRequest
from tierline.model import (
    Baseline,
    BatchResult,
    Decision,
    DecisionMetrics,
    Explanation,
    FeatureSource,
    Perk,
    PolicyInfo,
    Routing,
    RuleExplanation,
    ServiceLevel,
    ServiceLevelRank,
    Sla,
)
from tierline.v1 import entitlement_pb2 as pb

FEATURE_SOURCES = {
    pb.FEATURE_SOURCE_UNSPECIFIED: FeatureSource.UNSPECIFIED,
    pb.FEATURE_SOURCE_NEAR_CACHE: FeatureSource.NEAR_CACHE,
    pb.FEATURE_SOURCE_REDIS: FeatureSource.REDIS,
    pb.FEATURE_SOURCE_MISSING: FeatureSource.MISSING,
    pb.FEATURE_SOURCE_UNAVAILABLE: FeatureSource.UNAVAILABLE,
}
OK = 0
"""google.rpc.Code OK, as in ItemStatus.code."""


def decide_request(request: DecisionRequest) -> Any:
    """The DecideRequest message for a request."""
    context = pb.InteractionContext(
        channel=pb.Channel.Name(int(request.channel)),
        intent=request.intent,
        currency=request.currency,
        item_count=request.item_count,
        attributes=dict(request.attributes),
    )
    if request.order_value_minor is not None:
        context.order_value_minor = request.order_value_minor
    if request.occurred_at is not None:
        context.occurred_at.FromDatetime(request.occurred_at)
    return pb.DecideRequest(
        customer_id=request.customer_id, context=context, explain=request.explain
    )


def decide_batch_request(requests: Iterable[DecisionRequest]) -> Any:
    """The DecideBatchRequest message for requests."""
    return pb.DecideBatchRequest(items=[decide_request(request) for request in requests])


def decision(message: Any, latency: float) -> Decision:
    """The Decision for a ``tierline.v1.Decision`` message, with the call's latency."""
    metrics = message.metrics
    return Decision(
        decision_id=str(message.decision_id),
        customer_id=str(message.customer_id),
        tier=str(message.tier),
        policy_version=str(message.policy_version),
        service_level=service_level(message.service_level),
        routing=routing(message.routing),
        perks=perks(message.perks),
        matched_rules=tuple(str(rule) for rule in message.matched_rules),
        baseline_applied=bool(message.baseline_applied),
        degraded=bool(message.degraded),
        degraded_reason=str(message.degraded_reason),
        metrics=DecisionMetrics(
            total_micros=int(metrics.total_micros),
            lookup_micros=int(metrics.lookup_micros),
            eval_micros=int(metrics.eval_micros),
            feature_source=FEATURE_SOURCES.get(metrics.feature_source, FeatureSource.UNSPECIFIED),
            features_age_seconds=float(metrics.features_age_seconds),
        ),
        explanation=explanation(message.explanation) if message.HasField("explanation") else None,
        latency=latency,
    )


def service_level(message: Any) -> ServiceLevel:
    """A ServiceLevel with its SLA."""
    sla = message.sla
    return ServiceLevel(
        name=str(message.name),
        rank=int(message.rank),
        sla=Sla(
            max_wait_seconds=int(sla.max_wait_seconds),
            callback_offered=bool(sla.callback_offered),
            human_agent_guaranteed=bool(sla.human_agent_guaranteed),
            first_response_seconds=int(sla.first_response_seconds),
        ),
    )


def routing(message: Any) -> Routing:
    """A Routing."""
    return Routing(
        queue=str(message.queue),
        priority=int(message.priority),
        skills=tuple(str(skill) for skill in message.skills),
    )


def perks(messages: Iterable[Any]) -> tuple[Perk, ...]:
    """Perks, each with its amount or percent when it has one."""
    result = []
    for message in messages:
        value = message.WhichOneof("value")
        result.append(
            Perk(
                code=str(message.code),
                description=str(message.description),
                amount_minor=int(message.amount_minor) if value == "amount_minor" else None,
                percent=float(message.percent) if value == "percent" else None,
                granted_by=str(message.granted_by),
            )
        )
    return tuple(result)


def explanation(message: Any) -> Explanation:
    """The explanation of a decision."""
    return Explanation(
        features=dict(message.features),
        context=dict(message.context),
        rules=tuple(
            RuleExplanation(rule_id=str(rule.rule_id), condition=str(rule.condition))
            for rule in message.rules
        ),
    )


def policy_info(message: Any) -> PolicyInfo:
    """The PolicyInfo of a GetPolicyResponse's policy."""
    return PolicyInfo(
        name=str(message.name),
        version=str(message.version),
        checksum=str(message.checksum),
        tiers=tuple(str(tier) for tier in message.tiers),
        service_levels=tuple(
            ServiceLevelRank(name=str(level.name), rank=int(level.rank))
            for level in message.service_levels
        ),
        baseline=Baseline(
            service_level=service_level(message.baseline.service_level),
            routing=routing(message.baseline.routing),
            perks=perks(message.baseline.perks),
        ),
        channel_parity=bool(message.channel_parity),
    )


def batch_results(message: Any, latency: float) -> list[BatchResult]:
    """One BatchResult per DecideBatchResult, in order."""
    results = []
    for result in message.results:
        status = result.status
        if status.code == OK and result.HasField("decision"):
            results.append(BatchResult(decision=decision(result.decision, latency)))
            continue
        violations = [
            FieldViolation(str(v.field), str(v.description)) for v in status.field_violations
        ]
        results.append(
            BatchResult(error=item_error(int(status.code), str(status.message), violations))
        )
    return results


def merge_batch(
    prepared: Sequence[DecisionRequest | BatchResult], answered: Sequence[BatchResult]
) -> list[BatchResult]:
    """Results in request order: the client's own rejections, then the service's in sequence.

    ``prepared`` holds, per item, the request sent or the result of an item rejected before
    sending; ``answered`` the results of the sent ones, in order.
    """
    remaining = iter(answered)
    missing = BatchResult(error=ServiceError("the service sent no result for this item"))
    return [
        item if isinstance(item, BatchResult) else next(remaining, missing) for item in prepared
    ]
