"""Whether Redis is usable for the read path: a circuit breaker fed by every read, the error
metrics, and a log line at each change of state."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import structlog

from tierline_server import logs
from tierline_server.config import RedisSettings
from tierline_server.features import redis_client
from tierline_server.features.breaker import CircuitBreaker
from tierline_server.metrics import Metrics

log = structlog.get_logger(__name__)


class RedisHealth:
    """Counts and classifies read failures; opens the circuit when Redis itself is failing.

    An error reply about one key (WRONGTYPE, say) means Redis answered: it is counted but does
    not open the circuit, so one malformed customer never degrades the others.
    """

    def __init__(
        self,
        settings: RedisSettings,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._breaker = CircuitBreaker(
            settings.breaker_failures, settings.breaker_cooldown_seconds, clock
        )

    @property
    def circuit_open(self) -> bool:
        """Whether reads are being skipped."""
        return self._breaker.is_open

    def allow(self) -> bool:
        """Whether to read Redis now (one probe per cool-down while the circuit is open)."""
        return self._breaker.allow()

    def record(self, failures: Sequence[BaseException] = ()) -> None:
        """The outcome of one round trip: no failures, or each failed command's error."""
        outage = None
        for error in failures:
            self._metrics.redis_errors.labels(redis_client.error_kind(error).value).inc()
            if outage is None and redis_client.is_outage(error):
                outage = error
        if outage is None:
            self._succeeded()
        else:
            self._failed(outage)

    def _failed(self, error: BaseException) -> None:
        was_open = self._breaker.is_open
        self._breaker.record_failure()
        if self._breaker.is_open and not was_open:
            log.warning(
                "redis circuit opened",
                error=logs.failure(error),
                error_kind=redis_client.error_kind(error).value,
                probe_every_seconds=self._settings.breaker_cooldown_seconds,
            )
            self._metrics.circuit_open.set(1)

    def _succeeded(self) -> None:
        if self._breaker.is_open:
            log.info("redis circuit closed")
            self._metrics.circuit_open.set(0)
        self._breaker.record_success()
