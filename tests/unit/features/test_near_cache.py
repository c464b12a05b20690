"""The near-cache: hits and misses, TTLs, LRU bound, invalidation, and the stale-read guard."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from support.clock import Clock
from tierline_server.config import NearCacheSettings
from tierline_server.features.near_cache import NearCache
from tierline_server.metrics import Metrics


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


def count(metrics: Metrics, name: str) -> float:
    return metrics.registry.get_sample_value(f"tierline_near_cache_{name}_total") or 0.0


def cache(
    metrics: Metrics,
    clock: Clock,
    max_entries: int = 10,
    ttl: float = 2.0,
    negative_ttl: float = 0.5,
) -> NearCache[str]:
    settings = NearCacheSettings(
        max_entries=max_entries, ttl_seconds=ttl, negative_ttl_seconds=negative_ttl
    )
    return NearCache(settings, metrics, clock)


def test_hit_and_miss_are_counted(metrics: Metrics) -> None:
    near = cache(metrics, Clock())
    assert near.get("c1") is None
    near.put("c1", "features", negative=False, generation=near.generation)
    assert near.get("c1") == "features"
    assert (count(metrics, "hits"), count(metrics, "misses")) == (1, 1)


def test_entries_expire_after_their_ttl(metrics: Metrics) -> None:
    clock = Clock()
    near = cache(metrics, clock, ttl=2.0, negative_ttl=0.5)
    near.put("known", "features", negative=False, generation=near.generation)
    near.put("unknown", "nothing", negative=True, generation=near.generation)
    clock.now += 0.6
    assert near.get("known") == "features"
    assert near.get("unknown") is None  # negative entries live shorter
    clock.now += 1.5
    assert near.get("known") is None
    assert len(near) == 0


def test_least_recently_used_is_evicted(metrics: Metrics) -> None:
    near = cache(metrics, Clock(), max_entries=2)
    for key in ("a", "b"):
        near.put(key, key, negative=False, generation=near.generation)
    near.get("a")  # a is now more recent than b
    near.put("c", "c", negative=False, generation=near.generation)
    assert near.get("b") is None
    assert (near.get("a"), near.get("c")) == ("a", "c")
    assert len(near) == 2
    assert count(metrics, "evictions") == 1


def test_invalidate_drops_named_entries(metrics: Metrics) -> None:
    near = cache(metrics, Clock())
    for key in ("a", "b"):
        near.put(key, key, negative=False, generation=near.generation)
    near.invalidate(["a", "not-cached"])
    assert near.get("a") is None
    assert near.get("b") == "b"
    assert count(metrics, "invalidations") == 1


def test_a_read_that_raced_an_invalidation_is_not_cached(metrics: Metrics) -> None:
    near = cache(metrics, Clock())
    generation = near.generation  # a lookup starts reading Redis
    near.invalidate(["a"])  # a writer's change arrives meanwhile
    near.put("a", "maybe stale", negative=False, generation=generation)
    assert near.get("a") is None


def test_clear_drops_everything(metrics: Metrics) -> None:
    near = cache(metrics, Clock())
    generation = near.generation
    near.put("a", "a", negative=False, generation=generation)
    near.clear()
    assert len(near) == 0
    near.put("b", "b", negative=False, generation=generation)
    assert near.get("b") is None
