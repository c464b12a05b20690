"""Redis stopped, restarted or frozen under the decision log: appending never waits, what was
queued is retried within its time, and every decision lost is counted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from log_support import decisions, dropped, running_writer, stored, written
from support.redis_server import RedisServer
from support.waiting import wait_until
from tierline_server.features.redis_client import BACKGROUND_TIMEOUT_SECONDS

pytestmark = pytest.mark.integration

TICK_SECONDS = 0.01


class Heartbeat:
    """Turns of the event loop, and the longest wait between two: a task that blocked the loop
    (a write waiting on a socket) would show as a gap as long as its timeout."""

    def __init__(self) -> None:
        self.longest_gap = 0.0

    async def run(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(TICK_SECONDS)
            now = time.monotonic()
            self.longest_gap = max(self.longest_gap, now - last)
            last = now


@asynccontextmanager
async def heartbeat() -> AsyncIterator[Heartbeat]:
    """A Heartbeat running beside the test's scenario."""
    beat = Heartbeat()
    task = asyncio.create_task(beat.run())
    try:
        yield beat
    finally:
        task.cancel()


def test_a_restart_within_the_retry_time_loses_nothing(redis_server: RedisServer) -> None:
    made = list(decisions(60))

    async def scenario() -> None:
        async with running_writer(redis_server.url, retry_seconds=30) as (log, metrics):
            for request, outcome in made[:10]:
                log.append(request, outcome, batch=False)
            await wait_until(lambda: written(metrics) == 10)
            redis_server.stop()
            for request, outcome in made[10:]:
                log.append(request, outcome, batch=False)
            await asyncio.sleep(1.0)  # a few failed attempts
            assert written(metrics) == 10
            redis_server.start()
            await wait_until(lambda: written(metrics) == len(made))
            assert sum(dropped(metrics, r) for r in ("queue_full", "redis", "shutdown")) == 0

    asyncio.run(scenario())

    # What was written before the restart went with it (no persistence); the rest was retried.
    assert [r.outcome for r in stored(redis_server.url)] == [o for _, o in made[10:]]


def test_redis_down_for_longer_drops_and_counts_without_holding_anything_up(
    redis_server: RedisServer,
) -> None:
    made = list(decisions(55))

    async def scenario() -> None:
        async with (
            running_writer(redis_server.url, queue_size=20, retry_seconds=0.5) as (log, metrics),
            heartbeat() as beat,
        ):
            redis_server.stop()
            for request, outcome in made[:50]:
                log.append(request, outcome, batch=False)  # a plain call: it cannot wait
            assert dropped(metrics, "queue_full") == 30
            await wait_until(lambda: dropped(metrics, "redis") == 20)
            assert beat.longest_gap < BACKGROUND_TIMEOUT_SECONDS  # the loop kept turning
            redis_server.start()
            for request, outcome in made[50:]:
                log.append(request, outcome, batch=False)
            await wait_until(lambda: written(metrics) == 5)

    asyncio.run(scenario())

    assert [r.outcome for r in stored(redis_server.url)] == [o for _, o in made[50:]]


def test_a_frozen_redis_holds_up_neither_the_loop_nor_the_shutdown(
    redis_server: RedisServer,
) -> None:
    made = list(decisions(12))

    async def scenario() -> None:
        async with heartbeat() as beat:
            async with running_writer(redis_server.url) as (log, metrics):
                redis_server.pause()  # connections stay open, nothing answers: writes time out
                for request, outcome in made:
                    log.append(request, outcome, batch=False)
                await asyncio.sleep(2 * BACKGROUND_TIMEOUT_SECONDS)  # a write or two time out
            # close() returned: what could not be written is counted, not waited for
            assert dropped(metrics, "shutdown") == len(made)
            assert written(metrics) == 0
            assert beat.longest_gap < BACKGROUND_TIMEOUT_SECONDS

    try:
        asyncio.run(scenario())
    finally:
        redis_server.resume()
