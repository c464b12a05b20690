"""Each fairness figure on the small population of report_support, worked out by hand."""

from __future__ import annotations

import pytest
from report_support import (
    WELCOME,
    decision,
    group,
    per_interaction,
    small_population,
    treatment,
)
from tierline_server.report import figures
from tierline_server.report.figures import Breakdown


def rows(table: Breakdown) -> dict[tuple[str, ...], dict[str, float]]:
    """A breakdown as row -> column -> value, the columns that are 0 left out."""
    return {
        row: {column: value for column, value in zip(table.columns, values, strict=True) if value}
        for row, values in zip(table.rows, table.values, strict=True)
    }


def test_service_levels_by_tier() -> None:
    """basic: 4 of 4 decisions standard; silver: support priority, purchase standard; gold: all
    premium. The reading names each tier's most frequent level, the lower one on a tie."""
    table = figures.levels_by_tier(small_population())
    assert table.columns == ("standard", "priority", "premium", "concierge")
    assert rows(table) == {
        ("basic",): {"standard": 1.0},
        ("silver",): {"standard": 0.5, "priority": 0.5},
        ("gold",): {"premium": 1.0},
    }
    assert table.totals == (12, 4, 4)  # customers x 4 contexts
    assert table.reading == (
        "Most frequent level: basic standard (100 %), silver standard (50 %), gold premium (100 %)."
    )


def test_service_levels_by_tier_and_channel() -> None:
    """Each tier's two decisions on a channel (support, purchase) split as on all channels."""
    table = figures.levels_by_channel(small_population())
    assert table.rows == (
        ("basic", "phone"),
        ("basic", "chat"),
        ("silver", "phone"),
        ("silver", "chat"),
        ("gold", "phone"),
        ("gold", "chat"),
    )
    assert rows(table)[("silver", "chat")] == {"standard": 0.5, "priority": 0.5}
    assert table.totals == (6, 6, 2, 2, 2, 2)
    assert table.reading == "Every tier gets the same service levels on all 2 channels."


def test_perks_by_tier() -> None:
    """welcome in all 20 decisions; guide and free-shipping in silver's 2 of 4; credit in gold's
    2 of 4. welcome is the most frequent (100 %); silver and gold get 3 and 2 kinds, basic 1."""
    table = figures.perks_by_tier(small_population())
    assert table.columns[0] == "welcome"
    assert rows(table) == {
        ("basic",): {"welcome": 1.0},
        ("silver",): {"welcome": 1.0, "guide": 0.5, "free-shipping": 0.5},
        ("gold",): {"welcome": 1.0, "credit": 0.5},
    }
    assert table.reading == (
        "welcome is the most frequent perk (100 % of decisions); silver gets 3 kinds of perk, "
        "basic 1."
    )


def test_fixed_value_of_perks_by_tier() -> None:
    """Per decision: welcome 100 cents for everyone; gold's credit 500 in 2 of 4 = 250."""
    table = figures.perk_value_by_tier(small_population())
    assert rows(table) == {
        ("basic",): {"welcome": 100.0},
        ("silver",): {"welcome": 100.0},
        ("gold",): {"welcome": 100.0, "credit": 250.0},
    }
    assert table.unit == "minor units of EUR per decision"
    assert table.reading == (
        "Fixed-value perks are worth 1.00 EUR per interaction to basic and 3.50 EUR to gold."
    )


def test_queues_by_tier() -> None:
    """general: basic's 12 and silver's 2 purchases = 14 of 20 decisions; gold all in vip."""
    table = figures.queues_by_tier(small_population())
    assert table.columns[0] == "general"
    assert rows(table) == {
        ("basic",): {"general": 1.0},
        ("silver",): {"general": 0.5, "onboarding": 0.5},
        ("gold",): {"vip": 1.0},
    }
    assert table.reading == (
        "general takes 70 % of all decisions; gold goes to vip in 100 % of its decisions."
    )


def test_parity_holds_when_every_channel_gets_the_same() -> None:
    """5 customers x 2 interactions = 10 comparisons, none differing."""
    parity = figures.parity(small_population())
    assert (parity.customers, parity.comparisons, parity.violations) == (5, 10, 0)
    assert parity.guaranteed
    assert parity.examples == ()
    assert rows(parity.by_tier) == {
        ("basic",): {"same on every channel": 1.0},
        ("silver",): {"same on every channel": 1.0},
        ("gold",): {"same on every channel": 1.0},
    }
    assert parity.reading == (
        "0 violations: service level, SLA and perks are the same on all 2 channels for all 5 "
        "customers (10 comparisons)."
    )


def test_parity_names_customers_treated_differently_on_a_channel() -> None:
    """Two silver customers get priority on the phone but standard in chat for support; a
    routing difference (gold's queue by channel) is not a violation."""
    base = decision("standard", "general", WELCOME)
    by_phone = decision("priority", "general", WELCOME)
    gold = decision("premium", "vip", WELCOME)
    gold_chat = decision("premium", "chat-desk", WELCOME, priority=30)
    population = treatment(
        group("basic", per_interaction(base, base), 1, 2, 3),
        group("silver", (by_phone, base, base, base), 4, 5),
        group("gold", (gold, gold_chat, gold, gold_chat), 6),
    )
    parity = figures.parity(population)
    assert parity.violations == 2
    assert rows(parity.by_tier)[("silver",)] == {"differs by channel": 1.0}
    assert rows(parity.by_tier)[("gold",)] == {"same on every channel": 1.0}
    (example,) = parity.examples
    assert (example.tier, example.customers) == ("silver", 2)
    assert example.customer_ids == ("silver-1", "silver-2")
    assert example.interaction == "support"
    assert example.entitlements == (
        "phone: priority, wait <= 600 s, first response <= 3600 s, perks: welcome",
        "chat: standard, wait <= 600 s, first response <= 3600 s, perks: welcome",
    )
    assert parity.reading == (
        "2 violations: 33 % of customers get a different service level, SLA or perks "
        "depending on the channel."
    )


def test_the_baseline_floor() -> None:
    """Only basic's 12 decisions are the baseline alone (silver's purchase adds free-shipping):
    12 of 20 = 60 %; none is below it."""
    floor = figures.floor(small_population())
    assert rows(floor.only_baseline) == {
        ("basic",): {"baseline only": 1.0},
        ("silver",): {"more than the baseline": 1.0},
        ("gold",): {"more than the baseline": 1.0},
    }
    assert floor.decisions == 20
    assert floor.violations == 0
    assert set(floor.below.values()) == {0}
    assert floor.reading == (
        "60 % of decisions give only the baseline; none of 20 decisions falls below it."
    )


def test_decisions_below_the_baseline_are_counted_per_aspect() -> None:
    """Three customers whose purchase decisions (2 each) lose the welcome perk and route below
    the baseline's priority: 6 decisions short in each of those two aspects."""
    base = decision("standard", "general", WELCOME)
    short = decision("standard", "general", priority=5)
    floor = figures.floor(treatment(group("basic", per_interaction(base, short), 1, 2, 3)))
    assert floor.below == {
        "service level": 0,
        "maximum wait": 0,
        "first response": 0,
        "callback": 0,
        "human agent": 0,
        "baseline perks": 6,
        "routing priority": 6,
    }
    assert floor.violations == 12
    assert floor.reading.endswith(
        "decisions fall below it in baseline perks (6), routing priority (6)."
    )


def test_value_concentration() -> None:
    """ltv ranked: 870 (gold, 4 premium decisions), 100, 30, 20, 10; total 1030. The top 20 %
    (one customer) hold 870/1030 and receive all 4 premium decisions."""
    concentration = figures.concentration(small_population())
    assert concentration.customer_share == (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    assert concentration.value_share == pytest.approx(
        (0, 870 / 1030, 970 / 1030, 1000 / 1030, 1020 / 1030, 1.0)
    )
    assert concentration.premium_share == (0.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    assert concentration.premium_decisions == 4
    assert concentration.top_value == pytest.approx(870 / 1030)
    assert concentration.top_premium == 1.0
    assert concentration.reading == (
        "The top 20 % of customers by ltv hold 84 % of it and receive 100 % of premium decisions."
    )
    by_tier = concentration.by_tier
    assert by_tier.columns == ("customers", "ltv", "premium decisions")
    expected = [(0.6, 60 / 1030, 0.0), (0.2, 100 / 1030, 0.0), (0.2, 870 / 1030, 1.0)]
    for values, row in zip(by_tier.values, expected, strict=True):
        assert values == pytest.approx(row)
    assert by_tier.reading == "gold: 20 % of customers, 100 % of premium decisions."


def test_cohorts_against_all_customers() -> None:
    """new (silver): 2 of 4 decisions at priority, above the baseline; all customers: silver's
    2 priority and gold's 4 premium = 6 of 20. Its largest perk gap, guide (50 % vs 2 of 20),
    ties with free-shipping's: the reading names the one first in the columns."""
    population = small_population()
    levels = figures.levels_by_cohort(population)
    assert rows(levels) == {
        ("new",): {"standard": 0.5, "priority": 0.5},
        ("all customers",): {"standard": 0.7, "priority": 0.1, "premium": 0.2},
    }
    assert levels.reading == (
        "new: 50 % of decisions above the baseline level (all customers: 30 %)."
    )
    perks = figures.perks_by_cohort(population)
    assert rows(perks) == {
        ("new",): {"welcome": 1.0, "guide": 0.5, "free-shipping": 0.5},
        ("all customers",): {"welcome": 1.0, "guide": 0.1, "free-shipping": 0.1, "credit": 0.1},
    }
    assert perks.reading == "new: guide in 50 % of decisions, against 10 % for all customers."


def test_figures_gathers_every_figure() -> None:
    population = small_population()
    every = figures.figures(population)
    assert every.parity == figures.parity(population)
    assert every.perks_by_cohort == figures.perks_by_cohort(population)


@pytest.mark.parametrize(
    ("share", "text"),
    [
        (0.0, "0 %"),
        (0.0004, "< 0.1 %"),
        (0.004, "0.4 %"),
        (0.414, "41 %"),
        (0.995, "99.5 %"),
        (0.9996, "> 99.9 %"),
        (1.0, "100 %"),
    ],
)
def test_percent_never_rounds_to_none_or_all(share: float, text: str) -> None:
    assert figures.percent(share) == text
