"""Wait in a test for something that happens in the background (a recovery, a reload)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], seconds: float = 15.0, what: str = "") -> T:
    """The first truthy value of ``probe()`` within ``seconds``; fails the test otherwise."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"not within {seconds} s: {what or probe}")
