"""What a caller asks about: the channel, the order value and one decision request.

The client checks only what it needs to build the message (a known channel, a currency and an
amount it can convert to minor units). Everything else (customer id format, attribute limits)
is validated by the service, which reports every violation at once as an ``InvalidRequest``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypedDict

from tierline import money
from tierline.errors import client_invalid
from tierline.v1 import entitlement_pb2 as pb

_CHANNEL_PREFIX = "CHANNEL_"


class Channel(enum.IntEnum):
    """The contact channel of an interaction (the API's ``tierline.v1.Channel``)."""

    PHONE = pb.CHANNEL_PHONE
    CHAT = pb.CHANNEL_CHAT
    EMAIL = pb.CHANNEL_EMAIL
    SOCIAL = pb.CHANNEL_SOCIAL
    WEB = pb.CHANNEL_WEB
    MOBILE_APP = pb.CHANNEL_MOBILE_APP
    IN_STORE = pb.CHANNEL_IN_STORE

    @property
    def label(self) -> str:
        """The channel as policies and the command line name it: ``phone``, ``mobile_app``."""
        return self.name.lower()

    @classmethod
    def parse(cls, value: Channel | str | int) -> Channel:
        """The channel for an enum member, a proto number, or a name in any case.

        ``"phone"``, ``"PHONE"``, ``"Phone"``, ``"CHANNEL_PHONE"``, ``"mobile-app"`` and
        ``"in store"`` are all accepted; anything else raises ``InvalidRequest`` (a ValueError)
        listing the channels.
        """
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            name = value.strip().upper().replace("-", "_").replace(" ", "_")
            name = name.removeprefix(_CHANNEL_PREFIX)
            if name in cls.__members__:
                return cls[name]
        elif isinstance(value, int) and not isinstance(value, bool):
            try:
                return cls(value)
            except ValueError:
                pass
        raise client_invalid("context.channel", f"{value!r} is not a channel ({CHANNEL_NAMES})")


CHANNEL_NAMES = ", ".join(channel.label for channel in Channel)
"""Every channel's label, for messages: ``phone, chat, email, ...``."""


def minor_units(amount: money.Amount, currency: str) -> int:
    """``amount`` in major units of ``currency`` as minor units; InvalidRequest naming the field
    (``context.currency`` or ``context.order_value``) when either is wrong."""
    if not currency:
        raise client_invalid("context.currency", "required when an order value is given")
    try:
        money.currency_code(currency)
    except ValueError as error:
        raise client_invalid("context.currency", str(error)) from None
    try:
        return money.minor_units(amount, currency)
    except ValueError as error:
        raise client_invalid("context.order_value", str(error)) from None


class RequestFields(TypedDict, total=False):
    """The keyword arguments of :class:`DecisionRequest` (and of ``decide``), all optional."""

    intent: str
    order_value: money.Amount | None
    order_value_minor: int | None
    currency: str
    item_count: int
    attributes: Mapping[str, str] | None
    occurred_at: datetime | None
    explain: bool


@dataclass(frozen=True, init=False)
class DecisionRequest:
    """One interaction to decide: the arguments of ``decide``, for ``decide_batch``.

    The constructor takes the same friendly arguments as ``decide`` (a channel name, an order
    value in major units) and keeps them normalised: ``channel`` is a :class:`Channel`, the
    order value is ``order_value_minor``.
    """

    customer_id: str
    """The customer, 1-128 characters of ``[A-Za-z0-9._:@-]``."""
    channel: Channel
    """The contact channel."""
    intent: str = ""
    """Why the customer is in touch, e.g. ``support``, ``billing``, ``cancel``, ``purchase``."""
    order_value_minor: int | None = None
    """The order value in minor units of ``currency`` (cents), or None without an order."""
    currency: str = ""
    """ISO 4217 code of the order value, upper case, e.g. ``EUR``."""
    item_count: int = 0
    """Items in the order or cart."""
    attributes: Mapping[str, str] = field(default_factory=dict)
    """Free-form facts that rules may read (at most 32, short keys and values)."""
    occurred_at: datetime | None = None
    """When the interaction happened; None means now (the service's clock)."""
    explain: bool = False
    """Whether the decision should carry an explanation (costs a little time)."""

    def __init__(
        self,
        customer_id: str,
        channel: Channel | str | int,
        *,
        intent: str = "",
        order_value: money.Amount | None = None,
        order_value_minor: int | None = None,
        currency: str = "",
        item_count: int = 0,
        attributes: Mapping[str, str] | None = None,
        occurred_at: datetime | None = None,
        explain: bool = False,
    ) -> None:
        """Build a request; ``order_value`` is in major units, ``order_value_minor`` in minor.

        Give at most one of the two. ``currency`` is upper-cased (``eur`` is ``EUR``). Raises
        InvalidRequest for an unknown channel, or for an amount or currency that cannot be
        converted; a currency given with minor units is left for the service to check.
        """
        if order_value is not None and order_value_minor is not None:
            raise client_invalid(
                "context.order_value", "give order_value or order_value_minor, not both"
            )
        if not isinstance(customer_id, str):
            raise client_invalid("customer_id", f"{customer_id!r} is not a string")
        if not isinstance(currency, str):
            raise client_invalid("context.currency", f"{currency!r} is not a string")
        if order_value is not None:
            order_value_minor = minor_units(order_value, currency)
        set_field = object.__setattr__  # frozen: assign once, here
        set_field(self, "customer_id", customer_id)
        set_field(self, "channel", Channel.parse(channel))
        set_field(self, "intent", intent)
        set_field(self, "order_value_minor", order_value_minor)
        set_field(self, "currency", currency.upper())
        set_field(self, "item_count", item_count)
        set_field(self, "attributes", dict(attributes or {}))
        set_field(self, "occurred_at", occurred_at)
        set_field(self, "explain", explain)

    @classmethod
    def of(cls, request: DecisionRequest | Mapping[str, object]) -> DecisionRequest:
        """A request as it is, or built from a mapping of ``decide``'s keyword arguments."""
        if isinstance(request, DecisionRequest):
            return request
        if not isinstance(request, Mapping):
            raise TypeError(
                f"expected a DecisionRequest or a mapping, got {type(request).__name__}"
            )
        try:
            return cls(**request)  # type: ignore[arg-type]
        except TypeError as error:
            raise client_invalid("request", str(error)) from None
