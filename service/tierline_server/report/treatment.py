"""What a policy did to a population: the one input of every figure.

A population file crossed with a context mix yields a Treatment (tierline_server.report.population):
every customer decided in every context of the mix. So does the decision log
(tierline_server.report.logged): each logged customer a group of one, decided again in the
contexts it was logged in.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from tierline_server.policy.compiled import Policy
from tierline_server.policy.domain import Context, Decision
from tierline_server.report.mix import Mix


@dataclass(frozen=True)
class Group:
    """Customers the policy treats alike: the same decision in each context of the mix."""

    tier: str
    cohorts: frozenset[str]
    """The mix's cohorts these customers are in."""
    decisions: tuple[Decision, ...]
    """One per context (see ``contexts``), in their order."""
    values: tuple[float, ...]
    """Each customer's value (the mix's ``value_feature``): the group's size is its length."""
    examples: tuple[str, ...]
    """The ids of a few of its customers."""
    contexts: tuple[Context, ...] | None = None
    """The context of each decision; None: each of the mix's contexts, in the mix's order."""

    @property
    def customers(self) -> int:
        """How many customers the group holds."""
        return len(self.values)


@dataclass(frozen=True)
class Treatment:
    """How ``policy`` treats a population in each context of ``mix``."""

    policy: Policy
    mix: Mix
    baseline: Decision
    """What every customer gets at least (the policy's decision when no rule matches)."""
    groups: tuple[Group, ...]
    rejected: int = 0
    """Rows of the population that could not be read with this policy's features."""
    rejects: tuple[str, ...] = ()
    """The first few of them, as ``line N: reason``."""
    log: LogSpan | None = None
    """The part of the decision log replayed; None: a population file crossed with the mix."""

    @property
    def customers(self) -> int:
        """Customers decided."""
        return sum(group.customers for group in self.groups)

    @property
    def decisions(self) -> int:
        """Decisions the figures count: every customer of each group in each of its contexts."""
        return sum(group.customers * len(group.decisions) for group in self.groups)

    def decided(self, group: Group) -> Iterator[tuple[Context, Decision]]:
        """Each decision of ``group`` with the context it was made in."""
        contexts = self.mix.contexts if group.contexts is None else group.contexts
        return zip(contexts, group.decisions, strict=True)


@dataclass(frozen=True)
class LogSpan:
    """The decisions of the log that a Treatment replayed."""

    stream: str
    since: str
    """When the first decision of the span could have been made (ISO 8601, UTC)."""
    until: str
    logged: int
    """Logged decisions replayed."""
    unreadable: int = 0
    """Entries of the stream in the span that were not decision records (left out)."""
    decided_otherwise: int = 0
    """Logged decisions this policy decides otherwise for the customer than the service did:
    the log was written by another policy (or version)."""
