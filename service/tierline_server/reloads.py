"""What a policy reload reports, wherever it was asked for (SIGHUP, a file change, ReloadPolicy)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tierline_server.policy.errors import PolicyError


@dataclass(frozen=True)
class ReloadResult:
    """The policy served after a reload, and why a candidate was rejected if it was."""

    reloaded: bool
    """Whether a new policy is now served (False: rejected, or unchanged)."""
    version: str
    checksum: str
    errors: tuple[PolicyError, ...] = ()
    """Every error of a rejected candidate (empty when it was accepted or unchanged)."""


Reload = Callable[[], Awaitable[ReloadResult]]
"""Asks for a reload and waits for its result (the workers' supervisor does the reloading)."""
