"""The read budget: time waiting for a reply, not time the event loop spent on other work.

A socket pair stands in for Redis: what is written to one end is the reply the other end waits
for, delivered through the event loop's selector as Redis's replies are.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from tierline_server.features import deadline

BUDGET_SECONDS = 0.005
BUSY_SECONDS = 0.05
"""Other work holding the loop: ten budgets."""
MARGIN_SECONDS = 1.0


@asynccontextmanager
async def reply_channel() -> AsyncIterator[tuple[asyncio.StreamReader, socket.socket]]:
    """A reader the code under test waits on, and the socket a test answers through."""
    ours, theirs = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=ours)
    try:
        yield reader, theirs
    finally:
        writer.close()
        theirs.close()


def test_a_reply_in_time_is_returned() -> None:
    async def scenario() -> None:
        async with reply_channel() as (reader, answer):
            answer.sendall(b"OK")
            assert await deadline.within(BUDGET_SECONDS, reader.read(2)) == b"OK"

    asyncio.run(scenario())


def test_no_reply_times_out_within_the_budget() -> None:
    async def scenario() -> None:
        async with reply_channel() as (reader, _):
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await deadline.within(BUDGET_SECONDS, reader.read(2))
            assert time.monotonic() - started < BUDGET_SECONDS + MARGIN_SECONDS

    asyncio.run(scenario())


def test_a_reply_that_arrived_while_the_loop_was_held_is_returned() -> None:
    async def scenario() -> None:
        async with reply_channel() as (reader, answer):
            waiting = asyncio.create_task(deadline.within(BUDGET_SECONDS, reader.read(2)))
            await asyncio.sleep(0)  # waiting, its budget running
            answer.sendall(b"OK")  # the reply arrives...
            time.sleep(BUSY_SECONDS)  # ...while the loop is held past the budget
            assert await waiting == b"OK"

    asyncio.run(scenario())


def test_a_reply_that_comes_after_the_budget_is_too_late() -> None:
    async def scenario() -> None:
        async with reply_channel() as (reader, answer):
            waiting = asyncio.create_task(deadline.within(BUDGET_SECONDS, reader.read(2)))
            await asyncio.sleep(0)
            time.sleep(BUSY_SECONDS)  # the budget runs out with nothing to read
            await asyncio.sleep(0)  # the loop looks: no reply
            answer.sendall(b"OK")
            with pytest.raises(TimeoutError):
                await waiting

    asyncio.run(scenario())


def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    async def scenario() -> None:
        async with reply_channel() as (reader, _):
            waiting = asyncio.create_task(deadline.within(60, reader.read(2)))
            await asyncio.sleep(0)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting

    asyncio.run(scenario())


def test_the_timer_is_gone_after_a_reply() -> None:
    async def scenario() -> None:
        async with reply_channel() as (reader, answer):
            answer.sendall(b"OK")
            await deadline.within(BUDGET_SECONDS, reader.read(2))
            await asyncio.sleep(BUDGET_SECONDS * 2)
            # Nothing was cancelled afterwards: this task goes on waiting normally.
            answer.sendall(b"!!")
            assert await asyncio.wait_for(reader.read(2), 5) == b"!!"

    asyncio.run(scenario())


NEEDS_CANCEL_COUNTS = pytest.mark.skipif(
    sys.version_info < (3, 11), reason="tasks count cancellation requests from Python 3.11"
)


@NEEDS_CANCEL_COUNTS
def test_a_timeout_leaves_no_cancellation_request_behind() -> None:
    async def scenario() -> None:
        async with reply_channel() as (reader, answer):
            with pytest.raises(TimeoutError):
                await deadline.within(BUDGET_SECONDS, reader.read(2))
            task = asyncio.current_task()
            assert task is not None
            assert task.cancelling() == 0
            answer.sendall(b"OK")
            async with asyncio.timeout(5):  # this task's own timeouts still work
                assert await reader.read(2) == b"OK"

    asyncio.run(scenario())


@NEEDS_CANCEL_COUNTS
def test_a_cancellation_from_elsewhere_at_the_same_moment_is_not_lost() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        async with reply_channel() as (reader, _):
            waiting = asyncio.create_task(deadline.within(BUDGET_SECONDS, reader.read(2)))
            await asyncio.sleep(0)  # its timer is set
            # Someone cancels the task just after the deadline has: a later timer, whose
            # callback queues the cancellation behind the deadline's.
            later = BUDGET_SECONDS + 0.001
            loop.call_later(later, lambda: loop.call_soon(waiting.cancel))
            time.sleep(BUSY_SECONDS)  # both timers are due
            with pytest.raises(asyncio.CancelledError):
                await waiting

    asyncio.run(scenario())
