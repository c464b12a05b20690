"""Customer features in a test Redis, written as ``tierline features load`` leaves them."""

from __future__ import annotations

import time
from collections.abc import Mapping

import redis

KEY_PREFIX = "tierline:customer:"


def write_features(redis_url: str, customers: Mapping[str, Mapping[str, object]]) -> None:
    """One hash per customer, stamped with the time of writing."""
    with redis.Redis.from_url(redis_url) as client, client.pipeline() as pipe:
        for customer_id, features in customers.items():
            pipe.hset(KEY_PREFIX + customer_id, mapping={**features, "_updated": int(time.time())})
        pipe.execute()
