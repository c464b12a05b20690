"""Decide: a compiled policy and its engine, from features and context to a Decision."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from functools import cached_property, lru_cache
from typing import Any

from tierline_server.policy import conditions
from tierline_server.policy.comparisons import Comparisons
from tierline_server.policy.compiled import Policy
from tierline_server.policy.domain import (
    FEATURES_UNAVAILABLE,
    UNKNOWN_TIER,
    Context,
    Decision,
    Explanation,
    Facts,
    RuleTrace,
)
from tierline_server.policy.engine import RuleEngine
from tierline_server.policy.fields import ATTRIBUTE_PREFIX, TIER_FEATURE, is_context_field
from tierline_server.policy.merge import merge

MERGE_CACHE_SIZE = 4096
"""Distinct (tier, matched rules, degraded) combinations remembered; a policy yields few."""
ENGINE_ANSWERS_KEPT = 65_536
"""Engine answers remembered by their comparison outcomes (about 100 bytes each)."""


class Decider:
    """Evaluates one policy. Build one per policy; a reload builds a new one and swaps it in."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        # A decision depends only on the tier, the matched rules and whether it is degraded, and
        # a Decision is immutable: merging once per combination halves our cost over the engine.
        self._merged = lru_cache(maxsize=MERGE_CACHE_SIZE)(self._merge)
        self.engine = RuleEngine([(rule.id, rule.condition) for rule in policy.rules])
        # The rules that match follow from the comparisons' outcomes alone: the engine decides
        # each new combination once, and its answer is reused for inputs that compare alike.
        self._comparisons = Comparisons(policy.rules)
        self._answers: dict[int, tuple[str, ...]] = {}
        self.engine_calls = 0
        """Decisions the engine itself evaluated (the others reused an answer)."""
        self._rules = {rule.id: rule for rule in policy.rules}
        self._context_only = {
            rule.id
            for rule in policy.rules
            if all(is_context_field(name) for name in conditions.fields_read(rule.condition))
        }
        self._defaults = {name: spec.default for name, spec in policy.features.items()}
        read = set().union(*(conditions.fields_read(rule.condition) for rule in policy.rules))
        self._attributes = sorted(
            name.removeprefix(ATTRIBUTE_PREFIX)
            for name in read
            if name.startswith(ATTRIBUTE_PREFIX)
        )

    @cached_property
    def baseline(self) -> Decision:
        """The decision when no rule matches: what every customer gets at least (clients cache
        it as their fallback)."""
        return merge(self.policy, (), UNKNOWN_TIER)

    def facts(self, features: Mapping[str, Any], context: Context) -> Facts:
        """What the rules see: typed features over their defaults, and the context."""
        values: dict[str, Any] = {**self._defaults, **features}
        values.update(
            channel=context.channel,
            intent=context.intent,
            order_value=context.order_value or 0,
            currency=context.currency,
            item_count=context.item_count,
        )
        for key in self._attributes:
            values[ATTRIBUTE_PREFIX + key] = ""
        for key, value in context.attributes.items():
            values[ATTRIBUTE_PREFIX + key] = value
        present = set(features) | {"channel"}
        present.update(
            name
            for name, given in (
                ("intent", context.intent),
                ("order_value", context.order_value is not None),
                ("currency", context.currency),
                ("item_count", context.item_count),
            )
            if given
        )
        present.update(ATTRIBUTE_PREFIX + key for key in context.attributes)
        return Facts(values, frozenset(present))

    def decide(
        self,
        features: Mapping[str, Any],
        context: Context,
        *,
        degraded: bool = False,
        explain: bool = False,
    ) -> Decision:
        """The decision for a customer's typed ``features`` (empty if unknown) in ``context``.

        ``degraded`` means the features could not be read: only rules that read no features
        (and the baseline) may apply, so nobody gets what their unknown features would deny.
        With ``explain``, the decision carries what the rules saw and why each rule matched.
        """
        facts = self.facts(features, context)
        matched = self.matched(facts)
        if degraded:
            matched = tuple(rule_id for rule_id in matched if rule_id in self._context_only)
        tier = str(facts.values.get(TIER_FEATURE, UNKNOWN_TIER)) if features else UNKNOWN_TIER
        decision = self._merged(tier, matched, degraded)
        if not explain:
            return decision
        return dataclasses.replace(decision, explanation=self._explain(facts, matched))

    def matched(self, facts: Facts) -> tuple[str, ...]:
        """The ids of the rules whose conditions hold, in policy order: the engine's answer for
        these comparison outcomes (asked once per new combination)."""
        key = self._comparisons.outcomes(facts)
        matched = self._answers.get(key)
        if matched is None:
            if len(self._answers) >= ENGINE_ANSWERS_KEPT:
                self._answers.clear()  # bounded; a policy rarely yields that many
            matched = self._answers[key] = tuple(self.engine.matched(facts))
            self.engine_calls += 1
        return matched

    def _merge(self, tier: str, matched: tuple[str, ...], degraded: bool) -> Decision:
        rules = [self._rules[rule_id] for rule_id in matched]
        return merge(self.policy, rules, tier, FEATURES_UNAVAILABLE if degraded else "")

    def _explain(self, facts: Facts, matched: tuple[str, ...]) -> Explanation:
        traces = tuple(
            RuleTrace(rule_id, conditions.explain(self._rules[rule_id].condition, facts))
            for rule_id in matched
        )
        context = {name: v for name, v in facts.values.items() if is_context_field(name)}
        features = {name: v for name, v in facts.values.items() if not is_context_field(name)}
        return Explanation(features, context, traces)
