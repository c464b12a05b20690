"""Request validation: check every field, report every violation, map to domain types."""

from __future__ import annotations

import re
from types import MappingProxyType

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
CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")
MIN_TIMESTAMP_SECONDS = -62_135_596_800  # 0001-01-01T00:00:00Z
MAX_TIMESTAMP_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z
"""google.protobuf.Timestamp's range."""
MAX_SHOWN_KEY = 64
MAX_ATTRIBUTE_VALUE_BYTES = 256  # bytes, not characters: bounds the message size

CHANNEL_NAMES = {
    pb.CHANNEL_PHONE: "phone",
    pb.CHANNEL_CHAT: "chat",
    pb.CHANNEL_EMAIL: "email",
    pb.CHANNEL_SOCIAL: "social",
    pb.CHANNEL_WEB: "web",
    pb.CHANNEL_MOBILE_APP: "mobile_app",
    pb.CHANNEL_IN_STORE: "in_store",
}


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
    if context.channel not in CHANNEL_NAMES:
        found.append(
            FieldViolation("context.channel", "must be set to a known channel (e.g. CHANNEL_PHONE)")
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
        if not CURRENCY_PATTERN.fullmatch(context.currency):
            found.append(
                FieldViolation("context.currency", "an order value needs an ISO 4217 code (EUR)")
            )
    elif context.currency and not CURRENCY_PATTERN.fullmatch(context.currency):
        found.append(FieldViolation("context.currency", "must be an ISO 4217 code such as EUR"))
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
    for key, value in context.attributes.items():
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
            channel=CHANNEL_NAMES[context.channel],
            intent=context.intent,
            order_value=(
                context.order_value_minor if context.HasField("order_value_minor") else None
            ),
            currency=context.currency,
            item_count=context.item_count,
            attributes=MappingProxyType(dict(context.attributes)),
        ),
        explain=message.explain,
        occurred_at_ns=(
            context.occurred_at.ToNanoseconds() if context.HasField("occurred_at") else None
        ),
        caller=caller,
    )
