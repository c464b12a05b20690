"""EntitlementService: validate -> map to domain -> decide -> map back."""

from __future__ import annotations

import time

import grpc
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc as pb_grpc

from tierline_server.active_policy import ActivePolicy
from tierline_server.api import mapping, validation
from tierline_server.decisions import DecisionService, Outcome
from tierline_server.errors import InvalidRequest, TierlineError
from tierline_server.metrics import Metrics


class EntitlementServicer(pb_grpc.EntitlementServiceServicer):  # type: ignore[misc]
    """Decide, DecideBatch and GetPolicy."""

    def __init__(self, decisions: DecisionService, policy: ActivePolicy, metrics: Metrics) -> None:
        self._decisions = decisions
        self._policy = policy
        self._duration = metrics.decision_duration

    async def Decide(  # noqa: N802 - gRPC method name
        self, request: pb.DecideRequest, context: grpc.aio.ServicerContext
    ) -> pb.DecideResponse:
        """One decision; INVALID_ARGUMENT lists every field violation."""
        started = time.perf_counter()
        outcome_label = "error"
        try:
            outcome = await self._decisions.decide(validation.decision_request(request))
            outcome_label = _outcome_label(outcome)
            return pb.DecideResponse(decision=mapping.decision_message(outcome))
        except InvalidRequest:
            outcome_label = "invalid"
            raise
        finally:
            self._duration.labels("Decide", outcome_label).observe(time.perf_counter() - started)

    async def DecideBatch(  # noqa: N802 - gRPC method name
        self, request: pb.DecideBatchRequest, context: grpc.aio.ServicerContext
    ) -> pb.DecideBatchResponse:
        """Up to 1000 decisions, each with its own status; one Redis round trip for all."""
        started = time.perf_counter()
        violations = validation.batch_size_violations(request)
        if violations:
            self._duration.labels("DecideBatch", "invalid").observe(time.perf_counter() - started)
            raise InvalidRequest(violations)
        results = [pb.DecideBatchResult() for _ in request.items]
        valid = []
        for index, item in enumerate(request.items):
            try:
                valid.append((index, validation.decision_request(item)))
            except InvalidRequest as invalid:
                results[index] = pb.DecideBatchResult(status=_item_status(invalid))
        outcomes = await self._decisions.decide_many([domain for _, domain in valid])
        for (index, _), outcome in zip(valid, outcomes, strict=True):
            results[index] = pb.DecideBatchResult(
                status=pb.ItemStatus(code=grpc.StatusCode.OK.value[0]),
                decision=mapping.decision_message(outcome),
            )
        label = "degraded" if any(o.degraded for o in outcomes) else "ok"
        self._duration.labels("DecideBatch", label).observe(time.perf_counter() - started)
        return pb.DecideBatchResponse(results=results)

    async def GetPolicy(  # noqa: N802 - gRPC method name
        self, request: pb.GetPolicyRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetPolicyResponse:
        """Version, checksum, tiers, levels and the baseline (clients' fallback)."""
        return pb.GetPolicyResponse(policy=mapping.policy_info(self._policy.policy))


def _outcome_label(outcome: Outcome) -> str:
    return "degraded" if outcome.degraded else "ok"


def _item_status(error: TierlineError) -> pb.ItemStatus:
    violations = error.violations if isinstance(error, InvalidRequest) else ()
    return pb.ItemStatus(
        code=error.code.value[0],
        message=str(error),
        field_violations=[
            pb.FieldViolation(field=v.field, description=v.description) for v in violations
        ],
    )
