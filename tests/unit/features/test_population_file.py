"""A population file read as each of two policies would store it."""

from __future__ import annotations

from pathlib import Path

from tierline_server.features.population import Population
from tierline_server.policy.compiled import Policy
from tierline_server.policy.compiler import compile_policy_text

POLICY = """\
policy: p
version: "{version}"
features:
  tier: {{type: enum, values: [basic, gold], default: basic}}
  spend: {{type: number, default: 0}}
{extra}
service_levels: [standard]
baseline:
  service_level: standard
  sla: {{max_wait_seconds: 600, first_response_seconds: 3600, callback_offered: false, \
human_agent_guaranteed: true}}
  routing: {{queue: general, priority: 10}}
segments:
  - {{tier: gold, when: {{spend: {{gte: {threshold}}}}}}}
  - {{tier: basic}}
"""


def policy(threshold: int, *, extra: str = "", version: str = "1") -> Policy:
    return compile_policy_text(POLICY.format(threshold=threshold, extra=extra, version=version))


def test_each_policy_segments_the_customers_with_its_own_segments(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("customer_id,spend\nc1,150\nc2,50\nc3,250\n")
    population = Population(path, [policy(100), policy(200)])

    customers = {customer.customer_id: customer.features for customer in population}

    assert customers == {
        "c1": ({"spend": 150.0, "tier": "gold"}, {"spend": 150.0, "tier": "basic"}),
        "c2": ({"spend": 50.0, "tier": "basic"}, {"spend": 50.0, "tier": "basic"}),
        "c3": ({"spend": 250.0, "tier": "gold"}, {"spend": 250.0, "tier": "gold"}),
    }
    assert (population.read, population.rejected, population.fraction) == (3, 0, 1.0)


def test_a_feature_only_the_candidate_declares_reaches_only_the_candidate(tmp_path: Path) -> None:
    path = tmp_path / "customers.jsonl"
    path.write_text('{"customer_id": "c1", "spend": 10, "vip": true}\n')
    candidate = policy(100, extra="  vip: {type: bool, default: false}", version="2")

    [customer] = Population(path, [policy(100), candidate])

    assert customer.features == (
        {"spend": 10.0, "tier": "basic"},
        {"spend": 10.0, "vip": True, "tier": "basic"},
    )


def test_rows_a_policy_rejects_are_left_out_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("customer_id,spend\nc1,lots\nc2,5\nbad id,1\n")
    population = Population(path, [policy(100), policy(200)])

    assert [customer.customer_id for customer in population] == ["c2"]
    assert (population.read, population.rejected) == (3, 2)
    assert population.rejections[0].startswith("line 2: spend:")
