"""EntitlementService: validate -> map to domain -> decide -> map back."""

from __future__ import annotations

import time

import grpc
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc as pb_grpc

from tierline_server.api import mapping, validation
from tierline_server.api.auth import Identity
from tierline_server.api.guard import Call, Method
from tierline_server.decisions import DecisionService
from tierline_server.errors import InvalidRequest
from tierline_server.policy.decider import Decider

OK = grpc.StatusCode.OK.value[0]

MAX_DECIDE_BYTES = 64 * 1024
"""A Decide at every field limit is about 11 KB."""
MAX_DECIDE_BATCH_BYTES = 4 * 1024 * 1024
"""1000 items of about 4 KiB each; a typical item is 100-200 bytes."""
MAX_GET_POLICY_BYTES = 1024

METHODS = {
    "Decide": Method(
        MAX_DECIDE_BYTES,
        decisions=lambda request: 1,
        degraded=lambda response: response.decision.degraded,
        explains=lambda request: request.explain,
    ),
    "DecideBatch": Method(
        MAX_DECIDE_BATCH_BYTES,
        # An oversized batch is refused by validation, not shed: count at most the maximum.
        decisions=lambda request: min(max(1, len(request.items)), validation.MAX_BATCH_ITEMS),
        degraded=lambda response: any(r.decision.degraded for r in response.results),
        explains=lambda request: any(item.explain for item in request.items),
    ),
    "GetPolicy": Method(MAX_GET_POLICY_BYTES),
}
"""What the call guard enforces for each RPC of the service."""


class EntitlementServicer(pb_grpc.EntitlementServiceServicer):  # type: ignore[misc]
    """Decide, DecideBatch and GetPolicy."""

    def __init__(self, decisions: DecisionService, decider: Decider) -> None:
        self._decisions = decisions
        self._policy_info = pb.GetPolicyResponse(
            policy=mapping.policy_info(decider.policy, decider.baseline)
        )

    async def Decide(  # noqa: N802 - gRPC method name
        self, request: pb.DecideRequest, call: Call, caller: Identity
    ) -> pb.DecideResponse:
        """One decision; INVALID_ARGUMENT lists every field violation."""
        outcome = await self._decisions.decide(
            validation.decision_request(request, caller.name), _deadline(call)
        )
        return pb.DecideResponse(decision=mapping.outcome_message(outcome))

    async def DecideBatch(  # noqa: N802 - gRPC method name
        self, request: pb.DecideBatchRequest, call: Call, caller: Identity
    ) -> pb.DecideBatchResponse:
        """Up to 1000 decisions, each with its own status; one Redis round trip for all."""
        violations = validation.batch_size_violations(request)
        if violations:
            raise InvalidRequest(violations)
        results = [pb.DecideBatchResult() for _ in request.items]
        valid = []
        for index, item in enumerate(request.items):
            try:
                valid.append((index, validation.decision_request(item, caller.name)))
            except InvalidRequest as invalid:
                results[index] = pb.DecideBatchResult(status=_item_status(invalid))
        outcomes = await self._decisions.decide_many(
            [domain for _, domain in valid], _deadline(call)
        )
        for (index, _), outcome in zip(valid, outcomes, strict=True):
            results[index] = pb.DecideBatchResult(
                status=pb.ItemStatus(code=OK), decision=mapping.outcome_message(outcome)
            )
        return pb.DecideBatchResponse(results=results)

    async def GetPolicy(  # noqa: N802 - gRPC method name
        self, request: pb.GetPolicyRequest, call: Call, caller: Identity
    ) -> pb.GetPolicyResponse:
        """Version, checksum, tiers, levels and the baseline (clients' fallback)."""
        return self._policy_info


def _deadline(call: Call) -> float | None:
    """The caller's deadline on the monotonic clock, if it gave one."""
    remaining = call.time_remaining()
    return None if remaining is None else time.monotonic() + remaining


def _item_status(invalid: InvalidRequest) -> pb.ItemStatus:
    return pb.ItemStatus(
        code=invalid.code.value[0],
        message=str(invalid),
        field_violations=[
            pb.FieldViolation(field=v.field, description=v.description) for v in invalid.violations
        ],
    )
