"""PolicyAdminService: validate a candidate policy, reload the served one."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import structlog
from tierline.v1 import policy_admin_pb2 as pb
from tierline.v1 import policy_admin_pb2_grpc as pb_grpc

from tierline_server.api.auth import Identity
from tierline_server.api.guard import Call, Method
from tierline_server.api.mapping import policy_error_messages
from tierline_server.errors import FieldViolation, InvalidRequest, NoReloader
from tierline_server.policy.compiler import compile_policy_text
from tierline_server.policy.errors import PolicyInvalid
from tierline_server.policy.source import MAX_POLICY_BYTES
from tierline_server.reloads import Reload

log = structlog.get_logger(__name__)

CANDIDATE_NAME = "<candidate>"

METHODS = {
    # Room past the policy's own limit, so that a candidate over it has a field violation.
    "ValidatePolicy": Method(2 * MAX_POLICY_BYTES),
    "ReloadPolicy": Method(1024),
}
"""What the call guard enforces for each RPC of the service."""


class PolicyAdminServicer(pb_grpc.PolicyAdminServiceServicer):  # type: ignore[misc]
    """Compiles candidates without touching what is served; reloads atomically."""

    def __init__(self, reload: Reload | None) -> None:
        self._reload = reload
        # Candidates compile off the event loop (compiling never touches the engine), one at a
        # time: it is CPU work that shares the interpreter with the loop, and several at once
        # would leave decisions a smaller share. A call cancelled while queued never compiles.
        self._compiler = ThreadPoolExecutor(max_workers=1, thread_name_prefix="policy-compile")

    async def ValidatePolicy(  # noqa: N802 - gRPC method name
        self,
        request: pb.ValidatePolicyRequest,
        call: Call,
        caller: Identity,
    ) -> pb.ValidatePolicyResponse:
        """Every error of the candidate; nothing changes either way."""
        size = len(request.policy_text.encode())
        if size > MAX_POLICY_BYTES:
            raise InvalidRequest(
                [
                    FieldViolation(
                        "policy_text",
                        f"{size:,} bytes; a policy may have at most {MAX_POLICY_BYTES:,}",
                    )
                ]
            )
        loop = asyncio.get_running_loop()
        name = request.name or CANDIDATE_NAME
        try:
            policy = await loop.run_in_executor(
                self._compiler, compile_policy_text, request.policy_text, name
            )
        except PolicyInvalid as invalid:
            return pb.ValidatePolicyResponse(
                valid=False, errors=policy_error_messages(invalid.errors)
            )
        return pb.ValidatePolicyResponse(
            valid=True, version=policy.version, checksum=policy.checksum
        )

    async def ReloadPolicy(  # noqa: N802 - gRPC method name
        self, request: pb.ReloadPolicyRequest, call: Call, caller: Identity
    ) -> pb.ReloadPolicyResponse:
        """Re-read the configured path; a bad policy changes nothing and is reported."""
        if self._reload is None:
            raise NoReloader("this server was not started by `tierline serve`: nothing reloads it")
        log.info("reload policy called", caller=caller.name)  # who changed the policy: audits
        result = await self._reload()
        return pb.ReloadPolicyResponse(
            reloaded=result.reloaded,
            version=result.version,
            checksum=result.checksum,
            errors=policy_error_messages(result.errors),
        )
