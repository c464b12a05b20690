"""The server's log: every event one line (one JSON object, or text), Tierline's events and the
standard library's records alike; frequent events summarised at most once per period."""

from __future__ import annotations

import heapq
import io
import itertools
import json
import logging
import math
import warnings
from collections.abc import Callable
from typing import Any

import structlog
from hypothesis import given
from hypothesis import strategies as st
from tierline_server import logs

PERIOD = 10.0


def configured(log_format: str = "json", level: str = "INFO") -> io.StringIO:
    stream = io.StringIO()
    logs.configure(log_format, level, "w0a", stream)
    return stream


def events(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_our_events_and_library_records_are_one_json_object_a_line(
    restored_logging: None,
) -> None:
    stream = configured()

    structlog.get_logger("tierline_server.supervisor").info("policy reloaded", version="2")
    logging.getLogger("grpc._cython.cygrpc").warning("a %s record", "library's")

    ours, theirs = events(stream)
    assert {k: ours[k] for k in ("event", "level", "logger", "process", "version")} == {
        "event": "policy reloaded",
        "level": "info",
        "logger": "tierline_server.supervisor",
        "process": "w0a",
        "version": "2",
    }
    assert {k: theirs[k] for k in ("event", "level", "logger", "process")} == {
        "event": "a library's record",
        "level": "warning",
        "logger": "grpc._cython.cygrpc",
        "process": "w0a",
    }
    for event in (ours, theirs):
        assert event["timestamp"].endswith("Z")
        assert isinstance(event["pid"], int)


def test_a_traceback_stays_inside_its_event(restored_logging: None) -> None:
    stream = configured()

    try:
        raise ValueError("went wrong")
    except ValueError:
        structlog.get_logger("tierline_server.worker").exception("worker failed")
        logging.getLogger("asyncio").exception("Task exception was never retrieved")

    ours, theirs = events(stream)  # two lines, however long the tracebacks
    for event in (ours, theirs):
        assert event["level"] == "error"
        assert event["exception"][0]["exc_type"] == "ValueError"
        assert event["exception"][0]["exc_value"] == "went wrong"


def test_events_below_the_level_are_left_out(restored_logging: None) -> None:
    stream = configured(level="WARNING")

    structlog.get_logger("tierline_server.server").info("redis reachable")
    logging.getLogger("redis").info("connected")
    structlog.get_logger("tierline_server.server").warning("redis unreachable")

    assert [e["event"] for e in events(stream)] == ["redis unreachable"]


def test_a_python_warning_is_an_event_too(restored_logging: None) -> None:
    stream = configured()

    warnings.warn("something is deprecated", DeprecationWarning, stacklevel=1)

    (event,) = events(stream)
    assert event["level"] == "warning"
    assert "something is deprecated" in event["event"]


def test_events_logged_while_deciding_carry_the_decision_id(restored_logging: None) -> None:
    stream = configured()
    log = structlog.get_logger("tierline_server.features.redis_health")

    token = logs.deciding("01KBCDEFGHJKMNPQRSTVWXYZ01")
    log.warning("redis circuit opened")
    logging.getLogger("grpc").error("unexpected error in a handler")
    logs.decided(token)
    log.info("redis circuit closed")

    opened, failed, closed = events(stream)
    assert opened["decision_id"] == failed["decision_id"] == "01KBCDEFGHJKMNPQRSTVWXYZ01"
    assert "decision_id" not in closed


def test_text_is_for_people(restored_logging: None) -> None:
    stream = configured("text")

    structlog.get_logger("tierline_server.supervisor").info("draining", grace_seconds=10.0)

    line = stream.getvalue()
    assert line.count("\n") == 1
    assert not line.startswith("{")
    assert "draining" in line
    assert "grace_seconds=10.0" in line
    assert "process=w0a" in line
    assert "\x1b[" not in line  # no colours where the stream is not a terminal


# --- Summary ---------------------------------------------------------------------------------


class Simulation:
    """A clock and a timer queue standing in for the event loop."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self.lines: list[tuple[float, int, dict[str, Any]]] = []
        self.summary = logs.Summary(self._emit, PERIOD, self._call_later)

    def _emit(self, count: int, fields: dict[str, Any]) -> None:
        self.lines.append((self.now, count, fields))

    def _call_later(self, delay: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (self.now + delay, next(self._order), callback))

    def run_until(self, moment: float) -> None:
        while self._timers and self._timers[0][0] <= moment:
            self.now, _, callback = heapq.heappop(self._timers)
            callback()
        self.now = max(self.now, moment) if math.isfinite(moment) else self.now

    def occur_at(self, moment: float, **fields: Any) -> None:
        self.run_until(moment)
        self.summary.add(**fields)


def test_the_first_occurrence_is_logged_at_once_and_a_burst_as_one_line() -> None:
    simulation = Simulation()

    for n in range(1000):
        simulation.occur_at(n * 0.001, n=n)
    assert simulation.lines == [(0.0, 1, {"n": 0})]

    simulation.run_until(math.inf)
    assert simulation.lines == [(0.0, 1, {"n": 0}), (PERIOD, 999, {"n": 999})]


def test_after_a_quiet_period_the_next_occurrence_is_logged_at_once() -> None:
    simulation = Simulation()

    simulation.occur_at(0.0)
    simulation.occur_at(3 * PERIOD)

    assert [(moment, count) for moment, count, _ in simulation.lines] == [
        (0.0, 1),
        (3 * PERIOD, 1),
    ]


@given(st.lists(st.floats(min_value=0, max_value=100 * PERIOD), max_size=300))
def test_a_summary_counts_every_occurrence_at_most_once_per_period(times: list[float]) -> None:
    simulation = Simulation()

    for moment in sorted(times):
        simulation.occur_at(moment)
    simulation.run_until(math.inf)

    assert sum(count for _, count, _ in simulation.lines) == len(times)
    moments = [moment for moment, _, _ in simulation.lines]
    gaps = [later - earlier for earlier, later in itertools.pairwise(moments)]
    assert all(gap >= PERIOD - 1e-9 for gap in gaps)  # (now + PERIOD) - now may round down
    # Nothing waits longer than a period to be logged.
    assert all(any(moment <= line <= moment + PERIOD for line in moments) for moment in times)
