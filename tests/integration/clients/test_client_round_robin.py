"""Client-side round_robin over several Tierline replicas: every replica gets its share."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from client_support import decisions_total, seed
from support.tierline_process import TierlineProcess
from support.waiting import wait_for
from tierline import AsyncEntitlementClient, EntitlementClient

pytestmark = pytest.mark.integration

CALLS = 40


@pytest.fixture
def replicas(redis_url: str) -> Iterator[list[TierlineProcess]]:
    """Two Tierline processes on their own ports, sharing one Redis."""
    seed(redis_url)
    servers = [TierlineProcess(redis_url).start(), TierlineProcess(redis_url).start()]
    yield servers
    for server in servers:
        server.stop()


def target(replicas: list[TierlineProcess]) -> str:
    """One gRPC target naming every replica, as a headless service's DNS name would."""
    return "ipv4:" + ",".join(server.target for server in replicas)


def counts_of(replicas: list[TierlineProcess]) -> list[float]:
    """Decisions each replica has made."""
    return [decisions_total(server.metrics_port) for server in replicas]


def test_sync_calls_reach_every_replica(replicas: list[TierlineProcess]) -> None:
    with EntitlementClient(target(replicas), timeout=2.0, connections=1) as client:
        # round_robin uses the connections that are up: wait until both are.
        wait_for(
            lambda: client.decide("gold-1", "phone") and all(counts_of(replicas)),
            what="both replicas connected",
        )
        before = counts_of(replicas)
        for _ in range(CALLS):
            assert not client.decide("gold-1", "phone").degraded
    counts = [after - start for after, start in zip(counts_of(replicas), before, strict=True)]
    assert sum(counts) == CALLS
    assert all(count >= CALLS / 4 for count in counts), counts


def test_async_calls_reach_every_replica(replicas: list[TierlineProcess]) -> None:
    async def scenario() -> list[float]:
        async with AsyncEntitlementClient(target(replicas), timeout=2.0, connections=1) as client:
            # round_robin uses the connections that are up: wait until both are.
            while not all(counts_of(replicas)):
                await client.decide("gold-1", "chat")
                await asyncio.sleep(0.02)
            before = counts_of(replicas)
            for _ in range(CALLS):
                assert not (await client.decide("gold-1", "chat")).degraded
            return before

    before = asyncio.run(scenario())
    counts = [after - start for after, start in zip(counts_of(replicas), before, strict=True)]
    assert sum(counts) == CALLS
    assert all(count >= CALLS / 4 for count in counts), counts


def test_a_replica_down_is_skipped_without_fallbacks(replicas: list[TierlineProcess]) -> None:
    with EntitlementClient(target(replicas), timeout=2.0, connections=1) as client:
        client.policy()
        replicas[1].stop()
        decisions = [client.decide("gold-1", "phone") for _ in range(CALLS)]
    assert not any(decision.is_fallback for decision in decisions)
