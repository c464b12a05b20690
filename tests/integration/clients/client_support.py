"""Helpers of the client integration tests: customers in Redis, the decisions a server counted."""

from __future__ import annotations

from support.customers import write_features
from support.metrics import metric, scrape

DEADLINE_MARGIN_SECONDS = 2.0
"""How late past its deadline a fallback may come back. It catches waits on something other than
the call (a policy fetch, a reconnect: seconds each), and is wide enough that a loaded machine
never trips it; tests also check that the fallback came from the deadline itself."""


def decisions_total(metrics_port: int) -> float:
    """The sum of ``tierline_decisions_total`` on a server's /metrics endpoint."""
    return metric(scrape(metrics_port), "tierline_decisions_total")


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
