"""What every command prints through: one console for results, one for errors."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from google.protobuf import json_format
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from tierline.v1 import entitlement_pb2 as pb

from tierline_server.config import masked_url
from tierline_server.policy.compiled import Policy
from tierline_server.policy.compiler import load_policy
from tierline_server.policy.errors import PolicyInvalid

console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)

PLAIN_PROGRESS_SECONDS = 5.0
"""Without a terminal, a progress line this often."""

Update = Callable[[float, str], None]
"""Reports progress: the fraction done (0 to 1) and a short text of counts."""


def policy_not_found(path: Path | str) -> str | None:
    """What to say when there is no policy at ``path`` (None when there is something there): a
    command run outside the repository looks for rules/ where there is none."""
    if Path(path).exists():
        return None
    return (
        f"no policy at {path} (looked for {Path(path).absolute()}): point at a policy file or "
        "directory with --policy PATH or the TIERLINE_POLICY environment variable"
    )


def load_policy_or_report(path: Path | str) -> Policy | None:
    """The compiled policy, or None after printing every error as ``file:line: ...``."""
    missing = policy_not_found(path)
    if missing is not None:
        errors.print(f"[red]error:[/red] {escape(missing)}")
        return None
    try:
        return load_policy(path)
    except PolicyInvalid as invalid:
        for error in invalid.errors:
            errors.print(escape(str(error)))
        errors.print(f"[red]{len(invalid.errors)} error(s)[/red] in {escape(str(path))}")
        return None


@contextmanager
def progress(label: str) -> Iterator[Update]:
    """Progress on stderr: a bar on a terminal, otherwise the text every few seconds."""
    if not errors.is_terminal:
        last = time.monotonic()

        def line(fraction: float, text: str) -> None:
            nonlocal last
            if time.monotonic() - last >= PLAIN_PROGRESS_SECONDS:
                last = time.monotonic()
                errors.print(f"{text} ({fraction:.0%})")

        yield line
        return
    columns = (
        TextColumn(label), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
        TextColumn("{task.fields[text]}"),
    )  # fmt: skip
    with Progress(*columns, console=errors, transient=True) as bar:
        task = bar.add_task(label, total=1.0, text="")

        def update(fraction: float, text: str) -> None:
            bar.update(task, completed=fraction, text=text)

        yield update


def redis_failed(url: str, error: Exception) -> int:
    """Report a Redis failure (the URL without its password); the exit status 2."""
    errors.print(f"[red]Redis error[/red] ({masked_url(url)}): {escape(str(error))}")
    return 2


def sla_text(sla: pb.Sla) -> str:
    """An SLA in one line."""
    return (
        f"wait <= {sla.max_wait_seconds}s, first response <= {sla.first_response_seconds}s, "
        f"callback {'yes' if sla.callback_offered else 'no'}, "
        f"human agent {'guaranteed' if sla.human_agent_guaranteed else 'not guaranteed'}"
    )


def routing_text(queue: str, priority: int, skills: Sequence[str]) -> str:
    """A routing in one line."""
    return f"{queue} (priority {priority})" + (f", skills {', '.join(skills)}" if skills else "")


def perk_text(code: str, amount: int | None, percent: float | None, granted_by: str) -> str:
    """A perk with its value and the rule that granted it."""
    value = f" {amount} minor units" if amount else f" {percent:g}%" if percent else ""
    return f"{code}{value} [dim](by {escape(granted_by)})[/dim]"


def perk_label(code: str, amount: int | None, percent: float | None) -> str:
    """A perk as plain text: its code, and its value after a colon (code:500, code:20%)."""
    if amount is not None:
        return f"{code}:{amount}"
    return f"{code}:{percent:g}%" if percent is not None else code


def print_table(title: str, rows: Iterable[tuple[str, str]]) -> None:
    """Label / value rows as a two-column table."""
    table = Table(title=title, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)


def print_decision(decision: pb.Decision) -> None:
    """A Decision message as a readable table (what `decide` and `policy eval` print)."""
    level, routing = decision.service_level, decision.routing
    who = (
        ("customer", f"{decision.customer_id} (tier {decision.tier})")
        if decision.customer_id
        else ("tier", decision.tier)
    )
    rows = [
        who,
        ("service level", f"{level.name} (rank {level.rank})"),
        ("SLA", sla_text(level.sla)),
        ("routing", routing_text(routing.queue, routing.priority, routing.skills)),
    ]
    rows += [
        (
            "perk",
            perk_text(
                perk.code,
                perk.amount_minor if perk.HasField("amount_minor") else None,
                perk.percent if perk.HasField("percent") else None,
                perk.granted_by,
            ),
        )
        for perk in decision.perks
    ]
    rows.append(("matched rules", ", ".join(decision.matched_rules) or "(none: baseline)"))
    if decision.degraded:
        rows.append(("[red]degraded[/red]", decision.degraded_reason))
    rows += [(f"why {rule.rule_id}", escape(rule.condition)) for rule in decision.explanation.rules]
    if decision.HasField("metrics"):
        metrics = decision.metrics
        source = pb.FeatureSource.Name(metrics.feature_source).removeprefix("FEATURE_SOURCE_")
        rows.append(
            (
                "metrics",
                f"{metrics.total_micros} us total, {metrics.lookup_micros} us lookup, "
                f"{metrics.eval_micros} us rules; features from {source.lower()}",
            )
        )
    rows.append(("policy", decision.policy_version))
    print_table(f"Decision {decision.decision_id}".rstrip(), rows)


def print_decision_json(decision: pb.Decision) -> None:
    """A Decision message in protobuf's JSON mapping, every field present (defaults too), so
    that scripts can rely on each key."""
    print(json_format.MessageToJson(decision, always_print_fields_with_no_presence=True))
