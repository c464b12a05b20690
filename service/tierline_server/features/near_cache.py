"""A per-process cache in front of Redis: bounded LRU, short TTL, invalidated on demand.

Not thread-safe: the feature store uses it from one asyncio event loop.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from tierline_server.config import NearCacheSettings
from tierline_server.metrics import Metrics

V = TypeVar("V")


class NearCache(Generic[V]):
    """Recently read customers, so that hot customers skip the Redis round trip.

    ``generation`` changes on every invalidation. A reader notes it before going to Redis and
    passes it to ``put``: if an invalidation arrived while the read was in flight, the value
    read may predate the write that caused it, so it is not cached.
    """

    def __init__(
        self,
        settings: NearCacheSettings,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()
        self.generation = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> V | None:
        """The cached value, or None when absent or expired (counted as a hit or a miss)."""
        entry = self._entries.get(key)
        if entry is not None:
            expires, value = entry
            if self._clock() < expires:
                self._entries.move_to_end(key)
                self._metrics.near_cache_hits.inc()
                return value
            del self._entries[key]
        self._metrics.near_cache_misses.inc()
        return None

    def put(self, key: str, value: V, *, negative: bool, generation: int) -> None:
        """Cache a value read at ``generation``; a negative one ("no such customer") lives
        shorter, so that a new customer is seen soon even without an invalidation."""
        if generation != self.generation:
            return
        ttl = self._settings.negative_ttl_seconds if negative else self._settings.ttl_seconds
        self._entries[key] = (self._clock() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._settings.max_entries:
            self._entries.popitem(last=False)
            self._metrics.near_cache_evictions.inc()

    def invalidate(self, keys: Iterable[str]) -> None:
        """Drop the entries of changed customers."""
        self.generation += 1
        for key in keys:
            if self._entries.pop(key, None) is not None:
                self._metrics.near_cache_invalidations.inc()

    def clear(self) -> None:
        """Drop everything (the schema changed, or invalidations may have been missed)."""
        self.generation += 1
        self._entries.clear()
