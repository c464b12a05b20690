"""The durable-rules engine under Tierline's rules: sessions, repeated decisions, known faults."""

from __future__ import annotations

import pytest
from policy_support import decide, decider_for, first_miss_crashes, policy_text
from tierline_server.policy.compiler import compile_policy_text
from tierline_server.policy.conditions import AnyOf, Compare
from tierline_server.policy.decider import Decider
from tierline_server.policy.domain import Facts
from tierline_server.policy.engine import RuleEngine
from tierline_server.policy.inputs import typed_features
from tierline_server.policy.schema import FeatureSpec


def test_first_decision_matching_no_rule_survives() -> None:
    """A new policy's first decision may match nothing (the baseline alone applies)."""
    assert not first_miss_crashes()


def test_number_features_are_kept_within_what_the_engine_compares() -> None:
    """Numbers are rounded to 4 decimals; beyond 10^15 they are not valid feature values."""
    spec = FeatureSpec(type="number", default=0)
    assert spec.parse("0.00001") == 0.0
    assert spec.parse("0.00012") == 0.0001
    assert spec.parse(2500) == 2500.0
    with pytest.raises(ValueError, match="not a valid number"):
        spec.parse("1e16")
    with pytest.raises(ValueError, match="not a valid int"):
        FeatureSpec(type="int", default=0).parse(str(2**64))


def test_a_tiny_number_feature_is_decided() -> None:
    """A number feature read as 0.00012 is compared like any other number."""
    decider = decider_for(
        """
        - id: positive
          when: {score: {gt: 0}}
          grant: {perks: [{code: p}]}
        """
    )
    features = typed_features(decider.policy, {"score": "0.00012"})
    assert decide(decider, features).has_perk("p")
    assert not decide(decider, typed_features(decider.policy, {"score": "0.00001"})).has_perk("p")


def test_a_policy_without_rules_decides_the_baseline() -> None:
    """No rules: nothing is registered and every decision is the baseline."""
    decider = Decider(compile_policy_text(policy_text("").rstrip() + " []\n"))
    decision = decide(decider, {"tier": "gold"}, intent="cancel")
    assert decision.matched_rules == ()
    assert decision.routing.queue == "general"


def test_repeated_and_alternating_decisions_are_stable() -> None:
    """Each decision's session is gone afterwards: the same fact twice decides the same."""
    decider = decider_for(
        """
        - id: gold
          when: {tier: gold}
          grant: {service_level: premium}
        """
    )
    for _ in range(50):
        assert decide(decider, {"tier": "gold"}).matched_rules == ("gold",)
        assert decide(decider, {"tier": "gold"}).matched_rules == ("gold",)
        assert decide(decider, {"tier": "basic"}).matched_rules == ()
        assert decide(decider, {"tier": "basic"}).matched_rules == ()


def test_engine_reports_each_rule_once_in_rule_order() -> None:
    """An ``$or`` firing once per true branch still yields each id once, in the given order."""
    engine = RuleEngine(
        [
            ("second-in-name", AnyOf((Compare("a", "eq", 1), Compare("b", "eq", 1)))),
            ("first-in-name", Compare("a", "eq", 1)),
            ("never", Compare("a", "eq", 2)),
        ]
    )
    facts = Facts({"a": 1, "b": 1}, frozenset({"a", "b"}))
    assert engine.matched(facts) == ["second-in-name", "first-in-name"]
