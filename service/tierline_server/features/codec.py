"""Decode a customer's hash into typed features, following the policy's feature schema."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from tierline_server.features.keys import UPDATED_FIELD
from tierline_server.policy.schema import FeatureSpec


@dataclass(frozen=True)
class Decoded:
    """A customer's features as read from Redis.

    ``features`` holds only the features stored with a valid value (the rules fill in defaults);
    ``undecodable`` names stored values that did not fit their type and were left out.
    """

    found: bool
    """Whether the customer has a hash at all."""
    features: Mapping[str, Any]
    updated: float | None
    """When the features were written (epoch seconds), if the hash says."""
    undecodable: tuple[str, ...] = ()


NOT_FOUND = Decoded(found=False, features=MappingProxyType({}), updated=None)


class FeatureCodec:
    """Turns stored strings into typed values for one policy's features."""

    def __init__(self, features: Mapping[str, FeatureSpec]) -> None:
        self._specs = tuple(features.items())
        self.fields = (*features, UPDATED_FIELD)
        """The hash fields a lookup reads, in the order ``decode`` expects them."""

    def decode(self, values: Sequence[bytes | str | None]) -> Decoded:
        """Decode HMGET's answer for ``fields``; a value that does not decode is left out."""
        if all(value is None for value in values):
            return NOT_FOUND
        features: dict[str, Any] = {}
        undecodable: list[str] = []
        for (name, spec), raw in zip(self._specs, values, strict=False):
            if raw is None:
                continue
            try:
                features[name] = spec.parse(raw if isinstance(raw, str) else raw.decode())
            except ValueError:  # includes UnicodeDecodeError
                undecodable.append(name)
        updated = _epoch(values[-1])
        if values[-1] is not None and updated is None:
            undecodable.append(UPDATED_FIELD)
        return Decoded(True, MappingProxyType(features), updated, tuple(undecodable))

    def decode_hash(self, stored: Mapping[bytes, bytes]) -> Decoded:
        """Decode HGETALL's answer (fields outside the policy are ignored)."""
        return self.decode([stored.get(field.encode()) for field in self.fields])


def _epoch(raw: bytes | str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
