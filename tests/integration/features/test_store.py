"""The read path against a real Redis: decoding, the near-cache, invalidation, batches."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import pytest
from feature_support import (
    NO_CACHE,
    REPO,
    open_store,
    sample,
    settings,
    write,
)
from support.clock import Clock
from support.waiting import wait_until
from tierline_server.config import NearCacheSettings
from tierline_server.features.keys import InvalidCustomerIdError
from tierline_server.features.lookup import FeatureSource

pytestmark = pytest.mark.integration

LONG_TTL = NearCacheSettings(ttl_seconds=60, negative_ttl_seconds=60)


def test_decodes_every_feature_type(redis_url: str) -> None:
    write(
        redis_url,
        "c1",
        updated=time.time() - 30,
        tier="gold",
        ltv="5400.5",
        tenure_days="400",
        evangelist="true",
    )

    async def scenario() -> None:
        async with open_store(settings(redis_url)) as (store, metrics):
            found = await store.lookup("c1")
            assert found.source is FeatureSource.REDIS
            assert dict(found.features) == {
                "tier": "gold",
                "ltv": 5400.5,
                "tenure_days": 400,
                "evangelist": True,
            }
            assert found.age_seconds is not None
            assert 29 < found.age_seconds < 3600
            assert found.undecodable == ()
            assert sample(metrics, "tierline_undecodable_features_total") == 0

    asyncio.run(scenario())


def test_undecodable_values_are_missing_and_counted(redis_url: str) -> None:
    write(redis_url, "c1", tier="diamond", ltv="lots", orders_12m="3")

    async def scenario() -> None:
        async with open_store(settings(redis_url)) as (store, metrics):
            found = await store.lookup("c1")
            assert found.source is FeatureSource.REDIS
            assert dict(found.features) == {"orders_12m": 3}
            assert found.undecodable == ("tier", "ltv")
            assert sample(metrics, "tierline_undecodable_features_total") == 2

    asyncio.run(scenario())


def test_an_unknown_customer_is_missing_and_remembered_briefly(redis_url: str) -> None:
    cache = NearCacheSettings(negative_ttl_seconds=0.1)
    clock = Clock()

    async def scenario() -> None:
        async with open_store(settings(redis_url), cache, clock=clock) as (store, metrics):
            assert (await store.lookup("nobody")).source is FeatureSource.MISSING
            write(redis_url, "nobody", tier="basic")  # no invalidation published
            clock.now += 0.09
            assert (await store.lookup("nobody")).source is FeatureSource.MISSING
            assert sample(metrics, "tierline_near_cache_hits_total") == 1
            clock.now += 0.02
            assert (await store.lookup("nobody")).source is FeatureSource.REDIS

    asyncio.run(scenario())


def test_near_cache_hit_then_expiry(redis_url: str) -> None:
    write(redis_url, "c1", tier="basic")
    cache = NearCacheSettings(ttl_seconds=0.1)
    clock = Clock()

    async def scenario() -> None:
        async with open_store(settings(redis_url), cache, clock=clock) as (store, metrics):
            assert (await store.lookup("c1")).source is FeatureSource.REDIS
            write(redis_url, "c1", tier="gold")  # no invalidation: the cache has its say
            clock.now += 0.09
            hit = await store.lookup("c1")
            assert (hit.source, hit.features["tier"]) == (FeatureSource.NEAR_CACHE, "basic")
            assert hit.age_seconds is not None
            clock.now += 0.02
            fresh = await store.lookup("c1")
            assert (fresh.source, fresh.features["tier"]) == (FeatureSource.REDIS, "gold")
            assert sample(metrics, "tierline_near_cache_hits_total") == 1
            assert sample(metrics, "tierline_near_cache_misses_total") == 2
            assert (
                sample(
                    metrics, "tierline_feature_lookup_duration_seconds_count", source="near_cache"
                )
                == 1
            )

    asyncio.run(scenario())


def test_near_cache_evicts_the_least_recently_used(redis_url: str) -> None:
    for customer_id in ("a", "b", "c"):
        write(redis_url, customer_id, tier="basic")
    cache = NearCacheSettings(max_entries=2, ttl_seconds=60)

    async def scenario() -> None:
        async with open_store(settings(redis_url), cache) as (store, metrics):
            for customer_id in ("a", "b", "c"):
                await store.lookup(customer_id)
            assert (await store.lookup("c")).source is FeatureSource.NEAR_CACHE
            assert (await store.lookup("a")).source is FeatureSource.REDIS
            assert sample(metrics, "tierline_near_cache_evictions_total") >= 1

    asyncio.run(scenario())


def test_near_cache_can_be_turned_off(redis_url: str) -> None:
    write(redis_url, "c1", tier="basic")

    async def scenario() -> None:
        async with open_store(settings(redis_url), NO_CACHE) as (store, metrics):
            sources = [(await store.lookup("c1")).source for _ in range(3)]
            assert sources == [FeatureSource.REDIS] * 3
            assert not store.is_listening
            assert sample(metrics, "tierline_near_cache_misses_total") == 0

    asyncio.run(scenario())


def test_a_write_by_another_process_invalidates_the_cache(redis_url: str) -> None:
    write(redis_url, "c1", tier="basic", ltv="10")
    environment = {**os.environ, "TIERLINE_REDIS_URL": redis_url}
    command = [sys.executable, "-m", "tierline_server.cli", "features", "set", "c1", "ltv=99999"]

    async def scenario() -> None:
        async with open_store(settings(redis_url), LONG_TTL) as (store, metrics):
            await store.lookup("c1")
            assert (await store.lookup("c1")).source is FeatureSource.NEAR_CACHE
            done = await asyncio.to_thread(
                subprocess.run, command, env=environment, capture_output=True, cwd=REPO
            )
            assert done.returncode == 0, done.stderr

            async def sees_the_write() -> bool:
                return (await store.lookup("c1")).features.get("ltv") == 99999.0

            await wait_until(sees_the_write)
            assert sample(metrics, "tierline_near_cache_invalidations_total") == 1

    asyncio.run(scenario())


def test_lookup_many_answers_in_order_with_one_read_for_the_misses(redis_url: str) -> None:
    write(redis_url, "cached", tier="gold")
    write(redis_url, "stored", tier="basic")

    async def scenario() -> None:
        async with open_store(settings(redis_url), LONG_TTL) as (store, _):
            await store.lookup("cached")
            found = await store.lookup_many(["stored", "cached", "nobody", "stored"])
            assert [f.source for f in found] == [
                FeatureSource.REDIS,
                FeatureSource.NEAR_CACHE,
                FeatureSource.MISSING,
                FeatureSource.REDIS,
            ]
            assert [f.features.get("tier") for f in found] == ["basic", "gold", None, "basic"]
            assert await store.lookup_many([]) == []

    asyncio.run(scenario())


def test_the_key_prefix_separates_tenants(redis_url: str) -> None:
    write(redis_url, "c1", tier="gold")

    async def scenario() -> None:
        async with open_store(settings(redis_url, key_prefix="other:")) as (store, _):
            assert (await store.lookup("c1")).source is FeatureSource.MISSING

    asyncio.run(scenario())


def test_ping_and_invalid_ids(redis_url: str) -> None:
    async def scenario() -> None:
        async with open_store(settings(redis_url)) as (store, _):
            assert await store.ping()
            with pytest.raises(InvalidCustomerIdError):
                await store.lookup("bad id")
            with pytest.raises(InvalidCustomerIdError):
                await store.lookup_many(["c1", "*"])

    asyncio.run(scenario())
