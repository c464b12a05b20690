"""Every field of a DecideRequest is checked: INVALID_ARGUMENT with a google.rpc.BadRequest that
lists every violation, and the boundaries themselves are accepted."""

from __future__ import annotations

import grpc
import pytest
from service_support import TIMEOUT, bad_request, request
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc

pytestmark = pytest.mark.integration

Stub = entitlement_pb2_grpc.EntitlementServiceStub

MANY_ATTRIBUTES = {f"key{i}": "v" for i in range(33)}

VIOLATIONS = [
    pytest.param(request(customer_id=""), "customer_id", id="customer-id-empty"),
    pytest.param(request(customer_id="c" * 129), "customer_id", id="customer-id-too-long"),
    pytest.param(request(customer_id="has space"), "customer_id", id="customer-id-space"),
    pytest.param(request(customer_id="a/b"), "customer_id", id="customer-id-slash"),
    pytest.param(request(customer_id="kunde-ä"), "customer_id", id="customer-id-non-ascii"),
    pytest.param(request(customer_id="gold-1\n"), "customer_id", id="customer-id-newline"),
    pytest.param(request(customer_id="tier*"), "customer_id", id="customer-id-glob"),
    pytest.param(pb.DecideRequest(customer_id="gold-1"), "context", id="context-missing"),
    pytest.param(request(channel=pb.CHANNEL_UNSPECIFIED), "context.channel", id="channel-unset"),
    pytest.param(request(channel=99), "context.channel", id="channel-unknown-number"),
    pytest.param(request(intent="Cancel"), "context.intent", id="intent-upper-case"),
    pytest.param(request(intent="can cel"), "context.intent", id="intent-space"),
    pytest.param(request(intent="x" * 65), "context.intent", id="intent-too-long"),
    pytest.param(
        request(order_value_minor=-1, currency="EUR"),
        "context.order_value_minor",
        id="order-value-negative",
    ),
    pytest.param(
        request(order_value_minor=10**12 + 1, currency="EUR"),
        "context.order_value_minor",
        id="order-value-too-large",
    ),
    pytest.param(request(order_value_minor=5990), "context.currency", id="currency-missing"),
    pytest.param(
        request(order_value_minor=5990, currency="eur"), "context.currency", id="currency-lower"
    ),
    pytest.param(
        request(order_value_minor=5990, currency="EURO"), "context.currency", id="currency-long"
    ),
    pytest.param(request(currency="E1"), "context.currency", id="currency-bad-without-order"),
    pytest.param(request(item_count=-1), "context.item_count", id="item-count-negative"),
    pytest.param(request(item_count=100_001), "context.item_count", id="item-count-too-large"),
    pytest.param(request(attributes=MANY_ATTRIBUTES), "context.attributes", id="33-attributes"),
    pytest.param(
        request(attributes={"bad key": "v"}),
        "context.attributes[bad key]",
        id="attribute-key-space",
    ),
    pytest.param(request(attributes={"": "v"}), "context.attributes[]", id="attribute-key-empty"),
    pytest.param(
        request(attributes={"k" * 65: "v"}),
        f"context.attributes[{'k' * 65}]",
        id="attribute-key-too-long",
    ),
    pytest.param(
        request(attributes={"campaign": ""}),
        "context.attributes[campaign]",
        id="attribute-value-empty",
    ),
    pytest.param(
        request(attributes={"campaign": "v" * 257}),
        "context.attributes[campaign]",
        id="attribute-value-too-long",
    ),
]


@pytest.mark.parametrize(("bad", "field"), VIOLATIONS)
def test_each_violation_is_reported_as_invalid_argument_with_its_field(
    stub: Stub, bad: pb.DecideRequest, field: str
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.Decide(bad, timeout=TIMEOUT)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = bad_request(caught.value)
    assert [found for found, _ in violations] == [field]
    assert all(description for _, description in violations)
    assert field in (caught.value.details() or "")


def test_every_violation_of_a_request_is_reported_at_once(stub: Stub) -> None:
    bad = request(
        customer_id="no spaces allowed",
        channel=pb.CHANNEL_UNSPECIFIED,
        intent="CANCEL!",
        order_value_minor=-5,
        currency="euro",
        item_count=-2,
        attributes={"ok": "", "bad key": "v"},
    )

    with pytest.raises(grpc.RpcError) as caught:
        stub.Decide(bad, timeout=TIMEOUT)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = sorted(field for field, _ in bad_request(caught.value))
    assert fields == [
        "context.attributes[bad key]",
        "context.attributes[ok]",
        "context.channel",
        "context.currency",
        "context.intent",
        "context.item_count",
        "context.order_value_minor",
        "customer_id",
    ]


def test_a_missing_context_is_reported_with_the_customer_id(stub: Stub) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.Decide(pb.DecideRequest(customer_id="bad id"), timeout=TIMEOUT)

    assert sorted(field for field, _ in bad_request(caught.value)) == ["context", "customer_id"]


BOUNDARIES = [
    pytest.param(request(customer_id="c" * 128), id="customer-id-128"),
    pytest.param(request(customer_id="A-z_0.9:x@y"), id="customer-id-every-symbol"),
    pytest.param(request(intent=""), id="intent-empty"),
    pytest.param(request(intent="a" * 64), id="intent-64"),
    pytest.param(request(intent="after_sales.v2-x"), id="intent-symbols"),
    pytest.param(request(order_value_minor=0, currency="EUR"), id="order-value-0"),
    pytest.param(request(order_value_minor=10**12, currency="JPY"), id="order-value-max"),
    pytest.param(request(currency="USD"), id="currency-without-order"),
    pytest.param(request(item_count=100_000), id="item-count-max"),
    pytest.param(request(attributes={f"key{i}": "v" for i in range(32)}), id="32-attributes"),
    pytest.param(request(attributes={"k" * 64: "v" * 256}), id="attribute-key-64-value-256"),
    pytest.param(request(attributes={"A.b_c-9": "ä ✓ anything"}), id="attribute-symbols"),
]


@pytest.mark.parametrize("good", BOUNDARIES)
def test_the_boundaries_are_valid(stub: Stub, good: pb.DecideRequest) -> None:
    response = stub.Decide(good, timeout=TIMEOUT)

    assert response.decision.customer_id == good.customer_id
    assert response.decision.baseline_applied
