"""Domain errors -> gRPC statuses with google.rpc details."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2, status_pb2
from tierline_server.api.grpc_transport import to_status
from tierline_server.errors import FieldViolation, InvalidRequest


def test_an_invalid_request_carries_every_violation_as_bad_request() -> None:
    error = InvalidRequest(
        [FieldViolation("customer_id", "must be set"), FieldViolation("context", "is required")]
    )

    status = to_status(error)

    assert status.code is grpc.StatusCode.INVALID_ARGUMENT
    assert status.details == "customer_id: must be set; context: is required"
    ((key, value),) = status.trailing_metadata
    assert key == "grpc-status-details-bin"
    rich = status_pb2.Status.FromString(value)
    assert rich.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    (detail,) = rich.details
    bad_request = error_details_pb2.BadRequest()
    assert detail.Unpack(bad_request)
    assert [(v.field, v.description) for v in bad_request.field_violations] == [
        ("customer_id", "must be set"),
        ("context", "is required"),
    ]
