"""``tierline report fairness``: how a policy treats a population, as one HTML page.

The population is a customer file crossed with a context mix, or the decision log (``--from-log``):
the decisions of a span, each decided again with its logged features and context.

Exit status: 0 written; 1 written, but a guarantee is broken (a decision below the baseline, or a
channel parity violation where the policy declares parity); 2 nothing written (bad input, an
empty span of the log, or Redis unreachable).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from redis.exceptions import RedisClusterException, RedisError
from rich.markup import escape
from rich.table import Table

from tierline_server.commands.log_span import add_log_options, read_log
from tierline_server.commands.options import add_policy_option, settings_from
from tierline_server.commands.output import (
    Update,
    console,
    errors,
    load_policy_or_report,
    progress,
    redis_failed,
)
from tierline_server.config import RedisSettings
from tierline_server.decisionlog.record import iso_time
from tierline_server.features import loader
from tierline_server.policy.compiled import Policy
from tierline_server.report import figures as report_figures
from tierline_server.report.figures import Figures, percent
from tierline_server.report.logged import LogReplay
from tierline_server.report.mix import DEFAULT_MIX, Mix, MixError, load_mix
from tierline_server.report.population import Timing, treat
from tierline_server.report.treatment import LogSpan, Treatment

DEFAULT_OUT = Path("fairness-report.html")


def register(groups: Any) -> None:
    """Add the ``report`` group to the CLI."""
    group = groups.add_parser("report", help="reports on how a policy treats a population")
    commands = group.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fairness = commands.add_parser(
        "fairness",
        help="who gets what: levels, perks, queues, channel parity, the baseline (HTML page)",
    )
    fairness.add_argument(
        "population",
        type=Path,
        nargs="?",
        help="customers as CSV or JSON Lines (as `features load` reads), decided in every "
        "interaction of the mix",
    )
    fairness.add_argument(
        "--from-log",
        action="store_true",
        help="instead of a population: the decision log's decisions (see --since, --until), "
        "each decided again with its logged features and context",
    )
    add_policy_option(fairness)
    fairness.add_argument(
        "--compare",
        type=Path,
        metavar="CANDIDATE",
        help="a second policy, drawn beside the first on the same population",
    )
    fairness.add_argument(
        "--mix",
        type=Path,
        default=DEFAULT_MIX,
        help="the interactions to decide and the cohorts to compare (YAML; default: built in; "
        "with --from-log, only its cohorts, value feature, currency and premium level count)",
    )
    fairness.add_argument(
        "--format",
        choices=[f.value for f in loader.InputFormat],
        help="of the population file (default: by extension)",
    )
    fairness.add_argument(
        "--keep-tier",
        action="store_true",
        help="keep a population row's own tier, do not segment it",
    )
    add_log_options(fairness)
    fairness.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"HTML file to write (default {DEFAULT_OUT})"
    )
    fairness.add_argument(
        "--json", action="store_true", help="print the figures as JSON instead of a table"
    )
    fairness.set_defaults(handler=fairness_command)


def fairness_command(args: argparse.Namespace) -> int:
    """Decide the population (or the log), write the page, print the figures."""
    problem = _misused(args)
    if problem:
        errors.print(f"tierline report fairness: {problem} (see tierline report fairness -h)")
        return 2
    try:
        # The page needs the `report` extra (plotly, jinja2): only this command imports it.
        from tierline_server.report import page
    except ImportError as error:
        errors.print(
            f"[red]error:[/red] the fairness report needs the report extra "
            f"(pip install 'tierline\\[report]'): {escape(str(error))}"
        )
        return 2
    policies = [load_policy_or_report(args.policy)]
    if args.compare is not None:
        policies.append(load_policy_or_report(args.compare))
    valid = [policy for policy in policies if policy is not None]
    if len(valid) != len(policies):
        return 2
    try:
        mix = load_mix(args.mix)
        with progress("deciding") as show:
            if args.from_log:
                treatments, timing_text = _treat_log(args, valid, mix, show)
            else:
                treatments, timing = treat(
                    args.population,
                    valid,
                    mix,
                    fmt=loader.InputFormat(args.format) if args.format else None,
                    keep_tier=args.keep_tier,
                    progress=lambda rows, fraction: show(fraction, f"{rows:,} rows read"),
                )
                timing_text = _timing_text(timing, len(mix.contexts))
    except MixError as error:
        errors.print(f"[red]invalid mix:[/red] {escape(str(error))}")
        return 2
    except (RedisError, RedisClusterException) as error:
        return redis_failed(settings_from(RedisSettings, args).url, error)
    except (loader.LoadError, OSError) as error:
        errors.print(f"[red]cannot read[/red] {escape(str(args.population))}: {escape(str(error))}")
        return 2
    if args.from_log and not treatments[0].customers:
        span = treatments[0].log
        assert span is not None
        errors.print(
            f"[red]no decision in the log[/red] (stream {escape(span.stream)}) from {span.since} "
            f"to {span.until}: {span.unreadable:,} unreadable entries"
        )
        return 2
    for treatment in treatments:
        if not treatment.customers:
            errors.print(
                f"[red]no customer of {escape(str(args.population))} could be read[/red] with "
                f"policy {_name(treatment.policy)}: {treatment.rejected:,} rows rejected, e.g. "
                f"{escape('; '.join(treatment.rejects) or '(the file is empty)')}"
            )
            return 2
    reports = [page.Report(t, report_figures.figures(t)) for t in treatments]
    html = page.render(reports, population="" if args.from_log else str(args.population))
    try:
        args.out.write_text(html, encoding="utf-8")
    except OSError as error:
        errors.print(f"[red]cannot write[/red] {escape(str(args.out))}: {error.strerror}")
        return 2
    if args.json:
        print(json.dumps({"policies": [_as_json(r.treatment, r.figures) for r in reports]}))
    else:
        for report in reports:
            print_summary(report.treatment, report.figures)
    for treatment in treatments:
        if treatment.log is not None and treatment.log.decided_otherwise:
            errors.print(
                f"[yellow]note:[/yellow] {_name(treatment.policy)} decides "
                f"{treatment.log.decided_otherwise:,} of the {treatment.log.logged:,} logged "
                "decisions otherwise than the service did: another policy (version) wrote them"
            )
    errors.print(timing_text)
    errors.print(f"wrote {escape(str(args.out))}")
    broken = any(guarantees_broken(r.figures, r.treatment.policy) for r in reports)
    return 1 if broken else 0


def _misused(args: argparse.Namespace) -> str:
    if (args.population is None) == (not args.from_log):
        return "give a population file or --from-log (one of them)"
    if not args.from_log and (args.since is not None or args.until is not None):
        return "--since and --until go with --from-log"
    if args.from_log and (args.format is not None or args.keep_tier):
        return "--format and --keep-tier go with a population file, not --from-log"
    return ""


def _treat_log(
    args: argparse.Namespace, policies: list[Policy], mix: Mix, show: Update
) -> tuple[list[Treatment], str]:
    """Each policy's treatment of the log's decisions, and how long they took."""
    replay = LogReplay(policies, mix)
    started = time.perf_counter()
    with read_log(args, show) as span:
        for entry in span.entries:
            replay.add(entry.record)
    treatments = replay.treatments(
        LogSpan(
            stream=span.stream,
            since=iso_time(span.since),
            until=iso_time(span.until),
            logged=replay.decisions,
            unreadable=span.unreadable,
        )
    )
    text = (
        f"read and decided {replay.decisions:,} logged decisions in "
        f"{time.perf_counter() - started:.1f} s ({replay.engine_calls:,} engine calls, the "
        "others reused an answer)"
    )
    return treatments, text


def guarantees_broken(figures: Figures, policy: Policy) -> bool:
    """Whether a guarantee of the policy does not hold on this population."""
    return figures.floor.violations > 0 or (policy.channel_parity and figures.parity.violations > 0)


def _name(policy: Policy) -> str:
    return f"{policy.name} {policy.version}"


def _as_json(treatment: Treatment, figures: Figures) -> dict[str, Any]:
    """The figures for scripts: the same numbers as the page and the table."""
    policy = treatment.policy
    source: dict[str, Any] = (
        {"log": dataclasses.asdict(treatment.log)}
        if treatment.log is not None
        else {
            "rejected": treatment.rejected,
            "rejects": list(treatment.rejects),
            "contexts": len(treatment.mix.contexts),
        }
    )
    return {
        "policy": {"name": policy.name, "version": policy.version, "checksum": policy.checksum},
        "population": {
            "customers": treatment.customers,
            **source,
            "decisions": treatment.decisions,
        },
        "figures": dataclasses.asdict(figures),
        "guarantees_hold": not guarantees_broken(figures, policy),
    }


def print_summary(treatment: Treatment, figures: Figures) -> None:
    """The figures as tables: one row per tier, then each chart's reading."""
    title = (
        f"{_name(treatment.policy)}: {treatment.customers:,} customers in "
        f"{treatment.decisions:,} logged decisions"
        if treatment.log is not None
        else f"{_name(treatment.policy)}: {treatment.customers:,} customers x "
        f"{len(treatment.mix.contexts)} interactions = {treatment.decisions:,} decisions"
    )
    shares = figures.concentration.by_tier
    table = Table(title=title)
    for column in (
        "tier",
        "customers",
        "% customers",
        f"% {figures.concentration.feature}",
        "% premium decisions",
        "baseline only",
        "main queue",
    ):
        table.add_column(column, justify="left" if column in ("tier", "main queue") else "right")
    for index, (tier,) in enumerate(shares.rows):
        queues = figures.queues_by_tier.row(tier)
        main_queue = max(queues, key=lambda queue: queues[queue])
        only = figures.floor.only_baseline.row(tier)[report_figures.BASELINE_ONLY]
        table.add_row(
            tier,
            f"{shares.totals[index]:,}",
            *(percent(value) for value in shares.values[index]),
            percent(only),
            f"{main_queue} ({percent(queues[main_queue])})",
        )
    console.print(table)
    readings = Table(show_header=False, box=None)
    readings.add_column(style="bold")
    readings.add_column()
    parity_style = "green" if figures.parity.violations == 0 else "red"
    floor_style = "green" if figures.floor.violations == 0 else "red"
    for label, reading in (
        ("channel parity", f"[{parity_style}]{escape(figures.parity.reading)}[/]"),
        ("baseline", f"[{floor_style}]{escape(figures.floor.reading)}[/]"),
        ("levels", escape(figures.levels_by_tier.reading)),
        ("levels by channel", escape(figures.levels_by_channel.reading)),
        ("perks", escape(figures.perks_by_tier.reading)),
        ("perk value", escape(figures.perk_value_by_tier.reading)),
        ("routing", escape(figures.queues_by_tier.reading)),
        ("value", escape(figures.concentration.reading)),
        ("premium", escape(figures.concentration.by_tier.reading)),
        ("cohort levels", escape(figures.levels_by_cohort.reading)),
        ("cohort perks", escape(figures.perks_by_cohort.reading)),
    ):
        readings.add_row(label, reading)
    console.print(readings)


def _timing_text(timing: Timing, contexts: int) -> str:
    return (
        f"read {timing.rows:,} rows in {timing.read_seconds:.1f} s; decided one customer of each "
        f"of {timing.groups:,} groups the rules cannot tell apart, in {contexts} interactions: "
        f"{timing.engine_calls:,} engine calls in {timing.decide_seconds:.1f} s"
    )
