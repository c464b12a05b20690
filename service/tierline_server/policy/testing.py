"""Policy test cases (``rules/tests/*.yaml``): given features and context, expect a decision."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from tierline_server.policy import source, validation
from tierline_server.policy.decider import Decider
from tierline_server.policy.domain import Decision
from tierline_server.policy.errors import Location, PolicyError, PolicyInvalid
from tierline_server.policy.inputs import ContextSpec, typed_features


class Expectation(BaseModel):
    """What a case expects; every field is optional and only given fields are checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tier: str | None = None
    service_level: str | None = None
    perks: list[str] = []
    no_perks: list[str] = []
    queue: str | None = None
    priority: int | None = None
    max_wait_seconds: int | None = None
    matched_rules: list[str] | None = None


class Case(BaseModel):
    """One policy test case. No ``features`` means the customer is unknown."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    features: dict[str, Any] = {}
    degraded: bool = False
    context: ContextSpec
    expect: Expectation


@dataclass(frozen=True)
class CaseFile:
    """A file of cases: those that could be read, and what was wrong with the others.

    Each item of ``problems`` is one case that could not be read (with every error in it), or
    the whole file when it is not a YAML mapping of ``cases``; each counts as a failed case.
    """

    cases: tuple[Case, ...]
    problems: tuple[PolicyInvalid, ...] = ()


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one case: failures empty when it passed."""

    file: str
    name: str
    failures: tuple[str, ...]
    matched_rules: tuple[str, ...]

    @property
    def passed(self) -> bool:
        """Whether every expectation held."""
        return not self.failures


def case_files(policy_path: Path) -> list[Path]:
    """The case files of a policy: ``tests/*.yaml`` beside it."""
    folder = (policy_path if policy_path.is_dir() else policy_path.parent) / "tests"
    return sorted(p for p in folder.glob("*.y*ml") if p.is_file())


def load_cases(path: Path) -> CaseFile:
    """Read a case file; each problem is a PolicyError ``file:line: case <name>: reason``."""
    name = str(path)
    try:
        document = source.load_yaml(source.decode(source.read_file(path), name), name)
    except PolicyError as error:
        return CaseFile((), (PolicyInvalid([error]),))
    raw_cases = document.get("cases") if isinstance(document, source.LocatedDict) else None
    if not isinstance(raw_cases, list) or len(document) != 1:
        where = getattr(document, "location", Location(name, 1))
        shape = PolicyError(where, "cases", "a test file is a mapping with one key: cases (a list)")
        return CaseFile((), (PolicyInvalid([shape]),))
    cases, problems = [], []
    for index, raw in enumerate(raw_cases, start=1):
        label = raw.get("name") if isinstance(raw, dict) else None
        element = f"case {label}" if isinstance(label, str) else f"case #{index}"
        try:
            cases.append(validation.validate(Case, raw, element, document.location))
        except PolicyInvalid as invalid:
            problems.append(invalid)
    return CaseFile(tuple(cases), tuple(problems))


def run_case(decider: Decider, case: Case, file: str = "") -> CaseResult:
    """Decide a case and compare the decision with its expectation."""
    try:
        features = typed_features(decider.policy, case.features)
    except ValueError as error:
        return CaseResult(file, case.name, (f"features: {error}",), ())
    decision = decider.decide(features, case.context.to_context(), degraded=case.degraded)
    return CaseResult(
        file, case.name, tuple(_failures(case.expect, decision)), decision.matched_rules
    )


def _failures(expect: Expectation, decision: Decision) -> Iterable[str]:
    actual = {
        "tier": decision.tier,
        "service_level": decision.service_level.name,
        "queue": decision.routing.queue,
        "priority": decision.routing.priority,
        "max_wait_seconds": decision.service_level.sla.max_wait_seconds,
    }
    for key, got in actual.items():
        wanted = getattr(expect, key)
        if wanted is not None and wanted != got:
            yield f"{key}: expected {wanted!r}, got {got!r}"
    codes = {perk.code for perk in decision.perks}
    for code in expect.perks:
        if code not in codes:
            yield f"perk {code!r} expected, not granted (granted: {sorted(codes)})"
    for code in expect.no_perks:
        if code in codes:
            yield f"perk {code!r} granted, expected absent"
    if expect.matched_rules is not None and set(expect.matched_rules) != set(
        decision.matched_rules
    ):
        yield (
            f"matched_rules: expected {sorted(expect.matched_rules)}, "
            f"got {sorted(decision.matched_rules)}"
        )


def uncovered_rules(decider: Decider, results: Iterable[CaseResult]) -> list[str]:
    """Rules of the policy that no case matched, in policy order."""
    exercised = {rule for result in results for rule in result.matched_rules}
    return [rule.id for rule in decider.policy.rules if rule.id not in exercised]
