"""What a feature lookup answers: a customer's typed features and where they came from."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any


class FeatureSource(enum.Enum):
    """Where a lookup's features came from (values are the metrics' ``source`` labels)."""

    NEAR_CACHE = "near_cache"
    REDIS = "redis"
    MISSING = "missing"
    """No such customer (from Redis or a negative near-cache entry): the unknown tier."""
    UNAVAILABLE = "unavailable"
    """Redis could not be read: decide without features (degraded)."""


class BadRecord(enum.Enum):
    """What was wrong with a stored record (values are the ``bad_feature_records`` metric's
    ``reason`` labels). Each is the customer's problem alone: never a Redis failure."""

    WRONG_TYPE = "wrong_type"
    """The key holds another type than a hash: read as no such customer."""
    OVERSIZED_VALUE = "oversized_value"
    """A value longer than the read path accepts: read as undecodable."""
    FUTURE_UPDATED = "future_updated"
    """``_updated`` lies ahead of this server's clock: the features' age reads as 0."""


@dataclass(frozen=True)
class FeatureLookup:
    """A customer's features, where they came from and how old they are."""

    features: Mapping[str, Any]
    """Typed values of the features stored with a valid value; defaults are not filled in."""
    source: FeatureSource
    age_seconds: float | None
    """Seconds since the features were written (``_updated``), when known."""
    undecodable: tuple[str, ...] = ()
    """Stored values that did not fit their type (left out of ``features``)."""

    @property
    def unavailable(self) -> bool:
        """Whether the features could not be read (the decision must degrade)."""
        return self.source is FeatureSource.UNAVAILABLE


UNAVAILABLE = FeatureLookup(MappingProxyType({}), FeatureSource.UNAVAILABLE, None)
MISSING = FeatureLookup(MappingProxyType({}), FeatureSource.MISSING, None)
