"""Request validation as a pure function: every field checked, every violation reported."""

from __future__ import annotations

import pytest
from support.requests import request
from tierline.v1 import entitlement_pb2 as pb
from tierline_server.api import validation
from tierline_server.errors import InvalidRequest

MANY_ATTRIBUTES = {f"key{i}": "v" for i in range(33)}


def at(seconds: int, nanos: int = 0) -> pb.DecideRequest:
    """A valid request whose context says when the interaction happened."""
    message = request()
    message.context.occurred_at.seconds, message.context.occurred_at.nanos = seconds, nanos
    return message


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
    pytest.param(request(intent="cancel\n"), "context.intent", id="intent-trailing-newline"),
    pytest.param(at(0, -1), "context.occurred_at", id="occurred-at-negative-nanos"),
    pytest.param(at(0, 10**9), "context.occurred_at", id="occurred-at-nanos-overflow"),
    pytest.param(at(253_402_300_800), "context.occurred_at", id="occurred-at-after-9999"),
    pytest.param(at(-62_135_596_801), "context.occurred_at", id="occurred-at-before-year-1"),
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
        request(order_value_minor=5990, currency="XYZ"), "context.currency", id="currency-unknown"
    ),
    pytest.param(
        request(order_value_minor=5990, currency="XAU"), "context.currency", id="currency-gold"
    ),
    pytest.param(
        request(order_value_minor=5990, currency="EURO"), "context.currency", id="currency-long"
    ),
    pytest.param(request(currency="E1"), "context.currency", id="currency-bad-without-order"),
    pytest.param(
        request(order_value_minor=5990, currency="EUR\n"),
        "context.currency",
        id="currency-trailing-newline",
    ),
    pytest.param(
        request(attributes={"campaign\n": "v"}),
        "context.attributes[campaign\\n]",  # escaped in the path
        id="attribute-key-trailing-newline",
    ),
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
        f"context.attributes[{'k' * 61}...]",
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
def test_each_violation_names_its_field(bad: pb.DecideRequest, field: str) -> None:
    violations = validation.violations_of(bad)

    assert [violation.field for violation in violations] == [field]
    assert all(violation.description for violation in violations)


def test_every_violation_of_a_request_is_reported_at_once() -> None:
    bad = request(
        customer_id="no spaces allowed",
        channel=pb.CHANNEL_UNSPECIFIED,
        intent="CANCEL!",
        order_value_minor=-5,
        currency="euro",
        item_count=-2,
        attributes={"ok": "", "bad key": "v"},
    )

    assert sorted(v.field for v in validation.violations_of(bad)) == [
        "context.attributes[bad key]",
        "context.attributes[ok]",
        "context.channel",
        "context.currency",
        "context.intent",
        "context.item_count",
        "context.order_value_minor",
        "customer_id",
    ]


def test_a_missing_context_is_reported_with_the_customer_id() -> None:
    violations = validation.violations_of(pb.DecideRequest(customer_id="bad id"))

    assert sorted(v.field for v in violations) == ["context", "customer_id"]


BOUNDARIES = [
    pytest.param(request(customer_id="c" * 128), id="customer-id-128"),
    pytest.param(request(customer_id="A-z_0.9:x@y"), id="customer-id-every-symbol"),
    pytest.param(request(intent=""), id="intent-empty"),
    pytest.param(request(intent="a" * 64), id="intent-64"),
    pytest.param(request(intent="after_sales.v2-x"), id="intent-symbols"),
    pytest.param(request(order_value_minor=0, currency="EUR"), id="order-value-0"),
    pytest.param(request(order_value_minor=10**12, currency="JPY"), id="order-value-max"),
    pytest.param(request(currency="USD"), id="currency-without-order"),
    pytest.param(request(order_value_minor=5990, currency="eur"), id="currency-lower-case"),
    pytest.param(request(order_value_minor=5123, currency="KWD"), id="currency-3-decimals"),
    pytest.param(request(item_count=100_000), id="item-count-max"),
    pytest.param(request(attributes={f"key{i}": "v" for i in range(32)}), id="32-attributes"),
    pytest.param(request(attributes={"k" * 64: "v" * 256}), id="attribute-key-64-value-256"),
    pytest.param(request(attributes={"A.b_c-9": "ä ✓ anything"}), id="attribute-symbols"),
    pytest.param(at(-62_135_596_800), id="occurred-at-year-1"),
    pytest.param(at(253_402_300_799, 999_999_999), id="occurred-at-year-9999"),
]


@pytest.mark.parametrize("good", BOUNDARIES)
def test_the_boundaries_are_valid(good: pb.DecideRequest) -> None:
    assert validation.violations_of(good) == []


def test_a_valid_request_maps_to_the_domain() -> None:
    message = request("gold-1", pb.CHANNEL_MOBILE_APP, intent="purchase", explain=True)
    message.context.order_value_minor, message.context.currency = 5990, "EUR"
    message.context.item_count = 2
    message.context.attributes["campaign"] = "spring"

    domain = validation.decision_request(message)

    assert domain.customer_id == "gold-1"
    assert domain.explain
    context = domain.context
    assert (context.channel, context.intent) == ("mobile_app", "purchase")
    assert (context.order_value, context.currency, context.item_count) == (5990, "EUR", 2)
    assert dict(context.attributes) == {"campaign": "spring"}


def test_a_currency_in_lower_case_is_normalised() -> None:
    domain = validation.decision_request(request(order_value_minor=5990, currency="eur"))

    assert (domain.context.order_value, domain.context.currency) == (5990, "EUR")


@pytest.mark.parametrize(
    ("currency", "reason"),
    [
        ("XYZ", "'XYZ' is not an ISO 4217 currency code (such as EUR)"),
        ("XAU", "XAU has no minor unit: no amount can be in it"),
        ("", "an order value needs an ISO 4217 code (EUR)"),
        ("E" * 5000, "must be an ISO 4217 code such as EUR"),  # not repeated in the error
    ],
)
def test_a_currency_violation_says_what_is_wrong(currency: str, reason: str) -> None:
    (violation,) = validation.violations_of(request(order_value_minor=100, currency=currency))

    assert (violation.field, violation.description) == ("context.currency", reason)


@pytest.mark.parametrize(
    ("channel", "shown"), [(pb.CHANNEL_UNSPECIFIED, "CHANNEL_UNSPECIFIED"), (99, "99")]
)
def test_a_channel_violation_lists_the_channels(channel: int, shown: str) -> None:
    (violation,) = validation.violations_of(request(channel=channel))

    assert violation.description == (
        f"{shown} is not a channel "
        "(one of phone, chat, email, social, web, mobile_app, in_store: CHANNEL_PHONE, ...)"
    )


def test_occurred_at_reaches_the_domain_to_the_nanosecond() -> None:
    assert validation.decision_request(at(1_700_000_000, 123_456_789)).occurred_at_ns == (
        1_700_000_000_123_456_789
    )
    assert validation.decision_request(request()).occurred_at_ns is None


def test_too_many_violations_are_capped_so_the_error_fits_its_trailer() -> None:
    bad = request(attributes={f"bad key {i}": "" for i in range(30)})

    with pytest.raises(InvalidRequest) as caught:
        validation.decision_request(bad)

    violations = caught.value.violations
    assert len(violations) == 11
    assert violations[-1].description == "... and 50 more violation(s)"  # 30 keys and 30 values
    assert len(str(caught.value)) <= 480


def test_a_long_key_is_shortened_in_its_field_path() -> None:
    (violation,) = validation.violations_of(request(attributes={"k" * 5000: "v"}))

    assert violation.field == "context.attributes[" + "k" * 61 + "...]"


def test_an_absent_order_value_is_none_not_zero() -> None:
    assert validation.decision_request(request()).context.order_value is None


def test_an_invalid_request_raises_with_every_violation() -> None:
    with pytest.raises(InvalidRequest) as caught:
        validation.decision_request(request(customer_id="", intent="X"))

    assert [v.field for v in caught.value.violations] == ["customer_id", "context.intent"]


@pytest.mark.parametrize(("count", "allowed"), [(0, False), (1, True), (1000, True), (1001, False)])
def test_batch_sizes(count: int, allowed: bool) -> None:
    batch = pb.DecideBatchRequest(items=[request()] * count)

    assert (validation.batch_size_violations(batch) == []) is allowed
