"""EntitlementService: validate -> map to domain -> decide -> map back."""

from __future__ import annotations

import time

import grpc
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc as pb_grpc

from tierline_server.api import mapping, validation
from tierline_server.decisions import DecisionService, Outcome
from tierline_server.errors import InvalidRequest
from tierline_server.metrics import Metrics
from tierline_server.served_policy import ServedPolicy

OK = grpc.StatusCode.OK.value[0]


class EntitlementServicer(pb_grpc.EntitlementServiceServicer):  # type: ignore[misc]
    """Decide, DecideBatch and GetPolicy."""

    def __init__(self, decisions: DecisionService, policy: ServedPolicy, metrics: Metrics) -> None:
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
            outcome_label = _outcome_label([outcome])
            return pb.DecideResponse(decision=mapping.outcome_message(outcome))
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
        outcome_label = "error"
        try:
            violations = validation.batch_size_violations(request)
            if violations:
                outcome_label = "invalid"
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
                    status=pb.ItemStatus(code=OK), decision=mapping.outcome_message(outcome)
                )
            outcome_label = _outcome_label(outcomes)
            return pb.DecideBatchResponse(results=results)
        finally:
            self._duration.labels("DecideBatch", outcome_label).observe(
                time.perf_counter() - started
            )

    async def GetPolicy(  # noqa: N802 - gRPC method name
        self, request: pb.GetPolicyRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetPolicyResponse:
        """Version, checksum, tiers, levels and the baseline (clients' fallback)."""
        decider = self._policy.decider
        return pb.GetPolicyResponse(policy=mapping.policy_info(decider.policy, decider.baseline))


def _outcome_label(outcomes: list[Outcome]) -> str:
    return "degraded" if any(outcome.decision.degraded for outcome in outcomes) else "ok"


def _item_status(invalid: InvalidRequest) -> pb.ItemStatus:
    return pb.ItemStatus(
        code=invalid.code.value[0],
        message=str(invalid),
        field_violations=[
            pb.FieldViolation(field=v.field, description=v.description) for v in invalid.violations
        ],
    )
