"""Merge the grants of matched rules over the baseline into one Decision.

Deterministic whatever order the engine fired the rules in: rules are taken in policy order, and
every choice is a max with ties broken by that order.
"""

from __future__ import annotations

from collections.abc import Sequence

from tierline_server.policy.compiled import Policy, Rule
from tierline_server.policy.domain import Decision, Perk, Routing, ServiceLevel, Sla
from tierline_server.policy.schema import PerkSpec, RoutingSpec

BASELINE = "baseline"
"""The ``granted_by`` of perks that come from the baseline."""


def merge(
    policy: Policy, matched: Sequence[Rule], tier: str, degraded_reason: str = ""
) -> Decision:
    """The decision for ``matched`` rules (in policy order): never below the baseline."""
    baseline = policy.baseline
    level = baseline.service_level
    sla = Sla(**baseline.sla.model_dump())
    routing = _routing(baseline.routing)
    best_routing: RoutingSpec | None = None
    granted: dict[str, Perk] = {}
    revoked: set[str] = set()
    for rule in matched:
        grant = rule.grant
        if grant.service_level and policy.rank(grant.service_level) > policy.rank(level):
            level = grant.service_level
        if grant.sla is not None:
            sla = Sla(
                max_wait_seconds=min(
                    sla.max_wait_seconds, _or(grant.sla.max_wait_seconds, sla.max_wait_seconds)
                ),
                first_response_seconds=min(
                    sla.first_response_seconds,
                    _or(grant.sla.first_response_seconds, sla.first_response_seconds),
                ),
                callback_offered=sla.callback_offered or bool(grant.sla.callback_offered),
                human_agent_guaranteed=sla.human_agent_guaranteed
                or bool(grant.sla.human_agent_guaranteed),
            )
        if grant.routing is not None and (
            best_routing is None or grant.routing.priority > best_routing.priority
        ):
            best_routing = grant.routing
        for spec in grant.perks:
            _offer(granted, _perk(spec, rule.id))
        revoked.update(rule.revoke)
    if best_routing is not None and best_routing.priority >= baseline.routing.priority:
        routing = _routing(best_routing)
    perks: dict[str, Perk] = {}
    for spec in baseline.perks:
        _offer(perks, _perk(spec, BASELINE))
    for perk in granted.values():
        if perk.code not in revoked:
            _offer(perks, perk)
    return Decision(
        tier=tier,
        service_level=ServiceLevel(level, policy.rank(level), sla),
        perks=tuple(perks.values()),
        routing=routing,
        matched_rules=tuple(rule.id for rule in matched),
        policy_version=policy.version,
        degraded_reason=degraded_reason,
    )


def _or(value: int | None, fallback: int) -> int:
    return fallback if value is None else value


def _routing(spec: RoutingSpec) -> Routing:
    return Routing(spec.queue, spec.priority, tuple(spec.skills))


def _perk(spec: PerkSpec, granted_by: str) -> Perk:
    return Perk(spec.code, spec.description, spec.amount, spec.percent, granted_by)


def _offer(perks: dict[str, Perk], perk: Perk) -> None:
    """Keep the better of two perks with one code (a higher value); ties keep the first."""
    current = perks.get(perk.code)
    if current is None or _worth(perk) > _worth(current):
        perks[perk.code] = perk


def _worth(perk: Perk) -> float:
    return float(perk.amount or perk.percent or 0)
