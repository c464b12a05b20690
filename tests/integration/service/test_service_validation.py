"""Validation over the wire: INVALID_ARGUMENT with a google.rpc.BadRequest that lists every
violation (the cases themselves are unit tests of tierline_server.api.validation)."""

from __future__ import annotations

import grpc
import pytest
from service_support import TIMEOUT, bad_request
from support.inprocess import InProcessServer
from support.requests import request
from support.waiting import wait_for
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc

pytestmark = pytest.mark.integration

Stub = entitlement_pb2_grpc.EntitlementServiceStub


def test_every_violation_comes_back_in_the_status_details(inprocess_stub: Stub) -> None:
    bad = request(
        customer_id="no spaces allowed",
        channel=pb.CHANNEL_UNSPECIFIED,
        intent="CANCEL!",
        attributes={"ok": "", "bad key": "v"},
    )

    with pytest.raises(grpc.RpcError) as caught:
        inprocess_stub.Decide(bad, timeout=TIMEOUT)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = sorted(field for field, _ in bad_request(caught.value))
    assert fields == [
        "context.attributes[bad key]",
        "context.attributes[ok]",
        "context.channel",
        "context.intent",
        "customer_id",
    ]
    for field in fields:
        assert field in (caught.value.details() or "")


def test_a_request_at_every_limit_is_answered(inprocess_stub: Stub) -> None:
    good = request(
        customer_id="c" * 128,
        intent="a" * 64,
        order_value_minor=10**12,
        currency="JPY",
        item_count=100_000,
        attributes={f"k{i:02d}" + "k" * 61: "v" * 256 for i in range(32)},
    )

    response = inprocess_stub.Decide(good, timeout=TIMEOUT)

    assert response.decision.customer_id == good.customer_id
    assert response.decision.baseline_applied


def test_an_invalid_decision_is_counted_as_invalid(inprocess: InProcessServer) -> None:
    with grpc.insecure_channel(inprocess.target) as channel:
        stub = entitlement_pb2_grpc.EntitlementServiceStub(channel)
        with pytest.raises(grpc.RpcError):
            stub.Decide(request(customer_id=""), timeout=TIMEOUT)

    # Counted as the call ends, which the caller may see first.
    count = "tierline_decision_duration_seconds_count"
    wait_for(lambda: inprocess.sample(count, method="Decide", outcome="invalid") == 1)
    assert (
        inprocess.sample(
            "tierline_rpcs_total", method="Decide", code="INVALID_ARGUMENT", protocol="grpc"
        )
        == 1
    )
