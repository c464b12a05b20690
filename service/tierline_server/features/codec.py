"""Decode a customer's hash into typed features, following the policy's feature schema."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from tierline_server.features.bounded_read import OVERSIZED, StoredValue
from tierline_server.features.keys import UPDATED_FIELD
from tierline_server.policy.schema import FeatureSpec

INT_TEXT = re.compile(r"[+-]?[0-9]+")
NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
"""Stored numbers are ASCII: Python's int() and float() also take other scripts' digits
("٣٣" is 33), underscores and surrounding whitespace, which no writer of ours produces."""

NUMBER_SYNTAX = {"int": INT_TEXT, "number": NUMBER_TEXT}


@dataclass(frozen=True)
class Decoded:
    """A customer's features as read from Redis.

    ``features`` holds only the features stored with a valid value (the rules fill in defaults);
    ``undecodable`` names stored values that did not fit their type and were left out, among
    them ``oversized`` ones, longer than the read path accepts.
    """

    found: bool
    """Whether the customer has a hash at all."""
    features: Mapping[str, Any]
    updated: float | None
    """When the features were written (epoch seconds), if the hash says."""
    undecodable: tuple[str, ...] = ()
    oversized: tuple[str, ...] = ()


NOT_FOUND = Decoded(found=False, features=MappingProxyType({}), updated=None)


class FeatureCodec:
    """Turns stored strings into typed values for one policy's features."""

    def __init__(self, features: Mapping[str, FeatureSpec]) -> None:
        self._specs = tuple(features.items())
        self.fields = (*features, UPDATED_FIELD)
        """The hash fields a lookup reads, in the order ``decode`` expects them."""

    def decode(self, values: Sequence[StoredValue | str]) -> Decoded:
        """Decode the values of ``fields`` as read; a value that does not decode (OVERSIZED
        included) is left out and named."""
        if all(value is None for value in values):
            return NOT_FOUND
        features: dict[str, Any] = {}
        undecodable: list[str] = []
        oversized: list[str] = []
        for (name, spec), raw in zip(self._specs, values, strict=False):
            if raw is None:
                continue
            if raw is OVERSIZED:
                oversized.append(name)
                undecodable.append(name)
                continue
            try:
                features[name] = _parse(spec, raw)
            except ValueError:  # includes UnicodeDecodeError
                undecodable.append(name)
        stamp = values[-1]
        updated = _epoch(stamp)
        if stamp is not None and updated is None:
            undecodable.append(UPDATED_FIELD)
            if stamp is OVERSIZED:
                oversized.append(UPDATED_FIELD)
        return Decoded(
            True, MappingProxyType(features), updated, tuple(undecodable), tuple(oversized)
        )

    def decode_hash(self, stored: Mapping[bytes, bytes]) -> Decoded:
        """Decode HGETALL's answer (fields outside the policy are ignored)."""
        return self.decode([stored.get(field.encode()) for field in self.fields])


def _text(raw: Any) -> str:
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bytes):
        return raw.decode()
    raise ValueError(f"{raw!r} is not stored text")


def _parse(spec: FeatureSpec, raw: Any) -> Any:
    text = _text(raw)
    syntax = NUMBER_SYNTAX.get(spec.type)
    if syntax is not None and syntax.fullmatch(text) is None:
        raise ValueError(f"{text!r} is not a {spec.type} in ASCII digits")
    return spec.parse(text)


def _epoch(raw: Any) -> float | None:
    try:
        text = _text(raw)
    except ValueError:
        return None
    if NUMBER_TEXT.fullmatch(text) is None:
        return None
    value = float(text)
    return value if math.isfinite(value) else None
