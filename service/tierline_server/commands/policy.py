"""``tierline policy check | test | eval | diff``: write a policy, check it, try it, and see
what it would change."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.markup import escape

from tierline_server.api import mapping
from tierline_server.commands import policy_diff
from tierline_server.commands.options import add_policy_option
from tierline_server.commands.output import (
    console,
    errors,
    load_policy_or_report,
    print_decision,
    print_decision_json,
)
from tierline_server.policy.decider import Decider
from tierline_server.policy.inputs import context_from_json, typed_features
from tierline_server.policy.testing import (
    CaseResult,
    case_files,
    load_cases,
    run_case,
    uncovered_rules,
)


def register(groups: Any) -> None:
    """Add the ``policy`` group to the CLI."""
    group = groups.add_parser("policy", help="check, test and evaluate an entitlement policy")
    commands = group.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser("check", help="compile a policy and report every error")
    add_policy_option(check)
    check.set_defaults(handler=check_command)

    test = commands.add_parser("test", help="run the policy's test cases (POLICY/tests/*.yaml)")
    add_policy_option(test)
    test.set_defaults(handler=test_command)

    evaluate = commands.add_parser("eval", help="decide one interaction with a policy")
    add_policy_option(evaluate)
    evaluate.add_argument("--features", default="{}", help="customer features as JSON")
    evaluate.add_argument("--context", required=True, help='context as JSON: {"channel": ...}')
    evaluate.add_argument("--degraded", action="store_true", help="as if features were unreadable")
    evaluate.add_argument("--explain", action="store_true", help="show why each rule matched")
    evaluate.add_argument("--json", action="store_true", help="print the decision as JSON")
    evaluate.set_defaults(handler=eval_command)

    policy_diff.register(commands)


def check_command(args: argparse.Namespace) -> int:
    """Exit 0 when the policy compiles (into the engine too), 1 with every error otherwise."""
    policy = load_policy_or_report(Path(args.policy))
    if policy is None:
        return 1
    Decider(policy)
    console.print(
        f"[green]ok[/green] {policy.name} {policy.version}: {len(policy.rules)} rules, "
        f"{len(policy.segments)} segments, checksum {policy.checksum[:12]}"
    )
    return 0


def test_command(args: argparse.Namespace) -> int:
    """Run every case file; exit 1 when a case fails or a file is malformed."""
    policy = load_policy_or_report(Path(args.policy))
    if policy is None:
        return 1
    decider = Decider(policy)
    results: list[CaseResult] = []
    unreadable = 0
    for file in case_files(Path(args.policy)):
        loaded = load_cases(file)
        for problem in loaded.problems:
            for error in problem.errors:
                errors.print(escape(str(error)))
        unreadable += len(loaded.problems)
        for case in loaded.cases:
            result = run_case(decider, case, str(file))
            results.append(result)
            mark = "[green]PASS[/green]" if result.passed else "[red]FAIL[/red]"
            console.print(f"{mark} {file.name}: {case.name}")
            for failure in result.failures:
                console.print(f"       {failure}")
    passed = sum(result.passed for result in results)
    failed = len(results) - passed + unreadable  # a case that cannot be read fails
    uncovered = uncovered_rules(decider, results)
    covered = len(policy.rules) - len(uncovered)
    console.print(
        f"coverage: {covered}/{len(policy.rules)} rules exercised"
        + (f"; not exercised: {', '.join(uncovered)}" if uncovered else "")
    )
    console.print(f"{passed} passed, {failed} failed")
    if not results and not unreadable:
        errors.print(f"[red]no test cases[/red] under {Path(args.policy)}/tests")
        return 1
    return 1 if failed else 0


def eval_command(args: argparse.Namespace) -> int:
    """Decide one interaction and print it as a table or JSON."""
    policy = load_policy_or_report(Path(args.policy))
    if policy is None:
        return 1
    try:
        features = typed_features(policy, json.loads(args.features))
        context = context_from_json(args.context)
    except ValueError as error:
        errors.print(f"[red]invalid input:[/red] {escape(str(error))}")
        return 2
    decision = Decider(policy).decide(
        features, context, degraded=args.degraded, explain=args.explain
    )
    message = mapping.decision_message(decision)
    if args.json:
        print_decision_json(message)
    else:
        print_decision(message)
    return 0
