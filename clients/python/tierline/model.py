"""The client's results: decisions, the policy and its baseline, as frozen dataclasses.

They mirror the API's messages (``proto/tierline/v1/entitlement.proto``) with Python types:
tuples instead of repeated fields, ``None`` for values that are not set, enums for enums.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from tierline.errors import TierlineError

FALLBACK_REASON = "client_fallback"
"""``Decision.degraded_reason`` of a decision the client built from the baseline itself."""


@dataclass(frozen=True)
class Sla:
    """A service-level agreement. Lower waits are better; true flags are better."""

    max_wait_seconds: int
    """Longest time the customer waits for a live agent, in seconds."""
    callback_offered: bool = False
    """Whether a callback is offered instead of waiting."""
    human_agent_guaranteed: bool = False
    """Whether the customer may always reach a human agent."""
    first_response_seconds: int = 0
    """Longest time to the first response on asynchronous channels (e-mail, social)."""


@dataclass(frozen=True)
class ServiceLevel:
    """A service level (``name``, its ``rank`` in the policy, 0 = lowest) and its SLA."""

    name: str
    rank: int
    sla: Sla


@dataclass(frozen=True)
class Perk:
    """A perk granted to the customer, with its value when it has one."""

    code: str
    """The perk's code, e.g. ``free-shipping``."""
    description: str = ""
    """Human-readable description; may be empty."""
    amount_minor: int | None = None
    """A fixed amount in minor units of the interaction's currency, if the perk has one."""
    percent: float | None = None
    """A percentage (20.0 for 20 %), if the perk has one."""
    granted_by: str = ""
    """The id of the rule that granted it; ``baseline`` for the policy's baseline."""


@dataclass(frozen=True)
class Routing:
    """Where an interaction goes: a queue, a priority (0-100, higher first), agent skills."""

    queue: str
    priority: int = 0
    skills: tuple[str, ...] = ()


class FeatureSource(str, enum.Enum):
    """Where the service found the customer's features for a decision."""

    UNSPECIFIED = "unspecified"
    NEAR_CACHE = "near_cache"
    """The service's in-process cache."""
    REDIS = "redis"
    """Read from Redis for this decision."""
    MISSING = "missing"
    """Redis holds nothing for the customer: tier ``unknown``."""
    UNAVAILABLE = "unavailable"
    """The features could not be read (the decision is degraded); also every client fallback."""


@dataclass(frozen=True)
class DecisionMetrics:
    """Where the service's time went (microseconds) and where the features came from."""

    total_micros: int = 0
    lookup_micros: int = 0
    eval_micros: int = 0
    feature_source: FeatureSource = FeatureSource.UNSPECIFIED
    features_age_seconds: float = 0.0


@dataclass(frozen=True)
class RuleExplanation:
    """One matched rule and the part of its condition that held."""

    rule_id: str
    condition: str


@dataclass(frozen=True)
class Explanation:
    """What the rules saw (features and context, rendered as strings) and why each matched."""

    features: Mapping[str, str] = field(default_factory=dict)
    context: Mapping[str, str] = field(default_factory=dict)
    rules: tuple[RuleExplanation, ...] = ()


@dataclass(frozen=True)
class Decision:
    """What a customer is entitled to in one interaction; never below the policy's baseline.

    ``degraded`` is true when the service could not read the customer's features (only what
    needs none was granted) or when the client answered by itself because the service was slow
    or unreachable: then ``degraded_reason`` is ``"client_fallback"`` (see :attr:`is_fallback`)
    and the decision is the baseline.
    """

    decision_id: str
    """Unique and sortable by time (a ULID); empty for a client fallback."""
    customer_id: str
    tier: str
    """The customer's resolved tier; ``unknown`` without features (and for a fallback)."""
    policy_version: str
    """The version of the policy that decided; for a fallback, the version its baseline came
    from, or empty when it is the client's configured baseline."""
    service_level: ServiceLevel
    routing: Routing
    perks: tuple[Perk, ...] = ()
    matched_rules: tuple[str, ...] = ()
    baseline_applied: bool = True
    degraded: bool = False
    degraded_reason: str = ""
    metrics: DecisionMetrics = field(default_factory=DecisionMetrics)
    explanation: Explanation | None = None
    """Set only when the request asked to ``explain``."""
    latency: float = 0.0
    """Wall time of the call as the client saw it, in seconds (for a fallback: until the
    client gave up and answered with the baseline)."""

    @property
    def is_fallback(self) -> bool:
        """Whether the client built this decision from the baseline (service slow or down)."""
        return self.degraded_reason == FALLBACK_REASON

    def has_perk(self, code: str) -> bool:
        """Whether a perk with this code was granted."""
        return self.perk(code) is not None

    def perk(self, code: str) -> Perk | None:
        """The granted perk with this code, or None."""
        return next((perk for perk in self.perks if perk.code == code), None)


@dataclass(frozen=True)
class Baseline:
    """The universal baseline: what every customer gets on every channel, always.

    The client answers with it when the service is slow or unreachable. It normally comes from
    the service (``GetPolicy``); pass one to the client as ``baseline=`` for the time before the
    client has ever reached the service.
    """

    service_level: ServiceLevel
    routing: Routing
    perks: tuple[Perk, ...] = ()


@dataclass(frozen=True)
class ServiceLevelRank:
    """A service level's name and its place in the policy's ordered list (0 = lowest)."""

    name: str
    rank: int


@dataclass(frozen=True)
class PolicyInfo:
    """The policy the service decides with, as ``policy()`` returns it."""

    name: str
    version: str
    checksum: str
    """SHA-256 (hex) of the policy's source: changes whenever the policy text does."""
    tiers: tuple[str, ...]
    service_levels: tuple[ServiceLevelRank, ...]
    baseline: Baseline
    channel_parity: bool
    """Whether level, SLA and perks never depend on the channel."""


@dataclass(frozen=True)
class BatchResult:
    """The outcome of one ``decide_batch`` item: a decision, or the error of that item alone."""

    decision: Decision | None = None
    error: TierlineError | None = None
    """Usually an ``InvalidRequest`` with the item's field violations."""

    @property
    def ok(self) -> bool:
        """Whether the item was decided."""
        return self.decision is not None

    def unwrap(self) -> Decision:
        """The decision; raises the item's error when it has none."""
        if self.decision is None:
            raise self.error or TierlineError("batch item has neither decision nor error")
        return self.decision
