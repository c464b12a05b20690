"""What a caller asks about: the channel, the order value and one decision request.

The client checks only what it needs to build the message (a known channel, an amount it can
convert to minor units). Everything else (customer id format, currency codes, attribute limits)
is validated by the service, which reports every violation at once as an ``InvalidRequest``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TypedDict

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

    @classmethod
    def parse(cls, value: Channel | str | int) -> Channel:
        """The channel for an enum member, a proto number, or a name in any case.

        ``"phone"``, ``"PHONE"``, ``"Phone"``, ``"CHANNEL_PHONE"``, ``"mobile-app"`` and
        ``"in store"`` are all accepted; anything else raises ``InvalidRequest``.
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
        names = ", ".join(member.name.lower() for member in cls)
        raise client_invalid("context.channel", f"{value!r} is not a channel ({names})")


# ISO 4217 currencies whose minor unit is not 1/100; every other code has two decimals.
_NO_DECIMALS = [
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG",
    "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF",
]  # fmt: skip
CURRENCY_EXPONENTS: Mapping[str, int] = {
    **dict.fromkeys(_NO_DECIMALS, 0),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}
DEFAULT_CURRENCY_EXPONENT = 2


def minor_units(amount: Decimal | int | str | float, currency: str) -> int:
    """``amount`` in major units of ``currency`` as an integer of minor units.

    ``minor_units("59.90", "EUR") == 5990``, ``minor_units(1200, "JPY") == 1200``. An amount with
    more decimals than the currency has, or that is not a finite number, raises InvalidRequest.
    """
    if not currency:
        raise client_invalid("context.currency", "required when an order value is given")
    exponent = CURRENCY_EXPONENTS.get(currency.upper(), DEFAULT_CURRENCY_EXPONENT)
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int | str | float):
        raise client_invalid("context.order_value", f"{amount!r} is not an amount")
    if isinstance(amount, float) and not math.isfinite(amount):
        raise client_invalid("context.order_value", f"{amount!r} is not an amount")
    try:
        # str() of a float is its shortest round-trip form: 59.9 stays 59.9, not 59.899999...
        value = Decimal(str(amount) if isinstance(amount, float) else amount)
    except InvalidOperation:
        raise client_invalid("context.order_value", f"{amount!r} is not an amount") from None
    if not value.is_finite():
        raise client_invalid("context.order_value", f"{amount!r} is not an amount")
    scaled = value.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise client_invalid(
            "context.order_value", f"{amount} has more than {exponent} decimals for {currency}"
        )
    return int(scaled)


class RequestFields(TypedDict, total=False):
    """The keyword arguments of :class:`DecisionRequest` (and of ``decide``), all optional."""

    intent: str
    order_value: Decimal | int | str | float | None
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
    """ISO 4217 code of the order value, e.g. ``EUR``."""
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
        order_value: Decimal | int | str | float | None = None,
        order_value_minor: int | None = None,
        currency: str = "",
        item_count: int = 0,
        attributes: Mapping[str, str] | None = None,
        occurred_at: datetime | None = None,
        explain: bool = False,
    ) -> None:
        """Build a request; ``order_value`` is in major units, ``order_value_minor`` in minor.

        Give at most one of the two. Raises InvalidRequest for an unknown channel or an amount
        that cannot be converted.
        """
        if order_value is not None and order_value_minor is not None:
            raise client_invalid(
                "context.order_value", "give order_value or order_value_minor, not both"
            )
        if order_value is not None:
            order_value_minor = minor_units(order_value, currency)
        if not isinstance(customer_id, str):
            raise client_invalid("customer_id", f"{customer_id!r} is not a string")
        set_field = object.__setattr__  # frozen: assign once, here
        set_field(self, "customer_id", customer_id)
        set_field(self, "channel", Channel.parse(channel))
        set_field(self, "intent", intent)
        set_field(self, "order_value_minor", order_value_minor)
        set_field(self, "currency", currency)
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
