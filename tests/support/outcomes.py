"""Decisions as the decision service hands them on (to the shadow policy, to the decision log),
for tests."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from tierline_server.decisions import DecisionRequest, Outcome
from tierline_server.features.lookup import FeatureSource
from tierline_server.ids import new_decision_id
from tierline_server.policy.decider import Decider
from tierline_server.policy.domain import Context


def served(
    decider: Decider,
    customer_id: str,
    features: Mapping[str, Any],
    context: Context,
    *,
    degraded: bool = False,
) -> tuple[DecisionRequest, Outcome]:
    """``decider``'s decision for a customer with these typed features in ``context``, as the
    decision service makes it: features read from Redis, or none when ``degraded`` (Redis could
    not be read). The timings are made up."""
    read = {} if degraded else dict(features)
    outcome = Outcome(
        decision_id=new_decision_id(),
        customer_id=customer_id,
        decision=decider.decide(read, context, degraded=degraded),
        feature_source=FeatureSource.UNAVAILABLE if degraded else FeatureSource.REDIS,
        features_age_seconds=None,
        lookup_micros=10,
        eval_micros=10,
        total_micros=30,
        features=MappingProxyType(read),
    )
    return DecisionRequest(customer_id, context), outcome
