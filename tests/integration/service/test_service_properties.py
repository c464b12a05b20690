"""Properties of random valid requests against one real server: never an error status, never
below the baseline, and the same entitlement on every channel (channel parity)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from service_support import (
    CHANNELS,
    CUSTOMERS,
    MORE_CUSTOMERS,
    TIMEOUT,
    at_least_baseline,
    valid_requests,
)
from support.customers import write_features
from support.tierline_process import TierlineProcess
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stub(
    shared_server: TierlineProcess, _session_redis: Any
) -> Iterator[entitlement_pb2_grpc.EntitlementServiceStub]:
    """The module's server, with every customer above loaded (once, for all examples)."""
    with _session_redis.client() as client:
        client.flushall()
    write_features(_session_redis.url, {**CUSTOMERS, **MORE_CUSTOMERS})
    with grpc.insecure_channel(shared_server.target) as channel:
        yield entitlement_pb2_grpc.EntitlementServiceStub(channel)


@pytest.fixture(scope="module")
def baseline(stub: entitlement_pb2_grpc.EntitlementServiceStub) -> pb.Baseline:
    return stub.GetPolicy(pb.GetPolicyRequest(), timeout=TIMEOUT).policy.baseline


def entitlement(decision: pb.Decision) -> dict[str, Any]:
    """What channel parity keeps equal: the service level with its SLA, and the perks."""
    return {
        "service_level": json_format.MessageToDict(decision.service_level),
        "perks": sorted(
            (json_format.MessageToDict(perk) for perk in decision.perks),
            key=lambda perk: perk["code"],
        ),
    }


@settings(max_examples=80, deadline=None)
@given(valid_requests())
def test_a_valid_request_gets_at_least_the_baseline_on_every_channel_alike(
    stub: entitlement_pb2_grpc.EntitlementServiceStub,
    baseline: pb.Baseline,
    candidate: pb.DecideRequest,
) -> None:
    decision = stub.Decide(candidate, timeout=TIMEOUT).decision  # an error status fails the test
    assert decision.customer_id == candidate.customer_id
    assert at_least_baseline(decision, baseline) == []

    variants = []
    for channel in CHANNELS:
        variant = pb.DecideRequest()
        variant.CopyFrom(candidate)
        variant.context.channel = channel  # type: ignore[assignment]
        variants.append(variant)
    results = stub.DecideBatch(pb.DecideBatchRequest(items=variants), timeout=TIMEOUT).results

    assert [result.status.code for result in results] == [0] * len(CHANNELS)
    decisions = [result.decision for result in results]
    for each in decisions:
        assert at_least_baseline(each, baseline) == []
    assert len({each.degraded for each in decisions}) == 1  # one lookup for the whole batch
    first = entitlement(decisions[0])
    for channel, each in zip(CHANNELS, decisions, strict=True):
        assert entitlement(each) == first, pb.Channel.Name(channel)
    same_channel = decisions[CHANNELS.index(candidate.context.channel)]
    if not decision.degraded and not same_channel.degraded:
        assert entitlement(decision) == entitlement(same_channel)
        assert decision.routing == same_channel.routing
