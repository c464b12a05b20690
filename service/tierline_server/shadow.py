"""The shadow policy: a candidate decides a share of live decisions too; callers only ever get
the live decision.

The decision service hands each decision to its sink as it answers. The shadow draws its share
there and queues what it drew; the candidate decides those a moment later (DELAY_SECONDS), once
gRPC has sent the answer, so a request waits for none of it. The shadow's work still takes its
turns on the worker's event loop: on a busy worker, it is CPU that other calls share
(bench/shadow.py measures both). Each pair is compared as ``policy diff`` compares them
(only what the customer gets counts): agreements, each kind of difference and the rules behind a
difference are counted in Prometheus, and the decision goes on to the decision log, with the
candidate's decision beside it when they differ. Whatever goes wrong in the shadow is counted and
logged, never raised: the shadow cannot fail a request.

The candidate decides with the features the live policy read, typed by its own schema: a feature
that only the candidate declares takes its default (``unread_features``; the supervisor warns).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

import structlog

from tierline_server import logs
from tierline_server.decisions import DecisionRequest, DecisionSink, Outcome
from tierline_server.metrics import SHADOW_RESULTS, Metrics
from tierline_server.policy.compiled import Policy
from tierline_server.policy.decider import Decider
from tierline_server.policy.diff import Comparison, Kind, RulesBehind
from tierline_server.policy.domain import Decision
from tierline_server.policy.inputs import readable_features

log = structlog.get_logger(__name__)

QUEUE_SIZE = 10_000
"""Decisions waiting for the shadow; beyond it, new ones are skipped (logged without a shadow,
and counted): the shadow never holds more than this, however far behind it falls."""
DELAY_SECONDS = 0.002
"""How long a drawn decision waits before the shadow starts on it. The answer must be on its way
first: gRPC's poller thread moves answers on only when it gets the GIL, which an event loop
busy with Python code (the shadow's, or anyone's) holds until it waits for I/O; work scheduled
for the loop's next turn would hold the answer back by its own length, work scheduled a moment
later lets an idle server send it first (bench/shadow.py)."""
CHUNK = 16
"""Decisions the shadow decides in one turn of the event loop (a few hundred microseconds):
calls that arrive meanwhile do not wait behind a whole batch."""
ERROR_REPORT_SECONDS = 60.0
"""At most one log line per this many seconds about failing evaluations (all are counted)."""


def unread_features(live: Policy, candidate: Policy) -> list[str]:
    """The features the candidate declares and the live policy does not: the shadow sees their
    defaults, since lookups read what the live policy declares."""
    return sorted(set(candidate.features) - set(live.features))


class Shadow:
    """A DecisionSink in front of the decision log: decides a share of decisions with the
    candidate, counts, and hands every decision on to ``log``."""

    def __init__(
        self,
        live: Decider,
        candidate: Decider,
        share: float,
        metrics: Metrics,
        log: DecisionSink | None,
    ) -> None:
        self._candidate = candidate
        self._share = share
        self._log = log
        self._compare = Comparison(live.baseline, candidate.baseline)
        self._rules_behind = RulesBehind(live.policy, candidate.policy)
        # Most candidates declare the same features: then the live policy's typed values are
        # the candidate's as they are.
        self._same_features = dict(live.policy.features) == dict(candidate.policy.features)
        self._queue: deque[tuple[DecisionRequest, Outcome, bool]] = deque()
        self._scheduled = False
        policy = candidate.policy
        metrics.track_shadow(
            name=policy.name,
            version=policy.version,
            checksum=policy.checksum,
            kinds=[kind.value for kind in Kind],
            rules=self._rules_behind.rule_ids,
        )
        results = metrics.shadow_decisions
        self._results = {result: results.labels(result) for result in SHADOW_RESULTS}
        self._kinds = {kind: metrics.shadow_differences.labels(kind.value) for kind in Kind}
        rules = metrics.shadow_rule_differences
        self._rules = {rule: rules.labels(rule) for rule in self._rules_behind.rule_ids}
        self._duration = metrics.shadow_evaluation_duration
        self._failure_log = logs.Summary(self._log_failures, ERROR_REPORT_SECONDS)

    def append(
        self,
        request: DecisionRequest,
        outcome: Outcome,
        *,
        batch: bool,
        shadow: Decision | None = None,
    ) -> None:
        """Take a live decision: queue it for the candidate if drawn, else pass it on to the log
        at once. Returns at once, never raises."""
        if self._share < 1.0 and random.random() >= self._share:
            self._pass_on(request, outcome, batch)
            return
        if len(self._queue) >= QUEUE_SIZE:
            self._results["skipped"].inc()
            self._pass_on(request, outcome, batch)
            return
        self._queue.append((request, outcome, batch))
        if not self._scheduled:
            asyncio.get_running_loop().call_later(DELAY_SECONDS, self._work)
            self._scheduled = True

    def close(self) -> None:
        """Decide whatever is queued now (at shutdown, before the decision log closes)."""
        while self._queue:
            self._evaluate(*self._queue.popleft())

    def _work(self) -> None:
        self._scheduled = False
        for _ in range(min(CHUNK, len(self._queue))):
            self._evaluate(*self._queue.popleft())
        if self._queue:
            asyncio.get_running_loop().call_soon(self._work)
            self._scheduled = True

    def _evaluate(self, request: DecisionRequest, outcome: Outcome, batch: bool) -> None:
        """Decide one live decision with the candidate, compare, count, and pass it on."""
        live = outcome.decision
        started = time.perf_counter()
        try:
            candidate = self._candidate.decide(
                self._features(outcome.features), request.context, degraded=live.degraded
            )
            change = self._compare(live, candidate)
            behind = self._rules_behind(live, candidate) if change.changed else ()
        except Exception as error:  # the shadow must never fail a request, whatever it is
            self._failed(error)
            self._pass_on(request, outcome, batch)
            return
        finally:
            self._duration.observe(time.perf_counter() - started)
        if not change.changed:
            self._results["agree"].inc()
            self._pass_on(request, outcome, batch)
            return
        self._results["differ"].inc()
        for kind in change.kinds:
            self._kinds[kind].inc()
        for rule in behind:
            self._rules[rule].inc()
        self._pass_on(request, outcome, batch, candidate)

    def _features(self, features: Mapping[str, Any]) -> Mapping[str, Any]:
        if self._same_features:
            return features
        return readable_features(self._candidate.policy, features)

    def _pass_on(
        self,
        request: DecisionRequest,
        outcome: Outcome,
        batch: bool,
        shadow: Decision | None = None,
    ) -> None:
        if self._log is not None:
            self._log.append(request, outcome, batch=batch, shadow=shadow)

    def _failed(self, error: Exception) -> None:
        """Count a failed evaluation; the log has the latest, and how many failed, at most
        once a while."""
        self._results["error"].inc()
        self._failure_log.add(error=error)

    def _log_failures(self, failures: int, latest: dict[str, Any]) -> None:
        error = latest["error"]
        log.warning(
            "shadow evaluation failed",
            shadow_policy_version=self._candidate.policy.version,
            failures=failures,
            error=logs.failure(error),
            exc_info=error,
        )
