"""Reading the decision log back (the CLI): one decision by id, the latest, new ones as they
come, and every decision of a time span.

The stream's entry ids are the times entries were written, which is a little after the
decisions were made (the writer's batching, and its retries while Redis failed): lookups by
time scan WRITE_SLACK_SECONDS wider than asked and keep the decisions made in the span. An entry
that is not a record is skipped and counted in ``skipped``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tierline_server.decisionlog import record
from tierline_server.decisionlog.record import DecisionRecord, RecordError
from tierline_server.features.redis_client import SyncClient
from tierline_server.ids import decision_time

PAGE = 500
"""Entries per XRANGE / XREAD round trip."""
WRITE_SLACK_SECONDS = 120.0
"""How much later than its decision an entry may be written: the writer's retry time (30 s by
default) and a difference between the service's and Redis's clocks."""
MAX_SEQUENCE = 2**64 - 1
"""The largest sequence number of a stream entry id (ms-seq)."""
FOLLOW_BLOCK_MS = 1000
"""How long one XREAD waits for new entries (so that Ctrl-C is seen within a second)."""


@dataclass(frozen=True)
class Entry:
    """A record as stored (its JSON) and decoded, and when it was written (epoch seconds)."""

    data: bytes
    record: DecisionRecord
    written_at: float


class DecisionLogReader:
    """Reads the stream ``stream``."""

    def __init__(self, client: SyncClient, stream: str) -> None:
        self._client = client
        self._stream = stream
        self.skipped = 0
        """Entries met that were not decision records."""

    def find(self, decision_id: str, within_seconds: float = WRITE_SLACK_SECONDS) -> Entry | None:
        """The decision ``decision_id``, searched among the entries written within
        ``within_seconds`` of its time; ValueError when it is not a decision id."""
        made = decision_time(decision_id)
        wanted = decision_id.encode()
        for entry_id, data in self._range(made - within_seconds, made + within_seconds):
            if (
                data is not None and wanted in data
            ):  # most entries are passed over without decoding them
                entry = self._entry(entry_id, data)
                if entry is not None and entry.record.decision_id == decision_id:
                    return entry
        return None

    def latest(
        self, count: int, wanted: Callable[[DecisionRecord], bool]
    ) -> tuple[list[Entry], str]:
        """The last ``count`` wanted records, oldest first, and the id of the stream's newest
        entry ("0-0" when it is empty), from which to follow."""
        found: list[Entry] = []
        newest = "0-0"
        end = "+"
        while len(found) < count:
            page = _page(self._client.xrevrange(self._stream, max=end, min="-", count=PAGE))
            if not page:
                break
            if newest == "0-0":
                newest = page[0][0]
            for entry_id, data in page:
                entry = self._entry(entry_id, data)
                if entry is not None and wanted(entry.record):
                    found.append(entry)
                    if len(found) == count:
                        break
            end = "(" + page[-1][0]
        return found[::-1], newest

    def follow(self, after: str, wanted: Callable[[DecisionRecord], bool]) -> Iterator[Entry]:
        """Wanted records written after the entry ``after``, as they come, without end."""
        last = after
        while True:
            reply: Any = self._client.xread({self._stream: last}, count=PAGE, block=FOLLOW_BLOCK_MS)
            for _, entries in reply or []:
                for entry_id, data in _page(entries):
                    last = entry_id
                    entry = self._entry(entry_id, data)
                    if entry is not None and wanted(entry.record):
                        yield entry

    def oldest(self) -> float | None:
        """When the stream's oldest entry was written (epoch seconds); None when it is empty."""
        page = _page(self._client.xrange(self._stream, min="-", max="+", count=1))
        return record.written_at(page[0][0]) if page else None

    def between(self, since: float, until: float) -> Iterator[Entry]:
        """The decisions made from ``since`` up to ``until`` (epoch seconds), in the order they
        were written."""
        for entry_id, data in self._range(since - WRITE_SLACK_SECONDS, until + WRITE_SLACK_SECONDS):
            entry = self._entry(entry_id, data)
            if entry is not None and since <= entry.record.made_at < until:
                yield entry

    def _range(self, start: float, end: float) -> Iterator[tuple[str, bytes | None]]:
        """(entry id, record field) of the entries written from ``start`` to ``end``."""
        low, high = record.entry_id(start), record.entry_id(end, MAX_SEQUENCE)
        while True:
            page = _page(self._client.xrange(self._stream, min=low, max=high, count=PAGE))
            yield from page
            if len(page) < PAGE:
                return
            low = "(" + page[-1][0]

    def _entry(self, entry_id: str, data: bytes | None) -> Entry | None:
        try:
            if data is None:
                raise RecordError(f"no {record.FIELD!r} field")
            decoded = record.decode(data)
        except RecordError:
            self.skipped += 1
            return None
        return Entry(data, decoded, record.written_at(entry_id))


def _page(reply: Any) -> list[tuple[str, bytes | None]]:
    """(entry id, record field) of each entry in an XRANGE, XREVRANGE or XREAD reply."""
    field = record.FIELD.encode()
    return [(entry_id.decode(), fields.get(field)) for entry_id, fields in reply or ()]
