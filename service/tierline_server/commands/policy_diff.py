"""``tierline policy diff``: what a candidate policy would change, replayed on real inputs.

Both policies decide the same inputs: the decision log (the features and context each logged
decision was made with), or a customer file as ``features load`` reads it crossed with a mix of
contexts (every customer in every context; each policy segments the customers with its own
segments). The report counts the decisions that change and how, with examples and why.

Exit status: 0 done; 1 done, and a change named by ``--fail-on`` appeared; 2 bad input, a policy
that does not compile, or Redis unreachable.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.exceptions import RedisClusterException, RedisError
from rich.markup import escape
from rich.table import Table

from tierline_server.commands.log_span import add_log_options, counted, read_log
from tierline_server.commands.options import argument, settings_from
from tierline_server.commands.output import (
    Update,
    console,
    errors,
    load_policy_or_report,
    perk_label,
    progress,
    redis_failed,
    routing_text,
)
from tierline_server.config import (
    DEFAULT_POLICY_PATH,
    RedisSettings,
    non_negative_int,
)
from tierline_server.features.loader import LoadError
from tierline_server.features.population import Population
from tierline_server.policy.compiled import Policy
from tierline_server.policy.decider import Decider
from tierline_server.policy.diff import (
    DEFAULT_EXAMPLES,
    DiffReport,
    Example,
    Kind,
    ReplayInput,
    replay,
)
from tierline_server.policy.domain import Decision, Routing
from tierline_server.policy.inputs import load_contexts, readable_features

POLICY_ENV = "TIERLINE_POLICY"
"""--current defaults to the policy `tierline serve` would serve."""


def register(commands: Any) -> None:
    """Add ``policy diff`` to the ``policy`` group."""
    diff = commands.add_parser(
        "diff", help="what a candidate policy changes, replayed on the log or a population"
    )
    diff.add_argument("candidate", help="the candidate policy (file or directory)")
    diff.add_argument(
        "--current",
        default=os.environ.get(POLICY_ENV, DEFAULT_POLICY_PATH),
        help=f"the policy in use [{POLICY_ENV}, default {DEFAULT_POLICY_PATH}]",
    )
    source = diff.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--from-log", action="store_true", help="replay the decision log (see --since, --until)"
    )
    source.add_argument(
        "--population", type=Path, help="customers, as `features load` reads them (CSV, JSONL)"
    )
    diff.add_argument("--contexts", type=Path, help="with --population: YAML list of contexts")
    diff.add_argument(
        "--examples",
        type=argument(non_negative_int),
        default=DEFAULT_EXAMPLES,
        help="examples shown of each kind",
    )
    diff.add_argument("--json", action="store_true", help="print the report as JSON")
    diff.add_argument(
        "--fail-on",
        type=_kinds,
        default=frozenset(),
        metavar="KINDS",
        help="exit 1 when one of these changes appears, comma-separated: "
        + ", ".join(kind.value for kind in Kind),
    )
    add_log_options(diff)
    diff.set_defaults(handler=diff_command)


def _kinds(text: str) -> frozenset[Kind]:
    try:
        return frozenset(Kind(name.strip()) for name in text.split(",") if name.strip())
    except ValueError:
        allowed = ", ".join(kind.value for kind in Kind)
        raise argparse.ArgumentTypeError(f"{text!r}: each kind must be one of {allowed}") from None


@dataclass(frozen=True)
class Side:
    """One of the two policies: where it came from and its memoised decider."""

    path: str
    policy: Policy
    decider: Decider


def diff_command(args: argparse.Namespace) -> int:
    """Replay, print the report, and fail on the kinds asked for."""
    problem = _misused(args)
    if problem:
        errors.print(f"tierline policy diff: {problem} (see tierline policy diff -h)")
        return 2
    sides = []
    for path in (args.current, args.candidate):
        policy = load_policy_or_report(path)
        if policy is None:
            return 2
        sides.append(Side(path, policy, Decider(policy)))
    current, candidate = sides
    started = time.perf_counter()
    try:
        with progress("replaying") as update:
            if args.population is not None:
                report, source = _replay_population(args, current, candidate, update)
            else:
                report, source = _replay_log(args, current, candidate, update)
    except (RedisError, RedisClusterException) as error:
        return redis_failed(settings_from(RedisSettings, args).url, error)
    except (ValueError, LoadError, OSError) as error:  # contexts, population
        errors.print(f"[red]cannot replay:[/red] {escape(str(error))}")
        return 2
    seconds = time.perf_counter() - started
    if args.json:
        print(json.dumps(report_json(report, current, candidate, source, seconds), indent=2))
    else:
        print_report(report, current, candidate, source, seconds)
    failed = [kind.value for kind in Kind if kind in args.fail_on and report.kinds[kind]]
    if failed:
        errors.print(f"[red]fail:[/red] the candidate makes changes of kind {', '.join(failed)}")
        return 1
    return 0


def _misused(args: argparse.Namespace) -> str:
    if args.population is not None and args.contexts is None:
        return "--population needs --contexts"
    if args.from_log and args.contexts is not None:
        return "--contexts goes with --population, not --from-log"
    if args.population is not None and (args.since is not None or args.until is not None):
        return "--since and --until go with --from-log"
    return ""


def _replay_population(
    args: argparse.Namespace, current: Side, candidate: Side, update: Update
) -> tuple[DiffReport, dict[str, Any]]:
    contexts = load_contexts(args.contexts)
    population = Population(args.population, [current.policy, candidate.policy])
    customers = counted(
        population, lambda count, _: update(population.fraction, f"{count:,} customers")
    )
    inputs = (
        ReplayInput(customer.customer_id, context, customer.features[0], customer.features[1])
        for customer in customers
        for _, context in contexts
    )
    report = replay(inputs, current.decider, candidate.decider, examples=args.examples)
    source = {
        "population": str(args.population),
        "customers": population.read - population.rejected,
        "rejected": population.rejected,
        "first_rejection": population.rejections[0] if population.rejections else "",
        "contexts": [name for name, _ in contexts],
    }
    return report, source


def _replay_log(
    args: argparse.Namespace, current: Side, candidate: Side, update: Update
) -> tuple[DiffReport, dict[str, Any]]:
    with read_log(args, update) as span:
        inputs = (
            ReplayInput(
                entry.record.outcome.customer_id,
                entry.record.context,
                readable_features(current.policy, entry.record.outcome.features),
                readable_features(candidate.policy, entry.record.outcome.features),
                degraded=entry.record.degraded,
                logged=entry.record.decision,
            )
            for entry in span.entries
        )
        report = replay(inputs, current.decider, candidate.decider, examples=args.examples)
    return report, span.describe()


# --- the report ---------------------------------------------------------------------------------


def _why(side: Side, features: Mapping[str, Any], item: ReplayInput) -> list[str]:
    """Why each rule matched, from a decision with explanations (examples only: they are few)."""
    decision = side.decider.decide(features, item.context, degraded=item.degraded, explain=True)
    rules = decision.explanation.rules if decision.explanation is not None else ()
    return [f"{trace.rule_id}: {trace.condition}" for trace in rules]


def _policy_json(side: Side) -> dict[str, str]:
    return {"path": side.path, "name": side.policy.name, "version": side.policy.version}


def _routing_json(routing: Routing) -> dict[str, Any]:
    return {"queue": routing.queue, "priority": routing.priority, "skills": list(routing.skills)}


def _decision_json(decision: Decision, why: list[str]) -> dict[str, Any]:
    return {
        "tier": decision.tier,
        "service_level": decision.service_level.name,
        "sla": dataclasses.asdict(decision.service_level.sla),
        "perks": [perk_label(perk.code, perk.amount, perk.percent) for perk in decision.perks],
        "routing": _routing_json(decision.routing),
        "matched_rules": list(decision.matched_rules),
        "why": why,
    }


def _example_json(example: Example, current: Side, candidate: Side) -> dict[str, Any]:
    item = example.input
    return {
        "customer": item.label,
        "context": dataclasses.asdict(item.context) | {"attributes": dict(item.context.attributes)},
        "degraded": item.degraded,
        "current": _decision_json(example.current, _why(current, item.current_features, item)),
        "candidate": _decision_json(
            example.candidate, _why(candidate, item.candidate_features, item)
        ),
    }


def report_json(
    report: DiffReport, current: Side, candidate: Side, source: dict[str, Any], seconds: float
) -> dict[str, Any]:
    """The report as JSON-ready data (what ``--json`` prints)."""
    levels: dict[tuple[str, str], dict[str, int]] = {}
    for (tier, channel, kind), count in report.levels.items():
        row = levels.setdefault((tier, channel), {"ups": 0, "downs": 0})
        row["ups" if kind is Kind.LEVEL_UP else "downs"] += count
    return {
        "current": _policy_json(current),
        "candidate": _policy_json(candidate),
        "source": source,
        "decisions": report.decisions,
        "changed": report.changed,
        "share_changed": report.share_changed,
        "kinds": {kind.value: report.kinds[kind] for kind in Kind},
        "levels": [
            {"tier": tier, "channel": channel, **counts}
            for (tier, channel), counts in sorted(levels.items())
        ],
        "perks": [
            {"code": code, **counts} for code, counts in sorted(_perk_counts(report).items())
        ],
        "routing": [
            {"from": _routing_json(before), "to": _routing_json(after), "decisions": count}
            for (before, after), count in report.routes.most_common()
        ],
        "to_baseline": report.kinds[Kind.TO_BASELINE],
        "examples": {
            kind.value: [_example_json(e, current, candidate) for e in report.examples[kind]]
            for kind in Kind
            if kind in report.examples
        },
        "logged": report.logged,
        "logged_differ": report.logged_differ,
        "seconds": round(seconds, 3),
        "decisions_per_second": round(2 * report.decisions / seconds) if seconds else 0,
    }


def _perk_counts(report: DiffReport) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for (code, kind), count in report.perks.items():
        row = counts.setdefault(code, {"granted": 0, "lost": 0, "revalued": 0})
        row[PERK_COLUMNS[kind]] += count
    return counts


PERK_COLUMNS = {
    Kind.PERK_GRANTED: "granted",
    Kind.PERK_LOST: "lost",
    Kind.PERK_REVALUED: "revalued",
}


def print_report(
    report: DiffReport, current: Side, candidate: Side, source: dict[str, Any], seconds: float
) -> None:
    """The report as text: summary, then a table per kind of change, then examples."""
    data = report_json(report, current, candidate, source, seconds)
    console.print(
        f"[bold]{escape(current.path)}[/bold] ({escape(current.policy.version)}) -> "
        f"[bold]{escape(candidate.path)}[/bold] ({escape(candidate.policy.version)})"
    )
    console.print(escape(_source_line(source, report)))
    console.print(
        f"replayed {report.decisions:,} inputs with both policies in {seconds:.1f} s "
        f"({data['decisions_per_second']:,} decisions/s)"
    )
    console.print(
        f"[bold]changed: {report.changed:,} of {report.decisions:,} "
        f"({report.share_changed:.2%})[/bold]"
    )
    if report.logged_differ:
        console.print(
            f"[yellow]note:[/yellow] replayed, {escape(current.path)} decides "
            f"{report.logged_differ:,} of {report.logged:,} logged decisions otherwise than the "
            "service did: the log was written by another policy (version)"
        )
    if not report.changed:
        return
    kinds = _table("Changes by kind", ("kind", "decisions"))
    for kind in Kind:
        if report.kinds[kind]:
            kinds.add_row(kind.value, f"{report.kinds[kind]:,}")
    console.print(kinds)
    if data["levels"]:
        levels = _table("Service level by tier x channel", ("tier", "channel", "ups", "downs"))
        for row in data["levels"]:
            levels.add_row(row["tier"], row["channel"], f"{row['ups']:,}", f"{row['downs']:,}")
        console.print(levels)
    if data["perks"]:
        perks = _table("Perks by code", ("perk", "granted", "lost", "revalued"))
        for row in data["perks"]:
            perks.add_row(
                row["code"], f"{row['granted']:,}", f"{row['lost']:,}", f"{row['revalued']:,}"
            )
        console.print(perks)
    if report.routes:
        routes = _table("Routing moves", ("from", "to", "decisions"))
        for (before, after), count in report.routes.most_common():
            routes.add_row(_route(before), _route(after), f"{count:,}")
        console.print(routes)
    for kind, examples in data["examples"].items():
        console.print(f"[bold]Examples: {kind}[/bold]")
        for example in examples:
            _print_example(example)


def _source_line(source: dict[str, Any], report: DiffReport) -> str:
    if "population" in source:
        return (
            f"inputs: {source['customers']:,} customers of {source['population']} "
            f"({source['rejected']:,} rows rejected) x {len(source['contexts'])} contexts"
        )
    return (
        f"inputs: {report.decisions:,} logged decisions made from {source['since']} to "
        f"{source['until']} (stream {source['stream']}; {source['unreadable']:,} unreadable)"
    )


def _route(routing: Routing) -> str:
    return routing_text(routing.queue, routing.priority, routing.skills)


def _table(title: str, columns: Iterable[str]) -> Table:
    table = Table(title=title, title_justify="left")
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 else "right")
    return table


def _print_example(example: dict[str, Any]) -> None:
    context = example["context"]
    shown = ", ".join(f"{k}={v}" for k, v in context.items() if v not in (None, "", 0, {}))
    console.print(f"  {escape(example['customer'])} [dim]({escape(shown)})[/dim]")
    for side in ("current", "candidate"):
        decision = example[side]
        route = decision["routing"]
        console.print(
            f"    {side:9} {decision['service_level']}, "
            f"{escape(routing_text(route['queue'], route['priority'], route['skills']))}, "
            f"perks {escape(', '.join(decision['perks']) or 'none')}"
        )
        for line in decision["why"] or ["(no rule matched: the baseline)"]:
            console.print(f"              [dim]{escape(line)}[/dim]")
