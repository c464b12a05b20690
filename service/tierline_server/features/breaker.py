"""A circuit breaker: stop calling a failing dependency for a while, then probe it."""

from __future__ import annotations

import time
from collections.abc import Callable


class CircuitBreaker:
    """Opens after ``failures`` consecutive failures; while open, ``allow`` says no except for
    one probe per ``cooldown_seconds``. A success closes it.

    A probe whose result never arrives (its request was cancelled) cannot wedge the breaker:
    the next cool-down simply lets another probe through.
    """

    def __init__(
        self,
        failures: int,
        cooldown_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = failures
        self._cooldown = cooldown_seconds
        self._clock = clock
        self._failures = 0
        self._probe_at: float | None = None
        """While open: when the next probe may go. None while closed."""

    @property
    def is_open(self) -> bool:
        """Whether calls are being skipped."""
        return self._probe_at is not None

    def allow(self) -> bool:
        """Whether to make a call now (always while closed; one probe per cool-down while open)."""
        if self._probe_at is None:
            return True
        now = self._clock()
        if now < self._probe_at:
            return False
        self._probe_at = now + self._cooldown
        return True

    def record_success(self) -> None:
        """The call worked: close."""
        self._failures = 0
        self._probe_at = None

    def record_failure(self) -> None:
        """The call failed: open after enough in a row (a failed probe re-opens at once)."""
        self._failures += 1
        if self._failures >= self._threshold and self._probe_at is None:
            self._probe_at = self._clock() + self._cooldown
