"""``tierline policy diff``: a free-shipping threshold raised from 50.00 to 75.00, replayed on a
population and on the decision log, gives exactly the movers a direct evaluation finds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from log_support import decisions, write_log
from support.paths import DEFAULT_POLICY_DIR
from support.policies import raised_threshold
from tierline_server.cli import main
from tierline_server.features import demo
from tierline_server.features.loader import InputFormat, RowChecker, read_records
from tierline_server.policy.compiled import Policy
from tierline_server.policy.compiler import load_policy
from tierline_server.policy.decider import Decider
from tierline_server.policy.diff import Entitlement
from tierline_server.policy.domain import Context, Decision
from tierline_server.policy.inputs import load_contexts

pytestmark = pytest.mark.integration

CONTEXTS = """\
contexts:
  - {name: phone cancel, channel: phone, intent: cancel}
  - {name: web 40 EUR, channel: web, intent: purchase, order_value: 40.00, currency: EUR}
  - {name: web 60 EUR, channel: web, intent: purchase, order_value: 60.00, currency: EUR}
  - {name: app 90 EUR, channel: mobile_app, intent: purchase, order_value: 90.00, currency: EUR}
  - {name: chat 74.99 EUR, channel: chat, intent: purchase, order_value: 74.99, currency: EUR}
"""
CUSTOMERS = 1500


@pytest.fixture
def candidate(tmp_path: Path) -> Path:
    """The default policy with free shipping from 75.00."""
    return raised_threshold(tmp_path)


def diff(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    status = main(["policy", "diff", *args, "--json"])
    return status, json.loads(capsys.readouterr().out)


Input = tuple[str, Context, dict[str, Any], dict[str, Any]]
"""Who, in which context, with the features under the current and the candidate policy."""


def movers(inputs: list[Input], candidate: Path) -> tuple[list[Input], int]:
    """By direct evaluation (no memo): the inputs that lose free shipping, and how many of them
    are left with only the baseline."""
    current, changed = Decider(load_policy(DEFAULT_POLICY_DIR)), Decider(load_policy(candidate))
    lost: list[Input] = []
    to_baseline = 0
    for item in inputs:
        _, context, before, after = item
        old, new = current.decide(before, context), changed.decide(after, context)
        if old.has_perk("free-shipping") and not new.has_perk("free-shipping"):
            lost.append(item)
            to_baseline += at_baseline(changed, new) and not at_baseline(current, old)
        else:
            assert Entitlement.of(old) == Entitlement.of(new)  # nothing else may move
    return lost, to_baseline


def at_baseline(decider: Decider, decision: Decision) -> bool:
    return Entitlement.of(decision) == Entitlement.of(decider.baseline)


def segmented(path: Path, policy: Policy) -> dict[str, dict[str, Any]]:
    """Each customer's typed features as `features load` would store them under ``policy``."""
    checker = RowChecker(policy, keep_tier=False)
    with path.open("rb") as stream:
        rows = [
            checker.check(record)
            for record in read_records(stream, InputFormat.CSV, ("customer_id", *policy.features))
        ]
    return {row.customer_id: row.values for row in rows}


def test_on_a_population_the_movers_are_exactly_those_found_directly(
    tmp_path: Path, candidate: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    population, contexts = tmp_path / "customers.csv", tmp_path / "contexts.yaml"
    with population.open("w") as out:
        demo.write_demo(out, CUSTOMERS, seed=3)
    contexts.write_text(CONTEXTS)
    before = segmented(population, load_policy(DEFAULT_POLICY_DIR))
    after = segmented(population, load_policy(candidate))
    inputs = [
        (customer, context, before[customer], after[customer])
        for customer in before
        for _, context in load_contexts(contexts)
    ]
    lost, to_baseline = movers(inputs, candidate)

    status, report = diff(
        capsys, str(candidate), "--population", str(population), "--contexts", str(contexts),
        "--fail-on", "level-down,perk-lost", "--examples", "5",
    )  # fmt: skip

    assert status == 1  # perk-lost appeared
    assert report["decisions"] == CUSTOMERS * 5
    assert report["changed"] == len(lost) > 0
    assert report["perks"] == [
        {"code": "free-shipping", "granted": 0, "lost": len(lost), "revalued": 0}
    ]
    assert {k: v for k, v in report["kinds"].items() if v} == {
        "perk-lost": len(lost),
        **({"to-baseline": to_baseline} if to_baseline else {}),
    }
    assert report["levels"] == report["routing"] == []
    examples = report["examples"]["perk-lost"]
    assert len(examples) == 5
    assert {example["customer"] for example in examples} <= {label for label, *_ in lost}
    assert all(
        "free-shipping: order_value >= (50.00 EUR," in " ".join(e["current"]["why"])
        for e in examples
    )
    assert {example["context"]["order_value"] for example in examples} <= {6000, 7499}


def test_a_change_the_gate_does_not_name_passes(
    tmp_path: Path, candidate: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    population, contexts = tmp_path / "customers.csv", tmp_path / "contexts.yaml"
    with population.open("w") as out:
        demo.write_demo(out, 200, seed=3)
    contexts.write_text(CONTEXTS)

    status, report = diff(
        capsys, str(candidate), "--population", str(population), "--contexts", str(contexts),
        "--fail-on", "level-down,routing-moved",
    )  # fmt: skip

    assert status == 0
    assert report["kinds"]["perk-lost"] > 0


def test_on_the_log_the_movers_are_exactly_those_found_directly(
    redis_url: str, candidate: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    made = list(decisions(64))
    write_log(redis_url, made)
    inputs = [
        (outcome.decision_id, request.context, dict(outcome.features), dict(outcome.features))
        for request, outcome in made
    ]
    lost, _ = movers(inputs, candidate)

    status, report = diff(
        capsys, str(candidate), "--from-log", "--since", "1h", "--redis-url", redis_url
    )

    assert status == 0
    assert report["decisions"] == len(made)
    assert report["logged"] == len(made)
    assert report["logged_differ"] == 0  # the log was written by the current policy
    assert report["kinds"]["perk-lost"] == len(lost) > 0
    assert report["changed"] == len(lost)
    customers = {outcome.decision_id: outcome.customer_id for _, outcome in made}
    assert {e["customer"] for e in report["examples"]["perk-lost"]} <= {
        customers[decision_id] for decision_id, *_ in lost
    }


def test_the_log_replayed_by_another_policy_than_wrote_it_is_noticed(
    redis_url: str, candidate: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_log(redis_url, decisions(16))

    status, report = diff(
        capsys, str(DEFAULT_POLICY_DIR), "--current", str(candidate), "--from-log",
        "--redis-url", redis_url,
    )  # fmt: skip

    assert status == 0
    assert report["logged_differ"] == report["kinds"]["perk-granted"] > 0


def test_misused_options_are_explained(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["policy", "diff", "rules", "--population", str(tmp_path / "x.csv")]) == 2
    assert "--population needs --contexts" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["policy", "diff", "rules", "--from-log", "--fail-on", "level-dwn"])
    assert "each kind must be one of" in capsys.readouterr().err
