"""A clock for code that takes one (``clock=``): it stands still until the test moves it."""

from __future__ import annotations


class Clock:
    """A clock the test moves by hand: ``clock.now += 1``."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
