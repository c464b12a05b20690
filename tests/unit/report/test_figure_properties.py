"""Invariants of the figures over any population whose decisions do not depend on the channel
and never fall below the baseline (as the merge guarantees)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from report_support import (
    CREDIT,
    FREE_SHIPPING,
    GUIDE,
    WELCOME,
    decision,
    group,
    per_interaction,
    treatment,
)
from tierline_server.policy.domain import Decision
from tierline_server.report import figures
from tierline_server.report.figures import TOP_SHARE, Breakdown
from tierline_server.report.treatment import Group, Treatment

AT_LEAST_THE_BASELINE = (
    decision("standard", "general", WELCOME),
    decision("standard", "billing", WELCOME, FREE_SHIPPING, priority=35),
    decision("priority", "onboarding", WELCOME, GUIDE, priority=25),
    decision("premium", "vip", WELCOME, CREDIT, priority=70),
    decision("concierge", "concierge", WELCOME, CREDIT, GUIDE, priority=90),
)

groups = st.builds(
    lambda tier, new, support, purchase, values: group(
        tier,
        per_interaction(support, purchase),
        *values,
        cohorts=("new",) if new else (),
    ),
    st.sampled_from(["basic", "silver", "gold"]),
    st.booleans(),
    st.sampled_from(AT_LEAST_THE_BASELINE),
    st.sampled_from(AT_LEAST_THE_BASELINE),
    st.lists(st.floats(0, 1e6), min_size=1, max_size=6),
)
populations = st.lists(groups, min_size=1, max_size=6).map(lambda gs: treatment(*gs))


def assert_rows_add_up(table: Breakdown) -> None:
    for values in table.values:
        assert sum(values) == pytest.approx(1.0)


@settings(max_examples=60, deadline=None)
@given(populations)
def test_shares_add_up_and_the_guarantees_hold(population: Treatment) -> None:
    every = figures.figures(population)
    for table in (
        every.levels_by_tier,
        every.levels_by_channel,
        every.queues_by_tier,
        every.levels_by_cohort,
        every.floor.only_baseline,
        every.parity.by_tier,
    ):
        assert_rows_add_up(table)
    assert sum(every.levels_by_tier.totals) == population.decisions
    assert every.parity.violations == 0
    assert every.parity.comparisons == population.customers * 2
    assert every.floor.violations == 0
    assert every.floor.decisions == population.decisions


@settings(max_examples=60, deadline=None)
@given(populations)
def test_the_concentration_curve_runs_above_equal_shares(population: Treatment) -> None:
    """Customers come richest first, so every head of them holds at least its share of value."""
    curve = figures.concentration(population)
    assert curve.customer_share[0] == 0.0
    assert curve.customer_share[-1] == 1.0
    value = curve.value_share
    assert list(value) == sorted(value)
    total = sum(sum(g.values) for g in population.groups)
    if total > 0:
        assert value[-1] == pytest.approx(1.0)
        for customers, held in zip(curve.customer_share, value, strict=True):
            assert held >= customers - 1e-9
        assert curve.top_value >= TOP_SHARE - 1e-9
    assert list(curve.premium_share) == sorted(curve.premium_share)
    assert sum(curve.by_tier.values[i][0] for i in range(len(curve.by_tier.rows))) == (
        pytest.approx(1.0)
    )


def channel_dependent(group_: Group) -> Group:
    """The group with its support decision changed on the second channel only."""
    support, _, purchase, _ = group_.decisions
    other: Decision = next(
        d for d in AT_LEAST_THE_BASELINE if d.service_level != support.service_level
    )
    return Group(
        group_.tier,
        group_.cohorts,
        (support, other, purchase, purchase),
        group_.values,
        group_.examples,
    )


@settings(max_examples=40, deadline=None)
@given(st.lists(groups, min_size=1, max_size=4), st.data())
def test_a_channel_dependent_level_is_always_a_violation(
    some: list[Group], data: st.DataObject
) -> None:
    broken = data.draw(st.integers(0, len(some) - 1))
    some[broken] = channel_dependent(some[broken])
    parity = figures.parity(treatment(*some))
    assert parity.violations == some[broken].customers
    assert parity.examples[0].customers == some[broken].customers
