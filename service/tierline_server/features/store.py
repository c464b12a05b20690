"""The read path: a customer's features for a decision, fast, and never an exception.

One Redis round trip per lookup (HMGET of the policy's features and ``_updated``), one for a
whole batch (a pipeline). A near-cache answers hot customers from memory and drops entries when
writers announce changes. When Redis is down, slow or refusing, a lookup says UNAVAILABLE within
the timeout budget, and a circuit breaker stops even trying for a cool-down, so that an outage
costs callers nothing but degraded decisions.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from tierline_server.config import NearCacheSettings, RedisSettings
from tierline_server.features import keys, redis_client
from tierline_server.features.breaker import CircuitBreaker
from tierline_server.features.codec import Decoded, FeatureCodec
from tierline_server.features.near_cache import NearCache
from tierline_server.metrics import Metrics
from tierline_server.policy.compiler import Policy

log = logging.getLogger(__name__)

LISTENER_RETRY_FIRST_SECONDS = 0.1
LISTENER_RETRY_MAX_SECONDS = 1.0
"""Back-off of the invalidation listener while Redis is unreachable. Short: until it subscribes
again, cached entries are only as fresh as their TTL."""
LISTENER_POLL_SECONDS = 1.0
"""How long the listener waits for a message before checking its connection's health."""
LISTENER_CANCEL_RETRY_SECONDS = 0.05


class FeatureSource(enum.Enum):
    """Where a lookup's features came from (values are the metrics' ``source`` labels)."""

    NEAR_CACHE = "near_cache"
    REDIS = "redis"
    MISSING = "missing"
    """No such customer (from Redis or a negative near-cache entry): the unknown tier."""
    UNAVAILABLE = "unavailable"
    """Redis could not be read: decide without features (degraded)."""


@dataclass(frozen=True)
class FeatureLookup:
    """A customer's features, where they came from and how old they are."""

    features: Mapping[str, Any]
    """Typed values of the features stored with a valid value; defaults are not filled in."""
    source: FeatureSource
    age_seconds: float | None
    """Seconds since the features were written (``_updated``), when known."""
    undecodable: tuple[str, ...] = ()
    """Stored values that did not fit their type (left out of ``features``)."""


_UNAVAILABLE = FeatureLookup(MappingProxyType({}), FeatureSource.UNAVAILABLE, None)
_MISSING = FeatureLookup(MappingProxyType({}), FeatureSource.MISSING, None)


class FeatureStore:
    """Customer features from Redis through a near-cache, for the decision service (asyncio)."""

    def __init__(
        self, policy: Policy, redis: RedisSettings, cache: NearCacheSettings, metrics: Metrics
    ) -> None:
        self._settings = redis
        self._metrics = metrics
        self._codec = FeatureCodec(policy.features)
        self._client = redis_client.request_client(redis)
        self._cache: NearCache[Decoded] | None = (
            NearCache(cache, metrics) if cache.enabled and cache.max_entries > 0 else None
        )
        self._breaker = CircuitBreaker(redis.breaker_failures, redis.breaker_cooldown_seconds)
        self._durations = {
            source: metrics.feature_lookup_duration.labels(source.value) for source in FeatureSource
        }
        self._listener: asyncio.Task[None] | None = None
        self._listening = False

    @property
    def is_listening(self) -> bool:
        """Whether invalidations are being received (False while Redis is unreachable)."""
        return self._listening

    async def start(self) -> None:
        """Start listening for invalidations; keeps retrying in the background if Redis is down."""
        if self._cache is not None and self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="tierline-invalidations")

    async def close(self) -> None:
        """Stop listening and close the connections."""
        if self._listener is not None:
            # redis-py 8.1 can swallow a cancellation that lands while it connects: insist.
            while not self._listener.done():
                self._listener.cancel()
                await asyncio.wait({self._listener}, timeout=LISTENER_CANCEL_RETRY_SECONDS)
            self._listener = None
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
        if not self._breaker.allow():
            return _UNAVAILABLE
        codec = self._codec  # a reload may swap it while we wait for Redis
        generation = self._cache.generation if self._cache is not None else 0
        try:
            values = await self._client.hmget(key, codec.fields)
        except redis_client.FAILURES as error:
            self._failed(error)
            return _UNAVAILABLE
        self._succeeded()
        return self._remember(customer_id, codec.decode(values), generation)

    async def _read_many(self, misses: Mapping[str, str]) -> dict[str, FeatureLookup]:
        if not self._breaker.allow():
            return dict.fromkeys(misses, _UNAVAILABLE)
        codec = self._codec
        generation = self._cache.generation if self._cache is not None else 0
        try:
            async with self._client.pipeline(transaction=False) as pipeline:
                for key in misses.values():
                    pipeline.hmget(key, codec.fields)
                replies = await pipeline.execute(raise_on_error=False)
        except redis_client.FAILURES as error:
            self._failed(error)
            return dict.fromkeys(misses, _UNAVAILABLE)
        results: dict[str, FeatureLookup] = {}
        outage: BaseException | None = None
        for customer_id, reply in zip(misses, replies, strict=True):
            if isinstance(reply, BaseException):
                self._metrics.redis_errors.labels(redis_client.error_kind(reply)).inc()
                outage = outage or (reply if redis_client.is_outage(reply) else None)
                results[customer_id] = _UNAVAILABLE
            else:
                results[customer_id] = self._remember(customer_id, codec.decode(reply), generation)
        if outage is None:
            self._succeeded()
        else:
            self._trip(outage)
        return results

    def _remember(self, customer_id: str, decoded: Decoded, generation: int) -> FeatureLookup:
        if decoded.undecodable:
            self._metrics.undecodable_features.inc(len(decoded.undecodable))
        if self._cache is not None:
            self._cache.put(customer_id, decoded, negative=not decoded.found, generation=generation)
        return _result(decoded, FeatureSource.REDIS)

    def _failed(self, error: BaseException) -> None:
        self._metrics.redis_errors.labels(redis_client.error_kind(error)).inc()
        if redis_client.is_outage(error):
            self._trip(error)
        else:
            self._succeeded()

    def _trip(self, error: BaseException) -> None:
        was_open = self._breaker.is_open
        self._breaker.record_failure()
        if self._breaker.is_open and not was_open:
            log.warning(
                "Redis failing (%s: %s): skipping it for %.1fs at a time",
                type(error).__name__,
                error,
                self._settings.breaker_cooldown_seconds,
            )
            self._metrics.circuit_open.set(1)

    def _succeeded(self) -> None:
        if self._breaker.is_open:
            log.warning("Redis answers again: circuit closed")
            self._metrics.circuit_open.set(0)
        self._breaker.record_success()

    async def _listen(self) -> None:
        """Drop near-cache entries named on the invalidation channel, reconnecting forever."""
        delay = LISTENER_RETRY_FIRST_SECONDS
        while True:
            client = redis_client.listener_client(self._settings)
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self._settings.invalidation_channel)
                    self._on_subscribed()
                    delay = LISTENER_RETRY_FIRST_SECONDS
                    while True:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=LISTENER_POLL_SECONDS
                        )
                        if message is not None and self._cache is not None:
                            self._cache.invalidate(keys.invalidated_ids(message["data"]))
            except redis_client.FAILURES as error:
                if self._listening:
                    log.warning("invalidation listener lost Redis (%s); reconnecting", error)
            finally:
                self._listening = False
                await client.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, LISTENER_RETRY_MAX_SECONDS)

    def _on_subscribed(self) -> None:
        # Invalidations published while we were not subscribed are lost: start afresh.
        if self._cache is not None:
            self._cache.clear()
        self._listening = True
        log.info("listening for invalidations on %s", self._settings.invalidation_channel)


def _result(decoded: Decoded, source: FeatureSource) -> FeatureLookup:
    if not decoded.found:
        return _MISSING
    age = time.time() - decoded.updated if decoded.updated is not None else None
    return FeatureLookup(decoded.features, source, age, decoded.undecodable)
