"""The client's typed errors, and which gRPC statuses become which error.

Only mistakes the caller must fix (a bad request, missing or refused credentials) are raised.
Every other failure (slow, unreachable, overloaded, draining, or faulty) is answered with the
baseline instead (see :mod:`tierline.fallback`), as long as the client knows one: a call center
must never stall on Tierline.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import grpc

from tierline import status_details

CALLER_MISTAKES = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,  # the request breaks the API's rules
        grpc.StatusCode.UNAUTHENTICATED,  # no valid credentials
        grpc.StatusCode.PERMISSION_DENIED,  # credentials that may not make this call
    }
)
"""Statuses raised as errors: retrying or falling back cannot fix them, the caller must."""

FALLBACK_CODES = frozenset(set(grpc.StatusCode) - CALLER_MISTAKES - {grpc.StatusCode.OK})
"""Statuses answered with the baseline decision instead of an error: DEADLINE_EXCEEDED (slower
than the deadline), UNAVAILABLE (unreachable, restarting, draining), RESOURCE_EXHAUSTED (shed
under overload), CANCELLED (by a server shutting down), and faults (INTERNAL, UNKNOWN, ...)."""


@dataclass(frozen=True)
class FieldViolation:
    """One invalid field of a request: its path (e.g. ``context.currency``) and why."""

    field: str
    description: str

    def __str__(self) -> str:
        return f"{self.field}: {self.description}"


class TierlineError(Exception):
    """Base of every error the Tierline client raises.

    ``code`` is the gRPC status code (for a problem the client finds before sending, the code
    the service would have answered with); ``message`` is the status message.
    """

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class InvalidRequest(TierlineError, ValueError):
    """The request is invalid (INVALID_ARGUMENT); ``field_violations`` lists every bad field.

    Never answered with a fallback: retrying the same request cannot succeed.
    """

    def __init__(
        self,
        message: str,
        field_violations: Iterable[FieldViolation] = (),
        code: grpc.StatusCode | None = grpc.StatusCode.INVALID_ARGUMENT,
    ) -> None:
        super().__init__(message, code)
        self.field_violations: tuple[FieldViolation, ...] = tuple(field_violations)


class Unauthenticated(TierlineError):
    """The call carried no valid credentials (UNAUTHENTICATED): check the client's token."""


class PermissionDenied(TierlineError):
    """The credentials are valid but may not make this call (PERMISSION_DENIED)."""


class ServiceUnavailable(TierlineError):
    """Tierline did not answer in time and the client has no baseline to fall back on.

    Raised by ``decide`` / ``decide_batch`` only before the client has ever fetched the policy
    and when it was built without a configured ``baseline``; raised by ``policy()`` whenever the
    service cannot be reached, since there is nothing to fall back on for the policy itself.
    """


class ServiceError(TierlineError):
    """A failure the client could not answer for: the policy could not be fetched, or a batch
    item failed with a status other than INVALID_ARGUMENT."""


def client_invalid(field: str, description: str) -> InvalidRequest:
    """An InvalidRequest found by the client before sending (no status code on the wire)."""
    violation = FieldViolation(field, description)
    return InvalidRequest(str(violation), [violation], code=grpc.StatusCode.INVALID_ARGUMENT)


def from_rpc_error(error: grpc.RpcError) -> TierlineError:
    """The typed error for a failed call (fallback statuses become ServiceUnavailable)."""
    code = error.code()
    message = error.details() or code.name
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        violations = status_details.field_violations(error.trailing_metadata())
        return InvalidRequest(message, [FieldViolation(f, d) for f, d in violations], code)
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return Unauthenticated(message, code)
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return PermissionDenied(message, code)
    if code in FALLBACK_CODES:
        return ServiceUnavailable(f"Tierline is unavailable ({code.name}): {message}", code)
    return ServiceError(f"Tierline call failed ({code.name}): {message}", code)


def item_error(code: int, message: str, violations: Iterable[FieldViolation]) -> TierlineError:
    """The typed error of one failed DecideBatch item (its ItemStatus)."""
    status = _status_code(code)
    if status == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidRequest(message or "invalid request", violations, status)
    return ServiceError(f"batch item failed ({status.name}): {message}", status)


def describe(error: grpc.RpcError) -> str:
    """``CODE: details`` of a failed call, on one line."""
    code = error.code()
    return f"{getattr(code, 'name', code)}: {error.details()}"


def _status_code(number: int) -> grpc.StatusCode:
    for status in grpc.StatusCode:
        if status.value[0] == number:
            return status
    return grpc.StatusCode.UNKNOWN
