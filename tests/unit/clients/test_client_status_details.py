"""Field violations read from the grpc-status-details-bin trailer, without googleapis protos."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from support.failed_call import FailedCall
from tierline import InvalidRequest
from tierline.errors import FieldViolation, from_rpc_error
from tierline.status_details import STATUS_DETAILS_KEY, field_violations


def status_trailer(*details: object) -> tuple[tuple[str, bytes], ...]:
    """The trailer a server sends: google.rpc.Status with packed details (the reference protos)."""
    status = status_pb2.Status(code=3, message="invalid request")
    for detail in details:
        packed = any_pb2.Any()
        packed.Pack(detail)
        status.details.append(packed)
    return (("other", b"x"), (STATUS_DETAILS_KEY, status.SerializeToString()))


def bad_request(*pairs: tuple[str, str]) -> error_details_pb2.BadRequest:
    return error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=field, description=description)
            for field, description in pairs
        ]
    )


def test_reads_every_violation_of_a_bad_request() -> None:
    trailer = status_trailer(
        error_details_pb2.RequestInfo(request_id="r1"),
        bad_request(("customer_id", "too long"), ("context.currency", "needs ISO 4217")),
    )
    assert field_violations(trailer) == [
        ("customer_id", "too long"),
        ("context.currency", "needs ISO 4217"),
    ]


def test_nothing_to_read_is_no_violations() -> None:
    assert field_violations(None) == []
    assert field_violations(()) == []
    assert field_violations(status_trailer()) == []
    assert field_violations([(STATUS_DETAILS_KEY, b"\xff\xff not protobuf")]) == []


def test_invalid_argument_becomes_invalid_request_with_its_violations() -> None:
    error = from_rpc_error(
        FailedCall(
            grpc.StatusCode.INVALID_ARGUMENT,
            "customer_id: too long",
            status_trailer(bad_request(("customer_id", "too long"))),
        )
    )
    assert isinstance(error, InvalidRequest)
    assert isinstance(error, ValueError)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.message == "customer_id: too long"
    assert error.field_violations == (FieldViolation("customer_id", "too long"),)
