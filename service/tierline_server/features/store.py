"""The read path: a customer's features for a decision, fast, and never an exception.

One Redis round trip per lookup at most, and fewer under load: the single lookups made in one
event-loop iteration go to Redis together, and so do the batches (``batcher``). Each record is read
with its values' sizes bounded by Redis (``bounded_read``), so one customer's malformed record
is that customer's problem alone: a key of another type reads as no such customer, a value too
long as undecodable, each counted, and neither counts against Redis. A near-cache answers hot
customers from memory and drops entries when writers announce changes. When Redis is down, slow
or refusing, a lookup says UNAVAILABLE within the read budget (``deadline``: time spent waiting
for Redis, not queueing behind a busy event loop), and a circuit breaker stops even trying for a
cool-down, so that an outage costs callers nothing but degraded decisions.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence

from tierline_server.config import NearCacheSettings, RedisSettings
from tierline_server.features import keys, redis_client
from tierline_server.features.batcher import Batcher
from tierline_server.features.bounded_read import BoundedReader, StoredKind, StoredRecord
from tierline_server.features.codec import NOT_FOUND, Decoded, FeatureCodec
from tierline_server.features.invalidations import InvalidationListener
from tierline_server.features.lookup import (
    MISSING,
    UNAVAILABLE,
    BadRecord,
    FeatureLookup,
    FeatureSource,
)
from tierline_server.features.near_cache import NearCache
from tierline_server.features.redis_health import RedisHealth
from tierline_server.features.round_trip import command, round_trip
from tierline_server.metrics import Metrics
from tierline_server.policy.compiled import Policy

PING = command("PING")

FUTURE_TOLERANCE_SECONDS = 1.0
"""How far ahead of this server's clock an ``_updated`` stamp may be before it is counted as
bad: writers' clocks differ a little, and stamps are rounded to the millisecond."""


class FeatureStore:
    """Customer features from Redis through a near-cache, for the decision service (asyncio)."""

    def __init__(
        self,
        policy: Policy,
        redis: RedisSettings,
        cache: NearCacheSettings,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = redis
        self._metrics = metrics
        self._codec = FeatureCodec(policy.features)
        self._client = redis_client.request_client(redis)
        self._round_trip = round_trip(self._client, redis)
        self._reader = BoundedReader(self._round_trip, redis.max_value_bytes)
        # Single lookups share round trips with each other, batches with each other: a decision
        # never waits behind a batch of a thousand.
        self._singles: Batcher[str, Decoded | None] = Batcher(self._fetch)
        self._batches: Batcher[str, Decoded | None] = Batcher(self._fetch)
        self._health = RedisHealth(redis, metrics, clock)
        self._cache: NearCache[Decoded] | None = None
        self._listener: InvalidationListener | None = None
        if cache.enabled and cache.max_entries > 0:
            near_cache: NearCache[Decoded] = NearCache(cache, metrics, clock)
            self._cache = near_cache
            self._listener = InvalidationListener(redis, near_cache.invalidate, near_cache.clear)
        self._durations = {
            source: metrics.feature_lookup_duration.labels(source.value) for source in FeatureSource
        }
        self._bad_records = {
            reason: metrics.bad_feature_records.labels(reason.value) for reason in BadRecord
        }

    @property
    def is_listening(self) -> bool:
        """Whether invalidations are being received (False while Redis is unreachable)."""
        return self._listener is not None and self._listener.listening

    async def start(self) -> None:
        """Start listening for invalidations (retrying in the background while Redis is down)
        and load the read script, so that the first lookups need one round trip."""
        if self._listener is not None:
            self._listener.start()
        # Redis may be down: then the first lookup after it is back loads the script.
        with contextlib.suppress(*redis_client.FAILURES):
            await asyncio.wait_for(
                self._reader.load_script(), self._settings.connect_timeout_seconds
            )

    async def close(self) -> None:
        """Stop listening, let the reads in flight finish (each within its budget) and close
        the connections."""
        if self._listener is not None:
            await self._listener.close()
        await self._singles.close()
        await self._batches.close()
        await self._client.aclose()

    async def ping(self) -> bool:
        """Whether Redis answers (for health reporting; does not touch the circuit)."""
        try:
            await asyncio.wait_for(
                self._round_trip.everywhere(PING), self._settings.connect_timeout_seconds
            )
        except redis_client.FAILURES:
            return False
        return True

    async def lookup(self, customer_id: str) -> FeatureLookup:
        """The features of one customer; raises only InvalidCustomerIdError (for a bad id)."""
        started = time.perf_counter()
        key = keys.customer_key(self._settings.key_prefix, customer_id)
        result = self._cached(customer_id)
        if result is None:
            result = (await self._read({customer_id: key}, self._singles))[customer_id]
        self._durations[result.source].observe(time.perf_counter() - started)
        return result

    async def lookup_many(self, customer_ids: Sequence[str]) -> list[FeatureLookup]:
        """The features of several customers, in order, with one Redis round trip for all the
        near-cache misses; raises only InvalidCustomerIdError (before any I/O)."""
        started = time.perf_counter()
        prefix = self._settings.key_prefix
        key_of = {id_: keys.customer_key(prefix, id_) for id_ in customer_ids}
        found: dict[str, FeatureLookup] = {}
        for customer_id in key_of:
            cached = self._cached(customer_id)
            if cached is not None:
                found[customer_id] = cached
                self._durations[cached.source].observe(time.perf_counter() - started)
        misses = {id_: key for id_, key in key_of.items() if id_ not in found}
        if misses:
            read = await self._read(misses, self._batches)
            elapsed = time.perf_counter() - started
            for result in read.values():
                self._durations[result.source].observe(elapsed)
            found.update(read)
        return [found[customer_id] for customer_id in customer_ids]

    def _cached(self, customer_id: str) -> FeatureLookup | None:
        if self._cache is None:
            return None
        decoded = self._cache.get(customer_id)
        if decoded is None:
            return None
        return lookup_of(decoded, FeatureSource.NEAR_CACHE)

    async def _read(
        self, misses: Mapping[str, str], batcher: Batcher[str, Decoded | None]
    ) -> dict[str, FeatureLookup]:
        """Read customers from Redis (id -> key), with what else this iteration reads alike."""
        if not self._health.allow():
            return dict.fromkeys(misses, UNAVAILABLE)
        generation = self._cache.generation if self._cache is not None else 0
        records = await batcher.get(list(misses.values()))
        return {
            customer_id: UNAVAILABLE
            if decoded is None
            else self._remember(customer_id, decoded, generation)
            for customer_id, decoded in zip(misses, records, strict=True)
        }

    async def _fetch(self, keys_: Sequence[str]) -> dict[str, Decoded | None]:
        """One round trip for a batch of keys: each key's record, None where Redis failed."""
        codec = self._codec
        try:
            replies = await self._reader.read(keys_, codec.fields)
        except redis_client.FAILURES as error:
            self._health.record([error])
            return dict.fromkeys(keys_)
        found: dict[str, Decoded | None] = {}
        failures: list[BaseException] = []
        for key, reply in zip(keys_, replies, strict=True):
            if isinstance(reply, StoredRecord):
                found[key] = self._decode(codec, reply)
            else:
                failures.append(reply)
                found[key] = None
        self._health.record(failures)
        return found

    def _decode(self, codec: FeatureCodec, record: StoredRecord) -> Decoded:
        if record.kind is StoredKind.NOTHING:
            return NOT_FOUND
        if record.kind is StoredKind.OTHER_TYPE:
            self._bad_records[BadRecord.WRONG_TYPE].inc()
            return NOT_FOUND
        decoded = codec.decode(record.values)
        if decoded.undecodable:
            self._metrics.undecodable_features.inc(len(decoded.undecodable))
        if decoded.oversized:
            self._bad_records[BadRecord.OVERSIZED_VALUE].inc()
        if decoded.updated is not None and decoded.updated > time.time() + FUTURE_TOLERANCE_SECONDS:
            self._bad_records[BadRecord.FUTURE_UPDATED].inc()
        return decoded

    def _remember(self, customer_id: str, decoded: Decoded, generation: int) -> FeatureLookup:
        if self._cache is not None:
            self._cache.put(customer_id, decoded, negative=not decoded.found, generation=generation)
        return lookup_of(decoded, FeatureSource.REDIS)


def lookup_of(decoded: Decoded, source: FeatureSource) -> FeatureLookup:
    """What a lookup answers for a decoded record from ``source``: its features, and how old
    they are now."""
    if not decoded.found:
        return MISSING
    # A stamp ahead of our clock (another host's clock, or bad data) means "just written".
    age = max(0.0, time.time() - decoded.updated) if decoded.updated is not None else None
    return FeatureLookup(decoded.features, source, age, decoded.undecodable)
