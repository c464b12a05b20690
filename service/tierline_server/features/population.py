"""A customer population read from a file, as each of several policies would store it.

The file is what ``features load`` reads (CSV or JSON Lines, a ``customer_id`` column): each row
is checked and segmented by each policy's own RowChecker, exactly as loading it under that
policy would, so that a candidate's new segments move customers between tiers as they would in
Redis. A row that a policy rejects is left out (and counted).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tierline_server.features.loader import (
    ID_COLUMN,
    InputFormat,
    Record,
    RowChecker,
    RowRejectedError,
    input_format,
    read_records,
)
from tierline_server.policy.compiled import Policy


@dataclass(frozen=True)
class Customer:
    """A customer of the population: the typed features under each policy, in order."""

    customer_id: str
    features: tuple[dict[str, Any], ...]


REJECTIONS_KEPT = 5


class Population:
    """The customers of ``path``, for ``policies``; iterate once (streamed).

    ``keep_tier``: keep a row's own tier rather than segmenting it (as ``features load``)."""

    def __init__(
        self,
        path: Path,
        policies: Sequence[Policy],
        fmt: InputFormat | None = None,
        *,
        keep_tier: bool = False,
    ) -> None:
        self.path = path
        self._format = input_format(path, fmt)
        self._policies = tuple(policies)
        self._keep_tier = keep_tier
        self.read = 0
        self.rejected = 0
        self.rejections: list[str] = []
        """Why the first rejected rows were rejected (line and reason), for the summary."""
        self._size = max(path.stat().st_size, 1)
        self._stream: IO[bytes] | None = None

    @property
    def fraction(self) -> float:
        """How much of the file has been read, 0 to 1."""
        stream = self._stream
        if stream is None:
            return 0.0
        return 1.0 if stream.closed else min(stream.tell() / self._size, 1.0)

    def __iter__(self) -> Iterator[Customer]:
        """Each acceptable customer; raises loader.LoadError or OSError when the file cannot be
        read."""
        checkers = [RowChecker(policy, keep_tier=self._keep_tier) for policy in self._policies]
        known = [{ID_COLUMN, *policy.features} for policy in self._policies]
        columns = set().union(*known)
        with self.path.open("rb") as stream:
            self._stream = stream
            for record in read_records(stream, self._format, columns):
                self.read += 1
                try:
                    rows = [
                        checker.check(_only(record, names))
                        for checker, names in zip(checkers, known, strict=True)
                    ]
                except RowRejectedError as reason:
                    self.rejected += 1
                    if len(self.rejections) < REJECTIONS_KEPT:
                        self.rejections.append(f"line {record.line}: {reason}")
                    continue
                yield Customer(rows[0].customer_id, tuple(row.values for row in rows))


def _only(record: Record, names: set[str]) -> Record:
    """The record with the columns one policy knows (a candidate may add or drop features)."""
    if record.values is None:
        return record
    return record._replace(values={k: v for k, v in record.values.items() if k in names})
