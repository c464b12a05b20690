"""Money never compares across currencies, whatever the nesting.

Conditions here are money comparisons (``{order_value: {gte: {EUR: 50, JPY: 8000}}}``) under any
nesting of ``all``, ``any`` and ``not``. The properties, each checked in Python (on the condition
as written and as normalised) and in durable-rules:

(a) an order in a currency that no comparison names, or no order at all, satisfies neither the
    condition nor its negation;
(b) where every comparison names the order's currency, exactly one of the two holds;
(c) whatever the order, a condition and its negation never both hold.

Each example registers a durable-rules ruleset (which cannot be deleted), so the counts stay
modest.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from policy_support import compile_rules
from tierline_server.policy import conditions
from tierline_server.policy.conditions import Condition, Not
from tierline_server.policy.domain import Facts
from tierline_server.policy.engine import RuleEngine
from tierline_server.policy.fields import FieldCatalog

PROPERTY_SETTINGS = settings(max_examples=120, deadline=None)

NAMED = ("EUR", "USD", "GBP", "JPY", "KWD")
"""Currencies the generated comparisons name."""
UNNAMED = ("CHF", "SEK", "INR")
"""Currencies no generated comparison names."""
AMOUNTS = (0, 1, 10, 49.5, 50, 8000)
"""Thresholds in major units: valid for every currency in NAMED (JPY has no decimals, so
49.5 is drawn only for the others)."""
MONEY_OPERATORS = ("gt", "gte", "lt", "lte")


def thresholds(currencies: st.SearchStrategy[list[str]]) -> st.SearchStrategy[dict[str, Any]]:
    """A threshold per currency, as a policy writes it: ``{EUR: 50, JPY: 8000}``."""
    return currencies.flatmap(
        lambda codes: st.fixed_dictionaries(
            {
                code: st.sampled_from([a for a in AMOUNTS if code != "JPY" or a == int(a)])
                for code in codes
            }
        )
    )


def money_conditions(currencies: st.SearchStrategy[list[str]]) -> st.SearchStrategy[Any]:
    """Money comparisons under any nesting of all / any / not, as YAML data."""
    leaf = st.builds(
        lambda op, amounts: {"order_value": {op: amounts}},
        st.sampled_from(MONEY_OPERATORS),
        thresholds(currencies),
    )
    return st.recursive(
        leaf,
        lambda children: st.one_of(
            st.lists(children, min_size=1, max_size=3).map(lambda items: {"all": items}),
            st.lists(children, min_size=1, max_size=3).map(lambda items: {"any": items}),
            children.map(lambda item: {"not": item}),
        ),
        max_leaves=8,
    )


some_named = st.lists(st.sampled_from(NAMED), min_size=1, max_size=3, unique=True)
every_named = st.just(list(NAMED))


@cache
def catalog() -> FieldCatalog:
    """The fields a rule of the unit policy reads (order_value and currency among them)."""
    return FieldCatalog(compile_rules("[]").features)


def order(currency: str, minor: int | None) -> Facts:
    """The facts of an interaction with an order of ``minor`` units of ``currency`` (None: no
    order, though a currency may be given)."""
    present = frozenset({"channel", "currency"} | ({"order_value"} if minor is not None else set()))
    return Facts({"order_value": minor or 0, "currency": currency}, present)


def outcomes(written: Any, facts: Facts) -> tuple[bool, bool]:
    """Whether the condition and its negation hold; asserts that every evaluation agrees (Python
    on the written and the normalised forms, and durable-rules)."""
    condition = conditions.parse(written, catalog())
    negation = Not(condition)
    in_python = (_holds(condition, facts), _holds(negation, facts))
    engine = RuleEngine(
        [("holds", conditions.normalise(condition)), ("negation", conditions.normalise(negation))]
    )
    matched = engine.matched(facts)
    assert (("holds" in matched), ("negation" in matched)) == in_python
    return in_python


def _holds(condition: Condition, facts: Facts) -> bool:
    held = conditions.holds(condition, facts)
    assert conditions.holds(conditions.normalise(condition), facts) == held
    return held


minor_amounts = st.integers(0, 10_000_000)


@PROPERTY_SETTINGS
@given(
    written=money_conditions(some_named),
    currency=st.sampled_from(UNNAMED),
    minor=st.none() | minor_amounts,
)
def test_an_order_in_an_unnamed_currency_satisfies_no_money_condition(
    written: Any, currency: str, minor: int | None
) -> None:
    """(a) Neither the condition nor its negation: however deep the ``not``."""
    assert outcomes(written, order(currency, minor)) == (False, False)


@PROPERTY_SETTINGS
@given(written=money_conditions(some_named), currency=st.sampled_from(NAMED))
def test_without_an_order_no_money_condition_holds(written: Any, currency: str) -> None:
    """(a) A currency without an order value is no order: nothing to compare."""
    assert outcomes(written, order(currency, None)) == (False, False)


@PROPERTY_SETTINGS
@given(written=money_conditions(every_named), currency=st.sampled_from(NAMED), minor=minor_amounts)
def test_where_every_comparison_names_the_currency_logic_is_two_valued(
    written: Any, currency: str, minor: int
) -> None:
    """(b) Exactly one of the condition and its negation holds."""
    held, negation_held = outcomes(written, order(currency, minor))
    assert held != negation_held


@PROPERTY_SETTINGS
@given(
    written=money_conditions(some_named),
    currency=st.sampled_from(NAMED + UNNAMED),
    minor=minor_amounts,
)
def test_a_money_condition_and_its_negation_never_both_hold(
    written: Any, currency: str, minor: int
) -> None:
    """(c) Whatever the order's currency."""
    assert outcomes(written, order(currency, minor)) != (True, True)
