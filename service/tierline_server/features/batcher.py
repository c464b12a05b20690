"""Coalescing: the reads asked for in one event-loop iteration go to Redis as one round trip.

Under load, many decisions look up features in the same iteration of the loop; one round trip
for all of them costs the client and Redis about what one lookup costs. The first request of an
iteration starts a flush task; asyncio runs it after every callback already queued, so requests
made in the rest of the iteration join it. With one request in flight nothing waits: the flush
runs in the very next iteration.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")


class Batcher(Generic[K, R]):
    """Gathers keys asked for in one loop iteration and fetches them with one ``fetch`` call.

    ``fetch`` gets each key once, in the order first asked for, and must answer every key.
    It runs in a task of its own: a caller that is cancelled leaves the others' answers alone.
    """

    def __init__(self, fetch: Callable[[Sequence[K]], Awaitable[Mapping[K, R]]]) -> None:
        self._fetch = fetch
        self._pending: list[tuple[Sequence[K], asyncio.Future[list[R]]]] = []
        self._flushes: set[asyncio.Task[None]] = set()

    async def get(self, keys: Sequence[K]) -> list[R]:
        """The answers for ``keys``, in order, fetched together with this iteration's others."""
        loop = asyncio.get_running_loop()
        if not self._pending:
            flush = loop.create_task(self._flush())
            self._flushes.add(flush)
            flush.add_done_callback(self._flushes.discard)
        answer: asyncio.Future[list[R]] = loop.create_future()
        self._pending.append((keys, answer))
        return await answer

    async def close(self) -> None:
        """Wait for the fetches in flight, so that their callers get their answers."""
        await asyncio.gather(*self._flushes, return_exceptions=True)

    async def _flush(self) -> None:
        pending, self._pending = self._pending, []
        keys = list(dict.fromkeys(key for keys, _ in pending for key in keys))
        try:
            found = await self._fetch(keys)
        except asyncio.CancelledError:
            for _, answer in pending:
                answer.cancel()
            raise
        except Exception as error:  # a defect in fetch: its callers see it rather than hang
            for _, answer in pending:
                if not answer.done():
                    answer.set_exception(error)
            return
        for asked, answer in pending:
            if not answer.done():  # its caller may have been cancelled meanwhile
                answer.set_result([found[key] for key in asked])
