"""A small population whose every figure can be worked out by hand, for the figure tests.

Policy: levels standard < priority < premium < concierge; baseline standard (wait 600 s, first
response 3600 s, no callback, human agent), queue general at priority 10, perk ``welcome``
(100 cents). Mix: two channels (phone, chat) x two interactions (support; purchase of 60.00 EUR),
cohort ``new``, value feature ``ltv``, premium from ``premium``.

Population (5 customers, 20 decisions):

======  ======  ======  ==============  ==================================================
group   tier    cohort  ltv             decisions (the same on both channels)
======  ======  ======  ==============  ==================================================
A       basic           10, 20, 30      the baseline in both interactions
B       silver  new     100             support: priority, onboarding queue, welcome + guide;
                                        purchase: standard, general, welcome + free-shipping
C       gold            870             premium, queue vip, welcome; support adds credit (500)
======  ======  ======  ==============  ==================================================
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from tierline_server.policy.compiled import Policy
from tierline_server.policy.compiler import compile_policy_text
from tierline_server.policy.domain import Context, Decision, Perk, Routing, ServiceLevel, Sla
from tierline_server.policy.merge import merge
from tierline_server.report.mix import Mix
from tierline_server.report.treatment import Group, Treatment

POLICY = """\
policy: small
version: "1"
features:
  tier: {type: enum, values: [unknown, basic, silver, gold], default: unknown}
  ltv: {type: number, default: 0}
service_levels: [standard, priority, premium, concierge]
baseline:
  service_level: standard
  sla: {max_wait_seconds: 600, first_response_seconds: 3600, callback_offered: false, \
human_agent_guaranteed: true}
  routing: {queue: general, priority: 10}
  perks: [{code: welcome, amount: 100}]
guarantees: {channel_parity: true}
rules: []
"""

BASELINE_SLA = Sla(600, 3600, False, True)
CHANNELS = ("phone", "chat")
SUPPORT = Context(channel="phone", intent="support")
PURCHASE = Context(channel="phone", intent="purchase", order_value=6000, currency="EUR")


def small_policy() -> Policy:
    """The small policy (its rules do not matter: the decisions are written by hand)."""
    return compile_policy_text(POLICY)


def mix() -> Mix:
    """Both interactions on both channels, interaction by interaction."""
    contexts = tuple(
        replace(interaction, channel=channel)
        for interaction in (SUPPORT, PURCHASE)
        for channel in CHANNELS
    )
    return Mix(
        source="test-mix.yaml",
        currency="EUR",
        channels=CHANNELS,
        contexts=contexts,
        cohorts=MappingProxyType({"new": {"tier": "silver"}}),
        value_feature="ltv",
        premium_from="premium",
    )


def decision(
    level: str,
    queue: str = "general",
    *perks: Perk,
    priority: int = 10,
    sla: Sla = BASELINE_SLA,
    tier: str = "",
) -> Decision:
    """A decision as the merge would make it, written by hand."""
    rank = ("standard", "priority", "premium", "concierge").index(level)
    return Decision(
        tier=tier,
        service_level=ServiceLevel(level, rank, sla),
        perks=perks,
        routing=Routing(queue, priority),
        matched_rules=(),
        policy_version="1",
    )


WELCOME = Perk("welcome", amount=100, granted_by="baseline")
GUIDE = Perk("guide", granted_by="onboarding")
FREE_SHIPPING = Perk("free-shipping", granted_by="shipping")
CREDIT = Perk("credit", amount=500, granted_by="gold-credit")


def per_interaction(support: Decision, purchase: Decision) -> tuple[Decision, ...]:
    """The same decision on both channels: support, support, purchase, purchase."""
    return (support, support, purchase, purchase)


def group(
    tier: str, decisions: tuple[Decision, ...], *values: float, cohorts: tuple[str, ...] = ()
) -> Group:
    """A group of ``len(values)`` customers with ids like ``basic-1``."""
    return Group(
        tier=tier,
        cohorts=frozenset(cohorts),
        decisions=decisions,
        values=values,
        examples=tuple(f"{tier}-{n}" for n in range(1, len(values) + 1)),
    )


def baseline_decision(policy: Policy) -> Decision:
    """What nobody may get less than."""
    return merge(policy, (), "unknown")


def treatment(*groups: Group) -> Treatment:
    """The small policy and mix treating ``groups``."""
    policy = small_policy()
    return Treatment(policy, mix(), baseline_decision(policy), groups)


def small_population() -> Treatment:
    """Groups A, B and C of the table above."""
    base = decision("standard", "general", WELCOME)
    silver_support = decision("priority", "onboarding", WELCOME, GUIDE, priority=25)
    silver_purchase = decision("standard", "general", WELCOME, FREE_SHIPPING)
    gold_support = decision("premium", "vip", WELCOME, CREDIT, priority=70)
    gold_purchase = decision("premium", "vip", WELCOME, priority=70)
    return treatment(
        group("basic", per_interaction(base, base), 10, 20, 30),
        group("silver", per_interaction(silver_support, silver_purchase), 100, cohorts=("new",)),
        group("gold", per_interaction(gold_support, gold_purchase), 870),
    )
