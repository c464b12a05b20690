"""The fairness report's treatment of the decision log: each logged decision decided again with
its logged features and context, in its customer's group; the figures on real traffic."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from report_support import mix
from support.outcomes import served
from tierline_server.decisionlog.record import DecisionRecord, record_of
from tierline_server.policy.compiled import Policy
from tierline_server.policy.compiler import compile_policy_text
from tierline_server.policy.decider import Decider
from tierline_server.policy.domain import Context
from tierline_server.report import figures
from tierline_server.report.logged import LogReplay
from tierline_server.report.treatment import LogSpan, Treatment

# Gold customers get priority on the phone only: no channel parity, so that a violation shows.
POLICY = """\
policy: shop
version: "{version}"
features:
  tier: {{type: enum, values: [unknown, basic, silver, gold], default: unknown}}
  ltv: {{type: number, default: 0}}
service_levels: [standard, priority, premium, concierge]
baseline:
  service_level: standard
  sla: {{max_wait_seconds: 600, first_response_seconds: 3600, callback_offered: true, \
human_agent_guaranteed: true}}
  routing: {{queue: general, priority: 10}}
guarantees: {{channel_parity: false}}
rules:
  - id: gold-phone
    when: {{all: [{{tier: gold}}, {{channel: phone}}]}}
    grant: {{service_level: {gold_phone}}}
  - id: free-shipping
    when: {{order_value: {{gte: {{EUR: 50}}}}}}
    grant: {{perks: [{{code: free-shipping}}]}}
"""


def shop(version: str = "1", gold_phone: str = "priority") -> Policy:
    return compile_policy_text(POLICY.format(version=version, gold_phone=gold_phone))


GOLD = {"tier": "gold", "ltv": 900.0}
BASIC = {"tier": "basic", "ltv": 10.0}
SPAN = LogSpan("tierline:decisions", "2026-12-01T00:00:00.000Z", "2026-12-02T00:00:00.000Z", 0)


def support(channel: str) -> Context:
    return Context(channel=channel, intent="support")


def logged(
    customer: str,
    features: Mapping[str, Any],
    context: Context,
    *,
    degraded: bool = False,
    by: Policy | None = None,
) -> DecisionRecord:
    """A record as the service logs it, decided by ``by`` (the shop policy by default)."""
    request, outcome = served(Decider(by or shop()), customer, features, context, degraded=degraded)
    return record_of(request, outcome, batch=False)


def replayed(*records: DecisionRecord, policies: tuple[Policy, ...] = ()) -> list[Treatment]:
    replay = LogReplay(policies or (shop(),), mix())
    for record in records:
        replay.add(record)
    return replay.treatments(dataclasses.replace(SPAN, logged=replay.decisions))


def test_each_customer_state_is_a_group_of_one_in_its_own_contexts() -> None:
    purchase = Context(channel="web", intent="purchase", order_value=6000, currency="EUR")
    (treatment,) = replayed(
        logged("c1", GOLD, support("phone")),
        logged("c1", GOLD, purchase),
        logged("c2", BASIC, support("chat")),
        logged("c1", GOLD, support("chat"), degraded=True),  # another state: no features
        logged("c1", {**GOLD, "ltv": 950.0}, support("chat")),  # and another: they changed
    )

    groups = {(g.examples, g.tier, g.values): g for g in treatment.groups}
    assert set(groups) == {
        (("c1",), "gold", (900.0,)),
        (("c2",), "basic", (10.0,)),
        (("c1",), "unknown", (0.0,)),
        (("c1",), "gold", (950.0,)),
    }
    first = groups[(("c1",), "gold", (900.0,))]
    assert [(c.channel, c.intent) for c, _ in treatment.decided(first)] == [
        ("phone", "support"),
        ("web", "purchase"),
    ]
    assert [d.service_level.name for d in first.decisions] == ["priority", "standard"]
    assert first.decisions[1].has_perk("free-shipping")
    assert groups[(("c1",), "unknown", (0.0,))].decisions[0].degraded
    assert (treatment.customers, treatment.decisions) == (4, 5)
    assert treatment.mix.channels == ("phone", "chat", "web")  # those used, in the API's order
    assert treatment.log == dataclasses.replace(SPAN, logged=5)


def test_parity_compares_an_interaction_a_customer_had_on_several_channels() -> None:
    (treatment,) = replayed(
        logged("gold-both", GOLD, support("phone")),
        logged("gold-both", GOLD, support("chat")),  # priority on the phone only: a violation
        logged("basic-both", BASIC, support("phone")),
        logged("basic-both", BASIC, support("chat")),
        logged("basic-both", BASIC, support("chat")),
        logged("gold-phone", GOLD, support("phone")),  # one channel: nothing to compare
        logged("gold-phone", GOLD, Context(channel="chat", intent="billing")),  # nor here
    )

    parity = figures.parity(treatment)

    assert (parity.customers, parity.comparisons, parity.violations) == (2, 2, 1)
    (example,) = parity.examples
    assert example.customer_ids == ("gold-both",)
    assert example.entitlements[0].startswith("phone: priority")
    assert example.entitlements[1].startswith("chat: standard")
    assert parity.reading.startswith("1 violations: 50 % of customers")


def test_without_violations_the_reading_names_the_customers_compared() -> None:
    (treatment,) = replayed(
        logged("basic-both", BASIC, support("phone")),
        logged("basic-both", BASIC, support("web")),
        logged("gold-phone", GOLD, support("phone")),  # priority
        logged("gold-phone", GOLD, Context(channel="web", intent="billing")),  # standard
    )

    assert figures.parity(treatment).reading == (
        "0 violations: service level, SLA and perks are the same on every channel for all 1 "
        "customers who had one interaction on several (1 comparisons)."
    )
    assert figures.levels_by_channel(treatment).reading.endswith(
        "(parity compares like with like)."
    )


def test_decisions_another_policy_made_are_counted_for_each_policy() -> None:
    concierge = shop("2", gold_phone="concierge")
    records = (
        logged("c1", GOLD, support("phone"), by=concierge),  # logged by another version
        logged("c2", BASIC, support("phone"), by=concierge),  # which decides basic alike
    )

    current, candidate = replayed(*records, policies=(shop(), concierge))

    assert current.log is not None
    assert candidate.log is not None
    assert (current.log.decided_otherwise, candidate.log.decided_otherwise) == (1, 0)
    assert [g.decisions[0].policy_version for g in current.groups] == ["1", "1"]


def test_equal_contexts_are_kept_once() -> None:
    (treatment,) = replayed(
        logged("c1", GOLD, support("phone")),
        logged("c2", BASIC, support("phone")),
    )

    first, second = (next(treatment.decided(group))[0] for group in treatment.groups)
    assert first is second
