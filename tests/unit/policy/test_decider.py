"""The Decider: degraded decisions, the tier it reports, and typed inputs."""

from __future__ import annotations

import re

import pytest
from policy_support import decide, decider_for, perk_codes
from pydantic import ValidationError
from tierline_server.policy.inputs import ContextSpec, typed_features

RULES = """
- id: gold-premium
  when: {tier: gold}
  grant: {service_level: premium, perks: [{code: gold-gift}]}
- id: outage
  when: {intent: outage}
  grant: {routing: {queue: incident, priority: 60}, perks: [{code: outage-credit, amount: 1000}]}
- id: big-order-or-gold
  when: {any: [{tier: gold}, {order_value: {gte: {EUR: 50}}}]}
  grant: {perks: [{code: free-shipping}]}
- id: complaint
  when: {intent: complaint}
  grant: {perks: [{code: goodwill}]}
- id: frequent-complainer
  when: {visits: {gte: 5}}
  revoke: [goodwill]
- id: coupon
  when: {attributes.coupon: {matches: "^C[0-9]+$"}}
  grant: {perks: [{code: coupon}]}
"""


def test_degraded_applies_only_rules_that_read_no_features() -> None:
    """Features unreadable: context-only rules and the baseline, nothing a feature would grant."""
    decider = decider_for(RULES)
    decision = decide(
        decider,
        intent="outage",
        order_value=9000,
        currency="EUR",
        attributes={"coupon": "C1"},
        degraded=True,
    )
    assert decision.matched_rules == ("outage", "coupon")
    assert perk_codes(decision) == {"welcome", "outage-credit", "coupon"}
    assert decision.routing.queue == "incident"
    assert decision.tier == "unknown"


def test_degraded_ignores_features_even_if_some_were_passed() -> None:
    """A degraded decision never applies a rule that reads a feature."""
    decider = decider_for(RULES)
    decision = decide(decider, {"tier": "gold", "visits": 9}, intent="complaint", degraded=True)
    assert decision.matched_rules == ("complaint",)
    assert decision.service_level.name == "standard"
    assert "goodwill" in perk_codes(decision)


def test_the_same_interaction_not_degraded_applies_feature_rules() -> None:
    """The counterpart of the degraded tests: with features, the feature rules apply."""
    decider = decider_for(RULES)
    decision = decide(decider, {"tier": "gold", "visits": 9}, intent="complaint")
    assert decision.matched_rules == (
        "gold-premium",
        "big-order-or-gold",
        "complaint",
        "frequent-complainer",
    )
    assert perk_codes(decision) == {"welcome", "gold-gift", "free-shipping"}


def test_reported_tier() -> None:
    """The customer's tier; its default when the record has none; unknown with no record."""
    decider = decider_for(RULES)
    assert decide(decider, {"tier": "silver"}).tier == "silver"
    assert decide(decider, {"visits": 2}).tier == "unknown"
    assert decide(decider, None).tier == "unknown"


def test_typed_features_parse_stored_strings() -> None:
    """Strings as Redis stores them become typed values."""
    policy = decider_for(RULES).policy
    typed = typed_features(
        policy, {"tier": "gold", "score": "12.5", "visits": "7", "vip": "yes", "region": "uk"}
    )
    assert typed == {"tier": "gold", "score": 12.5, "visits": 7, "vip": True, "region": "uk"}


def test_typed_features_name_every_problem() -> None:
    """Unknown features and values that do not fit are all reported."""
    policy = decider_for(RULES).policy
    expected = (
        "tier: 'platinum' is not one of unknown, basic, silver, gold; "
        "colour: not a feature of policy 'unit'; vip: 'maybe' is not a valid bool"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        typed_features(policy, {"tier": "platinum", "colour": "red", "vip": "maybe"})


def test_context_spec_normalises_and_checks_the_channel() -> None:
    """Channels are named as the client and the command line name them, and must be known."""
    for name in ("PHONE", "phone", "CHANNEL_PHONE"):
        assert ContextSpec(channel=name).to_context().channel == "phone"
    assert ContextSpec(channel="mobile-app").to_context().channel == "mobile_app"
    with pytest.raises(ValidationError, match=r"'fax' is not a channel \(phone, chat, email"):
        ContextSpec(channel="fax")


@pytest.mark.parametrize(
    ("order_value", "currency", "minor"),
    [("59.90", "EUR", 5990), (59.9, "eur", 5990), (5000, "JPY", 5000), ("5.123", "KWD", 5123)],
)
def test_context_spec_takes_the_order_value_in_major_units(
    order_value: str | float, currency: str, minor: int
) -> None:
    """As people write amounts; the context carries minor units and the upper-case code."""
    context = ContextSpec(channel="web", order_value=order_value, currency=currency).to_context()
    assert (context.order_value, context.currency) == (minor, currency.upper())


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"currency": "euro"}, "'euro' is not an ISO 4217 currency code"),
        ({"order_value": 5}, "order_value: needs a currency"),
        ({"order_value": "5.5", "currency": "JPY"}, "5.5 has more decimals than JPY has"),
        ({"order_value": -1, "currency": "EUR"}, "greater than or equal to 0"),
    ],
)
def test_context_spec_refuses_money_it_cannot_read(fields: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(problem)):
        ContextSpec(channel="web", **fields)  # type: ignore[arg-type]
