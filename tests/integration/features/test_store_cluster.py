"""A Redis Cluster of three nodes: the loader writes across slots, the store reads them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from feature_support import DEFAULT_POLICY, all_errors, bad_records, open_store, settings
from support.waiting import wait_until
from tierline_server.config import NearCacheSettings
from tierline_server.features import loader, redis_client
from tierline_server.features.lookup import FeatureSource
from tierline_server.features.records import CustomerRecords

pytestmark = pytest.mark.integration

CUSTOMERS = 300
"""Enough customers to land on every node."""


def test_a_cluster_serves_loaded_customers(redis_cluster_url: str, tmp_path: Path) -> None:
    source = tmp_path / "customers.csv"
    source.write_text("customer_id,ltv\n" + "".join(f"c{n},{n * 100}\n" for n in range(CUSTOMERS)))
    redis_settings = settings(redis_cluster_url)
    with redis_client.writer_client(redis_settings) as client:
        summary = loader.load_file(source, DEFAULT_POLICY, CustomerRecords(client, redis_settings))
    assert (summary.loaded, summary.rejected) == (CUSTOMERS, 0)
    ids = [f"c{n}" for n in range(CUSTOMERS)]

    async def scenario() -> None:
        async with open_store(redis_settings, NearCacheSettings(ttl_seconds=60)) as (store, _):
            assert (await store.lookup("c250")).features == {"ltv": 25000.0, "tier": "platinum"}
            found = await store.lookup_many([*ids, "nobody"])
            assert [f.features["ltv"] for f in found[:-1]] == [n * 100.0 for n in range(CUSTOMERS)]
            assert found[-1].source is FeatureSource.MISSING
            assert (await store.lookup("c1")).source is FeatureSource.NEAR_CACHE

            # A load through the cluster invalidates the cache of every service.
            source.write_text("customer_id,ltv\nc1,50000\n")
            with redis_client.writer_client(redis_settings) as client:
                loader.load_file(source, DEFAULT_POLICY, CustomerRecords(client, redis_settings))

            async def sees_the_load() -> bool:
                return (await store.lookup("c1")).features.get("tier") == "platinum"

            await wait_until(sees_the_load)

    asyncio.run(scenario())


def test_a_cluster_reads_records_bounded_and_reloads_the_script(redis_cluster_url: str) -> None:
    redis_settings = settings(redis_cluster_url, max_value_bytes=1000)
    ids = [f"c{n}" for n in range(CUSTOMERS)]  # on every node
    with redis_client.writer_client(redis_settings) as client:
        records = CustomerRecords(client, redis_settings)
        for customer_id in ids:
            records.write(customer_id, {"tier": "gold", "ltv": "1" * 2000})
        client.set(records.key("a-string"), "not a hash")

    async def scenario() -> None:
        async with open_store(redis_settings, NearCacheSettings(enabled=False)) as (store, metrics):
            found = await store.lookup_many([*ids, "a-string"])
            assert [f.source for f in found] == [FeatureSource.REDIS] * CUSTOMERS + [
                FeatureSource.MISSING
            ]
            assert {f.undecodable for f in found[:-1]} == {("ltv",)}
            assert bad_records(metrics, "oversized_value") == CUSTOMERS
            assert bad_records(metrics, "wrong_type") == 1
            # Every node forgets the script (a restart, a failover): reads load it again.
            with redis_client.writer_client(redis_settings) as client:
                client.execute_command("SCRIPT FLUSH", target_nodes=client.PRIMARIES)
            again = await store.lookup_many(ids)
            assert {f.features["tier"] for f in again} == {"gold"}
            assert all_errors(metrics) == 0

    asyncio.run(scenario())
