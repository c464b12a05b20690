"""Domain types -> protobuf messages."""

from __future__ import annotations

from collections.abc import Iterable

from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import policy_admin_pb2 as admin_pb

from tierline_server.decisions import Outcome
from tierline_server.features.lookup import FeatureSource
from tierline_server.policy.compiled import Policy
from tierline_server.policy.domain import Decision, Perk, Routing, ServiceLevel, Sla
from tierline_server.policy.errors import PolicyError

FEATURE_SOURCES = {
    FeatureSource.NEAR_CACHE: pb.FEATURE_SOURCE_NEAR_CACHE,
    FeatureSource.REDIS: pb.FEATURE_SOURCE_REDIS,
    FeatureSource.MISSING: pb.FEATURE_SOURCE_MISSING,
    FeatureSource.UNAVAILABLE: pb.FEATURE_SOURCE_UNAVAILABLE,
}


def outcome_message(outcome: Outcome) -> pb.Decision:
    """The API's Decision for an outcome of the decision service: the decision with its id,
    customer and metrics."""
    message = _decision_message(outcome.decision)
    message.decision_id = outcome.decision_id
    message.customer_id = outcome.customer_id
    metrics = message.metrics
    metrics.total_micros = outcome.total_micros
    metrics.lookup_micros = outcome.lookup_micros
    metrics.eval_micros = outcome.eval_micros
    metrics.feature_source = FEATURE_SOURCES[outcome.feature_source]
    # Milliseconds are what an age of features means; more digits are clock noise.
    metrics.features_age_seconds = round(outcome.features_age_seconds or 0.0, 3)
    message.occurred_at.FromNanoseconds(outcome.occurred_at_ns)
    return message


_BUILT: dict[int, tuple[Decision, bytes]] = {}
"""Decisions already mapped, serialized, by identity: the decider hands out the same Decision
object for every request whose tier and matched rules are the same, and parsing its bytes back
costs a fraction of building the message field by field."""
BUILT_KEPT = 8192


def _decision_message(decision: Decision) -> pb.Decision:
    if decision.explanation is not None:  # made for one request: nothing to reuse
        return decision_message(decision)
    built = _BUILT.get(id(decision))
    if built is None or built[0] is not decision:
        if len(_BUILT) >= BUILT_KEPT:
            _BUILT.clear()
        built = _BUILT[id(decision)] = (decision, decision_message(decision).SerializeToString())
    message: pb.Decision = pb.Decision.FromString(built[1])
    return message


def decision_message(decision: Decision) -> pb.Decision:
    """The API's Decision for a domain decision (no id, customer or metrics)."""
    message = pb.Decision(
        tier=decision.tier,
        policy_version=decision.policy_version,
        service_level=service_level_message(decision.service_level),
        perks=perk_messages(decision.perks),
        routing=routing_message(decision.routing),
        matched_rules=decision.matched_rules,
        baseline_applied=decision.baseline_applied,
        degraded=decision.degraded,
        degraded_reason=decision.degraded_reason,
    )
    explanation = decision.explanation
    if explanation is not None:
        message.explanation.features.update(
            {name: str(value) for name, value in explanation.features.items()}
        )
        message.explanation.context.update(
            {name: str(value) for name, value in explanation.context.items()}
        )
        message.explanation.rules.extend(
            pb.RuleExplanation(rule_id=trace.rule_id, condition=trace.condition)
            for trace in explanation.rules
        )
    return message


def service_level_message(level: ServiceLevel) -> pb.ServiceLevel:
    """A ServiceLevel with its SLA."""
    return pb.ServiceLevel(name=level.name, rank=level.rank, sla=sla_message(level.sla))


def sla_message(sla: Sla) -> pb.Sla:
    """An SLA."""
    return pb.Sla(
        max_wait_seconds=sla.max_wait_seconds,
        callback_offered=sla.callback_offered,
        human_agent_guaranteed=sla.human_agent_guaranteed,
        first_response_seconds=sla.first_response_seconds,
    )


def routing_message(routing: Routing) -> pb.Routing:
    """A Routing."""
    return pb.Routing(queue=routing.queue, priority=routing.priority, skills=routing.skills)


def perk_messages(perks: Iterable[Perk]) -> list[pb.Perk]:
    """Perks, each with its value when it has one."""
    messages = []
    for perk in perks:
        message = pb.Perk(code=perk.code, description=perk.description, granted_by=perk.granted_by)
        if perk.amount is not None:
            message.amount_minor = perk.amount
        elif perk.percent is not None:
            message.percent = perk.percent
        messages.append(message)
    return messages


def policy_info(policy: Policy, baseline: Decision) -> pb.PolicyInfo:
    """What clients cache about the policy, including the baseline for their fallback."""
    return pb.PolicyInfo(
        name=policy.name,
        version=policy.version,
        checksum=policy.checksum,
        tiers=policy.tiers,
        service_levels=[
            pb.ServiceLevelRank(name=name, rank=rank)
            for rank, name in enumerate(policy.service_levels)
        ],
        baseline=pb.Baseline(
            service_level=service_level_message(baseline.service_level),
            routing=routing_message(baseline.routing),
            perks=perk_messages(baseline.perks),
        ),
        channel_parity=policy.channel_parity,
    )


def policy_error_messages(errors: Iterable[PolicyError]) -> list[admin_pb.PolicyError]:
    """Policy compile errors for ValidatePolicy and ReloadPolicy."""
    return [
        admin_pb.PolicyError(
            file=error.location.file,
            line=error.location.line,
            element=error.element,
            reason=error.reason,
            message=str(error),
        )
        for error in errors
    ]
