"""A deterministic synthetic customer population, as CSV for ``features load``.

Spend is heavy-tailed (Pareto): a few customers bring most of the value. A share of customers
are new (under 90 days), a few are evangelists, a few complain chronically. The same count and
seed always give the same file.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from typing import TextIO

COLUMNS = ("customer_id", "ltv", "tenure_days", "orders_12m", "complaints_90d", "evangelist")
"""The default policy's features, less ``tier`` (the loader's segments assign it)."""

NEW_SHARE = 0.15
EVANGELIST_SHARE = 0.03
CHRONIC_COMPLAINER_SHARE = 0.04
NEW_CUSTOMER_DAYS = 90
MAX_TENURE_DAYS = 3650
SPEND_TAIL_INDEX = 1.1
"""Pareto shape: about 1.16 is the 80/20 rule; lower concentrates value in fewer customers."""
SPEND_FLOOR = 80.0
"""Smallest lifetime value of an established customer (major units)."""
MAX_LTV = 2_000_000.0
MAX_ORDERS_12M = 200


def customers(count: int, seed: int) -> Iterator[tuple[str, ...]]:
    """``count`` customers as rows of COLUMNS (strings), ids c000001, c000002, ..."""
    rng = random.Random(seed)
    width = max(6, len(str(count)))
    for number in range(1, count + 1):
        if rng.random() < NEW_SHARE:
            tenure = rng.randrange(NEW_CUSTOMER_DAYS)
            ltv = rng.uniform(0, 300)
        else:
            tenure = rng.randrange(NEW_CUSTOMER_DAYS, MAX_TENURE_DAYS)
            ltv = min(SPEND_FLOOR * rng.paretovariate(SPEND_TAIL_INDEX), MAX_LTV)
        # Big spenders order more often, but not in proportion to what they spend.
        orders = min(int(ltv**0.5 / rng.uniform(2, 6)), MAX_ORDERS_12M)
        if rng.random() < CHRONIC_COMPLAINER_SHARE:
            complaints = rng.randint(5, 12)
        else:
            complaints = rng.choices((0, 1, 2), weights=(85, 11, 4))[0]
        evangelist = rng.random() < EVANGELIST_SHARE
        yield (
            f"c{number:0{width}d}",
            f"{ltv:.2f}",
            str(tenure),
            str(orders),
            str(complaints),
            "true" if evangelist else "false",
        )


def write_demo(out: TextIO, count: int, seed: int) -> None:
    """Write the population as CSV with a header (streamed: any count fits in memory)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(customers(count, seed))
