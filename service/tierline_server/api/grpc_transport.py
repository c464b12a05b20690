"""The call guard over gRPC: generic handlers that hand each call's raw bytes to the guard, and
turn its domain errors into gRPC statuses with google.rpc details.

Handlers are registered with the guard directly (no interceptor), and receive raw bytes from
gRPC, so that no request is parsed before its caller is known and its size checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message_factory import GetMessageClass
from google.rpc import status_pb2
from grpc_status import rpc_status

from tierline_server.api.auth import Credentials, presented_authorization
from tierline_server.api.guard import (
    Guarded,
    parse_binary,
    status_details,
)
from tierline_server.errors import TierlineError


def to_status(error: TierlineError) -> grpc.Status:
    """The gRPC status for a domain error; INVALID_ARGUMENT carries a BadRequest."""
    status = status_pb2.Status(code=error.code.value[0], message=str(error))
    status.details.extend(status_details(error))
    return rpc_status.to_status(status)


def service(
    descriptor: ServiceDescriptor, guarded: Mapping[str, Guarded]
) -> grpc.GenericRpcHandler:
    """The generic handler of a service whose methods (``guarded``, by name) all go through the
    guard."""
    handlers = {}
    for rpc in descriptor.methods:
        handlers[rpc.name] = grpc.unary_unary_rpc_method_handler(
            _over_grpc(guarded[rpc.name]),
            request_deserializer=None,  # raw bytes: the guard checks the size first
            response_serializer=GetMessageClass(rpc.output_type).SerializeToString,
        )
    return grpc.method_handlers_generic_handler(descriptor.full_name, handlers)


def _over_grpc(guarded: Guarded) -> Any:
    async def handle(data: bytes, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await guarded(_GrpcCall(context), data, parse_binary)
        except TierlineError as error:
            await context.abort_with_status(to_status(error))

    return handle


class _GrpcCall:
    """A gRPC call as the guard sees it."""

    protocol = "grpc"

    def __init__(self, context: grpc.aio.ServicerContext) -> None:
        self._context = context

    def credentials(self) -> Credentials:
        """The call's authorization metadata, and the subject of its client certificate
        (present only under mutual TLS, where the handshake verified it)."""
        context = self._context
        authorization = [
            value for key, value in context.invocation_metadata() or () if key == "authorization"
        ]
        subject = context.auth_context().get("x509_subject")
        return Credentials(
            authorization=presented_authorization(authorization),
            certificate_subject=subject[0].decode() if subject else None,
            peer=context.peer(),
        )

    def time_remaining(self) -> float | None:
        """Seconds before the caller's deadline, if it gave one."""
        remaining: float | None = self._context.time_remaining()
        return remaining
