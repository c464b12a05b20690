"""Domain errors that know their gRPC status; the call guard turns them into statuses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import grpc

MAX_REPORTED_VIOLATIONS = 10
"""Field violations listed in one error; the rest are counted in a last entry, so that an error
always fits in its trailer (8 KiB by default in gRPC clients) however much is wrong."""
MAX_MESSAGE_CHARACTERS = 480
"""The status message repeats the violations in one line, cut to this length."""


@dataclass(frozen=True)
class FieldViolation:
    """One thing wrong with one field of a request."""

    field: str
    description: str


class TierlineError(Exception):
    """Base of errors a caller may see; ``code`` is the gRPC status they map to."""

    code = grpc.StatusCode.INTERNAL


class InvalidRequest(TierlineError):
    """The request breaks the API's rules: every violation, up to MAX_REPORTED_VIOLATIONS."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, violations: Sequence[FieldViolation]) -> None:
        shown = list(violations[:MAX_REPORTED_VIOLATIONS])
        if len(violations) > MAX_REPORTED_VIOLATIONS:
            more = len(violations) - MAX_REPORTED_VIOLATIONS
            shown.append(FieldViolation("", f"... and {more} more violation(s)"))
        text = "; ".join(f"{v.field}: {v.description}".lstrip(": ") for v in shown)
        if len(text) > MAX_MESSAGE_CHARACTERS:
            text = text[: MAX_MESSAGE_CHARACTERS - 3] + "..."
        super().__init__(text)
        self.violations = tuple(shown)


class Overloaded(TierlineError):
    """The work already queued cannot be done before this call's deadline: shed at once, so the
    caller can fall back (or try another replica) instead of waiting out its deadline."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class ShuttingDown(TierlineError):
    """The server is draining: the call goes to another replica (clients retry UNAVAILABLE)."""

    code = grpc.StatusCode.UNAVAILABLE


class DeadlinePassed(TierlineError):
    """The caller's deadline passed before the work was done: the rest of it is skipped."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class NoReloader(TierlineError):
    """A reload was asked of a server that no supervisor runs (embedded, in tests)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class Refused(TierlineError):
    """A call refused before any work: who is calling is not known, or may not do this.

    ``reason`` names why in a word, as refusals are counted (metrics.AUTH_REFUSALS); the
    message is for the caller and never repeats a credential.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class Unauthenticated(Refused):
    """No credentials, or none that identify a known caller."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(Refused):
    """A known caller asked for something its permissions do not allow."""

    code = grpc.StatusCode.PERMISSION_DENIED
