"""Deciding many inputs fast, for replay: inputs that every condition of the policy sees alike
share one evaluation by the engine.

A policy's rules read their fields through a few leaf comparisons (``tier == gold``,
``tenure_days < 90``, ...). Which rules match depends only on which leaves hold, and a decision
only on the tier, whether the customer is known, whether it is degraded and the matched rules
(tierline_server.policy.decider). Those, with the leaves' truth values, key a bounded memo of
decisions: the engine (50-100 µs a decision) runs once per distinct key, and every other input
costs its facts and its leaves, evaluated in Python (bench/diff.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from tierline_server.policy import conditions
from tierline_server.policy.conditions import Compare, Condition
from tierline_server.policy.decider import Decider
from tierline_server.policy.domain import Context, Decision
from tierline_server.policy.fields import TIER_FEATURE

MEMO_SIZE = 65_536
"""Distinct keys remembered; the default policy has a few hundred over realistic inputs."""


class ReplayDecider:
    """Decides like ``decider`` (the same Decision for the same input), memoised."""

    def __init__(self, decider: Decider) -> None:
        self.decider = decider
        leaves = (leaf for rule in decider.policy.rules for leaf in _leaves(rule.condition))
        self._leaves = tuple(dict.fromkeys(leaves))  # each distinct comparison once, in order
        self._memo: dict[tuple[Any, ...], Decision] = {}
        self.evaluations = 0
        """Decisions the engine made (the others came from the memo)."""

    def decide(
        self, features: Mapping[str, Any], context: Context, *, degraded: bool = False
    ) -> Decision:
        """What ``decider.decide(features, context, degraded=degraded)`` answers."""
        facts = self.decider.facts(features, context)
        holds = conditions.leaf_holds
        key = (
            bool(features),
            facts.values.get(TIER_FEATURE),
            degraded,
            *[holds(leaf, facts) for leaf in self._leaves],
        )
        decision = self._memo.get(key)
        if decision is None:
            decision = self.decider.decide(features, context, degraded=degraded)
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = decision
            self.evaluations += 1
        return decision


def _leaves(condition: Condition) -> Iterator[Compare]:
    if isinstance(condition, Compare):
        yield condition
    elif isinstance(condition, conditions.Not):
        yield from _leaves(condition.item)
    else:
        for item in condition.items:
            yield from _leaves(item)
