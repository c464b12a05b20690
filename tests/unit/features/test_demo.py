"""The synthetic population: deterministic, loadable, and shaped like a real customer base."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pytest
from tierline_server.features import demo
from tierline_server.features.loader import Record, RowChecker
from tierline_server.policy.compiled import Policy

COUNT = 20_000


def population(count: int = COUNT, seed: int = 7) -> list[dict[str, str]]:
    out = io.StringIO()
    demo.write_demo(out, count, seed)
    out.seek(0)
    return list(csv.DictReader(out))


@pytest.fixture(scope="module")
def customers() -> list[dict[str, str]]:
    return population()


def test_same_seed_same_file_other_seed_other_file() -> None:
    assert population(500, 3) == population(500, 3)
    assert population(500, 3) != population(500, 4)


def test_ids_and_columns(customers: list[dict[str, str]]) -> None:
    assert tuple(customers[0]) == demo.COLUMNS
    assert [c["customer_id"] for c in customers[:2]] == ["c000001", "c000002"]
    assert len({c["customer_id"] for c in customers}) == COUNT


def test_every_row_loads_with_the_default_policy(
    customers: list[dict[str, str]], default_policy: Policy
) -> None:
    checker = RowChecker(default_policy, keep_tier=False)
    tiers = {checker.check(Record(1, row, b"")).tier for row in customers}
    assert tiers == {"basic", "standard", "growth", "gold", "platinum"}


def test_a_few_customers_bring_most_of_the_value(customers: list[dict[str, str]]) -> None:
    values = sorted((float(c["ltv"]) for c in customers), reverse=True)
    top_tenth = sum(values[: COUNT // 10])
    assert top_tenth > 0.5 * sum(values)


def share(customers: list[dict[str, str]], predicate: Callable[[dict[str, str]], bool]) -> float:
    return sum(1 for c in customers if predicate(c)) / len(customers)


def test_shares_of_new_evangelists_and_chronic_complainers(
    customers: list[dict[str, str]],
) -> None:
    assert share(customers, lambda c: int(c["tenure_days"]) < 90) == pytest.approx(
        demo.NEW_SHARE, abs=0.02
    )
    assert share(customers, lambda c: c["evangelist"] == "true") == pytest.approx(
        demo.EVANGELIST_SHARE, abs=0.01
    )
    assert share(customers, lambda c: int(c["complaints_90d"]) >= 5) == pytest.approx(
        demo.CHRONIC_COMPLAINER_SHARE, abs=0.01
    )
