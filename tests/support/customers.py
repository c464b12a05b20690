"""Customers for tests: features in a test Redis, written as ``tierline features load`` leaves
them, and population files as ``tierline features demo`` writes them."""

from __future__ import annotations

import csv
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import redis
from tierline_server.features import demo

KEY_PREFIX = "tierline:customer:"


def write_features(redis_url: str, customers: Mapping[str, Mapping[str, object]]) -> None:
    """One hash per customer, stamped with the time of writing."""
    with redis.Redis.from_url(redis_url) as client, client.pipeline() as pipe:
        for customer_id, features in customers.items():
            pipe.hset(KEY_PREFIX + customer_id, mapping={**features, "_updated": int(time.time())})
        pipe.execute()


def write_population(
    path: Path, count: int, seed: int, extra: Iterable[Mapping[str, str]] = ()
) -> Path:
    """A demo population file of ``count`` customers, then the ``extra`` rows."""
    with path.open("w", newline="") as out:
        demo.write_demo(out, count, seed)
        csv.DictWriter(out, demo.COLUMNS).writerows(extra)
    return path
