"""Helpers of the client integration tests: customers in Redis, waiting, reading /metrics."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from typing import TypeVar

import pytest
import redis

T = TypeVar("T")

DEADLINE_MARGIN_SECONDS = 0.5
"""How late past its deadline a fallback may come back: generous, for loaded CI machines."""


def wait_for(probe: Callable[[], T | None], seconds: float = 10.0, what: str = "") -> T:
    """The first truthy value of ``probe()`` within ``seconds``; fails the test otherwise."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"not within {seconds} s: {what or probe}")


def decisions_total(metrics_port: int) -> float:
    """The sum of ``tierline_decisions_total`` on a server's /metrics endpoint."""
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.split("{", 1)[0].split(" ", 1)[0] == "tierline_decisions_total"
    )


CUSTOMERS = {
    "gold-1": {"tier": "gold", "ltv": 7000, "tenure_days": 400},
    "platinum-1": {"tier": "platinum", "ltv": 25000, "tenure_days": 900},
    "growth-1": {"tier": "growth", "ltv": 1500, "tenure_days": 300, "orders_12m": 14},
    "basic-1": {"tier": "basic", "ltv": 50, "tenure_days": 200},
}
"""Customers every test server knows, by the default policy's tiers."""

DEMO_TIERS = ["basic", "standard", "growth", "gold", "platinum"]
DEMO_CUSTOMERS = 30
"""Demo-style ids ``c000001`` ... for the examples, which pick customers at random."""


def write_features(redis_url: str, customers: dict[str, dict[str, object]]) -> None:
    """Customer features as ``tierline features load`` leaves them: a hash per customer."""
    with redis.Redis.from_url(redis_url) as client, client.pipeline() as pipe:
        for customer_id, features in customers.items():
            pipe.hset(
                f"tierline:customer:{customer_id}",
                mapping={**features, "_updated": int(time.time())},
            )
        pipe.execute()


def seed(redis_url: str) -> None:
    """The named customers and the demo-style ones."""
    demo = {
        f"c{number:06d}": {
            "tier": DEMO_TIERS[number % len(DEMO_TIERS)],
            "tenure_days": 30 * number,
            "orders_12m": number % 15,
        }
        for number in range(1, DEMO_CUSTOMERS + 1)
    }
    write_features(redis_url, {**CUSTOMERS, **demo})
