"""DecideRequest messages for tests, from keyword arguments."""

from __future__ import annotations

from collections.abc import Mapping

from tierline.v1 import entitlement_pb2 as pb


def request(
    customer_id: str = "gold-1",
    channel: int = pb.CHANNEL_PHONE,
    *,
    intent: str = "",
    order_value_minor: int | None = None,
    currency: str = "",
    item_count: int = 0,
    attributes: Mapping[str, str] | None = None,
    explain: bool = False,
) -> pb.DecideRequest:
    """A DecideRequest from keyword arguments."""
    context = pb.InteractionContext(
        channel=channel,  # type: ignore[arg-type]
        intent=intent,
        currency=currency,
        item_count=item_count,
        attributes=dict(attributes or {}),
    )
    if order_value_minor is not None:
        context.order_value_minor = order_value_minor
    return pb.DecideRequest(customer_id=customer_id, context=context, explain=explain)
