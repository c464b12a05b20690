"""Coalescing: what is asked for in one loop iteration is fetched with one call."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from tierline_server.features.batcher import Batcher


class Fetches:
    """A fetch that records the keys of each call and answers each key with its upper case."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, keys: Sequence[str]) -> Mapping[str, str]:
        self.calls.append(list(keys))
        await self.release.wait()
        return {key: key.upper() for key in keys}


def test_requests_of_one_iteration_share_one_fetch() -> None:
    async def scenario() -> None:
        fetches = Fetches()
        batcher = Batcher(fetches)
        answers = await asyncio.gather(
            batcher.get(["a"]), batcher.get(["b", "a"]), batcher.get(["c"])
        )
        assert answers == [["A"], ["B", "A"], ["C"]]
        assert fetches.calls == [["a", "b", "c"]]  # each key once, in the order first asked

    asyncio.run(scenario())


def test_a_request_made_while_a_fetch_is_in_flight_gets_its_own() -> None:
    async def scenario() -> None:
        fetches = Fetches()
        fetches.release.clear()
        batcher = Batcher(fetches)
        first = asyncio.create_task(batcher.get(["a"]))
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # the first fetch is waiting
        second = asyncio.create_task(batcher.get(["b"]))
        await asyncio.sleep(0)
        fetches.release.set()
        assert (await first, await second) == (["A"], ["B"])
        assert fetches.calls == [["a"], ["b"]]

    asyncio.run(scenario())


def test_a_cancelled_caller_leaves_the_others_their_answers() -> None:
    async def scenario() -> None:
        fetches = Fetches()
        fetches.release.clear()
        batcher = Batcher(fetches)
        gone = asyncio.create_task(batcher.get(["a"]))
        staying = asyncio.create_task(batcher.get(["b"]))
        await asyncio.sleep(0)
        gone.cancel()
        fetches.release.set()
        assert await staying == ["B"]
        assert gone.cancelled()

    asyncio.run(scenario())


def test_a_failing_fetch_fails_its_callers_rather_than_leaving_them_waiting() -> None:
    async def broken(keys: Sequence[str]) -> Mapping[str, str]:
        raise ValueError("defect")

    async def scenario() -> None:
        batcher: Batcher[str, str] = Batcher(broken)
        results = await asyncio.gather(
            batcher.get(["a"]), batcher.get(["b"]), return_exceptions=True
        )
        assert [type(result) for result in results] == [ValueError, ValueError]

    asyncio.run(scenario())


def test_close_lets_the_fetch_in_flight_answer_its_callers() -> None:
    async def scenario() -> None:
        fetches = Fetches()
        fetches.release.clear()
        batcher = Batcher(fetches)
        waiting = asyncio.create_task(batcher.get(["a"]))
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # the fetch is in flight
        closing = asyncio.create_task(batcher.close())
        await asyncio.sleep(0)
        assert not closing.done()
        fetches.release.set()
        await closing
        assert await waiting == ["A"]

    asyncio.run(scenario())
