"""Domain errors that know their gRPC status; one interceptor turns them into statuses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import grpc


@dataclass(frozen=True)
class FieldViolation:
    """One thing wrong with one field of a request."""

    field: str
    description: str


class TierlineError(Exception):
    """Base of errors a caller may see; ``code`` is the gRPC status they map to."""

    code = grpc.StatusCode.INTERNAL


class InvalidRequest(TierlineError):
    """The request breaks the API's rules; lists every violation, not just the first."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, violations: Sequence[FieldViolation]) -> None:
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in violations))
        self.violations = tuple(violations)
