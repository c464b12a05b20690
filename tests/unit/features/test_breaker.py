"""The circuit breaker: opens after failures in a row, then probes once per cool-down."""

from __future__ import annotations

from support.clock import Clock
from tierline_server.features.breaker import CircuitBreaker


def opened(clock: Clock) -> CircuitBreaker:
    breaker = CircuitBreaker(failures=3, cooldown_seconds=1.0, clock=clock)
    for _ in range(3):
        assert breaker.allow()
        breaker.record_failure()
    return breaker


def test_stays_closed_below_the_threshold() -> None:
    breaker = CircuitBreaker(failures=3, cooldown_seconds=1.0, clock=Clock())
    for _ in range(2):
        breaker.record_failure()
    assert not breaker.is_open
    assert breaker.allow()


def test_a_success_resets_the_count() -> None:
    breaker = CircuitBreaker(failures=3, cooldown_seconds=1.0, clock=Clock())
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert not breaker.is_open


def test_opens_after_consecutive_failures_and_skips_calls() -> None:
    clock = Clock()
    breaker = opened(clock)
    assert breaker.is_open
    clock.now += 0.9
    assert not breaker.allow()


def test_lets_one_probe_through_per_cooldown() -> None:
    clock = Clock()
    breaker = opened(clock)
    clock.now += 1.0
    assert breaker.allow()
    assert not breaker.allow()  # the probe is out; others still skip
    assert breaker.is_open


def test_a_successful_probe_closes() -> None:
    clock = Clock()
    breaker = opened(clock)
    clock.now += 1.0
    assert breaker.allow()
    breaker.record_success()
    assert not breaker.is_open
    assert breaker.allow()


def test_a_failed_probe_reopens_for_another_cooldown() -> None:
    clock = Clock()
    breaker = opened(clock)
    clock.now += 1.0
    assert breaker.allow()
    breaker.record_failure()
    clock.now += 0.5
    assert not breaker.allow()
    clock.now += 0.5
    assert breaker.allow()


def test_a_probe_that_never_reports_does_not_wedge_it() -> None:
    clock = Clock()
    breaker = opened(clock)
    clock.now += 1.0
    assert breaker.allow()  # this probe is cancelled and never reports
    clock.now += 1.0
    assert breaker.allow()
