"""Merging the grants of matched rules over the baseline (policy_text's baseline: standard level,
wait 600 s, first response 3600 s, no callback, human agent guaranteed, queue general at 10,
perk ``welcome`` worth 100)."""

from __future__ import annotations

import pytest
from policy_support import decide, decider_for, perk_codes
from tierline_server.policy.domain import Decision, Perk


def perks_by_code(decision: Decision) -> dict[str, Perk]:
    """The decision's perks keyed by code."""
    return {perk.code: perk for perk in decision.perks}


# --- service level ---------------------------------------------------------------------------


def test_level_is_the_highest_grant_whatever_the_file_order() -> None:
    """premium beats priority, wherever each rule is in the file."""
    premium = """
    - id: premium-for-gold
      when: {tier: gold}
      grant: {service_level: premium}
    """
    priority = """
    - id: priority-for-vip
      when: {vip: true}
      grant: {service_level: priority}
    """
    for rules in (premium + priority, priority + premium):
        decider = decider_for(rules)
        decision = decide(decider, {"tier": "gold", "vip": True})
        assert (decision.service_level.name, decision.service_level.rank) == ("premium", 2)
        assert decide(decider, {"vip": True}).service_level.name == "priority"


def test_a_grant_below_the_baseline_level_does_not_lower_it() -> None:
    """With a priority baseline, a rule granting standard leaves the level at priority."""
    decider = decider_for(
        """
        - id: standard-for-basic
          when: {tier: basic}
          grant: {service_level: standard}
        """,
        baseline_level="priority",
    )
    decision = decide(decider, {"tier": "basic"})
    assert decision.matched_rules == ("standard-for-basic",)
    assert decision.service_level.name == "priority"
    assert decision.service_level.rank == 1


# --- SLA ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "features", "matched", "waits", "flags"),
    [
        pytest.param(
            """
            - id: short-wait
              when: {tier: gold}
              grant: {sla: {max_wait_seconds: 120, first_response_seconds: 1800}}
            - id: fast-response
              when: {vip: true}
              grant:
                sla: {max_wait_seconds: 300, first_response_seconds: 60, callback_offered: true}
            """,
            {"tier": "gold", "vip": True},
            ("short-wait", "fast-response"),
            (120, 60),
            (True, True),
            id="the-best-of-each-field-across-grants",
        ),
        pytest.param(
            """
            - id: worse-sla
              when: {tier: basic}
              grant:
                sla:
                  max_wait_seconds: 900
                  first_response_seconds: 7200
                  human_agent_guaranteed: false
            """,
            {"tier": "basic"},
            ("worse-sla",),
            (600, 3600),
            (False, True),
            id="never-worse-than-the-baseline",
        ),
        pytest.param(
            """
            - id: callback
              when: {vip: true}
              grant: {sla: {callback_offered: true}}
            """,
            {"vip": True},
            ("callback",),
            (600, 3600),
            (True, True),
            id="fields-left-out-keep-the-baseline",
        ),
    ],
)
def test_sla_merges_field_by_field_over_the_baseline(
    rules: str,
    features: dict[str, object],
    matched: tuple[str, ...],
    waits: tuple[int, int],
    flags: tuple[bool, bool],
) -> None:
    """Waits are the shortest offered, flags are on if any grant turns them on; longer waits
    and flags turned off leave the baseline's values, and fields left out keep them."""
    decision = decide(decider_for(rules), features)
    assert decision.matched_rules == matched
    sla = decision.service_level.sla
    assert (sla.max_wait_seconds, sla.first_response_seconds) == waits
    callback_offered, human_agent_guaranteed = flags
    assert sla.callback_offered is callback_offered
    assert sla.human_agent_guaranteed is human_agent_guaranteed


# --- perks --------------------------------------------------------------------------------------


def test_perks_are_the_union_by_code_each_naming_its_rule() -> None:
    """Every matched rule's perks are granted, with the baseline's, each with granted_by."""
    decider = decider_for(
        """
        - id: gold-perks
          when: {tier: gold}
          grant: {perks: [{code: free-shipping}, {code: lounge, description: Lounge access}]}
        - id: vip-perks
          when: {vip: true}
          grant: {perks: [{code: gift, amount: 500}]}
        """
    )
    perks = perks_by_code(decide(decider, {"tier": "gold", "vip": True}))
    assert {code: perk.granted_by for code, perk in perks.items()} == {
        "welcome": "baseline",
        "free-shipping": "gold-perks",
        "lounge": "gold-perks",
        "gift": "vip-perks",
    }
    assert perks["lounge"].description == "Lounge access"
    assert perks["gift"].amount == 500


def test_the_higher_value_wins_a_perk_clash_whatever_the_order() -> None:
    """Two rules granting one code: the higher percent wins, in either file order."""
    low = """
    - id: double-points
      when: {visits: {gte: 1}}
      grant: {perks: [{code: loyalty, percent: 200}]}
    """
    high = """
    - id: triple-points
      when: {tier: gold}
      grant: {perks: [{code: loyalty, percent: 300}]}
    """
    for rules in (low + high, high + low):
        decision = decide(decider_for(rules), {"tier": "gold", "visits": 3})
        loyalty = perks_by_code(decision)["loyalty"]
        assert (loyalty.percent, loyalty.granted_by) == (300, "triple-points")
        assert [perk.code for perk in decision.perks].count("loyalty") == 1


def test_a_perk_clash_of_equal_value_keeps_the_first_rule_in_the_file() -> None:
    """Equal values: the grant of the rule earlier in the file is kept."""
    decider = decider_for(
        """
        - id: first
          when: {tier: gold}
          grant: {perks: [{code: gift, amount: 500, description: from first}]}
        - id: second
          when: {vip: true}
          grant: {perks: [{code: gift, amount: 500, description: from second}]}
        """
    )
    gift = perks_by_code(decide(decider, {"tier": "gold", "vip": True}))["gift"]
    assert (gift.granted_by, gift.description) == ("first", "from first")


def test_a_grant_worth_more_replaces_a_baseline_perk_and_less_does_not() -> None:
    """The baseline's ``welcome`` (100) gives way to a bigger grant, not to a smaller one."""
    decider = decider_for(
        """
        - id: big-welcome
          when: {tier: gold}
          grant: {perks: [{code: welcome, amount: 1000}]}
        - id: small-welcome
          when: {vip: true}
          grant: {perks: [{code: welcome, amount: 10}]}
        """
    )
    big = perks_by_code(decide(decider, {"tier": "gold"}))["welcome"]
    assert (big.amount, big.granted_by) == (1000, "big-welcome")
    small = perks_by_code(decide(decider, {"vip": True}))["welcome"]
    assert (small.amount, small.granted_by) == (100, "baseline")


# --- routing ------------------------------------------------------------------------------------


ROUTING_RULES = """
- id: gold-desk
  when: {tier: gold}
  grant: {routing: {queue: gold-desk, priority: 70, skills: [senior]}}
- id: vip-desk
  when: {vip: true}
  grant: {routing: {queue: vip-desk, priority: 70}}
- id: urgent
  when: {intent: outage}
  grant: {routing: {queue: incident, priority: 90}}
- id: low
  when: {visits: {gte: 1}}
  grant: {routing: {queue: low, priority: 5}}
"""


def test_routing_comes_from_the_highest_priority_grant() -> None:
    """The incident queue (90) beats the gold desk (70)."""
    decision = decide(decider_for(ROUTING_RULES), {"tier": "gold"}, intent="outage")
    assert (decision.routing.queue, decision.routing.priority) == ("incident", 90)
    assert decision.routing.skills == ()


def test_routing_ties_go_to_the_first_rule_in_the_file() -> None:
    """Two grants at 70: the earlier rule's queue wins, and swapping the file swaps the winner."""
    decision = decide(decider_for(ROUTING_RULES), {"tier": "gold", "vip": True})
    assert (decision.routing.queue, decision.routing.skills) == ("gold-desk", ("senior",))
    swapped = """
    - id: vip-desk
      when: {vip: true}
      grant: {routing: {queue: vip-desk, priority: 70}}
    - id: gold-desk
      when: {tier: gold}
      grant: {routing: {queue: gold-desk, priority: 70, skills: [senior]}}
    """
    assert decide(decider_for(swapped), {"tier": "gold", "vip": True}).routing.queue == "vip-desk"


def test_routing_is_never_below_the_baseline_priority() -> None:
    """A matched grant at priority 5 leaves the baseline's queue at 10."""
    decision = decide(decider_for(ROUTING_RULES), {"visits": 2})
    assert decision.matched_rules == ("low",)
    assert (decision.routing.queue, decision.routing.priority) == ("general", 10)


# --- revoke -------------------------------------------------------------------------------------


REVOKE_RULES = """
- id: chronic
  when: {visits: {gte: 5}}
  revoke: [goodwill, welcome]
- id: goodwill
  when: {intent: complaint}
  grant: {perks: [{code: goodwill, amount: 500}, {code: apology}]}
- id: bigger-welcome
  when: {tier: gold}
  grant: {perks: [{code: welcome, amount: 1000}]}
"""


def test_revoke_removes_perks_granted_by_other_rules() -> None:
    """The revoking rule is earlier in the file, yet the later grant is still removed."""
    decision = decide(decider_for(REVOKE_RULES), {"visits": 5}, intent="complaint")
    assert decision.matched_rules == ("chronic", "goodwill")
    assert perk_codes(decision) == {"welcome", "apology"}


def test_revoke_never_removes_the_baseline() -> None:
    """Revoking ``welcome`` drops a rule's bigger grant of it, and the baseline's stays."""
    decision = decide(decider_for(REVOKE_RULES), {"visits": 7, "tier": "gold"})
    welcome = perks_by_code(decision)["welcome"]
    assert (welcome.amount, welcome.granted_by) == (100, "baseline")
    assert decision.service_level.name == "standard"
    assert decision.routing.queue == "general"


def test_revoke_applies_only_when_its_rule_matches() -> None:
    """Below the threshold the goodwill perk is granted."""
    decision = decide(decider_for(REVOKE_RULES), {"visits": 4}, intent="complaint")
    assert decision.matched_rules == ("goodwill",)
    assert perks_by_code(decision)["goodwill"].amount == 500


# --- matched rules ------------------------------------------------------------------------------


def test_matched_rules_lists_a_rule_once_when_several_branches_hold() -> None:
    """durable-rules fires an ``any`` once per true branch; the decision names the rule once."""
    decider = decider_for(
        """
        - id: either
          when: {any: [{tier: gold}, {vip: true}, {visits: {gte: 1}}, {tier: {in: [gold, silver]}}]}
          grant: {perks: [{code: p}]}
        - id: nested
          when: {all: [{any: [{tier: gold}, {vip: true}]}, {not: {all: [{score: 1}, {visits: 1}]}}]}
          grant: {service_level: priority}
        """
    )
    decision = decide(decider, {"tier": "gold", "vip": True, "visits": 3})
    assert decision.matched_rules == ("either", "nested")
    assert [perk.code for perk in decision.perks] == ["welcome", "p"]


def test_matched_rules_are_in_file_order() -> None:
    """Whatever order the engine fires in, matched_rules follows the policy file."""
    decider = decider_for(
        """
        - id: c-last-alphabetically
          when: {vip: true}
          grant: {perks: [{code: c}]}
        - id: a-first-alphabetically
          when: {tier: gold}
          grant: {perks: [{code: a}]}
        - id: b-middle
          when: {any: [{tier: gold}, {vip: true}]}
          grant: {perks: [{code: b}]}
        """
    )
    decision = decide(decider, {"tier": "gold", "vip": True})
    assert decision.matched_rules == ("c-last-alphabetically", "a-first-alphabetically", "b-middle")


def test_no_rule_matched_gives_exactly_the_baseline() -> None:
    """Nothing matched: the baseline, marked as applied."""
    decision = decide(decider_for(ROUTING_RULES), {"tier": "basic"})
    assert decision.matched_rules == ()
    assert decision.baseline_applied is True
    assert decision.service_level.name == "standard"
    assert (decision.routing.queue, decision.routing.priority) == ("general", 10)
    assert [(p.code, p.amount, p.granted_by) for p in decision.perks] == [
        ("welcome", 100, "baseline")
    ]
    assert decision.policy_version == "1"
