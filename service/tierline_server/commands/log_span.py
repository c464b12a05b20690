"""The decisions of a span of the decision log, for the commands that replay them (``policy diff
--from-log``, ``report fairness --from-log``): their options, and the entries read with
progress."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from tierline_server.commands.options import add_settings, argument, settings_from
from tierline_server.commands.output import Update
from tierline_server.config import (
    INSTANT_RULE,
    REDIS_TLS,
    DecisionLogSettings,
    RedisSettings,
    instant,
)
from tierline_server.decisionlog.reader import DecisionLogReader, Entry
from tierline_server.decisionlog.record import iso_time
from tierline_server.features.redis_client import writer_client

LOG_REDIS_OPTIONS = ("url", "cluster", *REDIS_TLS)
"""The Redis settings a reader of the decision log takes."""
PROGRESS_EVERY = 10_000
"""Items read between two progress updates."""

T = TypeVar("T")


def add_log_options(parser: argparse.ArgumentParser) -> None:
    """--since, --until, and where the log is (Redis URL, cluster, TLS, stream)."""
    parser.add_argument(
        "--since",
        type=argument(instant),
        help=f"with --from-log: decisions from {INSTANT_RULE} (default: the oldest logged)",
    )
    parser.add_argument("--until", type=argument(instant), help="with --from-log: up to (now)")
    add_settings(parser, RedisSettings, only=LOG_REDIS_OPTIONS)
    add_settings(parser, DecisionLogSettings, only=("stream",))


def counted(items: Iterable[T], report: Callable[[int, T], None]) -> Iterator[T]:
    """``items``, calling ``report`` with the count so far and the item every PROGRESS_EVERY."""
    for count, item in enumerate(items, start=1):
        if count % PROGRESS_EVERY == 0:
            report(count, item)
        yield item


@dataclass
class Span:
    """The decisions made from ``since`` to ``until`` in ``stream`` (read once, by
    ``entries``)."""

    stream: str
    since: float
    """Epoch seconds: --since, or when the oldest entry was written."""
    until: float
    entries: Iterator[Entry]
    """The span's decision records, in the order they were written, reporting progress."""
    reader: DecisionLogReader

    @property
    def unreadable(self) -> int:
        """Entries read so far that were not decision records (left out)."""
        return self.reader.skipped

    def describe(self) -> dict[str, str | int]:
        """Where the decisions came from, for reports: stream, since, until, unreadable."""
        return {
            "stream": self.stream,
            "since": iso_time(self.since),
            "until": iso_time(self.until),
            "unreadable": self.unreadable,
        }


@contextmanager
def read_log(args: argparse.Namespace, update: Update) -> Iterator[Span]:
    """The span of the log the options name, Redis open meanwhile (redis-py's errors rise)."""
    until = args.until if args.until is not None else time.time()
    stream = settings_from(DecisionLogSettings, args).stream
    with writer_client(settings_from(RedisSettings, args)) as client:
        reader = DecisionLogReader(client, stream)
        start = args.since if args.since is not None else (reader.oldest() or until)
        length = max(until - start, 1e-3)

        def report(count: int, entry: Entry) -> None:
            update(min(max((entry.written_at - start) / length, 0.0), 1.0), f"{count:,} decisions")

        since = args.since if args.since is not None else 0.0  # default: the whole log
        yield Span(stream, start, until, counted(reader.between(since, until), report), reader)
