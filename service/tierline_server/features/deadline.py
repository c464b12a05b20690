"""A time budget for waiting on Redis that a busy event loop does not spend.

``asyncio.timeout`` and redis-py's socket timeout cancel the waiting task as soon as their timer
runs. When the loop was busy (a burst of requests, a long decision), the reply has often arrived
meanwhile: asyncio's ``_run_once`` queues the callbacks of ready sockets before expired timers,
so the socket's data is read in the same iteration as the timer fires, but the waiting task only
resumes in the next iteration, after the timer has cancelled it. The read is lost and a healthy
Redis is counted as timing out, which opens the circuit for every caller.

``within`` gives an arrived reply that chance: when its timer runs, it looks again one loop
iteration later and cancels only if the awaited call has still not returned. Everything the
selector saw before the timer ran has been processed by then. (This relies on asyncio's own
loop; libuv, under uvloop, runs timers before it polls for I/O.)

It turns its own cancellation into ``TimeoutError`` and works from Python 3.10 on. Where tasks
count cancellation requests (3.11+), it withdraws its own, and a cancellation from elsewhere
that arrives at the same moment stays a cancellation; on 3.10, which cannot tell the two apart,
it should run in a task that nothing else cancels (the read path's round trips do).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


class _Budget:
    """The state of one ``within`` call, shared with its timer callbacks."""

    __slots__ = ("expired", "loop", "settled", "task")

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[object]) -> None:
        self.loop = loop
        self.task = task
        self.settled = False
        self.expired = False

    def timer_ran(self) -> None:
        # One more iteration: replies that were on the socket when the timer ran resume their
        # waiter first (call_soon is FIFO, and their wakeups were queued before this).
        self.loop.call_soon(self.expire)

    def expire(self) -> None:
        if not self.settled:
            self.expired = True
            self.task.cancel()


async def within(seconds: float, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` in the current task; TimeoutError if it has not returned within
    ``seconds`` of waiting (plus one event-loop iteration, for a reply already received).

    The current task must be one that nothing else cancels (see the module's docstring).
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError("deadline.within needs to run in a task")
    budget = _Budget(loop, task)
    timer = loop.call_later(seconds, budget.timer_ran)
    try:
        result = await awaitable
    except asyncio.CancelledError:
        if not budget.expired or _cancelled_from_elsewhere(task):
            raise
        raise TimeoutError(f"no reply within {seconds * 1000:g} ms") from None
    finally:
        budget.settled = True
        timer.cancel()
    if budget.expired:  # the awaited code swallowed our cancellation: withdraw it all the same
        _cancelled_from_elsewhere(task)
    return result


def _cancelled_from_elsewhere(task: asyncio.Task[object]) -> bool:
    """Withdraw our cancellation request; whether another one remains (3.11+; False before)."""
    uncancel = getattr(task, "uncancel", None)
    return uncancel is not None and uncancel() > 0
