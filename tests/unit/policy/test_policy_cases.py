"""The default policy's own cases (rules/tests/*.yaml), one pytest test per case."""

from __future__ import annotations

import pytest
from policy_support import DEFAULT_POLICY, default_decider
from tierline_server.policy.testing import Case, case_files, load_cases, run_case, uncovered_rules

FILES = {path: load_cases(path) for path in case_files(DEFAULT_POLICY)}
LOADED = [(path, case) for path, loaded in FILES.items() for case in loaded.cases]
CASES = [pytest.param(case, id=f"{path.stem}: {case.name}") for path, case in LOADED]


def test_there_are_cases_for_every_theme() -> None:
    """At least 30 cases, in several files."""
    assert len(CASES) >= 30
    assert len(case_files(DEFAULT_POLICY)) >= 4


def test_every_case_file_reads_cleanly() -> None:
    """No case of the default policy is malformed (a malformed one would not run)."""
    problems = [
        str(error) for loaded in FILES.values() for p in loaded.problems for error in p.errors
    ]
    assert problems == []


@pytest.mark.parametrize("case", CASES)
def test_case(case: Case) -> None:
    """The decision meets every expectation of the case."""
    assert run_case(default_decider(), case).failures == ()


def test_cases_exercise_every_rule() -> None:
    """Every rule of the default policy matches in at least one case."""
    decider = default_decider()
    results = [run_case(decider, case) for _, case in LOADED]
    assert uncovered_rules(decider, results) == []
