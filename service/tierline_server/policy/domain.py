"""Tierline's own types for what a decision reads (Context, Facts) and what it yields (Decision)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

CHANNELS = ("phone", "chat", "email", "social", "web", "mobile_app", "in_store")
"""Contact channels, lower case: the policy's spelling of the API's Channel enum."""

UNKNOWN_TIER = "unknown"
"""The tier of a customer who has no features."""


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
class Decision:
    """What a customer is entitled to in one interaction. Never below the policy's baseline."""

    tier: str
    service_level: ServiceLevel
    perks: tuple[Perk, ...]
    routing: Routing
    matched_rules: tuple[str, ...]
    policy_version: str
    baseline_applied: bool = True
    traces: tuple[RuleTrace, ...] = ()

    def has_perk(self, code: str) -> bool:
        """Whether the decision grants the perk ``code``."""
        return any(perk.code == code for perk in self.perks)
