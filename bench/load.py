"""Load from Python: bursts of concurrent Decides through Tierline's own asyncio client.

A burst is what a call center does at the top of the hour: ``size`` calls at once, each with the
client's deadline (50 ms by default). Each call ends one of three ways:

- **answered**: the service's decision arrived within the deadline;
- **shed**: the service refused it at once (RESOURCE_EXHAUSTED, or UNAVAILABLE after the
  client's retries) and the client answered with the baseline;
- **failed**: the deadline passed (DEADLINE_EXCEEDED, then the baseline) or the client raised.

The client hides the status behind its fallback (that is its job), and says it only in its log
(each fallback at DEBUG on the ``tierline.client`` logger, the status first): a handler reads it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from tierline import AsyncEntitlementClient
from tierline.interaction import DecisionRequest

CLIENT_LOGGER = "tierline.client"
SHED_CODES = frozenset({"RESOURCE_EXHAUSTED", "UNAVAILABLE"})
DEFAULT_DEADLINE_SECONDS = 0.05


class FallbackStatus(logging.Handler):
    """Keeps the gRPC status of the client's latest fallback (from its log record's first
    argument). Under asyncio the client logs and returns in one step, so right after a call
    returns a fallback this is that call's status."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.latest = ""

    def emit(self, record: logging.LogRecord) -> None:
        """Note the status of a fallback record."""
        if isinstance(record.args, tuple) and record.args:
            self.latest = str(record.args[0])


@dataclass
class BurstResult:
    """Every call of every burst, by how it ended, with latencies in ms."""

    answered: list[float] = field(default_factory=list)
    shed: list[float] = field(default_factory=list)
    failed: list[float] = field(default_factory=list)
    statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    """Why calls were not answered: gRPC status names, or the exception the client raised."""
    bursts: int = 0
    seconds: list[float] = field(default_factory=list)
    """Wall time of each burst, first call sent to last call ended."""

    @property
    def calls(self) -> int:
        """Calls made in all bursts."""
        return len(self.answered) + len(self.shed) + len(self.failed)


async def _one(
    client: AsyncEntitlementClient,
    request: DecisionRequest,
    status: FallbackStatus,
    result: BurstResult,
) -> None:
    started = time.perf_counter()
    try:
        decision = await client.decide_request(request)
    except Exception as error:  # a benchmark counts what the client raised, and goes on
        result.failed.append((time.perf_counter() - started) * 1000)
        result.statuses[type(error).__name__] += 1
        return
    latency_ms = decision.latency * 1000
    if not decision.is_fallback:
        result.answered.append(latency_ms)
        return
    result.statuses[status.latest] += 1
    (result.shed if status.latest in SHED_CODES else result.failed).append(latency_ms)


async def bursts(
    target: str,
    requests: Sequence[DecisionRequest],
    *,
    size: int,
    count: int,
    pause: float,
    deadline: float = DEFAULT_DEADLINE_SECONDS,
) -> BurstResult:
    """``count`` bursts of ``size`` concurrent Decides from one client, ``pause`` s apart."""
    logger = logging.getLogger(CLIENT_LOGGER)
    status = FallbackStatus()
    level, propagate = logger.level, logger.propagate
    logger.addHandler(status)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # counted here, not printed
    result = BurstResult()
    try:
        async with AsyncEntitlementClient(target, timeout=deadline) as client:
            await client.policy()  # connected, and the baseline known, before the first burst
            for number in range(count):
                first = number * size
                chosen = [requests[(first + index) % len(requests)] for index in range(size)]
                started = time.perf_counter()
                await asyncio.gather(*(_one(client, r, status, result) for r in chosen))
                result.seconds.append(time.perf_counter() - started)
                result.bursts += 1
                await asyncio.sleep(pause)
    finally:
        logger.removeHandler(status)
        logger.setLevel(level)
        logger.propagate = propagate
    return result
