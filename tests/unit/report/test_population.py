"""Reading a population: grouping customers decides each distinct input once, and changes no
decision."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from support.customers import write_population
from support.paths import DEFAULT_POLICY_DIR
from tierline_server.features import loader
from tierline_server.policy.compiled import Policy
from tierline_server.policy.compiler import load_policy
from tierline_server.policy.decider import Decider
from tierline_server.policy.domain import Decision
from tierline_server.report.mix import load_mix
from tierline_server.report.population import treat

EDGES = [
    # Each side of every threshold the default rules read, and a customer with no features.
    {"customer_id": "edge-new", "ltv": "50", "tenure_days": "89"},
    {"customer_id": "edge-known", "ltv": "50", "tenure_days": "90"},
    {"customer_id": "edge-4-complaints", "ltv": "300", "tenure_days": "400", "complaints_90d": "4"},
    {"customer_id": "edge-5-complaints", "ltv": "300", "tenure_days": "400", "complaints_90d": "5"},
    {"customer_id": "edge-11-orders", "ltv": "1500", "tenure_days": "400", "orders_12m": "11"},
    {"customer_id": "edge-12-orders", "ltv": "1500", "tenure_days": "400", "orders_12m": "12"},
    {"customer_id": "edge-evangelist", "ltv": "20000", "tenure_days": "9", "evangelist": "true"},
    {"customer_id": "edge-nothing"},
]


@pytest.fixture(scope="module")
def default_policy() -> Policy:
    return load_policy(DEFAULT_POLICY_DIR)


def test_grouped_decisions_are_each_customers_own(tmp_path: Path, default_policy: Policy) -> None:
    """Deciding every customer in every context directly gives, customer for customer, the
    decisions the groups carry (counted as tier + decisions per customer)."""
    path = write_population(tmp_path / "people.csv", 150, 11, EDGES)
    mix = load_mix()
    (treatment,), timing = treat(path, [default_policy], mix)
    grouped: Counter[tuple[str, tuple[Decision, ...]]] = Counter()
    for group in treatment.groups:
        grouped[(group.tier, group.decisions)] += group.customers
    decider = Decider(default_policy)
    checker = loader.RowChecker(default_policy, keep_tier=False)
    direct: Counter[tuple[str, tuple[Decision, ...]]] = Counter()
    with path.open("rb") as stream:
        for record in loader.read_records(
            stream, loader.InputFormat.CSV, ["customer_id", *default_policy.features]
        ):
            row = checker.check(record)
            decisions = tuple(decider.decide(row.values, context) for context in mix.contexts)
            direct[(row.tier, decisions)] += 1
    assert grouped == direct
    assert treatment.customers == timing.rows == 150 + len(EDGES)
    assert timing.engine_calls == len(treatment.groups) * len(mix.contexts)
    assert len(treatment.groups) < 60  # a few dozen inputs stand for all the customers


def test_cohorts_values_and_examples_are_kept_per_group(
    tmp_path: Path, default_policy: Policy
) -> None:
    path = write_population(tmp_path / "edges.csv", 0, 11, EDGES)
    (treatment,), _ = treat(path, [default_policy], load_mix())
    by_example = {example: group for group in treatment.groups for example in group.examples}
    assert by_example["edge-new"].cohorts == {"new customers"}
    assert by_example["edge-known"].cohorts == frozenset()
    assert by_example["edge-5-complaints"].cohorts == {"frequent complainers"}
    assert by_example["edge-evangelist"].tier == "platinum"
    assert by_example["edge-evangelist"].values == (20000.0,)
    # No features: segmented basic, new (tenure 0 by default), so treated as edge-new is.
    assert by_example["edge-nothing"] is by_example["edge-new"]
    assert by_example["edge-new"].values == (50.0, 0.0)


def test_each_policy_segments_and_rejects_on_its_own(
    tmp_path: Path, default_policy: Policy
) -> None:
    rows = [
        {"customer_id": "c1", "ltv": "10", "tenure_days": "400"},
        {"customer_id": "c2", "ltv": "lots", "tenure_days": "400"},
        {"customer_id": "bad id!", "ltv": "10"},
    ]
    path = write_population(tmp_path / "mixed.csv", 0, 11, rows)
    (first, second), timing = treat(path, [default_policy, default_policy], load_mix())
    assert timing.rows == 3
    for treatment in (first, second):
        assert treatment.customers == 1
        assert treatment.rejected == 2
        assert treatment.rejects[0] == "line 3: ltv: 'lots' is not a valid number"
        assert treatment.rejects[1].startswith("line 4: customer_id: 'bad id!' is not")
    assert timing.groups == 2


def test_keep_tier_keeps_the_rows_own_tier(tmp_path: Path, default_policy: Policy) -> None:
    path = tmp_path / "tiers.jsonl"
    path.write_text('{"customer_id": "c1", "tier": "gold", "ltv": 10, "tenure_days": 400}\n')
    (segmented,), _ = treat(path, [default_policy], load_mix())
    (kept,), _ = treat(path, [default_policy], load_mix(), keep_tier=True)
    assert [group.tier for group in segmented.groups] == ["basic"]
    assert [group.tier for group in kept.groups] == ["gold"]
    assert {d.service_level.name for d in kept.groups[0].decisions} == {"premium"}


def test_progress_is_reported_while_reading(
    tmp_path: Path, default_policy: Policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tierline_server.report import population

    monkeypatch.setattr(population, "PROGRESS_EVERY", 1000)
    path = write_population(tmp_path / "people.csv", 2500, 11)
    seen: list[tuple[int, float]] = []
    treat(path, [default_policy], load_mix(), progress=lambda rows, part: seen.append((rows, part)))
    assert [rows for rows, _ in seen] == [1000, 2000]
    assert 0 < seen[0][1] < seen[1][1] <= 1
