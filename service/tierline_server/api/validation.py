"""Request validation: check every field, report every violation, map to domain types."""

from __future__ import annotations

import re
from types import MappingProxyType

from tierline import money
from tierline.interaction import CHANNEL_NAMES, Channel
from tierline.v1 import entitlement_pb2 as pb

from tierline_server.decisions import DecisionRequest
from tierline_server.errors import FieldViolation, InvalidRequest
from tierline_server.features.keys import CUSTOMER_ID_RULE, is_customer_id
from tierline_server.policy.domain import ATTRIBUTE_KEY_PATTERN, ATTRIBUTE_KEY_RULE, Context

# Patterns are used with fullmatch: `$` would let a trailing newline through.
MAX_BATCH_ITEMS = 1000
MAX_ATTRIBUTES = 32
MAX_ORDER_VALUE_MINOR = 10**12  # ten billion in major units: beyond any real cart
MAX_ITEM_COUNT = 100_000
INTENT_PATTERN = re.compile(r"[a-z0-9_.-]{0,64}")
MIN_TIMESTAMP_SECONDS = -62_135_596_800  # 0001-01-01T00:00:00Z
MAX_TIMESTAMP_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z
"""google.protobuf.Timestamp's range."""
MAX_SHOWN_KEY = 64
CURRENCY_CODE_LENGTH = 3
MAX_ATTRIBUTE_VALUE_BYTES = 256  # bytes, not characters: bounds the message size

POLICY_CHANNELS = {int(channel): channel.label for channel in Channel}
"""The API's Channel numbers -> the names policies use."""


def decision_request(message: pb.DecideRequest, caller: str = "") -> DecisionRequest:
    """The domain request for a DecideRequest from ``caller``; raises InvalidRequest with every
    violation."""
    violations = violations_of(message)
    if violations:
        raise InvalidRequest(violations)
    return _to_domain(message, caller)


def batch_size_violations(message: pb.DecideBatchRequest) -> list[FieldViolation]:
    """Violations of the batch as a whole (its items are checked one by one)."""
    count = len(message.items)
    if count == 0:
        return [FieldViolation("items", "a batch needs at least one item")]
    if count > MAX_BATCH_ITEMS:
        return [FieldViolation("items", f"{count} items; at most {MAX_BATCH_ITEMS} per batch")]
    return []


def violations_of(message: pb.DecideRequest) -> list[FieldViolation]:
    """Everything wrong with one DecideRequest, as field paths and reasons."""
    found: list[FieldViolation] = []
    if not is_customer_id(message.customer_id):
        found.append(FieldViolation("customer_id", f"must be {CUSTOMER_ID_RULE}"))
    if not message.HasField("context"):
        found.append(FieldViolation("context", "is required (at least the channel)"))
        return found
    context = message.context
    if context.channel not in POLICY_CHANNELS:
        found.append(
            FieldViolation(
                "context.channel",
                f"{_channel_name(context.channel)} is not a channel "
                f"(one of {CHANNEL_NAMES}: CHANNEL_PHONE, ...)",
            )
        )
    if not INTENT_PATTERN.fullmatch(context.intent):
        found.append(
            FieldViolation("context.intent", "must be at most 64 characters of a-z 0-9 _ . -")
        )
    if context.HasField("order_value_minor"):
        if not 0 <= context.order_value_minor <= MAX_ORDER_VALUE_MINOR:
            found.append(
                FieldViolation(
                    "context.order_value_minor", f"must be between 0 and {MAX_ORDER_VALUE_MINOR}"
                )
            )
        if not context.currency:
            found.append(
                FieldViolation("context.currency", "an order value needs an ISO 4217 code (EUR)")
            )
    if len(context.currency) > CURRENCY_CODE_LENGTH:  # not shown: it could be anything, any size
        found.append(FieldViolation("context.currency", "must be an ISO 4217 code such as EUR"))
    elif context.currency:
        try:
            money.currency_code(context.currency)
        except ValueError as error:
            found.append(FieldViolation("context.currency", str(error)))
    if not 0 <= context.item_count <= MAX_ITEM_COUNT:
        found.append(
            FieldViolation("context.item_count", f"must be between 0 and {MAX_ITEM_COUNT}")
        )
    if len(context.attributes) > MAX_ATTRIBUTES:
        found.append(
            FieldViolation(
                "context.attributes", f"{len(context.attributes)} entries; at most {MAX_ATTRIBUTES}"
            )
        )
    # In key order: a map's entries come in whatever order the sender's encoding put them, and
    # the same request must get the same violations over every wire format.
    for key, value in sorted(context.attributes.items()):
        if not ATTRIBUTE_KEY_PATTERN.fullmatch(key):
            found.append(FieldViolation(_attribute_path(key), f"key must be {ATTRIBUTE_KEY_RULE}"))
        if not 1 <= len(value.encode()) <= MAX_ATTRIBUTE_VALUE_BYTES:
            found.append(
                FieldViolation(
                    _attribute_path(key),
                    f"value must be 1-{MAX_ATTRIBUTE_VALUE_BYTES} bytes of UTF-8",
                )
            )
    if context.HasField("occurred_at"):
        stamp = context.occurred_at
        if not (
            MIN_TIMESTAMP_SECONDS <= stamp.seconds <= MAX_TIMESTAMP_SECONDS
            and 0 <= stamp.nanos <= 999_999_999
        ):
            found.append(
                FieldViolation(
                    "context.occurred_at",
                    "must be a time from year 1 to 9999 with nanos from 0 to 999,999,999",
                )
            )
    return found


def _channel_name(number: int) -> str:
    return pb.Channel.Name(number) if number in pb.Channel.values() else str(number)


def _attribute_path(key: str) -> str:
    """The field path of an attribute, its key shortened and escaped: a hostile key must not
    make the error itself too large or unreadable."""
    shown = key if len(key) <= MAX_SHOWN_KEY else key[: MAX_SHOWN_KEY - 3] + "..."
    return f"context.attributes[{shown.encode('unicode_escape').decode('ascii')}]"


def _to_domain(message: pb.DecideRequest, caller: str) -> DecisionRequest:
    context = message.context
    return DecisionRequest(
        customer_id=message.customer_id,
        context=Context(
            channel=POLICY_CHANNELS[context.channel],
            intent=context.intent,
            order_value=(
                context.order_value_minor if context.HasField("order_value_minor") else None
            ),
            currency=context.currency.upper(),  # case-insensitive, checked above
            item_count=context.item_count,
            attributes=MappingProxyType(dict(context.attributes)),
        ),
        explain=message.explain,
        occurred_at_ns=(
            context.occurred_at.ToNanoseconds() if context.HasField("occurred_at") else None
        ),
        caller=caller,
    )
