"""Wait in a test for something that happens in the background (a recovery, a reload), by
polling a condition rather than sleeping a fixed time."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

T = TypeVar("T")

POLL_SECONDS = 0.02
DEFAULT_SECONDS = 15.0


def wait_for(probe: Callable[[], T | None], seconds: float = DEFAULT_SECONDS, what: str = "") -> T:
    """The first truthy value of ``probe()`` within ``seconds``; fails the test otherwise."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(POLL_SECONDS)
    pytest.fail(f"not within {seconds} s: {what or probe}")


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]], seconds: float = DEFAULT_SECONDS
) -> None:
    """Poll ``condition`` (a function or a coroutine function) on the running event loop until
    it holds; fails the test after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"not true within {seconds} s: {condition}")
        await asyncio.sleep(POLL_SECONDS)
