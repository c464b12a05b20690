"""Properties of random valid requests against one real server: never an error status, never
below the baseline, and the same entitlement on every channel (channel parity)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st
from service_support import CHANNELS, CUSTOMERS, TIMEOUT, at_least_baseline
from support.customers import write_features
from support.requests import request
from support.tierline_process import TierlineProcess
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc

pytestmark = pytest.mark.integration

MORE_CUSTOMERS: dict[str, dict[str, object]] = {
    "chronic-1": {"tier": "growth", "ltv": 2000, "tenure_days": 50, "complaints_90d": 9},
    "loyal-growth-1": {"tier": "growth", "ltv": 3000, "tenure_days": 800, "orders_12m": 30},
    "fan-platinum-1": {"tier": "platinum", "ltv": 50000, "evangelist": "true"},
    "undecodable-1": {"tier": "diamond", "ltv": "lots", "tenure_days": "ages"},
    "empty-1": {},
}
"""Beyond the shared customers: complainers, fans, and stored values of the wrong type."""

KNOWN = [*CUSTOMERS, *MORE_CUSTOMERS]
INTENTS = ["", "support", "billing", "outage", "cancel", "purchase", "complaint"]

customer_ids = st.sampled_from([*KNOWN, "never-seen-1"]) | st.from_regex(
    r"[A-Za-z0-9._:@-]{1,128}", fullmatch=True
)
intents = st.sampled_from(INTENTS) | st.from_regex(r"[a-z0-9_.-]{0,64}", fullmatch=True)
orders = st.none() | st.tuples(
    st.integers(0, 10**12), st.sampled_from(["EUR", "USD", "JPY", "GBP"])
)
attribute_values = st.sampled_from(["spring-2026", "spring-26", "x"]) | st.text(
    st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=256
).filter(lambda value: len(value.encode()) <= 256)  # the API counts bytes of UTF-8
attributes = st.dictionaries(
    st.just("campaign") | st.from_regex(r"[A-Za-z0-9_.-]{1,64}", fullmatch=True),
    attribute_values,
    max_size=32,
)


@st.composite
def valid_requests(draw: Any) -> pb.DecideRequest:
    order = draw(orders)
    return request(
        draw(customer_ids),
        draw(st.sampled_from(CHANNELS)),
        intent=draw(intents),
        order_value_minor=order[0] if order else None,
        currency=order[1] if order else draw(st.sampled_from(["", "CHF"])),
        item_count=draw(st.integers(0, 100_000)),
        attributes=draw(attributes),
        explain=draw(st.booleans()),
    )


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
