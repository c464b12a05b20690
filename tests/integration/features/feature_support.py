"""Helpers of the feature-store integration tests: settings, an open store, metrics, waiting."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import redis
from prometheus_client import CollectorRegistry
from support.paths import REPO
from support.waiting import wait_until
from tierline_server.config import NearCacheSettings, RedisSettings
from tierline_server.features import keys
from tierline_server.features.lookup import FeatureLookup
from tierline_server.features.redis_client import ErrorKind
from tierline_server.features.store import FeatureStore
from tierline_server.metrics import Metrics
from tierline_server.policy.compiled import Policy
from tierline_server.policy.compiler import load_policy

DEFAULT_POLICY = load_policy(REPO / "rules")
PREFIX = "tierline:customer:"

READ_BUDGET_SECONDS = 0.25
"""The read timeout in these tests: generous, so that a busy machine does not fail lookups."""
MARGIN_SECONDS = 1.0
"""Slack on top of a budget when a test checks that a lookup came back in time."""
NO_CACHE = NearCacheSettings(enabled=False)
"""Every lookup reads Redis."""


def settings(url: str, **overrides: Any) -> RedisSettings:
    """RedisSettings for tests: the test budget, a breaker that opens after 3 and probes soon."""
    base = RedisSettings(
        url=url,
        timeout_seconds=READ_BUDGET_SECONDS,
        connect_timeout_seconds=READ_BUDGET_SECONDS,
        breaker_failures=3,
        breaker_cooldown_seconds=0.2,
    )
    return dataclasses.replace(base, **overrides)


@asynccontextmanager
async def open_store(
    redis_settings: RedisSettings,
    cache: NearCacheSettings | None = None,
    policy: Policy = DEFAULT_POLICY,
    *,
    listening: bool = True,
    clock: Callable[[], float] = time.monotonic,
) -> AsyncIterator[tuple[FeatureStore, Metrics]]:
    """A started FeatureStore with metrics of its own; closed afterwards. With a near-cache and
    ``listening``, it is subscribed to invalidations first (subscribing clears the cache)."""
    metrics = Metrics(CollectorRegistry())
    cache = cache or NearCacheSettings()
    store = FeatureStore(policy, redis_settings, cache, metrics, clock)
    await store.start()
    try:
        if cache.enabled and listening:
            await wait_until(lambda: store.is_listening)
        yield store, metrics
    finally:
        await store.close()


async def timed_lookup(store: FeatureStore, customer_id: str) -> tuple[FeatureLookup, float]:
    """A lookup and the seconds it took."""
    started = time.monotonic()
    found = await store.lookup(customer_id)
    return found, time.monotonic() - started


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    """The current value of a metric sample (0 when it has none)."""
    return metrics.registry.get_sample_value(name, labels) or 0.0


def errors(metrics: Metrics, kind: str) -> float:
    """Redis errors of one kind counted so far."""
    return sample(metrics, "tierline_redis_errors_total", kind=kind)


def all_errors(metrics: Metrics) -> float:
    """Redis errors of every kind counted so far."""
    return sum(errors(metrics, kind.value) for kind in ErrorKind)


def bad_records(metrics: Metrics, reason: str) -> float:
    """Malformed customer records counted so far for one reason."""
    return sample(metrics, "tierline_bad_feature_records_total", reason=reason)


def write(url: str, customer_id: str, updated: float | None = None, **fields: str) -> None:
    """Store a customer's hash directly (no invalidation), as another writer would."""
    stamp = keys.updated_stamp(time.time() if updated is None else updated)
    with redis.Redis.from_url(url) as client:
        client.hset(PREFIX + customer_id, mapping={**fields, keys.UPDATED_FIELD: stamp})
