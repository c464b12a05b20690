"""One decision path, several wire formats: for the same request, gRPC, Connect with JSON or
binary protobuf (HTTP/1.1 and HTTP/2) and gRPC-Web give the same decisions, and refuse the same
requests with the same field violations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import grpc
import pytest
from connectrpc.errors import ConnectError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_support import (
    CHANNELS,
    CUSTOMERS,
    MORE_CUSTOMERS,
    TIMEOUT,
    bad_request,
    valid_requests,
)
from support.customers import write_features
from support.http_calls import WIRES, entitlement_client, violations
from support.tierline_process import TierlineProcess
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc

pytestmark = pytest.mark.integration

Clients = dict[str, Any]


@pytest.fixture(scope="module")
def clients(shared_http_server: TierlineProcess, _session_redis: Any) -> Iterator[Clients]:
    """A gRPC stub and a client per HTTP wire, on one server with every test customer."""
    with _session_redis.client() as redis:
        redis.flushall()
    write_features(_session_redis.url, {**CUSTOMERS, **MORE_CUSTOMERS})
    with ExitStack() as stack:
        channel = stack.enter_context(grpc.insecure_channel(shared_http_server.target))
        found: Clients = {"grpc": entitlement_pb2_grpc.EntitlementServiceStub(channel)}
        for wire in WIRES:
            found[wire.name] = stack.enter_context(
                entitlement_client(shared_http_server.http_url, wire)
            )
        yield found


def comparable(decision: pb.Decision) -> pb.Decision:
    """A decision without what differs between two calls: its id, its timings and where the
    features came from (Redis, then the near-cache), and the time of an interaction that did
    not say when (the server's clock)."""
    copy = pb.Decision()
    copy.CopyFrom(decision)
    copy.ClearField("decision_id")
    copy.ClearField("metrics")
    copy.ClearField("occurred_at")
    return copy


def comparable_batch(response: pb.DecideBatchResponse) -> list[tuple[int, Any, Any]]:
    return [
        (
            result.status.code,
            [(v.field, v.description) for v in result.status.field_violations],
            comparable(result.decision) if result.HasField("decision") else None,
        )
        for result in response.results
    ]


def outcome_over_grpc(stub: Any, candidate: pb.DecideRequest) -> tuple[str, Any]:
    try:
        return "ok", comparable(stub.Decide(candidate, timeout=TIMEOUT).decision)
    except grpc.RpcError as error:
        return error.code().name, bad_request(error)  # INVALID_ARGUMENT, or it fails


def outcome_over_http(client: Any, candidate: pb.DecideRequest) -> tuple[str, Any]:
    try:
        return "ok", comparable(client.decide(candidate).decision)
    except ConnectError as error:
        return error.code.name, violations(error)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(valid_requests())
def test_every_wire_gives_the_decisions_grpc_gives(
    clients: Clients, candidate: pb.DecideRequest
) -> None:
    batch = pb.DecideBatchRequest(items=[candidate])
    for channel in CHANNELS:  # the batch: the candidate on every channel
        variant = batch.items.add()
        variant.CopyFrom(candidate)
        variant.context.channel = channel  # type: ignore[assignment]
    expected = comparable(clients["grpc"].Decide(candidate, timeout=TIMEOUT).decision)
    expected_batch = comparable_batch(clients["grpc"].DecideBatch(batch, timeout=TIMEOUT))
    assert not expected.degraded

    for wire in WIRES:
        client = clients[wire.name]
        assert comparable(client.decide(candidate).decision) == expected, wire
        assert comparable_batch(client.decide_batch(batch)) == expected_batch, wire


text = st.text(max_size=80)
any_requests = st.builds(
    pb.DecideRequest,
    customer_id=st.sampled_from([*CUSTOMERS, ""]) | text,
    context=st.none()
    | st.builds(
        pb.InteractionContext,
        channel=st.integers(0, 9),  # 0: unspecified, 8 and 9: unknown to this API
        intent=st.sampled_from(["cancel", "Cancel!"]) | text,
        order_value_minor=st.none() | st.integers(-(10**13), 10**13),
        currency=st.sampled_from(["EUR", "eur", "XXX", "E"]) | st.text(max_size=4),
        item_count=st.integers(-5, 200_000),
        attributes=st.dictionaries(text, st.text(max_size=300), max_size=34),
    ),
    explain=st.booleans(),
)
"""Requests of every kind, mostly invalid: each refused for what is wrong with it."""


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(any_requests)
def test_every_wire_refuses_what_grpc_refuses_with_the_same_violations(
    clients: Clients, candidate: pb.DecideRequest
) -> None:
    expected = outcome_over_grpc(clients["grpc"], candidate)
    expected_batch = comparable_batch(
        clients["grpc"].DecideBatch(pb.DecideBatchRequest(items=[candidate]), timeout=TIMEOUT)
    )

    for wire in WIRES:
        client = clients[wire.name]
        assert outcome_over_http(client, candidate) == expected, wire
        batch = client.decide_batch(pb.DecideBatchRequest(items=[candidate]))
        assert comparable_batch(batch) == expected_batch, wire
