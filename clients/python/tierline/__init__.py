"""Tierline's Python client: real-time service entitlement decisions over gRPC.

::

    from tierline import EntitlementClient

    with EntitlementClient("127.0.0.1:50051") as client:
        decision = client.decide("c000042", channel="phone", intent="cancel")
        decision.routing.queue, decision.service_level.name, decision.has_perk("free-shipping")

:class:`EntitlementClient` (threads) and :class:`AsyncEntitlementClient` (asyncio) have the same
methods: ``decide``, ``decide_batch`` and ``policy``. A call never waits past its deadline
(50 ms by default for ``decide``): when Tierline is slow or unreachable the client answers with
the policy's baseline, marked ``degraded`` with reason ``client_fallback``. See
``clients/README.md``.

The API's generated messages and stubs are in :mod:`tierline.v1` (``entitlement_pb2``,
``entitlement_pb2_grpc``, ``policy_admin_pb2``, ``policy_admin_pb2_grpc``), built from
``proto/tierline/v1`` by ``make proto``.
"""

from tierline.aio import AsyncEntitlementClient
from tierline.client import EntitlementClient
from tierline.connection import Keepalive, RetryPolicy, TlsConfig
from tierline.core import (
    DEFAULT_BATCH_TIMEOUT_SECONDS,
    DEFAULT_POLICY_TIMEOUT_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
)
from tierline.errors import (
    FieldViolation,
    InvalidRequest,
    PermissionDenied,
    ServiceError,
    ServiceUnavailable,
    TierlineError,
    Unauthenticated,
)
from tierline.interaction import Channel, DecisionRequest
from tierline.model import (
    FALLBACK_REASON,
    Baseline,
    BatchResult,
    Decision,
    DecisionMetrics,
    Explanation,
    FeatureSource,
    Perk,
    PolicyInfo,
    Routing,
    RuleExplanation,
    ServiceLevel,
    ServiceLevelRank,
    Sla,
)

__all__ = [
    "DEFAULT_BATCH_TIMEOUT_SECONDS",
    "DEFAULT_POLICY_TIMEOUT_SECONDS",
    "DEFAULT_TIMEOUT_SECONDS",
    "FALLBACK_REASON",
    "AsyncEntitlementClient",
    "Baseline",
    "BatchResult",
    "Channel",
    "Decision",
    "DecisionMetrics",
    "DecisionRequest",
    "EntitlementClient",
    "Explanation",
    "FeatureSource",
    "FieldViolation",
    "InvalidRequest",
    "Keepalive",
    "Perk",
    "PermissionDenied",
    "PolicyInfo",
    "RetryPolicy",
    "Routing",
    "RuleExplanation",
    "ServiceError",
    "ServiceLevel",
    "ServiceLevelRank",
    "ServiceUnavailable",
    "Sla",
    "TierlineError",
    "TlsConfig",
    "Unauthenticated",
]
