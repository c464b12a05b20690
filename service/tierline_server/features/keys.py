"""How customers are named in Redis: validated ids, hash keys, and the invalidation message."""

from __future__ import annotations

import re
from collections.abc import Iterable

CUSTOMER_ID_PATTERN = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
"""A customer id: 1-128 characters of ``A-Z a-z 0-9 . _ : @ -`` (use ``fullmatch``: ``$`` would
let a trailing newline through)."""

CUSTOMER_ID_RULE = "1-128 characters of A-Z a-z 0-9 . _ : @ -"
"""The pattern in words, for error messages."""

UPDATED_FIELD = "_updated"
"""Hash field holding when the customer's features were written (epoch seconds)."""


class InvalidCustomerIdError(ValueError):
    """A customer id that must not become part of a Redis key."""

    def __init__(self, customer_id: object) -> None:
        super().__init__(f"customer id {customer_id!r} is not {CUSTOMER_ID_RULE}")


def is_customer_id(value: object) -> bool:
    """Whether ``value`` is a valid customer id."""
    return isinstance(value, str) and CUSTOMER_ID_PATTERN.fullmatch(value) is not None


def customer_key(prefix: str, customer_id: str) -> str:
    """The hash key of a customer; raises InvalidCustomerIdError before a bad id reaches Redis."""
    if not is_customer_id(customer_id):
        raise InvalidCustomerIdError(customer_id)
    return prefix + customer_id


def updated_stamp(now: float) -> str:
    """The ``_updated`` value for a write at ``now`` (epoch seconds, millisecond precision)."""
    return f"{now:.3f}"


def invalidation_message(customer_ids: Iterable[str]) -> str:
    """One pub/sub message naming changed customers (ids cannot contain spaces)."""
    return " ".join(customer_ids)


def invalidated_ids(message: bytes | str) -> list[str]:
    """The customer ids named by an invalidation message; anything else in it is ignored."""
    text = message.decode(errors="replace") if isinstance(message, bytes) else message
    return [word for word in text.split() if is_customer_id(word)]
