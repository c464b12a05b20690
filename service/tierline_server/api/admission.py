"""Admission control: a call is admitted only when the work ahead of it can be done before its
deadline; otherwise it is shed at once, so the caller falls back (or tries another replica)
instead of waiting out its deadline in a queue.

The work ahead is counted in decisions (a Decide is one, a DecideBatch one per item). Its cost is
measured, not configured: the CPU time of the event loop's thread per decision finished, sampled
every SAMPLE_SECONDS, which covers our handler and the gRPC machinery around it alike. One event
loop runs one decision at a time, so the wait of a new call is about (decisions ahead) x (cost).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tierline_server.errors import Overloaded

INITIAL_COST_SECONDS = 0.0002
"""Cost per decision assumed until the first sample: about what one costs on a busy core."""
SAMPLE_SECONDS = 0.25
MIN_SAMPLE_DECISIONS = 50
"""A sample needs this many decisions finished, so that idle time's housekeeping (health checks,
the Redis probe) does not pass for the cost of a decision."""
SMOOTHING = 0.3
"""Weight of a new sample in the moving average: reacts within a second to a change of load."""
HEADROOM = 0.8
"""Share of the caller's remaining time that the queue may take: the rest is for the network and
the answer itself."""


class Admission:
    """Counts the decisions in flight on one event loop and admits or sheds new calls."""

    def __init__(
        self,
        max_in_flight: int,
        max_wait_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        cpu_clock: Callable[[], float] = time.thread_time,
    ) -> None:
        self._max_in_flight = max_in_flight
        self._max_wait = max_wait_seconds
        self._clock = clock
        self._cpu_clock = cpu_clock
        self.in_flight = 0
        """Decisions admitted and not yet finished."""
        self.cost_seconds = INITIAL_COST_SECONDS
        """Event-loop CPU per decision (moving average)."""
        self._finished = 0
        self._sampled_at = clock()
        self._sampled_cpu = cpu_clock()
        self._sampled_finished = 0

    def admit(self, decisions: int, remaining_seconds: float | None) -> None:
        """Admit ``decisions`` for a call with ``remaining_seconds`` left (None: no deadline, at
        most ``max_wait_seconds`` of queue); raises Overloaded to shed it."""
        ahead = self.in_flight + decisions
        if ahead > self._max_in_flight:
            raise Overloaded(
                f"{self.in_flight} decisions in flight, at most {self._max_in_flight}: "
                "try another replica or fall back"
            )
        budget = self._max_wait if remaining_seconds is None else remaining_seconds
        wait = ahead * self.cost_seconds
        if wait > budget * HEADROOM:
            raise Overloaded(
                f"about {wait * 1000:.1f} ms of decisions ahead, the deadline leaves "
                f"{max(budget, 0) * 1000:.1f} ms: try another replica or fall back"
            )
        self.in_flight = ahead

    def release(self, decisions: int) -> None:
        """The admitted decisions are done (answered, failed or abandoned)."""
        self.in_flight -= decisions
        self._finished += decisions
        now = self._clock()
        if now - self._sampled_at < SAMPLE_SECONDS:
            return
        cpu = self._cpu_clock()
        finished = self._finished - self._sampled_finished
        # Too few decisions to tell their cost from housekeeping: only start a new sample.
        if finished >= MIN_SAMPLE_DECISIONS:
            self.cost_seconds += SMOOTHING * (
                (cpu - self._sampled_cpu) / finished - self.cost_seconds
            )
        self._sampled_at, self._sampled_cpu, self._sampled_finished = now, cpu, self._finished
