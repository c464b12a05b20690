"""Read the ``google.rpc.BadRequest`` field violations that Tierline puts into an error status.

The server sends a ``google.rpc.Status`` in the ``grpc-status-details-bin`` trailer. Its message
types live in googleapis-common-protos, which the client does not depend on (the base install is
grpcio and protobuf only). The few messages needed are declared here instead, in a descriptor
pool of their own, with the same field numbers and types: the wire format is all that matters,
and a private pool cannot clash with google.rpc when an application imports that too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory

STATUS_DETAILS_KEY = "grpc-status-details-bin"
"""The trailer that carries a serialised ``google.rpc.Status``."""

BAD_REQUEST_TYPE = "google.rpc.BadRequest"
"""Full name of the detail message that lists field violations."""

_FIELD = descriptor_pb2.FieldDescriptorProto
_PACKAGE = "tierline.client.rpc"


def _add_repeated(message: Any, name: str, number: int, message_name: str) -> None:
    """A repeated field of ``message`` whose elements are another message of the package."""
    message.field.add(
        name=name,
        number=number,
        type=_FIELD.TYPE_MESSAGE,
        label=_FIELD.LABEL_REPEATED,
        type_name=f".{_PACKAGE}.{message_name}",
    )


def _message_classes() -> tuple[Any, Any]:
    """Status and BadRequest classes, wire-compatible with google.rpc's."""
    file = descriptor_pb2.FileDescriptorProto(
        name="tierline/client/rpc_status.proto", package=_PACKAGE, syntax="proto3"
    )
    detail = file.message_type.add(name="Detail")  # google.protobuf.Any
    detail.field.add(name="type_url", number=1, type=_FIELD.TYPE_STRING)
    detail.field.add(name="value", number=2, type=_FIELD.TYPE_BYTES)
    status = file.message_type.add(name="Status")  # google.rpc.Status
    status.field.add(name="code", number=1, type=_FIELD.TYPE_INT32)
    status.field.add(name="message", number=2, type=_FIELD.TYPE_STRING)
    _add_repeated(status, "details", 3, "Detail")
    violation = file.message_type.add(name="FieldViolation")  # google.rpc.BadRequest.FieldViolation
    violation.field.add(name="field", number=1, type=_FIELD.TYPE_STRING)
    violation.field.add(name="description", number=2, type=_FIELD.TYPE_STRING)
    bad_request = file.message_type.add(name="BadRequest")  # google.rpc.BadRequest
    _add_repeated(bad_request, "field_violations", 1, "FieldViolation")
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(file.SerializeToString())

    def message_class(name: str) -> Any:
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))

    return message_class("Status"), message_class("BadRequest")


_Status, _BadRequest = _message_classes()


def field_violations(trailing_metadata: Iterable[tuple[str, Any]] | None) -> list[tuple[str, str]]:
    """The ``(field, description)`` pairs of every BadRequest in an error's trailing metadata.

    Returns an empty list when there are none or the trailer cannot be decoded: the status code
    and message still say what went wrong.
    """
    violations: list[tuple[str, str]] = []
    for key, value in trailing_metadata or ():
        if key != STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        try:
            status = _Status.FromString(value)
            for detail in status.details:
                if detail.type_url.rsplit("/", 1)[-1] != BAD_REQUEST_TYPE:
                    continue
                bad_request = _BadRequest.FromString(detail.value)
                violations.extend((v.field, v.description) for v in bad_request.field_violations)
        except message.DecodeError:
            return []
    return violations
