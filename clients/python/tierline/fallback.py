"""The fail-safe: answer with the baseline when Tierline is slow or unreachable.

A caller mid-call must never wait past its deadline nor crash because Tierline is down, and the
baseline is, by the policy's own guarantee, what every customer gets in any case. So on
DEADLINE_EXCEEDED, UNAVAILABLE (after gRPC's retries) or RESOURCE_EXHAUSTED the client builds
the decision itself from the baseline it knows: the one the service last published (GetPolicy,
fetched at first use and refreshed in the background), else the one it was configured with.
Such a decision is ``degraded`` with reason ``client_fallback``; each is counted and the switch
into and out of fallback is logged (WARNING / INFO; every single fallback at DEBUG).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from tierline.interaction import DecisionRequest
from tierline.model import (
    FALLBACK_REASON,
    Baseline,
    Decision,
    DecisionMetrics,
    FeatureSource,
    PolicyInfo,
)

log = logging.getLogger("tierline.client")

UNKNOWN_TIER = "unknown"
"""The tier of a fallback decision: the client does not know the customer."""
DEFAULT_POLICY_REFRESH_SECONDS = 60.0
POLICY_RETRY_SECONDS = 2.0
"""After a failed policy fetch, or a decision from another policy version, wait at least this
long before fetching again: no GetPolicy storm while the service is down or mid-rollout."""


def fallback_decision(
    request: DecisionRequest, baseline: Baseline, policy_version: str, latency: float
) -> Decision:
    """The baseline decision for a request the service did not answer."""
    return Decision(
        decision_id="",
        customer_id=request.customer_id,
        tier=UNKNOWN_TIER,
        policy_version=policy_version,
        service_level=baseline.service_level,
        routing=baseline.routing,
        perks=baseline.perks,
        matched_rules=(),
        baseline_applied=True,
        degraded=True,
        degraded_reason=FALLBACK_REASON,
        metrics=DecisionMetrics(feature_source=FeatureSource.UNAVAILABLE),
        explanation=None,
        latency=latency,
    )


class PolicyCache:
    """The policy last fetched from the service, the configured baseline, and when to fetch.

    Thread-safe. The first ``claim_fetch()`` returns True (fetch at first use); afterwards one
    fetch at a time, every ``refresh_interval`` seconds, sooner when a decision names another
    policy version, and no sooner than ``POLICY_RETRY_SECONDS`` after a failure.
    """

    def __init__(
        self,
        refresh_interval: float = DEFAULT_POLICY_REFRESH_SECONDS,
        configured: Baseline | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if refresh_interval <= 0:
            raise ValueError("policy_refresh_interval must be positive")
        self.refresh_interval = refresh_interval
        self.configured = configured
        self._clock = clock
        self._lock = threading.Lock()
        self._policy: PolicyInfo | None = None
        self._fetching = False
        self._next_fetch = clock()  # at first use
        self._earliest_fetch = self._next_fetch

    @property
    def policy(self) -> PolicyInfo | None:
        """The policy last fetched, or None when the service was never reached."""
        return self._policy

    def baseline(self) -> tuple[Baseline, str] | None:
        """The baseline to fall back on and its policy version ('' when configured), or None."""
        policy = self._policy
        if policy is not None:
            return policy.baseline, policy.version
        if self.configured is not None:
            return self.configured, ""
        return None

    def claim_fetch(self) -> bool:
        """Whether the caller should fetch the policy now; if so it must report the outcome."""
        with self._lock:
            if self._fetching or self._clock() < self._next_fetch:
                return False
            self._fetching = True
            return True

    def store(self, policy: PolicyInfo) -> None:
        """Keep a freshly fetched policy."""
        with self._lock:
            previous, self._policy = self._policy, policy
            self._fetching = False
            now = self._clock()
            self._next_fetch = now + self.refresh_interval
            self._earliest_fetch = now + min(POLICY_RETRY_SECONDS, self.refresh_interval)
        if previous is None:
            log.info("Tierline policy %s %s fetched", policy.name, policy.version)
        elif previous.checksum != policy.checksum:
            log.info("Tierline policy changed: %s -> %s", previous.version, policy.version)

    def fetch_failed(self, reason: str) -> None:
        """A fetch failed; try again later."""
        with self._lock:
            self._fetching = False
            self._next_fetch = self._clock() + min(POLICY_RETRY_SECONDS, self.refresh_interval)
        log.debug("fetching the Tierline policy failed: %s", reason)

    def note_version(self, version: str) -> None:
        """A decision named its policy version: fetch again soon if it is not the cached one."""
        policy = self._policy
        if policy is None or not version or version == policy.version:
            return
        with self._lock:
            self._next_fetch = min(self._next_fetch, self._earliest_fetch)


class FallbackRecorder:
    """Counts fallback decisions and logs when the client starts and stops falling back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._falling_back = False

    @property
    def count(self) -> int:
        """Fallback decisions returned so far."""
        return self._count

    def fell_back(self, status: str, detail: str, decisions: int) -> None:
        """``decisions`` baseline decisions were returned because of ``status``."""
        with self._lock:
            self._count += decisions
            starting, self._falling_back = not self._falling_back, True
        if starting:
            log.warning(
                "Tierline did not answer (%s: %s): answering with the baseline (%s)",
                status,
                detail,
                FALLBACK_REASON,
            )
        else:
            log.debug("Tierline did not answer (%s): %d baseline decision(s)", status, decisions)

    def answered(self) -> None:
        """The service answered a call."""
        if not self._falling_back:
            return
        with self._lock:
            stopping, self._falling_back = self._falling_back, False
            count = self._count
        if stopping:
            log.info("Tierline answers again (%d fallback decisions so far)", count)
