"""The server's log: one event per line, as JSON for a log collector or as text for a person.

Every process of `tierline serve` (the supervisor and each worker) calls ``configure`` once. From
then on structlog renders Tierline's own events (``structlog.get_logger(__name__)``: an event
name and fields) and the standard library's log records (gRPC, asyncio, redis-py) alike, so that
every line carries the same keys: ``timestamp`` (UTC), ``level``, ``event``, ``logger``,
``process`` (``supervisor`` or a worker's identity), ``pid``, the event's own fields, and
``decision_id`` while a decision is being made. A customer's features are never logged.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

_decision_id: ContextVar[str | None] = ContextVar("tierline_decision_id", default=None)
"""The decision being made in this task. A plain ContextVar rather than structlog's
bind_contextvars: it is set on every decision, and costs 0.06 us a time instead of 0.8."""


def deciding(decision_id: str) -> Token[str | None]:
    """Name the decision being made: events logged until ``decided(token)`` (or until the
    call's task ends) carry its id."""
    return _decision_id.set(decision_id)


def decided(token: Token[str | None]) -> None:
    """Name again what was named before the ``deciding`` that returned ``token`` (and any after
    it in this task)."""
    _decision_id.reset(token)


def failure(error: BaseException) -> str:
    """An expected failure (Redis unreachable, say) as an event's field: its type and message,
    without a traceback."""
    return f"{type(error).__name__}: {error}"


def _add_decision_id(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    decision_id = _decision_id.get()
    if decision_id is not None:
        event.setdefault("decision_id", decision_id)
    return event


def _add_process(name: str) -> Processor:
    pid = os.getpid()

    def add(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
        event["process"] = name
        event["pid"] = pid
        return event

    return add


def configure(log_format: str, level: str, process: str, stream: TextIO | None = None) -> None:
    """Send this process's log, Tierline's events and the standard library's records, to
    ``stream`` (standard error by default) from ``level`` up, in ``log_format``: "json" (one
    object per line) or "text" (config.LOG_FORMATS)."""
    stream = sys.stderr if stream is None else stream
    shared: list[Processor] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _add_process(process),
        _add_decision_id,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    ]
    rendering: list[Processor] = (
        [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()]
        if log_format == "json"
        else [structlog.dev.ConsoleRenderer(colors=stream.isatty())]
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering],
        )
    )
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)  # a Python warning is one event too, not loose lines
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,  # configure() again (tests) takes effect everywhere
    )


class Summary:
    """An event that can happen thousands of times a second (shed calls under overload), logged
    at most once per ``period``: the first at once, the ones after it counted and logged as one
    event when the period ends, so that every occurrence is in some line."""

    def __init__(
        self,
        emit: Callable[[int, dict[str, Any]], None],
        period: float,
        call_later: Callable[[float, Callable[[], None]], object] | None = None,
    ) -> None:
        """``emit(count, fields)`` logs ``count`` occurrences, with the latest one's
        ``fields``; ``call_later`` schedules the end of a period (the running event loop's by
        default)."""
        self._emit = emit
        self._period = period
        self._call_later = call_later
        self._count = 0
        self._fields: dict[str, Any] = {}
        self._window_open = False

    def add(self, **fields: Any) -> None:
        """One occurrence, with what to say about it."""
        self._count += 1
        self._fields = fields
        if not self._window_open:
            self._flush()

    def _flush(self) -> None:
        if not self._count:
            self._window_open = False  # quiet for a whole period: the next one is logged at once
            return
        self._emit(self._count, self._fields)
        self._count = 0
        self._window_open = True
        schedule = self._call_later or asyncio.get_running_loop().call_later
        schedule(self._period, self._flush)
