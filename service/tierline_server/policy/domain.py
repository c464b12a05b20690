"""Tierline's own types for what a decision reads (Context, Facts) and what it yields (Decision)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from tierline.interaction import Channel

CHANNELS = tuple(channel.label for channel in Channel)
"""Contact channels as policies name them (``phone``, ``mobile_app``): the API's Channel enum."""

UNKNOWN_TIER = "unknown"
"""The tier of a customer who has no features."""

ATTRIBUTE_KEY_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
"""An attribute key (use ``fullmatch``): what callers may send and rules may read."""
ATTRIBUTE_KEY_RULE = "1-64 characters of A-Z a-z 0-9 _ . -"
"""The pattern in words, for error messages."""

FEATURES_UNAVAILABLE = "features_unavailable"
"""Why a decision is degraded when the customer's features could not be read: only the baseline
and rules that read no features apply."""


@dataclass(frozen=True)
class Context:
    """The interaction a decision is for."""

    channel: str
    intent: str = ""
    order_value: int | None = None
    """Order value in minor units of ``currency`` (cents), or None when there is no order."""
    currency: str = ""
    item_count: int = 0
    attributes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Facts:
    """Everything the rules see for one decision, keyed by field name as a policy writes it.

    ``values`` holds every field the policy can read, defaults filled in; ``present`` names the
    fields that carried a value of their own (a feature in the customer's record, an attribute
    the caller sent), which is what ``exists`` tests.
    """

    values: Mapping[str, Any]
    present: frozenset[str]


@dataclass(frozen=True)
class Sla:
    """Service-level agreement: lower waits are better, True flags are better."""

    max_wait_seconds: int
    first_response_seconds: int
    callback_offered: bool
    human_agent_guaranteed: bool


@dataclass(frozen=True)
class ServiceLevel:
    """A named service level; ``rank`` is its place in the policy's ordered list (0 = lowest)."""

    name: str
    rank: int
    sla: Sla


@dataclass(frozen=True)
class Perk:
    """A perk granted to the customer, by the rule ``granted_by`` ('baseline' for the floor)."""

    code: str
    description: str = ""
    amount: int | None = None
    """A fixed value in minor units of the interaction's currency."""
    percent: float | None = None
    granted_by: str = ""


@dataclass(frozen=True)
class Routing:
    """Where the interaction goes: queue, priority 0-100, and skills the agent needs."""

    queue: str
    priority: int
    skills: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleTrace:
    """For explain: a matched rule and the part of its condition that held."""

    rule_id: str
    condition: str


@dataclass(frozen=True)
class Explanation:
    """What the rules saw (the customer's features and the context, as the rules read them)
    and, for each matched rule, the part of its condition that held."""

    features: Mapping[str, Any]
    context: Mapping[str, Any]
    rules: tuple[RuleTrace, ...]


@dataclass(frozen=True)
class Decision:
    """What a customer is entitled to in one interaction. Never below the policy's baseline."""

    tier: str
    service_level: ServiceLevel
    perks: tuple[Perk, ...]
    routing: Routing
    matched_rules: tuple[str, ...]
    policy_version: str
    baseline_applied: bool = True
    degraded_reason: str = ""
    """Why the decision was made without everything it needed ('' when it was not)."""
    explanation: Explanation | None = None
    """Only when asked for."""

    @property
    def degraded(self) -> bool:
        """Whether the decision was made without the customer's features."""
        return bool(self.degraded_reason)

    def has_perk(self, code: str) -> bool:
        """Whether the decision grants the perk ``code``."""
        return any(perk.code == code for perk in self.perks)
