"""Comparing two policies' decisions: each kind of change for a customer, and the report."""

from __future__ import annotations

from typing import Any

import pytest
from policy_support import context, decider_for, policy_text
from tierline_server.policy.compiler import compile_policy_text
from tierline_server.policy.decider import Decider
from tierline_server.policy.diff import Comparison, Kind, ReplayInput, RulesBehind, replay

CURRENT = """
- id: gold-care
  when: {tier: gold}
  grant:
    service_level: premium
    sla: {max_wait_seconds: 120}
    routing: {queue: gold, priority: 70}
    perks: [{code: free-shipping}, {code: discount, percent: 10}]
- id: big-order
  when: {order_value: {gte: {EUR: 50}}}
  grant: {perks: [{code: free-shipping}]}
"""


def compare(current: str, candidate: str, features: dict[str, Any], **ctx: Any) -> set[Kind]:
    """The kinds of change from ``current`` to ``candidate`` (rule lists) for one input."""
    before, after = decider_for(current), decider_for(candidate)
    comparison = Comparison(before.baseline, after.baseline)
    change = comparison(
        before.decide(features, context(**ctx)), after.decide(features, context(**ctx))
    )
    return set(change.kinds)


GOLD = {"tier": "gold"}


@pytest.mark.parametrize(
    ("candidate", "features", "expected"),
    [
        (CURRENT, GOLD, set()),
        (CURRENT.replace("premium", "concierge"), GOLD, {Kind.LEVEL_UP}),
        (CURRENT.replace("premium", "priority"), GOLD, {Kind.LEVEL_DOWN}),
        (CURRENT.replace("120", "60"), GOLD, {Kind.SLA_BETTER}),
        (CURRENT.replace("120", "300"), GOLD, {Kind.SLA_WORSE}),
        (
            CURRENT.replace(
                "{max_wait_seconds: 120}", "{max_wait_seconds: 60, callback_offered: false}"
            ),
            GOLD,
            {Kind.SLA_BETTER},
        ),
        (
            CURRENT.replace("percent: 10}]", "percent: 10}, {code: lounge}]"),
            GOLD,
            {Kind.PERK_GRANTED},
        ),
        (CURRENT.replace("{code: free-shipping}, ", ""), GOLD, {Kind.PERK_LOST}),
        (CURRENT.replace("percent: 10", "percent: 15"), GOLD, {Kind.PERK_REVALUED}),
        (CURRENT.replace("priority: 70", "priority: 75"), GOLD, {Kind.ROUTING_MOVED}),
        (CURRENT.replace("queue: gold", "queue: vip"), GOLD, {Kind.ROUTING_MOVED}),
    ],
)
def test_each_kind_of_change(candidate: str, features: dict[str, Any], expected: set[Kind]) -> None:
    assert compare(CURRENT, candidate, features) == expected


def test_a_customer_left_with_the_baseline_falls_to_it() -> None:
    raised = CURRENT.replace("gte: {EUR: 50}", "gte: {EUR: 75}")

    assert compare(CURRENT, raised, {"tier": "basic"}, order_value=6000, currency="EUR") == {
        Kind.PERK_LOST,
        Kind.TO_BASELINE,
    }
    assert compare(CURRENT, raised, GOLD, order_value=6000, currency="EUR") == set()


def test_matched_rules_and_descriptions_alone_are_no_change() -> None:
    renamed = CURRENT.replace("id: big-order", "id: large-order").replace(
        "{code: free-shipping}]}", "{code: free-shipping, description: Ships free}]}"
    )

    assert compare(CURRENT, renamed, {}, order_value=6000, currency="EUR") == set()


def test_the_report_counts_by_tier_channel_code_and_queue() -> None:
    current, candidate = (
        decider_for(CURRENT),
        decider_for(
            CURRENT.replace("premium", "standard").replace("gte: {EUR: 50}", "gte: {EUR: 75}")
        ),
    )
    inputs = [
        ReplayInput("g1", context(channel="phone"), GOLD, GOLD),
        ReplayInput("g2", context(channel="web"), GOLD, GOLD),
        ReplayInput("g3", context(channel="web"), GOLD, GOLD),
        ReplayInput("b1", context(channel="web", order_value=6000, currency="EUR"), {}, {}),
        ReplayInput("b2", context(channel="web", order_value=9000, currency="EUR"), {}, {}),
    ]

    report = replay(inputs, current, candidate, examples=2)

    assert (report.decisions, report.changed) == (5, 4)
    assert report.share_changed == 0.8
    assert report.kinds == {Kind.LEVEL_DOWN: 3, Kind.PERK_LOST: 1, Kind.TO_BASELINE: 1}
    assert report.levels == {
        ("gold", "phone", Kind.LEVEL_DOWN): 1,
        ("gold", "web", Kind.LEVEL_DOWN): 2,
    }
    assert report.perks == {("free-shipping", Kind.PERK_LOST): 1}
    assert [example.input.label for example in report.examples[Kind.LEVEL_DOWN]] == ["g1", "g2"]
    assert report.examples[Kind.PERK_LOST][0].input.label == "b1"


def test_the_report_tells_when_the_log_was_written_by_another_policy() -> None:
    current = decider_for(CURRENT)
    other = decider_for(CURRENT.replace("premium", "concierge"))
    logged = other.decide(GOLD, context())
    inputs = [
        ReplayInput("g1", context(), GOLD, GOLD, logged=logged),
        ReplayInput("b1", context(), {}, {}, logged=current.decide({}, context())),
    ]

    report = replay(inputs, current, current)

    assert (report.logged, report.logged_differ, report.changed) == (2, 1, 0)


def test_degraded_inputs_replay_degraded() -> None:
    current = decider_for(CURRENT)
    inputs = [ReplayInput("g1", context(), GOLD, GOLD, degraded=True)]

    report = replay(
        inputs,
        current,
        decider_for(CURRENT.replace("premium", "concierge")),
    )

    assert report.changed == 0  # without features, neither policy grants the gold care


def rules_behind(candidate: str, features: dict[str, Any], **ctx: Any) -> tuple[str, ...]:
    """The rules behind the change from CURRENT to ``candidate`` for one input."""
    before, after = decider_for(CURRENT), decider_for(candidate)
    behind = RulesBehind(before.policy, after.policy)
    return behind(before.decide(features, context(**ctx)), after.decide(features, context(**ctx)))


def test_a_rule_that_matches_under_one_policy_only_is_behind_the_change() -> None:
    raised = CURRENT.replace("gte: {EUR: 50}", "gte: {EUR: 75}")

    assert rules_behind(raised, {}, order_value=6000, currency="EUR") == ("big-order",)


def test_a_rule_that_matches_under_both_with_another_grant_is_behind_the_change() -> None:
    regranted = CURRENT.replace("percent: 10", "percent: 15")

    # big-order matches under both policies alike: only the rule whose grant changed counts.
    assert rules_behind(regranted, GOLD, order_value=6000, currency="EUR") == ("gold-care",)


def test_without_a_rule_behind_it_a_change_is_the_baselines() -> None:
    current = decider_for(CURRENT)
    candidate = Decider(
        compile_policy_text(policy_text(CURRENT).replace("queue: general", "queue: front-desk"))
    )
    behind = RulesBehind(current.policy, candidate.policy)

    assert behind(current.decide({}, context()), candidate.decide({}, context())) == ("baseline",)
    assert behind.rule_ids == ("gold-care", "big-order", "baseline")
