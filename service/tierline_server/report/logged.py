"""Decide the decision log again: every logged decision, by each policy, with the features and
context it was logged with; a Treatment per policy.

Real traffic rather than a population crossed with a mix: each customer of the log is a group
of one, decided in the contexts of its own decisions, on the channels it used. A customer is
what the log calls it (its id, or a keyed hash of it) with the features it was decided with: a
customer whose features changed within the span, or could not be read for some of its decisions
(degraded), counts once per state, so that a group is one set of features in several contexts
(which is what channel parity compares). The mix gives the cohorts, the value feature, the
currency and the lowest premium level; its contexts are not used.

Logged decisions are decided as they are read (the deciders' memos make that cheap), and equal
contexts are kept once, so that memory grows with the customers and the distinct interactions
rather than with every decision.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tierline_server.decisionlog.record import DecisionRecord
from tierline_server.policy.compiled import Policy
from tierline_server.policy.decider import Decider
from tierline_server.policy.diff import Entitlement
from tierline_server.policy.domain import CHANNELS, Context, Decision
from tierline_server.policy.inputs import readable_features
from tierline_server.report.mix import Mix
from tierline_server.report.population import Profile, Profiler
from tierline_server.report.treatment import Group, LogSpan, Treatment


@dataclass
class _State:
    """One customer in one state, while the log is read: its decisions and their contexts."""

    customer: str
    profile: Profile
    contexts: list[Context] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)


class _Policy:
    """One policy replaying the log: its decider, profiler and customers."""

    def __init__(self, policy: Policy, mix: Mix) -> None:
        self.policy = policy
        self.decider = Decider(policy)
        self.profiler = Profiler(policy, mix)
        self.states: dict[tuple[Hashable, ...], _State] = {}
        self.decided_otherwise = 0

    def add(self, record: DecisionRecord, context: Context) -> None:
        """Decide one logged decision again, in the customer's group."""
        features = readable_features(self.policy, record.outcome.features)
        degraded = record.degraded
        key = (record.outcome.customer_id, degraded, *sorted(features.items()))
        state = self.states.get(key)
        if state is None:
            profile = self.profiler.profile(features)
            state = self.states[key] = _State(record.outcome.customer_id, profile)
        decision = self.decider.decide(features, context, degraded=degraded)
        state.contexts.append(context)
        state.decisions.append(decision)
        if Entitlement.of(decision) != Entitlement.of(record.decision):
            self.decided_otherwise += 1

    def treatment(self, mix: Mix, span: LogSpan) -> Treatment:
        groups = tuple(
            Group(
                tier=state.profile.tier,
                cohorts=state.profile.cohorts,
                decisions=tuple(state.decisions),
                values=(state.profile.value,),
                examples=(state.customer,),
                contexts=tuple(state.contexts),
            )
            for state in self.states.values()
        )
        return Treatment(
            policy=self.policy,
            mix=mix,
            baseline=self.decider.baseline,
            groups=groups,
            log=dataclasses.replace(span, decided_otherwise=self.decided_otherwise),
        )


class LogReplay:
    """Replays logged decisions with each of ``policies`` as they are added (``add``), then
    makes their Treatments; raises MixError when the mix does not fit a policy."""

    def __init__(self, policies: Sequence[Policy], mix: Mix) -> None:
        self._mix = mix
        self._policies = [_Policy(policy, mix) for policy in policies]
        self._contexts: dict[Hashable, Context] = {}
        self.decisions = 0
        """Logged decisions added."""

    @property
    def engine_calls(self) -> int:
        """Decisions the policies' engines made (the others reused an answer)."""
        return sum(replaying.decider.engine_calls for replaying in self._policies)

    def add(self, record: DecisionRecord) -> None:
        """Decide a logged decision again with every policy."""
        context = self._context(record.context)
        for replaying in self._policies:
            replaying.add(record, context)
        self.decisions += 1

    def treatments(self, span: LogSpan) -> list[Treatment]:
        """How each policy treats the customers of the log ``span`` says was replayed, in the
        order of the policies; the figures' channels are those the log's customers used."""
        used = {context.channel for context in self._contexts.values()}
        mix = dataclasses.replace(
            self._mix,
            channels=tuple(channel for channel in CHANNELS if channel in used),
            contexts=(),
        )
        return [replaying.treatment(mix, span) for replaying in self._policies]

    def _context(self, context: Context) -> Context:
        """One object for equal contexts (a day of traffic repeats its interactions)."""
        key: tuple[Any, ...] = (
            context.channel,
            context.intent,
            context.order_value,
            context.currency,
            context.item_count,
            *sorted(context.attributes.items()),
        )
        return self._contexts.setdefault(key, context)
