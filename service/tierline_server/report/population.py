"""Decide a population file in every context of a mix, each distinct input once.

The file is read as ``tierline features load`` reads it (CSV or JSON Lines, checked against the
policy's features, tiers assigned by the policy's segments), streamed: a row that a policy
rejects is left out for every policy, so that policies compared are compared on the same
customers.

Deciding 100,000 customers in 56 contexts one by one would take five million engine calls. But a
policy reads a customer only through the comparisons in its rules (``tenure_days < 90``,
``tier == gold``): two customers for whom every such comparison comes out the same, and who are in
the same tier, match the same rules in any context, so they get the same decisions. Customers are
grouped by that signature while the file streams, and one customer of each group is decided in
each context: a few thousand engine calls, whatever the population's size.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tierline_server.features import loader
from tierline_server.features.population import Population
from tierline_server.policy import conditions
from tierline_server.policy.comparisons import Comparisons
from tierline_server.policy.compiled import Policy
from tierline_server.policy.decider import Decider
from tierline_server.policy.domain import UNKNOWN_TIER, Facts
from tierline_server.policy.fields import TIER_FEATURE, is_context_field
from tierline_server.report.mix import Mix, cohort_conditions
from tierline_server.report.treatment import Group, Treatment

EXAMPLES_PER_GROUP = 3
PROGRESS_EVERY = 2_000
"""Rows between progress calls."""

Progress = Callable[[int, float], None]
"""Called with the rows read so far and the fraction of the file read."""


@dataclass(frozen=True)
class Timing:
    """Where the time of a run went."""

    rows: int
    groups: int
    """Distinct inputs decided, summed over the policies."""
    engine_calls: int
    read_seconds: float
    """Reading, checking, segmenting and grouping the rows."""
    decide_seconds: float


def treat(
    path: Path,
    policies: Sequence[Policy],
    mix: Mix,
    *,
    fmt: loader.InputFormat | None = None,
    keep_tier: bool = False,
    progress: Progress | None = None,
) -> tuple[list[Treatment], Timing]:
    """How each policy treats the population in ``path``, in the same order as ``policies``.

    Raises MixError when the mix does not fit a policy, LoadError when the file cannot be read at
    all, OSError when it cannot be opened.
    """
    groupings = [_Grouping(policy, mix) for policy in policies]
    population = Population(path, policies, fmt, keep_tier=keep_tier)
    started = time.perf_counter()
    for customer in population:
        for grouping, features in zip(groupings, customer.features, strict=True):
            grouping.add(customer.customer_id, features)
        if progress is not None and population.read % PROGRESS_EVERY == 0:
            progress(population.read, population.fraction)
    read = time.perf_counter()
    rows = population.read
    treatments = [
        grouping.treatment(population.rejected, population.rejections) for grouping in groupings
    ]
    timing = Timing(
        rows=rows,
        groups=sum(len(t.groups) for t in treatments),
        engine_calls=sum(len(t.groups) for t in treatments) * len(mix.contexts),
        read_seconds=read - started,
        decide_seconds=time.perf_counter() - read,
    )
    return treatments, timing


@dataclass(frozen=True)
class Profile:
    """A customer as the figures see it under one policy: what the rules see of its features,
    its tier (as the decider reports it), the mix's cohorts it is in, and its value."""

    facts: Facts
    tier: str
    cohorts: frozenset[str]
    value: float


class Profiler:
    """Profiles customers from their typed features, for one policy and mix; raises MixError
    when the mix does not fit the policy."""

    def __init__(self, policy: Policy, mix: Mix) -> None:
        self._cohorts = cohort_conditions(mix, policy)
        self._defaults = {name: spec.default for name, spec in policy.features.items()}
        self._value = mix.value_feature

    def profile(self, features: Mapping[str, Any]) -> Profile:
        """The profile of a customer with these typed features (empty: an unknown customer)."""
        facts = Facts({**self._defaults, **features}, frozenset(features))
        # A customer without features is unknown, whatever the tier feature's default.
        tier = str(facts.values.get(TIER_FEATURE, UNKNOWN_TIER)) if features else UNKNOWN_TIER
        cohorts = frozenset(
            name for name, condition in self._cohorts.items() if conditions.holds(condition, facts)
        )
        return Profile(facts, tier, cohorts, float(facts.values[self._value]))


@dataclass
class _Members:
    """A group while the file streams: one customer to decide for all, and everyone's value."""

    features: dict[str, Any]
    tier: str
    cohorts: frozenset[str]
    values: list[float] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)


class _Grouping:
    """Groups the rows of one population for one policy."""

    def __init__(self, policy: Policy, mix: Mix) -> None:
        self.policy = policy
        self.mix = mix
        self._profiler = Profiler(policy, mix)
        # What the rules read of a customer: the comparisons on features.
        self._comparisons = Comparisons(policy.rules, reads=lambda name: not is_context_field(name))
        self._groups: dict[tuple[Any, ...], _Members] = {}

    def add(self, customer_id: str, features: dict[str, Any]) -> None:
        """Count a customer (its typed features under this policy) in its group."""
        profile = self._profiler.profile(features)
        signature = (profile.tier, profile.cohorts, self._comparisons.outcomes(profile.facts))
        members = self._groups.get(signature)
        if members is None:
            members = self._groups[signature] = _Members(features, profile.tier, profile.cohorts)
        members.values.append(profile.value)
        if len(members.examples) < EXAMPLES_PER_GROUP:
            members.examples.append(customer_id)

    def treatment(self, rejected: int, rejects: Sequence[str]) -> Treatment:
        """Decide one customer of each group in every context (on this thread only)."""
        decider = Decider(self.policy)
        groups = tuple(
            Group(
                tier=members.tier,
                cohorts=members.cohorts,
                decisions=tuple(
                    decider.decide(members.features, context) for context in self.mix.contexts
                ),
                values=tuple(members.values),
                examples=tuple(members.examples),
            )
            for members in self._groups.values()
        )
        return Treatment(
            policy=self.policy,
            mix=self.mix,
            baseline=decider.baseline,
            groups=groups,
            rejected=rejected,
            rejects=tuple(rejects),
        )
