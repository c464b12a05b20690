"""What changes for customers between two policies: the kinds of change between two decisions
for one input (``Comparison``), and a report over many inputs (``replay``).

Only what a customer gets counts as a change: service level, SLA, perks (code and value) and
routing. Which rules matched, the perks' descriptions or the rule that granted a perk may differ
without changing anything for the customer.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tierline_server.policy.compiled import Policy
from tierline_server.policy.decider import Decider
from tierline_server.policy.domain import Context, Decision, Perk, Routing, Sla
from tierline_server.policy.merge import BASELINE

COMPARISON_MEMO_SIZE = 65_536
DEFAULT_EXAMPLES = 3


class Kind(enum.Enum):
    """A kind of change for a customer (values are what ``--fail-on`` takes)."""

    LEVEL_UP = "level-up"
    LEVEL_DOWN = "level-down"
    SLA_BETTER = "sla-better"
    """At least one SLA field is better (a shorter wait, a callback or human agent granted)."""
    SLA_WORSE = "sla-worse"
    PERK_GRANTED = "perk-granted"
    PERK_LOST = "perk-lost"
    PERK_REVALUED = "perk-revalued"
    """A perk kept with another amount or percent."""
    ROUTING_MOVED = "routing-moved"
    """Another queue, priority or skills."""
    TO_BASELINE = "to-baseline"
    """The candidate grants only its baseline, where the current policy granted more than its
    own."""


@dataclass(frozen=True)
class Change:
    """How a candidate's decision differs from the current one's, for the customer."""

    kinds: frozenset[Kind]
    granted: tuple[str, ...] = ()
    """Perk codes the candidate grants that the current policy does not."""
    lost: tuple[str, ...] = ()
    revalued: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """Whether the customer gets anything different."""
        return bool(self.kinds)


UNCHANGED = Change(frozenset())


@dataclass(frozen=True)
class Entitlement:
    """What a decision gives the customer: the parts a change is judged on."""

    level: str
    rank: int
    sla: Sla
    perks: Mapping[str, tuple[int | None, float | None]]
    """Value (amount, percent) by perk code."""
    routing: Routing

    @classmethod
    def of(cls, decision: Decision) -> Entitlement:
        """The entitlement a decision grants."""
        level = decision.service_level
        return cls(level.name, level.rank, level.sla, _values(decision.perks), decision.routing)


def _values(perks: Iterable[Perk]) -> dict[str, tuple[int | None, float | None]]:
    return {perk.code: (perk.amount, perk.percent) for perk in perks}


class Comparison:
    """Compares decisions of a current and a candidate policy (each given its baseline).

    Replayed decisions are few distinct objects (the deciders' memos return the same Decision
    for the same key), so comparisons are remembered by identity.
    """

    def __init__(self, current_baseline: Decision, candidate_baseline: Decision) -> None:
        self._baselines = (Entitlement.of(current_baseline), Entitlement.of(candidate_baseline))
        self._memo: dict[tuple[int, int], tuple[Decision, Decision, Change]] = {}

    def __call__(self, current: Decision, candidate: Decision) -> Change:
        """The change from ``current`` to ``candidate``."""
        remembered = self._memo.get((id(current), id(candidate)))
        if remembered is not None and remembered[0] is current and remembered[1] is candidate:
            return remembered[2]  # (identity checked: an id may be reused once freed)
        change = self._compare(Entitlement.of(current), Entitlement.of(candidate))
        if len(self._memo) >= COMPARISON_MEMO_SIZE:
            self._memo.clear()
        self._memo[(id(current), id(candidate))] = (current, candidate, change)
        return change

    def _compare(self, before: Entitlement, after: Entitlement) -> Change:
        if before == after:
            return UNCHANGED
        kinds: set[Kind] = set()
        if after.rank != before.rank:
            kinds.add(Kind.LEVEL_UP if after.rank > before.rank else Kind.LEVEL_DOWN)
        better, worse = _sla_moves(before.sla, after.sla)
        if better:
            kinds.add(Kind.SLA_BETTER)
        if worse:
            kinds.add(Kind.SLA_WORSE)
        granted = tuple(code for code in after.perks if code not in before.perks)
        lost = tuple(code for code in before.perks if code not in after.perks)
        revalued = tuple(
            code
            for code, value in after.perks.items()
            if code in before.perks and before.perks[code] != value
        )
        for kind, codes in (
            (Kind.PERK_GRANTED, granted),
            (Kind.PERK_LOST, lost),
            (Kind.PERK_REVALUED, revalued),
        ):
            if codes:
                kinds.add(kind)
        if after.routing != before.routing:
            kinds.add(Kind.ROUTING_MOVED)
        current_baseline, candidate_baseline = self._baselines
        if after == candidate_baseline and before != current_baseline:
            kinds.add(Kind.TO_BASELINE)
        return Change(frozenset(kinds), granted, lost, revalued)


class RulesBehind:
    """The rules behind a change between a current and a candidate policy's decisions.

    A rule is behind a change when it matched under one policy only, or under both with another
    grant or revocation in each. When no rule is, the baselines differ (or the order of rules
    does, which breaks routing ties): BASELINE stands for that.
    """

    def __init__(self, current: Policy, candidate: Policy) -> None:
        before = {rule.id: (rule.grant, rule.revoke) for rule in current.rules}
        after = {rule.id: (rule.grant, rule.revoke) for rule in candidate.rules}
        self._regranted = frozenset(
            rule_id for rule_id in before.keys() & after.keys() if before[rule_id] != after[rule_id]
        )
        self.rule_ids: tuple[str, ...] = (*dict.fromkeys([*before, *after]), BASELINE)
        """Every rule id either policy has, and BASELINE: what ``__call__`` can answer."""

    def __call__(self, current: Decision, candidate: Decision) -> tuple[str, ...]:
        """The ids of the rules behind the change from ``current`` to ``candidate``."""
        before, after = set(current.matched_rules), set(candidate.matched_rules)
        behind = (before ^ after) | (before & after & self._regranted)
        return tuple(sorted(behind)) or (BASELINE,)


def _sla_moves(before: Sla, after: Sla) -> tuple[bool, bool]:
    """Whether any SLA field got better, and whether any got worse."""
    lower_is_better = (
        (before.max_wait_seconds, after.max_wait_seconds),
        (before.first_response_seconds, after.first_response_seconds),
    )
    true_is_better = (
        (before.callback_offered, after.callback_offered),
        (before.human_agent_guaranteed, after.human_agent_guaranteed),
    )
    better = any(a < b for b, a in lower_is_better) or any(a > b for b, a in true_is_better)
    worse = any(a > b for b, a in lower_is_better) or any(a < b for b, a in true_is_better)
    return better, worse


@dataclass(frozen=True)
class ReplayInput:
    """One input to replay: a customer's features (as each policy reads them) in a context."""

    label: str
    """Who it is: a customer id (or its keyed hash, from the log)."""
    context: Context
    current_features: Mapping[str, Any]
    candidate_features: Mapping[str, Any]
    degraded: bool = False
    logged: Decision | None = None
    """The decision the service made (inputs from the decision log)."""


@dataclass(frozen=True)
class Example:
    """A replayed input whose decision changed, and both decisions."""

    input: ReplayInput
    current: Decision
    candidate: Decision
    change: Change


@dataclass
class DiffReport:
    """The changes over every replayed input."""

    examples_per_kind: int = DEFAULT_EXAMPLES
    decisions: int = 0
    changed: int = 0
    kinds: Counter[Kind] = field(default_factory=Counter)
    levels: Counter[tuple[str, str, Kind]] = field(default_factory=Counter)
    """Level ups and downs by (current tier, channel, LEVEL_UP or LEVEL_DOWN)."""
    perks: Counter[tuple[str, Kind]] = field(default_factory=Counter)
    """(perk code, PERK_GRANTED / PERK_LOST / PERK_REVALUED)."""
    routes: Counter[tuple[Routing, Routing]] = field(default_factory=Counter)
    """(current routing, candidate routing) where they differ."""
    examples: dict[Kind, list[Example]] = field(default_factory=dict)
    logged: int = 0
    """Inputs that carried the decision the service made (from the log)."""
    logged_differ: int = 0
    """Of those, how many the current policy, replayed, decides differently: the log was
    written by another policy (version) than ``--current``."""

    @property
    def share_changed(self) -> float:
        """The share of decisions that change (0 when nothing was replayed)."""
        return self.changed / self.decisions if self.decisions else 0.0

    def add(
        self, item: ReplayInput, current: Decision, candidate: Decision, change: Change
    ) -> None:
        """Count one replayed input."""
        self.decisions += 1
        if not change.changed:
            return
        self.changed += 1
        self.kinds.update(change.kinds)
        for kind in change.kinds & {Kind.LEVEL_UP, Kind.LEVEL_DOWN}:
            self.levels[(current.tier, item.context.channel, kind)] += 1
        for kind, codes in (
            (Kind.PERK_GRANTED, change.granted),
            (Kind.PERK_LOST, change.lost),
            (Kind.PERK_REVALUED, change.revalued),
        ):
            self.perks.update((code, kind) for code in codes)
        if Kind.ROUTING_MOVED in change.kinds:
            self.routes[(current.routing, candidate.routing)] += 1
        for kind in change.kinds:
            kept = self.examples.setdefault(kind, [])
            if len(kept) < self.examples_per_kind:
                kept.append(Example(item, current, candidate, change))


def replay(
    inputs: Iterable[ReplayInput],
    current: Decider,
    candidate: Decider,
    *,
    examples: int = DEFAULT_EXAMPLES,
) -> DiffReport:
    """Decide every input with both policies and report what changes."""
    compare = Comparison(current.baseline, candidate.baseline)
    report = DiffReport(examples)
    for item in inputs:
        before = current.decide(item.current_features, item.context, degraded=item.degraded)
        after = candidate.decide(item.candidate_features, item.context, degraded=item.degraded)
        report.add(item, before, after, compare(before, after))
        if item.logged is not None:
            report.logged += 1
            if Entitlement.of(item.logged) != Entitlement.of(before):
                report.logged_differ += 1
    return report
