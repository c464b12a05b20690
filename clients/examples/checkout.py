"""A checkout asks Tierline which perks a cart earns: one cart, then a batch of carts.

For one customer's cart: free shipping, discounts, credits and the loyalty-points multiplier.
Then a batch of carts for many customers in one DecideBatch call, where an invalid cart gets
its own error and does not fail the others. Start the service with ``make run``, then::

    .venv/bin/python clients/examples/checkout.py
    .venv/bin/python clients/examples/checkout.py --customer c000042 --carts 20
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
from decimal import Decimal

from tierline import Decision, DecisionRequest, EntitlementClient, ServiceUnavailable, money

CURRENCY = "EUR"
CHECKOUT_TIMEOUT_SECONDS = 0.2
"""A checkout can wait a little longer than a ringing phone (the default is 50 ms)."""
BATCH_TIMEOUT_SECONDS = 1.0

CART = [("Trail running shoes", Decimal("89.90"), 1), ("Sports socks", Decimal("4.95"), 3)]
SPRING_CAMPAIGN = {"campaign": "spring-2026"}


def perks_of(decision: Decision) -> dict[str, str]:
    """What the checkout shows: shipping, discounts, credits, loyalty multiplier."""
    discounts = [
        f"{p.description or p.code} -{p.percent:g}%"
        for p in decision.perks
        if p.percent is not None and p.code != "loyalty-multiplier"
    ]
    credits = [
        f"{p.description or p.code} {money.major_text(p.amount_minor, CURRENCY)}"
        for p in decision.perks
        if p.amount_minor is not None
    ]
    loyalty = decision.perk("loyalty-multiplier")
    return {
        "free shipping": "yes" if decision.has_perk("free-shipping") else "no",
        "discounts": ", ".join(discounts) or "none",
        "credits": ", ".join(credits) or "none",
        "loyalty points": f"x{loyalty.percent / 100:g}" if loyalty and loyalty.percent else "x1",
    }


def show_cart(client: EntitlementClient, customer_id: str) -> None:
    """Decide one cart and print its perks."""
    total = sum((price * quantity for _, price, quantity in CART), Decimal(0))
    items = sum(quantity for _, _, quantity in CART)
    decision = client.decide(
        customer_id,
        channel="web",
        intent="purchase",
        order_value=total,
        currency=CURRENCY,
        item_count=items,
        attributes=SPRING_CAMPAIGN,
        timeout=CHECKOUT_TIMEOUT_SECONDS,
    )
    print(f"Cart of {customer_id} (tier {decision.tier}): {items} items, {total} {CURRENCY}")
    for name, price, quantity in CART:
        print(f"  {quantity} x {name:<22} {price:>8} {CURRENCY}")
    for label, value in perks_of(decision).items():
        print(f"  {label:<15} {value}")
    source = "baseline fallback" if decision.is_fallback else f"policy {decision.policy_version}"
    print(f"  ({source}, {decision.latency * 1000:.1f} ms)\n")


def random_carts(count: int, customers: int, seed: int) -> list[DecisionRequest]:
    """``count`` carts of demo customers, small and large, some with the campaign code."""
    rng = random.Random(seed)
    carts = []
    for _ in range(count):
        items = rng.choice([1, 2, 3, 5, 24])
        value = Decimal(rng.randrange(500, 12_000 if items < 20 else 40_000)) / 100
        carts.append(
            DecisionRequest(
                f"c{rng.randrange(1, customers + 1):06d}",
                "web",
                intent="purchase",
                order_value=value,
                currency=CURRENCY,
                item_count=items,
                attributes=SPRING_CAMPAIGN if rng.random() < 0.3 else {},
            )
        )
    return carts


def show_batch(client: EntitlementClient, carts: list[DecisionRequest]) -> None:
    """Decide the carts in one DecideBatch call, plus one invalid cart, and print a table."""
    invalid = {"customer_id": "not a customer id!", "channel": "web", "intent": "purchase"}
    results = client.decide_batch([*carts, invalid], timeout=BATCH_TIMEOUT_SECONDS)
    print(f"Batch of {len(results)} carts in one DecideBatch call:")
    print(f"  {'customer':<20} {'tier':<9} {'value':>13} {'items':>5}  perks")
    for request, result in zip([*carts, None], results, strict=True):
        customer = request.customer_id if request else invalid["customer_id"]
        if result.decision is None:
            print(f"  {customer:<20} rejected: {result.error}")
            continue
        value = money.major_text(request.order_value_minor or 0, CURRENCY) if request else ""
        perks = ", ".join(perk.code for perk in result.decision.perks) or "-"
        tier = "FALLBACK" if result.decision.is_fallback else result.decision.tier
        items = request.item_count if request else 0
        print(f"  {customer:<20} {tier:<9} {value:>13} {items:>5}  {perks}")


def main(argv: list[str] | None = None) -> int:
    """One cart, then a batch; exit 1 when Tierline cannot be reached at all."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="127.0.0.1:50051", help="Tierline's gRPC address")
    parser.add_argument("--customer", default="c000042", help="whose cart to show first")
    parser.add_argument("--carts", type=int, default=8, help="carts in the batch (1-999)")
    parser.add_argument("--customers", type=int, default=20_000, help="demo customers to pick")
    parser.add_argument("--seed", type=int, default=7, help="the same seed, the same carts")
    args = parser.parse_args(argv)
    if not 1 <= args.carts <= 999:
        parser.error("--carts must be 1-999")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    with EntitlementClient(args.target) as client:
        try:
            policy = client.policy()
        except ServiceUnavailable as error:
            print(f"Tierline at {args.target} is not answering: {error}", file=sys.stderr)
            return 1
        print(f"Tierline at {args.target}: policy {policy.name} {policy.version}\n")
        show_cart(client, args.customer)
        show_batch(client, random_carts(args.carts, args.customers, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
