"""Malformed customer records against a real Redis: each one is its customer's problem alone.

A key of another type reads as an unknown customer, a value too long as undecodable, a stamp
from the future as age 0, numbers in other scripts' digits as undecodable; each is counted, and
none touches the circuit or the other customers' lookups.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import redis
from feature_support import (
    MARGIN_SECONDS,
    NO_CACHE,
    PREFIX,
    READ_BUDGET_SECONDS,
    all_errors,
    bad_records,
    open_store,
    sample,
    settings,
    write,
)
from tierline_server.features.lookup import FeatureSource

pytestmark = pytest.mark.integration

HUGE_BYTES = 30_000_000
"""A value as long as the one that once opened the circuit for everybody."""
OTHERS = 40
"""Well-formed customers looked up alongside a bad one."""


def test_a_key_of_another_type_is_an_unknown_customer_counted_apart(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as client:
        client.set(PREFIX + "a-string", "not a hash")
        client.rpush(PREFIX + "a-list", "tier", "gold")
    write(redis_url, "fine", tier="basic")

    async def scenario() -> None:
        async with open_store(settings(redis_url), NO_CACHE) as (store, metrics):
            for _ in range(5):
                assert (await store.lookup("a-string")).source is FeatureSource.MISSING
            many = await store.lookup_many(["a-list", "fine", "nobody"])
            assert [f.source for f in many] == [
                FeatureSource.MISSING,
                FeatureSource.REDIS,
                FeatureSource.MISSING,
            ]
            assert bad_records(metrics, "wrong_type") == 6
            assert all_errors(metrics) == 0
            assert sample(metrics, "tierline_redis_circuit_open") == 0

    asyncio.run(scenario())


def test_an_oversized_value_is_undecodable_and_nobody_else_notices(redis_url: str) -> None:
    write(redis_url, "huge", tier="gold", tenure_days="400", ltv="1" * HUGE_BYTES)
    others = [f"c{n}" for n in range(OTHERS)]
    for customer_id in others:
        write(redis_url, customer_id, tier="basic", ltv="10")

    async def scenario() -> None:
        async with open_store(settings(redis_url), NO_CACHE) as (store, metrics):
            for _ in range(5):
                started = time.monotonic()
                bad, *rest = await asyncio.gather(
                    store.lookup("huge"), *(store.lookup(c) for c in others)
                )
                assert time.monotonic() - started < READ_BUDGET_SECONDS + MARGIN_SECONDS
                assert bad.source is FeatureSource.REDIS
                assert dict(bad.features) == {"tier": "gold", "tenure_days": 400}
                assert bad.undecodable == ("ltv",)
                assert all(found.source is FeatureSource.REDIS for found in rest)
            assert bad_records(metrics, "oversized_value") == 5
            assert sample(metrics, "tierline_undecodable_features_total") == 5
            assert all_errors(metrics) == 0
            assert sample(metrics, "tierline_redis_circuit_open") == 0

    asyncio.run(scenario())


def test_the_value_limit_is_a_setting(redis_url: str) -> None:
    ltv = "12345678901234.5"  # 16 bytes; the stamp is 14
    write(redis_url, "c1", ltv=ltv)

    async def scenario() -> None:
        for limit, features, undecodable in ((16, {"ltv": float(ltv)}, ()), (15, {}, ("ltv",))):
            redis_settings = settings(redis_url, max_value_bytes=limit)
            async with open_store(redis_settings, NO_CACHE) as (store, metrics):
                found = await store.lookup("c1")
                assert (dict(found.features), found.undecodable) == (features, undecodable)
                assert bad_records(metrics, "oversized_value") == len(undecodable)

    asyncio.run(scenario())


def test_a_stamp_from_the_future_is_age_zero_and_counted(redis_url: str) -> None:
    write(redis_url, "ahead", updated=time.time() + 1e9, tier="gold")
    write(redis_url, "skewed", updated=time.time() + 0.5, tier="gold")

    async def scenario() -> None:
        async with open_store(settings(redis_url), NO_CACHE) as (store, metrics):
            ahead = await store.lookup("ahead")
            assert (ahead.source, ahead.age_seconds) == (FeatureSource.REDIS, 0.0)
            assert bad_records(metrics, "future_updated") == 1
            # A writer's clock a little ahead of ours is not a bad record.
            skewed = await store.lookup("skewed")
            assert skewed.age_seconds == 0.0
            assert bad_records(metrics, "future_updated") == 1

    asyncio.run(scenario())


def test_numbers_in_other_digits_are_undecodable(redis_url: str) -> None:
    write(redis_url, "c1", tier="gold", tenure_days="٣٣", ltv="٣٣.5", complaints_90d="1_0")

    async def scenario() -> None:
        async with open_store(settings(redis_url), NO_CACHE) as (store, metrics):
            found = await store.lookup("c1")
            assert dict(found.features) == {"tier": "gold"}
            assert set(found.undecodable) == {"tenure_days", "ltv", "complaints_90d"}
            assert sample(metrics, "tierline_undecodable_features_total") == 3

    asyncio.run(scenario())
