"""The decision log's writer: the request path only queues, a background task writes.

``append`` is all a decision pays: a sampling draw, a length check and a deque append (well
under a microsecond: bench/decisionlog.py). A task on the service's event loop takes up to
WRITE_BATCH queued decisions at a time, encodes them (giving way to the loop every ENCODE_CHUNK,
so that no request waits behind a batch) and appends them with one call of a server-side script
(APPEND_SCRIPT): XADD of each, trimming the stream to an approximate MAXLEN, then an approximate
MINID trim when entries have a maximum age. One command and one reply per batch, rather than a
pipeline of XADDs, because redis-py spends about 10 µs of the event loop's time on each command
of a pipeline, in one stretch per batch (bench/decisionlog.py), during which requests wait.

When Redis fails, the batch is kept and retried with backoff; a decision still unwritten
``retry_seconds`` after it was made is dropped and counted, as is every decision that arrives
while the queue is full. Nothing but this task ever waits for Redis. The stream is the script's
one key, so a Redis Cluster serves it from one node. Writes are at least once: a batch that
failed part-way is written again whole, so a reader may meet one decision twice (same id).

A decision that the shadow policy decided otherwise is kept whatever the sampling: differences
are what shadowing is for, and they are few.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
from collections import deque

import structlog

from tierline_server import logs
from tierline_server.config import DecisionLogSettings, RedisSettings, ServerConfig
from tierline_server.decisionlog import record
from tierline_server.decisionlog.customers import CustomerNames, customer_key
from tierline_server.decisions import DecisionRequest, Outcome
from tierline_server.features import redis_client
from tierline_server.ids import decision_time
from tierline_server.metrics import DECISION_LOG_DROPS, Metrics
from tierline_server.policy.domain import Decision

log = structlog.get_logger(__name__)

WRITE_BATCH = 200
"""Decisions per script call: few round trips under load, and a short pause to build each."""
ENCODE_CHUNK = 25
"""Decisions encoded between two yields to the event loop (a few hundred microseconds)."""
IDLE_SECONDS = 0.05
"""How often an empty queue is looked at: the delay before a decision reaches the stream."""
BACKOFF_SECONDS = (0.1, 2.0)
"""First and longest pause between two attempts while Redis fails."""
APPEND_SCRIPT = f"""
-- KEYS[1]: the stream. ARGV[1]: entries to keep, about (0: no limit); ARGV[2]: the id below
-- which entries go ('': none); ARGV[3] and on: records, each appended as one entry.
local stream, max_length, oldest = KEYS[1], tonumber(ARGV[1]), ARGV[2]
for i = 3, #ARGV do
  if max_length > 0 then
    redis.call('XADD', stream, 'MAXLEN', '~', max_length, '*', '{record.FIELD}', ARGV[i])
  else
    redis.call('XADD', stream, '*', '{record.FIELD}', ARGV[i])
  end
end
if oldest ~= '' then
  redis.call('XTRIM', stream, 'MINID', '~', oldest)
end
return #ARGV - 2
"""


class DecisionLogWriter:
    """Appends decisions to the log's stream; ``start()`` on the event loop, ``close()`` at the
    end (which writes what is queued if Redis lets it, and counts the rest)."""

    def __init__(
        self,
        settings: DecisionLogSettings,
        redis: RedisSettings,
        metrics: Metrics,
        names: CustomerNames,
    ) -> None:
        self._stream = settings.stream
        self._sample_decide = settings.sample_decide
        self._sample_batch = settings.sample_batch
        self._limit = settings.queue_size
        self._max_length = settings.max_length
        self._max_age_seconds = settings.max_age_seconds
        self._retry_seconds = settings.retry_seconds
        self._names = names
        self._queue: deque[tuple[DecisionRequest, Outcome, bool, Decision | None]] = deque()
        self._pending: list[tuple[float, bytes]] = []
        """Encoded decisions of the batch being written: (when made, JSON)."""
        self._client = redis_client.background_client(redis)
        self._append = self._client.register_script(APPEND_SCRIPT)
        self._written = metrics.decision_log_written
        self._dropped = {
            reason: metrics.decision_log_dropped.labels(reason) for reason in DECISION_LOG_DROPS
        }
        self._write_duration = metrics.decision_log_write_duration
        metrics.decision_log_queued.set_function(lambda: len(self._queue) + len(self._pending))
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    @classmethod
    def for_config(cls, config: ServerConfig, metrics: Metrics) -> DecisionLogWriter | None:
        """The writer the configuration asks for; None when the log is off or samples nothing.

        Raises SettingError when the customer key cannot be used.
        """
        settings = config.decision_log
        if not settings.enabled or not (settings.sample_decide or settings.sample_batch):
            return None
        return cls(settings, config.redis, metrics, CustomerNames(customer_key(settings)))

    def append(
        self,
        request: DecisionRequest,
        outcome: Outcome,
        *,
        batch: bool,
        shadow: Decision | None = None,
    ) -> None:
        """Queue a decision (if sampled, or ``shadow`` differs); returns at once, never raises."""
        share = self._sample_batch if batch else self._sample_decide
        if shadow is None and share < 1.0 and random.random() >= share:
            return
        if len(self._queue) + len(self._pending) >= self._limit:
            self._dropped["queue_full"].inc()
            return
        self._queue.append((request, outcome, batch, shadow))

    def start(self) -> None:
        """Start writing in the background (call on the running event loop)."""
        self._task = asyncio.create_task(self._run(), name="decision-log-writer")
        self._task.add_done_callback(_report_crash)

    async def close(self) -> None:
        """Write what is queued while Redis accepts it, count the rest as dropped, disconnect."""
        # Ends on the stop event rather than by cancellation: redis-py can swallow a
        # cancellation that lands while it connects, which would leave shutdown waiting.
        self._stopping.set()
        if self._task is not None:
            await self._task
        await self._client.aclose()

    async def _run(self) -> None:
        backoff = BACKOFF_SECONDS[0]
        while True:
            stopping = self._stopping.is_set()
            await self._fill()
            if not self._pending:
                if stopping:
                    return
                await self._pause(IDLE_SECONDS)
            elif await self._write():
                backoff = BACKOFF_SECONDS[0]
            elif stopping:
                self._drop_everything("shutdown")
                return
            else:
                self._drop_expired()
                await self._pause(backoff)
                backoff = min(backoff * 2, BACKOFF_SECONDS[1])

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _fill(self) -> None:
        """Encode queued decisions into the batch, up to WRITE_BATCH."""
        encoded = 0
        while self._queue and len(self._pending) < WRITE_BATCH:
            self._pending.append(self._encode(*self._queue.popleft()))
            encoded += 1
            if encoded % ENCODE_CHUNK == 0:
                await asyncio.sleep(0)  # a request due now must not wait behind the batch

    def _encode(
        self, request: DecisionRequest, outcome: Outcome, batch: bool, shadow: Decision | None
    ) -> tuple[float, bytes]:
        hashed = self._names.hashed
        if hashed:
            outcome = dataclasses.replace(
                outcome, customer_id=self._names.name(outcome.customer_id)
            )
        entry = record.record_of(
            request, outcome, batch=batch, customer_hashed=hashed, shadow=shadow
        )
        return entry.made_at, record.encode(entry)

    async def _write(self) -> bool:
        """Append the batch with one script call; False (the batch kept) when Redis failed."""
        oldest = ""
        if self._max_age_seconds:
            oldest = record.entry_id(time.time() - self._max_age_seconds)
        records = [data for _, data in self._pending]
        started = time.perf_counter()
        try:
            await self._append(keys=[self._stream], args=[self._max_length, oldest, *records])
        except redis_client.FAILURES as error:
            self._failed(error)
            return False
        finally:
            self._write_duration.observe(time.perf_counter() - started)
        self._written.inc(len(records))
        self._pending.clear()
        if self._failing:
            log.info("decision log writes again")
            self._failing = False
        return True

    def _failed(self, error: BaseException) -> None:
        if not self._failing:
            self._failing = True
            log.warning(
                "decision log cannot write",
                error=logs.failure(error),
                retry_seconds=self._retry_seconds,
            )

    def _drop_expired(self) -> None:
        """Drop decisions made longer than the retry time ago (the batch, then the queue's
        oldest): they are counted, and newer decisions get their turn."""
        deadline = time.time() - self._retry_seconds
        kept = [entry for entry in self._pending if entry[0] >= deadline]
        expired = len(self._pending) - len(kept)
        self._pending = kept
        queue = self._queue
        while queue and decision_time(queue[0][1].decision_id) < deadline:
            queue.popleft()
            expired += 1
        if expired:
            self._dropped["redis"].inc(expired)

    def _drop_everything(self, reason: str) -> None:
        dropped = len(self._pending) + len(self._queue)
        self._pending.clear()
        self._queue.clear()
        if dropped:
            self._dropped[reason].inc(dropped)
            log.warning("decision log dropped decisions", decisions=dropped, reason=reason)


def _report_crash(task: asyncio.Task[None]) -> None:
    """A writer that stopped by surprise would only show as drops: say why, once."""
    if not task.cancelled() and task.exception() is not None:
        log.error("decision log writer stopped", exc_info=task.exception())
