"""What every command prints through: one console for results, one for errors."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tierline_server.policy.compiler import Policy, load_policy
from tierline_server.policy.errors import PolicyInvalid

console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)


def load_policy_or_report(path: Path | str) -> Policy | None:
    """The compiled policy, or None after printing every error as ``file:line: ...``."""
    try:
        return load_policy(path)
    except PolicyInvalid as invalid:
        for error in invalid.errors:
            errors.print(escape(str(error)))
        errors.print(f"[red]{len(invalid.errors)} error(s)[/red] in {escape(str(path))}")
        return None


class SlaFields(Protocol):
    """What the domain Sla and the API's Sla message both have."""

    @property
    def max_wait_seconds(self) -> int: ...
    @property
    def first_response_seconds(self) -> int: ...
    @property
    def callback_offered(self) -> bool: ...
    @property
    def human_agent_guaranteed(self) -> bool: ...


def sla_text(sla: SlaFields) -> str:
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
    value = f" {amount} (minor units)" if amount else f" {percent:g}%" if percent else ""
    return f"{code}{value}  [dim]by {escape(granted_by)}[/dim]"


def print_table(title: str, rows: Iterable[tuple[str, str]]) -> None:
    """Label / value rows as a two-column table."""
    table = Table(title=title, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)
