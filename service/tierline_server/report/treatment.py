"""What a policy did to a population: the one input of every figure.

A population file crossed with a context mix yields a Treatment (tierline_server.report.population).
So could a decision log: each logged customer a group of one, with the decisions it was given.
"""

from __future__ import annotations

from dataclasses import dataclass

from tierline_server.policy.compiled import Policy
from tierline_server.policy.domain import Decision
from tierline_server.report.mix import Mix


@dataclass(frozen=True)
class Group:
    """Customers the policy treats alike: the same decision in each context of the mix."""

    tier: str
    cohorts: frozenset[str]
    """The mix's cohorts these customers are in."""
    decisions: tuple[Decision, ...]
    """One per context of the mix, in the mix's order."""
    values: tuple[float, ...]
    """Each customer's value (the mix's ``value_feature``): the group's size is its length."""
    examples: tuple[str, ...]
    """The ids of a few of its customers."""

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

    @property
    def customers(self) -> int:
        """Customers decided."""
        return sum(group.customers for group in self.groups)

    @property
    def decisions(self) -> int:
        """Decisions the figures count: every customer in every context."""
        return self.customers * len(self.mix.contexts)
