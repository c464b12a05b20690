"""A compiled policy: plain, immutable data that passed every check.

The compiler (tierline_server.policy.compiler) builds it; the engine turns its rules into a
ruleset; the decider and the loader read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tierline_server.policy.conditions import Condition
from tierline_server.policy.errors import Location
from tierline_server.policy.fields import TIER_FEATURE
from tierline_server.policy.schema import BaselineSpec, FeatureSpec, GrantSpec


@dataclass(frozen=True)
class Rule:
    """A compiled rule: its condition with negation pushed to the leaves."""

    id: str
    description: str
    condition: Condition
    grant: GrantSpec
    revoke: tuple[str, ...]
    location: Location


@dataclass(frozen=True)
class Segment:
    """A compiled segmentation rule."""

    tier: str
    condition: Condition | None
    location: Location


@dataclass(frozen=True)
class Policy:
    """A policy that passed every check. Immutable: a reload builds a new one."""

    name: str
    version: str
    checksum: str
    files: tuple[str, ...]
    features: Mapping[str, FeatureSpec]
    service_levels: tuple[str, ...]
    baseline: BaselineSpec
    channel_parity: bool
    segments: tuple[Segment, ...]
    rules: tuple[Rule, ...]

    @property
    def tiers(self) -> tuple[str, ...]:
        """The tiers a customer can be in (the ``tier`` feature's values)."""
        spec = self.features.get(TIER_FEATURE)
        return tuple(spec.values or ()) if spec else ()

    def rank(self, service_level: str) -> int:
        """The rank of a service level: its place in the ordered list, 0 = lowest."""
        return self.service_levels.index(service_level)
