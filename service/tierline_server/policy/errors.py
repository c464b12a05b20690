"""Policy errors: each one says ``file:line: element: reason``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """Where an element of the policy was written."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class PolicyError(Exception):
    """One thing wrong with a policy, at a place in its files."""

    def __init__(self, location: Location, element: str, reason: str) -> None:
        super().__init__(f"{location}: {element}: {reason}")
        self.location = location
        self.element = element
        self.reason = reason

    def __reduce__(self) -> tuple[type[PolicyError], tuple[Location, str, str]]:
        # Errors travel between processes (a reload is checked by the supervisor).
        return (PolicyError, (self.location, self.element, self.reason))


class PolicyInvalid(Exception):
    """A policy that does not compile, with every error found (not just the first)."""

    def __init__(self, errors: list[PolicyError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


class EngineUnavailable(RuntimeError):
    """durable-rules cannot be loaded: not installed, or not built for this Python."""
