"""The read budget against a real Redis: it counts time waiting for Redis, not time spent behind
a busy event loop; concurrent lookups share round trips; the script survives a SCRIPT FLUSH."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from feature_support import (
    MARGIN_SECONDS,
    NO_CACHE,
    all_errors,
    errors,
    open_store,
    sample,
    settings,
    timed_lookup,
    write,
)
from support.redis_server import RedisServer
from tierline_server.config import DEFAULT_REDIS_TIMEOUT_SECONDS
from tierline_server.features.lookup import FeatureLookup, FeatureSource
from tierline_server.features.store import FeatureStore

pytestmark = pytest.mark.integration

BUDGET_SECONDS = DEFAULT_REDIS_TIMEOUT_SECONDS
"""The server's own budget (5 ms): these tests are about what it measures."""
BUSY_SECONDS = 0.05
"""How long other work holds the event loop, ten times the budget."""
REDIS_DELAY_SECONDS = 0.02
"""How late Redis answers: after the budget has started, while the loop is held."""
HOPS = 5
"""Loop iterations that let a lookup send its request and start waiting."""
LOOKUPS = 5
BURST = 500


@pytest.fixture
def debuggable_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of the test's own that takes DEBUG SLEEP."""
    server = RedisServer(tmp_path / "redis", ["--enable-debug-command", "local"]).start()
    yield server
    server.kill()


def delay_redis(server: RedisServer, seconds: float) -> socket.socket:
    """Make Redis busy for ``seconds`` from now, so that what is sent next is answered late."""
    connection = socket.create_connection(("127.0.0.1", server.port))
    connection.sendall(f"DEBUG SLEEP {seconds}\r\n".encode())
    time.sleep(0.002)  # Redis has started sleeping before the lookup's request arrives
    return connection


async def hold_the_loop_after_a_few_hops(until_answered: RedisServer | None = None) -> None:
    """Other work: once the lookup is waiting, hold the event loop ten budgets long, and with
    ``until_answered`` at least until that Redis has answered what was sent before."""
    for _ in range(HOPS):
        await asyncio.sleep(0)
    # Blocking on purpose: a long decision, a burst of requests.
    started = time.monotonic()
    if until_answered is not None:
        with until_answered.client() as client:
            client.ping()  # answered after the lookup's request, sent earlier (a busy machine)
    time.sleep(max(0.0, BUSY_SECONDS - (time.monotonic() - started)))


async def lookup_while_the_loop_is_held(
    store: FeatureStore, customer_id: str, until_answered: RedisServer | None = None
) -> FeatureLookup:
    lookup = asyncio.create_task(store.lookup(customer_id))
    await hold_the_loop_after_a_few_hops(until_answered)
    return await lookup


def test_a_reply_that_arrived_while_the_loop_was_busy_is_read(
    debuggable_redis: RedisServer,
) -> None:
    write(debuggable_redis.url, "c1", tier="gold")
    redis_settings = settings(debuggable_redis.url, timeout_seconds=BUDGET_SECONDS)

    async def scenario() -> None:
        async with open_store(redis_settings, NO_CACHE) as (store, metrics):
            assert (await store.lookup("c1")).source is FeatureSource.REDIS  # connected
            for _ in range(LOOKUPS):
                # The request goes out and the budget starts; Redis answers 20 ms later, while
                # the loop is held for 50 ms: the reply is there when the loop looks again.
                with delay_redis(debuggable_redis, REDIS_DELAY_SECONDS):
                    found = await lookup_while_the_loop_is_held(store, "c1", debuggable_redis)
                assert found.source is FeatureSource.REDIS
            assert all_errors(metrics) == 0
            assert sample(metrics, "tierline_redis_circuit_open") == 0

            # A frozen Redis still times out within the budget.
            debuggable_redis.pause()
            try:
                found, took = await timed_lookup(store, "c1")
            finally:
                debuggable_redis.resume()
            assert found.source is FeatureSource.UNAVAILABLE
            assert took < BUDGET_SECONDS + MARGIN_SECONDS
            assert errors(metrics, "timeout") == 1

    asyncio.run(scenario())


def test_a_frozen_redis_times_out_even_while_the_loop_is_busy(redis_server: RedisServer) -> None:
    write(redis_server.url, "c1", tier="gold")
    redis_settings = settings(redis_server.url, timeout_seconds=BUDGET_SECONDS)

    async def scenario() -> None:
        async with open_store(redis_settings, NO_CACHE) as (store, metrics):
            assert (await store.lookup("c1")).source is FeatureSource.REDIS
            redis_server.pause()
            try:
                started = time.monotonic()
                found = await lookup_while_the_loop_is_held(store, "c1")
                took = time.monotonic() - started
            finally:
                redis_server.resume()
            assert found.source is FeatureSource.UNAVAILABLE
            assert took < BUDGET_SECONDS + BUSY_SECONDS + MARGIN_SECONDS
            assert errors(metrics, "timeout") == 1

    asyncio.run(scenario())


def test_concurrent_lookups_share_round_trips(redis_url: str) -> None:
    customers = [f"c{n}" for n in range(BURST)]
    for customer_id in customers:
        write(redis_url, customer_id, tier="basic", tenure_days=str(len(customer_id)))

    async def scenario() -> None:
        async with open_store(settings(redis_url), NO_CACHE) as (store, metrics):
            await store.lookup("c0")  # one connection open
            with redis.Redis.from_url(redis_url) as client:
                before = client.info("stats")["total_connections_received"]
                found = await asyncio.gather(*(store.lookup(c) for c in customers))
                after = client.info("stats")["total_connections_received"]
            assert {f.source for f in found} == {FeatureSource.REDIS}
            assert [f.features["tenure_days"] for f in found] == [len(c) for c in customers]
            # 500 lookups issued together went out on the connection already open.
            assert after - before == 0
            assert all_errors(metrics) == 0

    asyncio.run(scenario())


def test_a_batch_of_a_thousand_is_read_within_the_default_budget(redis_url: str) -> None:
    customers = [f"c{n}" for n in range(1000)]
    for customer_id in customers:
        write(redis_url, customer_id, tier="basic")
    redis_settings = settings(redis_url, timeout_seconds=BUDGET_SECONDS)

    async def scenario() -> None:
        async with open_store(redis_settings, NO_CACHE) as (store, metrics):
            found = await store.lookup_many(customers)
            assert {f.source for f in found} == {FeatureSource.REDIS}
            assert all_errors(metrics) == 0

    asyncio.run(scenario())


def test_a_cancelled_lookup_leaves_the_others_of_its_round_trip_alone(redis_url: str) -> None:
    write(redis_url, "c1", tier="gold")
    write(redis_url, "c2", tier="basic")

    async def scenario() -> None:
        async with open_store(settings(redis_url), NO_CACHE) as (store, _):
            first = asyncio.create_task(store.lookup("c1"))
            second = asyncio.create_task(store.lookup("c2"))
            await asyncio.sleep(0)  # both have joined the same round trip
            first.cancel()
            assert (await second).features["tier"] == "basic"
            assert first.cancelled()
            assert (await store.lookup("c1")).features["tier"] == "gold"

    asyncio.run(scenario())


def test_lookups_load_the_script_again_after_a_flush(redis_url: str) -> None:
    write(redis_url, "c1", tier="gold")

    async def scenario() -> None:
        async with open_store(settings(redis_url), NO_CACHE) as (store, metrics):
            assert (await store.lookup("c1")).source is FeatureSource.REDIS
            with redis.Redis.from_url(redis_url) as client:
                client.script_flush()
            found = await store.lookup_many(["c1", "nobody"])
            assert [f.source for f in found] == [FeatureSource.REDIS, FeatureSource.MISSING]
            assert all_errors(metrics) == 0

    asyncio.run(scenario())
