"""The read path: a customer's features for a decision, fast, and never an exception.

One Redis round trip per lookup (HMGET of the policy's features and ``_updated``), one for a
whole batch (a pipeline). A near-cache answers hot customers from memory and drops entries when
writers announce changes. When Redis is down, slow or refusing, a lookup says UNAVAILABLE within
the timeout budget, and a circuit breaker stops even trying for a cool-down, so that an outage
costs callers nothing but degraded decisions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from tierline_server.config import NearCacheSettings, RedisSettings
from tierline_server.features import keys, redis_client
from tierline_server.features.codec import Decoded, FeatureCodec
from tierline_server.features.invalidations import InvalidationListener
from tierline_server.features.lookup import (
    MISSING,
    UNAVAILABLE,
    FeatureLookup,
    FeatureSource,
)
from tierline_server.features.near_cache import NearCache
from tierline_server.features.redis_health import RedisHealth
from tierline_server.metrics import Metrics
from tierline_server.policy.compiled import Policy


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

    @property
    def is_listening(self) -> bool:
        """Whether invalidations are being received (False while Redis is unreachable)."""
        return self._listener is not None and self._listener.listening

    async def start(self) -> None:
        """Start listening for invalidations; keeps retrying in the background if Redis is down."""
        if self._listener is not None:
            self._listener.start()

    async def close(self) -> None:
        """Stop listening and close the connections."""
        if self._listener is not None:
            await self._listener.close()
        await self._client.aclose()

    def set_policy(self, policy: Policy) -> None:
        """Serve a new policy: its feature schema may differ, so cached entries are dropped."""
        self._codec = FeatureCodec(policy.features)
        if self._cache is not None:
            self._cache.clear()

    async def ping(self) -> bool:
        """Whether Redis answers (for health reporting; does not touch the circuit)."""
        try:
            return bool(await self._client.ping())
        except redis_client.FAILURES:
            return False

    async def lookup(self, customer_id: str) -> FeatureLookup:
        """The features of one customer; raises only InvalidCustomerIdError (for a bad id)."""
        started = time.perf_counter()
        key = keys.customer_key(self._settings.key_prefix, customer_id)
        result = self._cached(customer_id)
        if result is None:
            result = await self._read_one(customer_id, key)
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
            read = await self._read_many(misses)
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
        return _result(decoded, FeatureSource.NEAR_CACHE)

    async def _read_one(self, customer_id: str, key: str) -> FeatureLookup:
        if not self._health.allow():
            return UNAVAILABLE
        codec = self._codec  # a reload may swap it while we wait for Redis
        generation = self._cache.generation if self._cache is not None else 0
        try:
            values = await self._client.hmget(key, codec.fields)
        except redis_client.FAILURES as error:
            self._health.record([error])
            return UNAVAILABLE
        self._health.record()
        return self._remember(customer_id, codec.decode(values), generation)

    async def _read_many(self, misses: Mapping[str, str]) -> dict[str, FeatureLookup]:
        if not self._health.allow():
            return dict.fromkeys(misses, UNAVAILABLE)
        codec = self._codec
        generation = self._cache.generation if self._cache is not None else 0
        try:
            async with self._client.pipeline(transaction=False) as pipeline:
                for key in misses.values():
                    pipeline.hmget(key, codec.fields)
                replies = await pipeline.execute(raise_on_error=False)
        except redis_client.FAILURES as error:
            self._health.record([error])
            return dict.fromkeys(misses, UNAVAILABLE)
        results: dict[str, FeatureLookup] = {}
        failures: list[BaseException] = []
        for customer_id, reply in zip(misses, replies, strict=True):
            if isinstance(reply, BaseException):
                failures.append(reply)
                results[customer_id] = UNAVAILABLE
            else:
                results[customer_id] = self._remember(customer_id, codec.decode(reply), generation)
        self._health.record(failures)
        return results

    def _remember(self, customer_id: str, decoded: Decoded, generation: int) -> FeatureLookup:
        if decoded.undecodable:
            self._metrics.undecodable_features.inc(len(decoded.undecodable))
        if self._cache is not None:
            self._cache.put(customer_id, decoded, negative=not decoded.found, generation=generation)
        return _result(decoded, FeatureSource.REDIS)


def _result(decoded: Decoded, source: FeatureSource) -> FeatureLookup:
    if not decoded.found:
        return MISSING
    age = time.time() - decoded.updated if decoded.updated is not None else None
    return FeatureLookup(decoded.features, source, age, decoded.undecodable)
