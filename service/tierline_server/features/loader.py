"""Load customers from CSV or JSON Lines into Redis: check, segment, write in batches.

The file is streamed: memory holds one batch, whatever the file's size. Each row is checked
against the policy's feature schema and given its tier by the policy's segments (first match
wins). A row that fails goes to the reject file with its line number and reason; nothing is
dropped silently. Each batch is one pipelined round trip, followed by one invalidation message
naming the batch's customers. Loading the same file twice leaves Redis as one load does.

A file may give a customer on several rows: the summary counts customers, each in the tier its
last row gave, and reports the repeated ids. Which ids a load has written is kept in a scratch
hash in Redis beside the customers (see ``LoadLedger``), not in the loader's memory.
"""

from __future__ import annotations

import contextlib
import csv
import enum
import functools
import gc
import io
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import IO, Any, NamedTuple

from redis.exceptions import RedisClusterException, RedisError

from tierline_server.features import keys
from tierline_server.features.records import CustomerRecords
from tierline_server.policy import conditions
from tierline_server.policy.compiled import Policy
from tierline_server.policy.domain import Facts
from tierline_server.policy.fields import TIER_FEATURE
from tierline_server.policy.schema import FeatureSpec

ID_COLUMN = "customer_id"
DEFAULT_BATCH_SIZE = 500
"""Rows per pipelined round trip (and per invalidation message)."""
REJECTS_SUFFIX = ".rejects.csv"


class InputFormat(enum.Enum):
    """The file formats ``features load`` reads."""

    CSV = "csv"
    JSONL = "jsonl"


FORMAT_BY_SUFFIX = {
    ".csv": InputFormat.CSV,
    ".jsonl": InputFormat.JSONL,
    ".ndjson": InputFormat.JSONL,
}


class LoadError(Exception):
    """The input cannot be loaded at all (format, header): nothing was written."""


class LoadInterruptedError(Exception):
    """Redis failed mid-load; ``summary`` counts what was loaded before (re-running is safe)."""

    def __init__(self, summary: LoadSummary, cause: Exception) -> None:
        super().__init__(f"Redis failed after {summary.loaded:,} rows were loaded: {cause}")
        self.summary = summary


@dataclass(frozen=True)
class LoadOptions:
    """How to load a file."""

    format: InputFormat | None = None
    """None: by the file's extension."""
    keep_tier: bool = False
    """Keep a row's own ``tier`` rather than segmenting it."""
    replace: bool = False
    """Remove the customer's features that the row does not give (otherwise they are kept)."""
    batch_size: int = DEFAULT_BATCH_SIZE
    """Rows per round trip: memory use grows with it, speed hardly beyond a few hundred."""
    rejects: Path | None = None
    """Where rejected rows go; None: beside the input (customers.csv -> customers.rejects.csv)."""


DUPLICATE_EXAMPLES = 5
"""Customer ids a summary keeps as examples of ids that the file repeats."""


@dataclass
class LoadSummary:
    """What a load did: rows read, loaded and rejected, and the customers they were."""

    read: int = 0
    loaded: int = 0
    """Rows written (a customer whose id repeats is written once per row)."""
    rejected: int = 0
    customers: int | None = None
    """Distinct customers loaded; None when the load did not finish, so they were not counted."""
    tiers: Counter[str] = field(default_factory=Counter)
    """Loaded customers per tier, each once, in the tier its last loaded row gave (as stored; ''
    without one, when the policy has no segments). Empty until counted."""
    duplicates: int = 0
    """Loaded rows whose customer an earlier loaded row of the file already gave."""
    duplicate_examples: list[str] = field(default_factory=list)
    """The first few customer ids that repeat (each once)."""
    seconds: float = 0.0
    rejects_path: Path | None = None
    """The reject file, when rows were rejected."""

    @property
    def rows_per_second(self) -> float:
        """Rows read per second."""
        return self.read / self.seconds if self.seconds > 0 else 0.0

    def repeated(self, customer_ids: Sequence[str]) -> None:
        """Loaded rows of customers that earlier rows gave."""
        self.duplicates += len(customer_ids)
        examples = self.duplicate_examples
        for customer_id in customer_ids:
            if len(examples) < DUPLICATE_EXAMPLES and customer_id not in examples:
                examples.append(customer_id)


class Record(NamedTuple):
    """One row as read: its values, or the problem that kept it from being read."""

    line: int
    values: Mapping[str, Any] | None
    source: Sequence[str] | bytes
    """The row as it was in the file (CSV fields or a JSON line), for the reject file."""
    problem: str | None = None


@dataclass(slots=True)
class Row:
    """A checked row, ready to store."""

    customer_id: str
    features: dict[str, str]
    """Encoded values of the features the row gives (its tier included)."""
    values: dict[str, Any]
    """The same features typed, as the rules read them."""
    tier: str
    """'' when the policy has no segments and the row no tier."""
    line: int
    source: Sequence[str] | bytes
    """As in the file, for the reject file should Redis refuse the row."""


class RowRejectedError(Exception):
    """A row that cannot be loaded, and why."""


Progress = Callable[[LoadSummary, float], None]
"""Called after each batch with the summary so far and the fraction of the file read."""


def input_format(path: Path, given: InputFormat | None = None) -> InputFormat:
    """The format to read ``path`` in: as given, or by its extension."""
    if given is not None:
        return given
    try:
        return FORMAT_BY_SUFFIX[path.suffix.lower()]
    except KeyError:
        known = ", ".join(FORMAT_BY_SUFFIX)
        raise LoadError(f"{path}: unknown format (extension one of {known}, or --format)") from None


def default_rejects_path(path: Path) -> Path:
    """Where rejected rows of ``path`` go by default: beside it."""
    return path.with_suffix(REJECTS_SUFFIX)


def load_file(
    path: Path,
    policy: Policy,
    records: CustomerRecords,
    *,
    options: LoadOptions = LoadOptions(),
    progress: Progress | None = None,
) -> LoadSummary:
    """Load a CSV or JSON Lines file of customers; raises LoadError or LoadInterruptedError.

    The cyclic garbage collector is paused meanwhile (see ``_cyclic_gc_paused``).
    """
    fmt = input_format(path, options.format)
    rejects = RejectFile(options.rejects or default_rejects_path(path))
    if rejects.path.resolve() == path.resolve():
        raise LoadError(f"{path}: the reject file would overwrite the input")
    checker = RowChecker(policy, keep_tier=options.keep_tier)
    remove_absent = tuple(policy.features) if options.replace else ()
    summary = LoadSummary()
    started = time.perf_counter()
    size = max(path.stat().st_size, 1)
    try:
        with (
            _cyclic_gc_paused(),
            path.open("rb") as stream,
            rejects,
            LoadLedger(records) as ledger,
        ):
            batch: list[Row] = []
            flush = functools.partial(
                _flush,
                records=records,
                ledger=ledger,
                remove_absent=remove_absent,
                summary=summary,
                rejects=rejects,
            )
            for record in read_records(stream, fmt, columns=(ID_COLUMN, *policy.features)):
                summary.read += 1
                try:
                    batch.append(checker.check(record))
                except RowRejectedError as reason:
                    summary.rejected += 1
                    rejects.write(record.line, record.source, str(reason))
                    continue
                if len(batch) >= options.batch_size:
                    flush(batch)
                    if progress is not None:
                        summary.seconds = time.perf_counter() - started
                        progress(summary, stream.tell() / size)
            flush(batch)
            summary.customers, summary.tiers = ledger.count()
    except (RedisError, RedisClusterException) as error:
        summary.seconds = time.perf_counter() - started
        raise LoadInterruptedError(summary, error) from error
    summary.seconds = time.perf_counter() - started
    summary.rejects_path = rejects.path if summary.rejected else None
    return summary


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector, then restore it.

    Loading creates no reference cycles (reference counting frees every row: measured, a 100k-row
    load leaves 10 objects to the cyclic collector), yet each batch's short-lived rows trigger
    collections that scan them, which cost about 5% of a load's time.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _flush(
    batch: list[Row],
    *,
    records: CustomerRecords,
    ledger: LoadLedger,
    remove_absent: Sequence[str],
    summary: LoadSummary,
    rejects: RejectFile,
) -> None:
    if not batch:
        return
    failed = dict(
        records.write_many(
            [(row.customer_id, row.features) for row in batch], remove_absent=remove_absent
        )
    )
    for index, reason in failed.items():
        row = batch[index]
        rejects.write(row.line, row.source, f"redis: {reason}")
    summary.rejected += len(failed)
    summary.loaded += len(batch) - len(failed)
    loaded = [(row.customer_id, row.tier) for index, row in enumerate(batch) if index not in failed]
    summary.repeated(ledger.add(loaded))
    batch.clear()


class LoadLedger:
    """The customers a load has written, each with the tier its last row gave, in Redis.

    Counting customers rather than rows takes every id loaded so far; in the loader's memory
    that would grow with the file, so a scratch hash beside the customers holds them. Its key
    contains '#', which no customer id may, so it is never a customer's. It is deleted when the
    load ends and expires a day after its last write should the loader die first.
    """

    EXPIRE_SECONDS = 24 * 60 * 60
    COUNT_PAGE = 1000

    def __init__(self, records: CustomerRecords) -> None:
        self._client = records.client
        self.key = f"{records.key_prefix}#load/{uuid.uuid4().hex}"

    def __enter__(self) -> LoadLedger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        with contextlib.suppress(RedisError, RedisClusterException):  # Redis failing: it expires
            self._client.delete(self.key)

    def add(self, loaded: Sequence[tuple[str, str]]) -> list[str]:
        """Record loaded (customer id, tier) pairs in one round trip; returns the ids of pairs
        whose customer came earlier (in this batch or a previous one)."""
        if not loaded:
            return []
        ids = [customer_id for customer_id, _ in loaded]
        pipeline = self._client.pipeline(transaction=False)
        pipeline.hmget(self.key, ids)
        pipeline.hset(self.key, items=list(chain.from_iterable(loaded)))
        pipeline.expire(self.key, self.EXPIRE_SECONDS)
        before = pipeline.execute()[0]
        seen: set[str] = set()
        repeated = []
        for customer_id, earlier in zip(ids, before, strict=True):
            if earlier is not None or customer_id in seen:
                repeated.append(customer_id)
            seen.add(customer_id)
        return repeated

    def count(self) -> tuple[int, Counter[str]]:
        """Customers loaded, and how many are in each tier (read a page at a time)."""
        tiers: Counter[str] = Counter()
        for _, tier in self._client.hscan_iter(self.key, count=self.COUNT_PAGE):
            tiers[tier.decode()] += 1
        return sum(tiers.values()), tiers


def read_records(stream: IO[bytes], fmt: InputFormat, columns: Collection[str]) -> Iterator[Record]:
    """The rows of a CSV (with a header naming ``columns``) or JSON Lines stream."""
    if fmt is InputFormat.CSV:
        return _csv_records(stream, columns)
    return _jsonl_records(stream)


def _csv_records(stream: IO[bytes], columns: Collection[str]) -> Iterator[Record]:
    # Undecodable bytes become lone surrogates rather than stopping the load; RowChecker
    # rejects them where they matter (string features), and the reject file writes them back.
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.reader(text)
    header = [name.strip() for name in next(reader, [])]
    if ID_COLUMN not in header:
        raise LoadError(f"the header has no {ID_COLUMN!r} column (header: {header})")
    unknown = [name for name in header if name not in columns]
    duplicated = sorted({name for name in header if header.count(name) > 1})
    problems = []
    if unknown:
        problems.append(f"unknown column(s) {', '.join(unknown)} (not features of the policy)")
    if duplicated:
        problems.append(f"duplicated column(s) {', '.join(duplicated)}")
    if problems:
        raise LoadError("; ".join(problems))
    width = len(header)
    for fields in reader:
        if not fields:
            continue  # a blank line is not a row
        if len(fields) != width:
            problem = f"malformed: {len(fields)} fields, the header has {width}"
            yield Record(reader.line_num, None, fields, problem)
        else:
            yield Record(reader.line_num, dict(zip(header, fields, strict=True)), fields)


def _jsonl_records(stream: IO[bytes]) -> Iterator[Record]:
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            values = json.loads(line)
        except ValueError as error:  # also undecodable bytes (UnicodeDecodeError)
            yield Record(number, None, line, f"malformed: not valid JSON ({error})")
            continue
        if not isinstance(values, dict):
            yield Record(number, None, line, "malformed: a line must be a JSON object")
            continue
        yield Record(number, values, line)


class FeatureParser:
    """Parses and encodes one feature's values, remembering recent text inputs.

    Parsing is the loader's largest cost per row, and most columns repeat a few values (flags,
    counts, tiers), so a bounded memo of text -> (value, stored string) pays for itself.
    """

    MEMO_SIZE = 512

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        self._memo: dict[str, tuple[Any, str]] = {}

    def __call__(self, raw: Any) -> tuple[Any, str]:
        """The typed value and its stored string; ValueError when ``raw`` does not fit."""
        if type(raw) is not str:  # JSON numbers and booleans: 1 == 1.0 == True as keys
            return self._parse(raw)
        parsed = self._memo.get(raw)
        if parsed is None:
            parsed = self._parse(raw)
            if len(self._memo) >= self.MEMO_SIZE:
                self._memo.clear()
            self._memo[raw] = parsed
        return parsed

    def _parse(self, raw: Any) -> tuple[Any, str]:
        value = self.spec.parse(raw)
        stored = self.spec.encode(value)
        if self.spec.type == "string":
            stored.encode()  # UnicodeEncodeError on lone surrogates: the file was not UTF-8
        return value, stored


class RowChecker:
    """Checks a row against the policy's feature schema and assigns its tier."""

    def __init__(self, policy: Policy, *, keep_tier: bool) -> None:
        self._parsers = {name: FeatureParser(spec) for name, spec in policy.features.items()}
        self._defaults = {name: spec.default for name, spec in policy.features.items()}
        self._segments = policy.segments
        self._keep_tier = keep_tier

    def check(self, record: Record) -> Row:
        """The row to store; raises RowRejectedError naming every problem of the record."""
        if record.values is None:
            raise RowRejectedError(record.problem or "malformed")
        values = record.values
        customer_id = values.get(ID_COLUMN)
        problems = []
        if customer_id is None or customer_id == "":
            problems.append(f"{ID_COLUMN}: missing")
        elif not keys.is_customer_id(customer_id):
            problems.append(f"{ID_COLUMN}: {customer_id!r} is not {keys.CUSTOMER_ID_RULE}")
        typed: dict[str, Any] = {}
        encoded: dict[str, str] = {}
        for name, raw in values.items():
            if name == ID_COLUMN or raw is None or raw == "":
                continue  # an empty cell or a null is an absent feature
            parser = self._parsers.get(name)
            if parser is None:
                problems.append(f"unknown feature {name!r}")
                continue
            try:
                typed[name], encoded[name] = parser(raw)
            except UnicodeEncodeError:
                problems.append(f"{name}: not valid UTF-8")
            except ValueError as error:
                problems.append(f"{name}: {error}")
        if problems:
            raise RowRejectedError("; ".join(problems))
        if self._segments and not (self._keep_tier and TIER_FEATURE in typed):
            typed[TIER_FEATURE] = encoded[TIER_FEATURE] = self._segment(typed)
        tier = encoded.get(TIER_FEATURE, "")
        return Row(str(customer_id), encoded, typed, tier, record.line, record.source)

    def _segment(self, typed: Mapping[str, Any]) -> str:
        """The tier of the first segment the row matches (features it lacks take defaults)."""
        facts = Facts({**self._defaults, **typed}, frozenset(typed))
        for segment in self._segments:
            if segment.condition is None or conditions.holds(segment.condition, facts):
                return segment.tier
        raise RowRejectedError("no segment matches (the policy's segments have no catch-all)")


class RejectFile:
    """The CSV of rejected rows (line, reason, record), written only if a row is rejected.

    It describes the latest load: a load without rejects removes a stale one at its path.
    """

    COLUMNS = ("line", "reason", "record")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self._writer: Any = None

    def __enter__(self) -> RejectFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._file is not None:
            self._file.close()
        else:
            self.path.unlink(missing_ok=True)

    def write(self, line: int, source: Sequence[str] | bytes, reason: str) -> None:
        """Add a rejected row."""
        if self._writer is None:
            self._file = self.path.open("w", newline="", errors="surrogateescape")
            self._writer = csv.writer(self._file)
            self._writer.writerow(self.COLUMNS)
        self._writer.writerow((line, reason, _record_text(source)))


def _record_text(source: Sequence[str] | bytes) -> str:
    if isinstance(source, bytes):
        return source.decode(errors="surrogateescape").rstrip("\r\n")
    line = io.StringIO()
    csv.writer(line).writerow(source)
    return line.getvalue().rstrip("\r\n")
