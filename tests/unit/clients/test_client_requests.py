"""Building requests: channel names, order values in minor units, batch items."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tierline import Channel, DecisionRequest, InvalidRequest
from tierline.interaction import minor_units
from tierline.v1 import entitlement_pb2 as pb


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("phone", Channel.PHONE),
        ("PHONE", Channel.PHONE),
        ("Phone", Channel.PHONE),
        ("  chat ", Channel.CHAT),
        ("CHANNEL_EMAIL", Channel.EMAIL),
        ("channel_social", Channel.SOCIAL),
        ("mobile_app", Channel.MOBILE_APP),
        ("mobile-app", Channel.MOBILE_APP),
        ("In Store", Channel.IN_STORE),
        (Channel.WEB, Channel.WEB),
        (pb.CHANNEL_PHONE, Channel.PHONE),
        (6, Channel.MOBILE_APP),
    ],
)
def test_channel_parses_enum_numbers_and_names_in_any_case(
    value: Channel | str | int, expected: Channel
) -> None:
    assert Channel.parse(value) is expected


@pytest.mark.parametrize("value", ["fax", "", "unspecified", "CHANNEL_UNSPECIFIED", 0, 99, True])
def test_unknown_channel_is_an_invalid_request_naming_the_field(value: str | int) -> None:
    with pytest.raises(InvalidRequest) as raised:
        Channel.parse(value)
    assert [v.field for v in raised.value.field_violations] == ["context.channel"]
    assert "phone" in raised.value.field_violations[0].description  # lists the valid names


def test_channel_members_are_the_api_enum() -> None:
    assert {member.name: int(member) for member in Channel} == {
        name.removeprefix("CHANNEL_"): number
        for name, number in pb.Channel.items()
        if number != pb.CHANNEL_UNSPECIFIED
    }


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("59.90", "EUR", 5990),
        (Decimal("59.9"), "EUR", 5990),
        (59.9, "EUR", 5990),
        (0.1, "usd", 10),
        (12, "EUR", 1200),
        (1200, "JPY", 1200),
        ("1.234", "KWD", 1234),
        ("5.123", "kwd", 5123),
        (5000, "JPY", 5000),
        ("0", "EUR", 0),
    ],
)
def test_order_value_in_major_units_becomes_minor_units(
    amount: Decimal | int | str | float, currency: str, minor: int
) -> None:
    assert minor_units(amount, currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency", "field"),
    [
        ("59.901", "EUR", "context.order_value"),
        ("1.5", "JPY", "context.order_value"),
        ("abc", "EUR", "context.order_value"),
        (float("nan"), "EUR", "context.order_value"),
        ("Infinity", "EUR", "context.order_value"),
        (True, "EUR", "context.order_value"),
        ("10", "", "context.currency"),
        ("10", "EURO", "context.currency"),
        ("10", "XAU", "context.currency"),
    ],
)
def test_unconvertible_order_value_is_an_invalid_request(
    amount: object, currency: str, field: str
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        minor_units(amount, currency)  # type: ignore[arg-type]
    assert [v.field for v in raised.value.field_violations] == [field]


def test_request_keeps_normalised_values() -> None:
    request = DecisionRequest(
        "c1", "Phone", intent="cancel", order_value="10.50", currency="EUR", attributes={"a": "b"}
    )
    assert request.channel is Channel.PHONE
    assert request.order_value_minor == 1050
    assert request.attributes == {"a": "b"}
    assert request == DecisionRequest(
        "c1", Channel.PHONE, intent="cancel", order_value_minor=1050, currency="EUR",
        attributes={"a": "b"},
    )  # fmt: skip


def test_request_upper_cases_the_currency() -> None:
    request = DecisionRequest("c1", "web", order_value="10.50", currency="eur")
    assert (request.order_value_minor, request.currency) == (1050, "EUR")
    assert DecisionRequest("c1", "web", order_value_minor=5, currency="jpy").currency == "JPY"


def test_unknown_channel_lists_every_channel_once() -> None:
    with pytest.raises(InvalidRequest) as raised:
        Channel.parse("fax")
    assert str(raised.value) == (
        "context.channel: 'fax' is not a channel "
        "(phone, chat, email, social, web, mobile_app, in_store)"
    )


def test_request_takes_one_order_value_only() -> None:
    with pytest.raises(InvalidRequest, match="not both"):
        DecisionRequest("c1", "web", order_value=1, order_value_minor=100, currency="EUR")


def test_request_is_frozen() -> None:
    request = DecisionRequest("c1", "web")
    with pytest.raises(AttributeError):
        request.intent = "cancel"  # type: ignore[misc]


def test_batch_item_from_mapping_or_request() -> None:
    request = DecisionRequest("c1", "web")
    assert DecisionRequest.of(request) is request
    assert DecisionRequest.of({"customer_id": "c1", "channel": "web"}) == request
    with pytest.raises(InvalidRequest, match="unexpected keyword"):
        DecisionRequest.of({"customer_id": "c1", "channel": "web", "colour": "red"})
    with pytest.raises(TypeError):
        DecisionRequest.of(["c1", "web"])  # type: ignore[arg-type]
