"""Redis down, frozen or refusing: lookups say UNAVAILABLE in time, the circuit opens, and
everything recovers by itself when Redis is back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis
from feature_support import (
    MARGIN_SECONDS,
    NO_CACHE,
    READ_BUDGET_SECONDS,
    errors,
    open_store,
    sample,
    settings,
    timed_lookup,
    write,
)
from support.redis_server import RedisServer
from support.waiting import wait_until
from tierline_server.config import NearCacheSettings
from tierline_server.features import keys
from tierline_server.features.lookup import FeatureSource
from tierline_server.features.store import FeatureStore

pytestmark = pytest.mark.integration

BUDGET = READ_BUDGET_SECONDS + MARGIN_SECONDS
"""A lookup during an outage must come back within its read budget (plus slack)."""


async def recovers(store: FeatureStore, customer_id: str = "c1") -> bool:
    return (await store.lookup(customer_id)).source is FeatureSource.REDIS


def test_redis_killed_then_restarted(redis_server: RedisServer) -> None:
    write(redis_server.url, "c1", tier="gold")
    redis_settings = settings(redis_server.url, breaker_failures=3, breaker_cooldown_seconds=0.5)

    async def scenario() -> None:
        async with open_store(redis_settings, NO_CACHE) as (store, metrics):
            assert (await store.lookup("c1")).source is FeatureSource.REDIS
            redis_server.kill()
            for _ in range(3):
                found, took = await timed_lookup(store, "c1")
                assert found.source is FeatureSource.UNAVAILABLE
                assert took < BUDGET
            assert errors(metrics, "connection") == 3
            assert sample(metrics, "tierline_redis_circuit_open") == 1
            # While open, lookups skip Redis altogether.
            found, _ = await timed_lookup(store, "c1")
            assert found.source is FeatureSource.UNAVAILABLE
            assert errors(metrics, "connection") == 3
            assert not await store.ping()

            redis_server.start()
            write(redis_server.url, "c1", tier="gold")  # a fresh Redis: no data survived
            await wait_until(lambda: recovers(store))
            assert sample(metrics, "tierline_redis_circuit_open") == 0
            assert await store.ping()

    asyncio.run(scenario())


def test_frozen_redis_times_out_within_the_budget(redis_server: RedisServer) -> None:
    write(redis_server.url, "c1", tier="gold")

    async def scenario() -> None:
        async with open_store(settings(redis_server.url), NO_CACHE) as (store, metrics):
            assert (await store.lookup("c1")).source is FeatureSource.REDIS
            redis_server.pause()
            try:
                found, took = await timed_lookup(store, "c1")
                assert found.source is FeatureSource.UNAVAILABLE
                assert took < BUDGET
                batch = await store.lookup_many(["c1", "c2"])
                assert [f.source for f in batch] == [FeatureSource.UNAVAILABLE] * 2
                assert errors(metrics, "timeout") == 2
            finally:
                redis_server.resume()
            await wait_until(lambda: recovers(store))

    asyncio.run(scenario())


def test_starts_while_redis_is_down_and_catches_up(redis_server: RedisServer) -> None:
    redis_server.stop()
    cache = NearCacheSettings(ttl_seconds=60)
    redis_settings = settings(redis_server.url)  # nothing to connect to at start

    async def scenario() -> None:
        async with open_store(redis_settings, cache, listening=False) as (store, _):
            assert (await store.lookup("c1")).source is FeatureSource.UNAVAILABLE
            assert not store.is_listening
            redis_server.start()
            await wait_until(lambda: store.is_listening)
            write(redis_server.url, "c1", tier="basic")
            await wait_until(lambda: recovers(store))
            await _invalidation_reaches(store, redis_server.url)

    asyncio.run(scenario())


async def _invalidation_reaches(store: FeatureStore, url: str) -> None:
    """A write announced on the channel replaces the cached value at once."""
    assert (await store.lookup("c1")).source is FeatureSource.NEAR_CACHE
    write(url, "c1", tier="platinum")
    with redis.Redis.from_url(url) as client:
        client.publish("tierline:invalidate", keys.invalidation_message(["c1"]))

    async def sees_platinum() -> bool:
        return (await store.lookup("c1")).features.get("tier") == "platinum"

    await wait_until(sees_platinum)


def test_the_listener_resubscribes_after_a_restart(redis_server: RedisServer) -> None:
    write(redis_server.url, "c1", tier="basic")
    cache = NearCacheSettings(ttl_seconds=60)

    async def scenario() -> None:
        async with open_store(settings(redis_server.url), cache) as (store, _):
            redis_server.kill()
            await wait_until(lambda: not store.is_listening)
            redis_server.start()
            write(redis_server.url, "c1", tier="basic")  # a fresh Redis: no data survived
            await wait_until(lambda: store.is_listening)
            await wait_until(lambda: recovers(store))
            await _invalidation_reaches(store, redis_server.url)

    asyncio.run(scenario())


def test_a_wrong_password_is_an_auth_failure(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", ["--requirepass", "s3cret"]).start()
    try:
        write(server.url, "c1", tier="gold")
        wrong = server.url.replace("s3cret", "guess")

        async def scenario() -> None:
            async with open_store(settings(server.url), NO_CACHE) as (store, _):
                assert (await store.lookup("c1")).features["tier"] == "gold"
            async with open_store(settings(wrong), NO_CACHE) as (store, metrics):
                found, took = await timed_lookup(store, "c1")
                assert found.source is FeatureSource.UNAVAILABLE
                assert took < BUDGET
                assert errors(metrics, "auth") == 1

        asyncio.run(scenario())
    finally:
        server.kill()
