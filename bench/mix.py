"""The requests a load sends: a mix of customers of every tier, unknown ids, channels, intents
and order values, as serialized request messages (wire.py encodes them for each protocol).

h2load posts one fixed body per process, so the mix is a list of bodies, each sent by its own
h2load process (see h2load.py); every body records what Tierline must answer to it, so that a
decoded sample can be checked (see answers.py).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import redis
from tierline import messages
from tierline.interaction import Channel, DecisionRequest
from tierline.v1 import entitlement_pb2 as pb

TIERS = ("platinum", "gold", "growth", "standard", "basic", "unknown")
"""Every tier of the default policy; ``unknown`` is an id with no features in Redis."""
UNKNOWN_PREFIX = "nobody"
INTENTS = ("purchase", "support", "complaint", "outage", "cancel", "billing", "browse", "")
ORDERS: tuple[tuple[int, int] | None, ...] = (None, (1_990, 1), (7_500, 3), (25_000, 24))
"""(order value in minor units, item count): none, small, free shipping, bulk order."""
CAMPAIGN_EVERY = 5
"""One request in this many carries a campaign attribute (a regex condition of the policy)."""
TIER_SCAN_BATCH = 1_000


@dataclass(frozen=True)
class Expected:
    """What Tierline must answer about one decision of a body."""

    customer_id: str
    tier: str


Interaction = tuple[DecisionRequest, Expected]
"""A request and what its answer must say."""


@dataclass(frozen=True)
class Body:
    """One request of the mix, and what its answer must say."""

    label: str
    """Short description: tier, channel, intent of a Decide; the item count of a batch."""
    message: bytes
    """The serialized request message (what a gRPC client would send)."""
    expected: tuple[Expected, ...]
    """One entry per decision the request asks for (1 for Decide, 100 for DecideBatch(100))."""
    batch: bool = False
    """A DecideBatchRequest (else a DecideRequest)."""

    def request(self) -> pb.DecideRequest | pb.DecideBatchRequest:
        """The request message itself, decoded (each wire encodes it its own way: wire.py)."""
        kind = pb.DecideBatchRequest if self.batch else pb.DecideRequest
        request: pb.DecideRequest | pb.DecideBatchRequest = kind.FromString(self.message)
        return request


def customer_ids(population: int) -> list[str]:
    """The demo population's ids: c000001, c000002, ... (as ``features demo`` writes them)."""
    width = max(6, len(str(population)))
    return [f"c{number:0{width}d}" for number in range(1, population + 1)]


def customers_by_tier(redis_url: str, population: int, key_prefix: str) -> dict[str, list[str]]:
    """The loaded customers grouped by the tier Redis holds for them, plus unknown ids."""
    by_tier: dict[str, list[str]] = {tier: [] for tier in TIERS}
    ids = customer_ids(population)
    with redis.Redis.from_url(redis_url) as client:
        for start in range(0, len(ids), TIER_SCAN_BATCH):
            chunk = ids[start : start + TIER_SCAN_BATCH]
            with client.pipeline(transaction=False) as pipe:
                for customer in chunk:
                    pipe.hget(key_prefix + customer, "tier")
                tiers = pipe.execute()
            for customer, tier in zip(chunk, tiers, strict=True):
                by_tier.setdefault(tier.decode() if tier else "unknown", []).append(customer)
    by_tier["unknown"] = [f"{UNKNOWN_PREFIX}{number:06d}" for number in range(1, 1_000)]
    missing = [tier for tier in TIERS if not by_tier[tier]]
    if missing:
        raise RuntimeError(f"no demo customer of tier {missing}: load more customers")
    return by_tier


def interactions(by_tier: Mapping[str, Sequence[str]], count: int, seed: int) -> list[Interaction]:
    """``count`` requests cycling through every tier, channel, intent and order size together.

    The cycles have lengths 6, 7, 8 and 4, so 16 requests already cover every tier, channel
    and intent; the customer of each tier is drawn at random (``seed``).
    """
    rng = random.Random(seed)
    cycles = zip(
        itertools.cycle(TIERS),
        itertools.cycle(Channel),
        itertools.cycle(INTENTS),
        itertools.cycle(ORDERS),
        strict=False,
    )
    found = []
    for index, (tier, channel, intent, order) in enumerate(itertools.islice(cycles, count)):
        customer = rng.choice(by_tier[tier])
        value, items = order or (None, 0)
        request = DecisionRequest(
            customer,
            channel,
            intent=intent,
            order_value_minor=value,
            currency="EUR" if value is not None else "",
            item_count=items,
            attributes={"campaign": "spring-2026"} if index % CAMPAIGN_EVERY == 0 else {},
        )
        found.append((request, Expected(customer, tier)))
    return found


def decide_bodies(by_tier: Mapping[str, Sequence[str]], count: int, seed: int) -> list[Body]:
    """``count`` Decide bodies, one interaction each."""
    return [
        Body(
            f"{expected.tier} {request.channel.name.lower()} {request.intent or '-'}",
            messages.decide_request(request).SerializeToString(),
            (expected,),
        )
        for request, expected in interactions(by_tier, count, seed)
    ]


def batch_bodies(
    by_tier: Mapping[str, Sequence[str]], count: int, items: int, seed: int
) -> list[Body]:
    """``count`` DecideBatch bodies of ``items`` interactions each, every one a mix."""
    bodies = []
    for number in range(count):
        pairs = interactions(by_tier, items, seed * 1_000 + number)
        message = messages.decide_batch_request(request for request, _ in pairs)
        expected = tuple(expectation for _, expectation in pairs)
        bodies.append(Body(f"batch of {items}", message.SerializeToString(), expected, batch=True))
    return bodies
