"""The decision path: look up features, evaluate the policy, measure, count.

Handlers map protobuf to these types and back; this module knows nothing of gRPC.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from contextvars import Token
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from prometheus_client import Counter

from tierline_server import logs
from tierline_server.errors import DeadlinePassed
from tierline_server.features.lookup import FeatureLookup, FeatureSource
from tierline_server.features.store import FeatureStore
from tierline_server.ids import new_decision_id
from tierline_server.metrics import Metrics
from tierline_server.policy.decider import Decider
from tierline_server.policy.domain import Context, Decision

BATCH_EVAL_CHUNK = 16
"""Batch items evaluated between two yields to the event loop."""
SERIES_KEPT = 4096
"""(level, tier, matched rules) combinations whose metric series are kept at hand."""

_DecisionSeries = tuple[Counter, tuple[Counter, ...]]
"""A decision's count by level and tier, and those of the rules it matched."""


@dataclass(frozen=True)
class DecisionRequest:
    """One customer in one interaction."""

    customer_id: str
    context: Context
    explain: bool = False
    occurred_at_ns: int | None = None
    """When the interaction happened (epoch nanoseconds); None: now."""
    caller: str = ""
    """Who asked: the caller's name ('' when authentication is off)."""


@dataclass(frozen=True)
class Outcome:
    """A decision with what it cost and where its features came from."""

    decision_id: str
    customer_id: str
    decision: Decision
    feature_source: FeatureSource
    features_age_seconds: float | None
    lookup_micros: int
    eval_micros: int
    total_micros: int
    occurred_at_ns: int = 0
    """When the interaction happened (epoch nanoseconds): as the caller said, or when decided."""
    features: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """The customer's typed features the decision was made with (defaults not filled in)."""


class DecisionSink(Protocol):
    """Where decisions go once made (the decision log, through the shadow policy when there is
    one); must return at once and never raise."""

    def append(
        self,
        request: DecisionRequest,
        outcome: Outcome,
        *,
        batch: bool,
        shadow: Decision | None = None,
    ) -> None:
        """Take one decision; ``batch`` when it was an item of DecideBatch; ``shadow``: the
        shadow policy's decision for the same inputs, when it differs for the customer."""


class DecisionService:
    """Decides for one request or a batch; never fails because Redis does."""

    def __init__(
        self,
        decider: Decider,
        store: FeatureStore,
        metrics: Metrics,
        log: DecisionSink | None = None,
    ) -> None:
        self._decider = decider
        self._store = store
        self._metrics = metrics
        self._log = log
        # The counters a decision adds to, by its level, tier and matched rules: finding a
        # labelled series costs more than adding to it.
        self._series: dict[tuple[str, str, tuple[str, ...]], _DecisionSeries] = {}

    async def decide(self, request: DecisionRequest, deadline: float | None = None) -> Outcome:
        """Decide for one request (one Redis round trip at most). ``deadline`` (monotonic): when
        the caller stops waiting; past it, the rules are not evaluated (DeadlinePassed)."""
        started = time.perf_counter_ns()
        decision_id = new_decision_id()
        # Named for the rest of the call (its own task), so that whatever is logged about it,
        # a failure included, carries its id.
        logs.deciding(decision_id)
        lookup = await self._store.lookup(request.customer_id)
        _check(deadline)
        lookup_ns = time.perf_counter_ns() - started
        outcome = self._evaluate(request, lookup, started, lookup_ns, decision_id)
        if self._log is not None:
            self._log.append(request, outcome, batch=False)
        return outcome

    async def decide_many(
        self, requests: Sequence[DecisionRequest], deadline: float | None = None
    ) -> list[Outcome]:
        """Decide for a batch with one Redis round trip for all of its customers."""
        started = time.perf_counter_ns()
        lookups = await self._store.lookup_many([r.customer_id for r in requests])
        lookup_ns = time.perf_counter_ns() - started
        outcomes: list[Outcome] = []
        first: Token[str | None] | None = None
        for index, (request, lookup) in enumerate(zip(requests, lookups, strict=True)):
            if index % BATCH_EVAL_CHUNK == 0:
                _check(deadline)
                if index:
                    # A long batch gives way now and then, so that calls behind it are not
                    # held up for its whole length.
                    await asyncio.sleep(0)
            decision_id = new_decision_id()
            named = logs.deciding(decision_id)  # a failure is logged with this item's id
            if first is None:
                first = named
            outcomes.append(self._evaluate(request, lookup, started, lookup_ns, decision_id))
        if first is not None:
            logs.decided(first)  # as before the batch: the batch as a whole is no one decision
        if self._log is not None:
            # Once the whole batch is decided (the sink may start work of its own), and not at
            # all when the deadline cut it short: then no decision was answered.
            for request, outcome in zip(requests, outcomes, strict=True):
                self._log.append(request, outcome, batch=True)
        return outcomes

    def _evaluate(
        self,
        request: DecisionRequest,
        lookup: FeatureLookup,
        started: int,
        lookup_ns: int,
        decision_id: str,
    ) -> Outcome:
        decider = self._decider
        eval_started = time.perf_counter_ns()
        decision = decider.decide(
            lookup.features,
            request.context,
            degraded=lookup.unavailable,
            explain=request.explain,
        )
        finished = time.perf_counter_ns()
        eval_ns = finished - eval_started
        self._count(decision, eval_ns)
        return Outcome(
            decision_id=decision_id,
            customer_id=request.customer_id,
            decision=decision,
            feature_source=lookup.source,
            features_age_seconds=lookup.age_seconds,
            lookup_micros=lookup_ns // 1000,
            eval_micros=eval_ns // 1000,
            total_micros=(finished - started) // 1000,
            occurred_at_ns=(
                time.time_ns() if request.occurred_at_ns is None else request.occurred_at_ns
            ),
            features=lookup.features,
        )

    def _count(self, decision: Decision, eval_ns: int) -> None:
        metrics = self._metrics
        metrics.rule_evaluation_duration.observe(eval_ns / 1e9)
        key = (decision.service_level.name, decision.tier, decision.matched_rules)
        series = self._series.get(key)
        if series is None:
            if len(self._series) >= SERIES_KEPT:
                self._series.clear()
            series = self._series[key] = (
                metrics.decisions.labels(key[0], key[1]),
                tuple(metrics.rule_matches.labels(rule_id) for rule_id in key[2]),
            )
        decided, matches = series
        decided.inc()
        for matched in matches:
            matched.inc()
        if decision.degraded:
            metrics.degraded_decisions.inc()


def _check(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise DeadlinePassed("the deadline passed before the rules were evaluated")
