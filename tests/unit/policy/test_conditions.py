"""Condition operators and combinations, evaluated by the real Decider (durable-rules)."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from policy_support import context as context_of
from policy_support import decide, decider_for
from tierline_server.policy import conditions
from tierline_server.policy.conditions import All, AnyOf, Compare, MoneyCompare, Not
from tierline_server.policy.decider import Decider
from tierline_server.policy.fields import FieldCatalog


@cache
def probe_decider(when: str) -> Decider:
    """A policy whose one rule ``probe`` has condition ``when`` and routes to queue ``probe``."""
    return decider_for(
        f"""
        - id: probe
          when: {when}
          grant: {{routing: {{queue: probe, priority: 50}}}}
        """
    )


def probe_holds(when: str, features: dict[str, Any], context: dict[str, Any]) -> bool:
    """Whether ``probe`` matched; also checks the engine against the Python evaluation."""
    decider = probe_decider(when)
    decision = decide(decider, features, **context)
    matched = decision.matched_rules == ("probe",)
    assert matched == (decision.routing.queue == "probe")
    (rule,) = decider.policy.rules
    facts = decider.facts(features, context_of(**context))
    assert conditions.holds(rule.condition, facts) == matched
    return matched


EUR_OR_JPY = "{order_value: {gte: {EUR: 50, JPY: 8000}}}"
OPERATOR_CASES: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    # eq, written plainly and as an operator, on every type
    ("{tier: gold}", {"tier": "gold"}, {}, True),
    ("{tier: gold}", {"tier": "silver"}, {}, False),
    ("{tier: {eq: silver}}", {"tier": "silver"}, {}, True),
    ("{score: 5}", {"score": 5.0}, {}, True),
    ("{score: 5}", {"score": 5.5}, {}, False),
    ("{visits: 3}", {"visits": 3}, {}, True),
    ("{vip: true}", {"vip": True}, {}, True),
    ("{vip: true}", {"vip": False}, {}, False),
    ("{region: eu}", {"region": "uk"}, {}, False),
    ("{intent: cancel}", {}, {"intent": "cancel"}, True),
    ("{channel: chat}", {}, {"channel": "email"}, False),
    ("{currency: EUR}", {}, {"currency": "EUR"}, True),
    # in / not_in
    ("{tier: {in: [silver, gold]}}", {"tier": "gold"}, {}, True),
    ("{tier: {in: [silver, gold]}}", {"tier": "basic"}, {}, False),
    ("{visits: {in: [1, 2, 3]}}", {"visits": 2}, {}, True),
    ("{visits: {in: [1, 2, 3]}}", {"visits": 4}, {}, False),
    ("{intent: {in: [cancel, complaint]}}", {}, {"intent": "complaint"}, True),
    ("{tier: {not_in: [silver, gold]}}", {"tier": "basic"}, {}, True),
    ("{tier: {not_in: [silver, gold]}}", {"tier": "gold"}, {}, False),
    ("{channel: {not_in: [social, in_store]}}", {}, {"channel": "phone"}, True),
    ("{channel: {not_in: [social, in_store]}}", {}, {"channel": "in_store"}, False),
    # gt / gte / lt / lte at their boundaries, ints and numbers
    ("{visits: {gt: 3}}", {"visits": 3}, {}, False),
    ("{visits: {gt: 3}}", {"visits": 4}, {}, True),
    ("{visits: {gte: 3}}", {"visits": 3}, {}, True),
    ("{visits: {gte: 3}}", {"visits": 2}, {}, False),
    ("{score: {lt: 2.5}}", {"score": 2.25}, {}, True),
    ("{score: {lt: 2.5}}", {"score": 2.5}, {}, False),
    ("{score: {lte: 2.5}}", {"score": 2.5}, {}, True),
    ("{score: {lte: 2.5}}", {"score": 2.75}, {}, False),
    ("{score: {gte: 100}}", {"score": 99.75}, {}, False),
    ("{score: {lt: 0}}", {"score": -1.5}, {}, True),
    ("{score: {gt: 10, lt: 20}}", {"score": 15.0}, {}, True),
    ("{score: {gt: 10, lt: 20}}", {"score": 20.0}, {}, False),
    # money: a threshold per currency; another currency, or no order, satisfies no comparison
    ("{order_value: {gte: {EUR: 50}}}", {}, {"order_value": 5000, "currency": "EUR"}, True),
    ("{order_value: {gte: {EUR: 50}}}", {}, {"order_value": 4999, "currency": "EUR"}, False),
    ("{order_value: {gte: {EUR: 50}}}", {}, {}, False),
    ("{order_value: {gte: {EUR: 50}}}", {}, {"order_value": 10**9, "currency": "USD"}, False),
    ("{order_value: {lt: {EUR: 50}}}", {}, {"order_value": 1, "currency": "USD"}, False),
    ("{order_value: {lt: {EUR: 50}}}", {}, {"currency": "EUR"}, False),
    ("{order_value: {lt: {EUR: 50}}}", {}, {"order_value": 0, "currency": "EUR"}, True),
    ("{not: {order_value: {gte: {EUR: 50}}}}", {}, {"order_value": 100, "currency": "EUR"}, True),
    ("{not: {order_value: {gte: {EUR: 50}}}}", {}, {"order_value": 100, "currency": "USD"}, False),
    ("{not: {order_value: {gte: {EUR: 50}}}}", {}, {}, False),
    (EUR_OR_JPY, {}, {"order_value": 8000, "currency": "JPY"}, True),
    (EUR_OR_JPY, {}, {"order_value": 7999, "currency": "JPY"}, False),
    (EUR_OR_JPY, {}, {"order_value": 7999, "currency": "EUR"}, True),
    ("{order_value: {lte: {KWD: 5.125}}}", {}, {"order_value": 5125, "currency": "KWD"}, True),
    ("{order_value: {gt: {KWD: 5.125}}}", {}, {"order_value": 5125, "currency": "KWD"}, False),
    ("{order_value: {gt: {eur: 0.5}}}", {}, {"order_value": 51, "currency": "EUR"}, True),
    ("{item_count: {lte: 0}}", {}, {}, True),
    # exists: the value was given (a feature in the record, an attribute the caller sent)
    ("{vip: {exists: true}}", {"vip": False}, {}, True),
    ("{vip: {exists: true}}", {}, {}, False),
    ("{vip: {exists: false}}", {}, {}, True),
    ("{vip: {exists: false}}", {"vip": True}, {}, False),
    ("{attributes.coupon: {exists: true}}", {}, {"attributes": {"coupon": ""}}, True),
    ("{attributes.coupon: {exists: true}}", {}, {"attributes": {"other": "x"}}, False),
    ("{order_value: {exists: false}}", {}, {}, True),
    ("{order_value: {exists: false}}", {}, {"order_value": 0}, False),
    ("{intent: {exists: true}}", {}, {"intent": ""}, False),
    # matches: an RE2 regular expression searched in the value; `$` is the end of the value
    ('{attributes.code: {matches: "^A[0-9]+$"}}', {}, {"attributes": {"code": "A123"}}, True),
    ('{attributes.code: {matches: "^A[0-9]+$"}}', {}, {"attributes": {"code": "A12b"}}, False),
    ('{attributes.code: {matches: "^A[0-9]+$"}}', {}, {"attributes": {"code": "a123"}}, False),
    ('{attributes.code: {matches: "^A[0-9]+$"}}', {}, {}, False),
    ('{intent: {matches: "bill"}}', {}, {"intent": "rebilling"}, True),
    ('{region: {matches: "^(eu|uk)$"}}', {}, {}, True),
    ('{region: {matches: "^(eu|uk)$"}}', {"region": "us"}, {}, False),
    ('{attributes.code: {matches: "^A[0-9]+$"}}', {}, {"attributes": {"code": "A1\n"}}, False),
    (r'{attributes.code: {matches: "^A\\d$"}}', {}, {"attributes": {"code": "A3"}}, True),
    (r'{attributes.code: {matches: "^A\\d$"}}', {}, {"attributes": {"code": "A\u0663"}}, False),
    # attributes.<key>
    ("{attributes.campaign: spring}", {}, {"attributes": {"campaign": "spring"}}, True),
    ("{attributes.campaign: spring}", {}, {"attributes": {"campaign": "autumn"}}, False),
    ("{attributes.campaign: spring}", {}, {}, False),
    ("{not: {attributes.campaign: spring}}", {}, {}, True),
    (
        "{attributes.campaign: {in: [spring, summer]}}",
        {},
        {"attributes": {"campaign": "summer"}},
        True,
    ),
    # missing features take their declared defaults
    ("{tier: unknown}", {}, {}, True),
    ("{visits: {lt: 1}}", {}, {}, True),
    ("{score: 0}", {}, {}, True),
    ("{vip: false}", {}, {}, True),
    ("{region: eu}", {}, {}, True),
]


@pytest.mark.parametrize(("when", "features", "context", "expected"), OPERATOR_CASES)
def test_operator(
    when: str, features: dict[str, Any], context: dict[str, Any], expected: bool
) -> None:
    """Each operator decides as documented, in the engine and in Python alike."""
    assert probe_holds(when, features, context) is expected


COMBINATION_CASES: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    # several keys in one mapping must all hold
    ("{tier: gold, vip: true}", {"tier": "gold", "vip": True}, {}, True),
    ("{tier: gold, vip: true}", {"tier": "gold"}, {}, False),
    ("{all: [{tier: gold}, {visits: {gte: 2}}]}", {"tier": "gold", "visits": 2}, {}, True),
    ("{all: [{tier: gold}, {visits: {gte: 2}}]}", {"tier": "gold", "visits": 1}, {}, False),
    ("{any: [{tier: gold}, {vip: true}]}", {"tier": "silver", "vip": True}, {}, True),
    ("{any: [{tier: gold}, {vip: true}]}", {"tier": "silver"}, {}, False),
    # not over any / all (De Morgan when pushed down), double not, not over each operator
    ("{not: {any: [{tier: gold}, {vip: true}]}}", {"tier": "silver"}, {}, True),
    ("{not: {any: [{tier: gold}, {vip: true}]}}", {"tier": "gold"}, {}, False),
    ("{not: {any: [{tier: gold}, {vip: true}]}}", {"vip": True}, {}, False),
    ("{not: {all: [{tier: gold}, {vip: true}]}}", {"tier": "gold", "vip": True}, {}, False),
    ("{not: {all: [{tier: gold}, {vip: true}]}}", {"tier": "gold"}, {}, True),
    ("{not: {not: {tier: gold}}}", {"tier": "gold"}, {}, True),
    ("{not: {not: {tier: gold}}}", {"tier": "basic"}, {}, False),
    ("{not: {vip: {exists: true}}}", {}, {}, True),
    ("{not: {vip: {exists: true}}}", {"vip": False}, {}, False),
    ('{not: {attributes.code: {matches: "^A"}}}', {}, {}, True),
    ('{not: {attributes.code: {matches: "^A"}}}', {}, {"attributes": {"code": "A1"}}, False),
    ("{not: {tier: {in: [gold, silver]}}}", {"tier": "basic"}, {}, True),
    ("{not: {tier: {not_in: [gold, silver]}}}", {"tier": "gold"}, {}, True),
    ("{not: {visits: {gt: 3}}}", {"visits": 3}, {}, True),
    ("{not: {visits: {gt: 3}}}", {"visits": 4}, {}, False),
    ("{not: {score: {lte: 1}}}", {"score": 1.25}, {}, True),
    ("{not: {tier: gold, vip: true}}", {"tier": "gold"}, {}, True),
    # nested: not over any over all, inside any
    (
        "{any: [{all: [{tier: gold}, {not: {any: [{vip: true}, {visits: {gte: 10}}]}}]},"
        " {score: {gte: 50}}]}",
        {"tier": "gold", "visits": 5},
        {},
        True,
    ),
    (
        "{any: [{all: [{tier: gold}, {not: {any: [{vip: true}, {visits: {gte: 10}}]}}]},"
        " {score: {gte: 50}}]}",
        {"tier": "gold", "vip": True},
        {},
        False,
    ),
    (
        "{any: [{all: [{tier: gold}, {not: {any: [{vip: true}, {visits: {gte: 10}}]}}]},"
        " {score: {gte: 50}}]}",
        {"tier": "basic", "score": 60.0},
        {},
        True,
    ),
    (
        "{not: {any: [{all: [{tier: gold}, {vip: true}]}, {score: {gt: 10}}]}}",
        {"tier": "gold", "score": 5.0},
        {},
        True,
    ),
    (
        "{not: {any: [{all: [{tier: gold}, {vip: true}]}, {score: {gt: 10}}]}}",
        {"tier": "gold", "vip": True},
        {},
        False,
    ),
    (
        "{all: [{channel: phone}, {not: {intent: {in: [cancel, complaint]}}}]}",
        {},
        {"channel": "phone", "intent": "support"},
        True,
    ),
    (
        "{all: [{channel: phone}, {not: {intent: {in: [cancel, complaint]}}}]}",
        {},
        {"channel": "phone", "intent": "cancel"},
        False,
    ),
]


MONEY_COMBINATIONS = "{any: [{tier: gold}, {not: {order_value: {lt: {EUR: 50, JPY: 8000}}}}]}"
COMBINATION_CASES += [
    # money under not: the negation holds only for a currency the comparison names
    (MONEY_COMBINATIONS, {}, {"order_value": 5000, "currency": "EUR"}, True),
    (MONEY_COMBINATIONS, {}, {"order_value": 4999, "currency": "EUR"}, False),
    (MONEY_COMBINATIONS, {}, {"order_value": 10**6, "currency": "CHF"}, False),
    (MONEY_COMBINATIONS, {"tier": "gold"}, {"order_value": 1, "currency": "CHF"}, True),
    (MONEY_COMBINATIONS, {}, {}, False),
    (
        "{not: {any: [{order_value: {gte: {EUR: 50}}}, {order_value: {lt: {USD: 5}}}]}}",
        {},
        {"order_value": 100, "currency": "GBP"},
        False,
    ),
    (
        "{not: {any: [{order_value: {gte: {EUR: 50}}}, {order_value: {lt: {USD: 5}}}]}}",
        {},
        {"order_value": 100, "currency": "EUR"},
        False,
    ),
    (
        "{not: {all: [{order_value: {gte: {EUR: 50}}}, {order_value: {lt: {USD: 5}}}]}}",
        {},
        {"order_value": 100, "currency": "EUR"},
        True,
    ),
]


@pytest.mark.parametrize(("when", "features", "context", "expected"), COMBINATION_CASES)
def test_combination(
    when: str, features: dict[str, Any], context: dict[str, Any], expected: bool
) -> None:
    """all / any / not and implicit conjunction combine as boolean logic."""
    assert probe_holds(when, features, context) is expected


NESTED_QUANTIFIER = '{attributes.note: {matches: "^(a+)+$"}}'
"""A pattern a backtracking engine takes exponential time on, for values of a's and one other."""


@pytest.mark.timeout(30)  # a backtracking engine takes seconds at 28 bytes, years at 10 KB
@pytest.mark.parametrize(
    ("note", "expected"),
    [
        pytest.param("a" * 27 + "!", False, id="28-bytes"),
        pytest.param("a" * 10_239 + "!", False, id="10-KB"),
        pytest.param("a" * 10_240, True, id="10-KB-matching"),
        pytest.param("", False, id="empty"),
    ],
)
def test_a_nested_quantifier_decides_in_linear_time(note: str, expected: bool) -> None:
    """Whatever value a caller sends, a `matches` condition costs time linear in it."""
    assert probe_holds(NESTED_QUANTIFIER, {}, {"attributes": {"note": note}}) is expected


def test_normalise_pushes_not_to_the_leaves() -> None:
    """``not (a or (b and not c))`` becomes ``not a and (not b or c)``, with no Not left."""
    tree = Not(
        AnyOf(
            (
                Compare("tier", "eq", "gold"),
                All((Compare("visits", "gte", 3), Not(Compare("vip", "exists", True)))),
            )
        )
    )
    assert conditions.normalise(tree) == All(
        (
            Compare("tier", "ne", "gold"),
            AnyOf((Compare("visits", "lt", 3), Compare("vip", "exists", True))),
        )
    )


def test_leaves_and_fields_read_walk_the_whole_tree() -> None:
    """Every comparison, under any/all/not, in order; the fields they read."""
    gold, visits = Compare("tier", "eq", "gold"), Compare("visits", "gte", 3)
    vip, channel = Compare("vip", "exists", True), Compare("channel", "eq", "phone")
    tree = AnyOf((gold, All((visits, Not(vip))), channel))
    assert list(conditions.leaves(tree)) == [gold, visits, vip, channel]
    assert conditions.fields_read(tree) == {"tier", "visits", "vip", "channel"}


def test_parse_reads_implicit_conjunction_and_tuples_in_lists() -> None:
    """Several keys are an All; ``in`` lists become tuples."""
    policy = probe_decider("{tier: gold}").policy
    parsed = conditions.parse(
        {"tier": {"in": ["gold", "silver"]}, "visits": {"gt": 1, "lt": 5}},
        FieldCatalog(policy.features),
    )
    assert parsed == All(
        (
            Compare("tier", "in", ("gold", "silver")),
            Compare("visits", "gt", 1),
            Compare("visits", "lt", 5),
        )
    )


def test_unknown_customer_gets_defaults_and_the_unknown_tier() -> None:
    """No features: the defaults decide, and the decision's tier is ``unknown``."""
    decider = probe_decider("{all: [{tier: unknown}, {visits: 0}, {vip: false}]}")
    decision = decide(decider)
    assert decision.tier == "unknown"
    assert decision.matched_rules == ("probe",)


def test_explain_names_the_branch_that_held_and_the_values_seen() -> None:
    """Explain shows only the branches of an ``any`` that held, with the values the rule saw."""
    decider = probe_decider("{any: [{tier: gold}, {visits: {gte: 3}}]}")
    context = context_of()
    decision = decider.decide({"tier": "basic", "visits": 4}, context, explain=True)
    assert decision.explanation is not None
    (trace,) = decision.explanation.rules
    assert trace.rule_id == "probe"
    assert trace.condition == "visits >= 3 [visits=4]"


def test_money_is_parsed_into_minor_units_per_currency() -> None:
    """Thresholds in major units become minor units of each currency; codes in any case."""
    policy = probe_decider("{tier: gold}").policy
    parsed = conditions.parse(
        {"order_value": {"gte": {"eur": 49.99, "JPY": 8000, "KWD": 5.125}}},
        FieldCatalog(policy.features),
    )
    assert parsed == MoneyCompare(
        "order_value", "currency", "gte", (("EUR", 4999), ("JPY", 8000), ("KWD", 5125))
    )


def test_not_over_money_flips_the_operator_and_keeps_the_currencies() -> None:
    """The negation of ``>= 50 EUR`` is ``< 50 EUR``, not "anything but >= 50 EUR"."""
    leaf = MoneyCompare("order_value", "currency", "gte", (("EUR", 5000),))
    assert conditions.normalise(Not(leaf)) == MoneyCompare(
        "order_value", "currency", "lt", (("EUR", 5000),)
    )


def test_explain_shows_money_in_major_units_with_its_currency() -> None:
    decider = probe_decider("{order_value: {gte: {EUR: 50, JPY: 8000}}}")
    decision = decider.decide({}, context_of(order_value=12345, currency="JPY"), explain=True)
    assert decision.explanation is not None
    (trace,) = decision.explanation.rules
    assert trace.condition == "order_value >= (50.00 EUR, 8000 JPY) [order_value=12345 JPY]"
