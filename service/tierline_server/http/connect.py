"""The call guard over HTTP: the Connect protocol (JSON or binary protobuf) and gRPC-Web, by the
ASGI applications connectrpc generates from our proto (tierline.v1.*_connect).

connectrpc negotiates the protocol from the content type (an unknown one: 415), reads the body
(at most --max-message-bytes, gRPC's transport limit too: RESOURCE_EXHAUSTED), decompresses it,
applies the caller's timeout (Connect-Timeout-Ms, grpc-timeout) and writes answers and errors in
the caller's protocol. Its codecs here do not parse: they hand the bytes on, and the guard
authenticates the caller and checks the request's size before it parses them, exactly as over
gRPC. A domain error becomes the Connect code twin of its gRPC status, with the same
google.rpc.BadRequest in its details.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import grpc
from connectrpc.code import Code
from connectrpc.errors import ConnectError, ErrorDetail
from connectrpc.request import RequestContext
from connectrpc.server import ConnectASGIApplication
from google.protobuf import json_format, message
from protobuf.wkt import Any as AnyDetail

from tierline_server.api.auth import Credentials, presented_authorization
from tierline_server.api.guard import Guarded, Parser, parse_binary, status_details
from tierline_server.errors import FieldViolation, InvalidRequest, TierlineError

MAX_PARSE_ERROR_CHARACTERS = 200
"""A JSON parse error quotes the value at fault: cut, so that it cannot fill an error."""

CONNECT_CODES = {
    status: Code.CANCELED if status is grpc.StatusCode.CANCELLED else Code[status.name]
    for status in grpc.StatusCode
    if status is not grpc.StatusCode.OK
}
"""The Connect code of each gRPC status (the same names, but CANCELLED is spelt CANCELED)."""


def parse_json(data: bytes, request_type: type[message.Message]) -> message.Message:
    """A request in the protobuf JSON mapping; fields it does not know are ignored, as the
    binary format ignores them (an older server, a newer client)."""
    request = request_type()
    try:
        json_format.Parse(data, request, ignore_unknown_fields=True)
    except (json_format.ParseError, UnicodeDecodeError) as error:
        reason = str(error)
        if len(reason) > MAX_PARSE_ERROR_CHARACTERS:
            reason = reason[: MAX_PARSE_ERROR_CHARACTERS - 3] + "..."
        raise InvalidRequest(
            [FieldViolation("", f"malformed request: not valid JSON for "
                            f"{request_type.DESCRIPTOR.full_name}: {reason}")]
        ) from None  # fmt: skip
    return request


@dataclass(frozen=True)
class Received:
    """A request's body as connectrpc received it, and how it is to be parsed."""

    data: bytes
    parse: Parser


class DeferredCodec:
    """A connectrpc codec that leaves parsing to the guard and encodes answers."""

    def __init__(
        self, name: str, parse: Parser, encode: Callable[[message.Message], bytes]
    ) -> None:
        self._name = name
        self._parse = parse
        self._encode = encode

    def name(self) -> str:
        """The codec's name in the content type (application/NAME, application/grpc-web+NAME)."""
        return self._name

    def encode(self, response: message.Message) -> bytes:
        """An answer in this codec's format."""
        return self._encode(response)

    def decode(self, data: bytes | bytearray, message_class: type[Any]) -> Received:
        """The body, for the guard to parse once the caller is known and the size checked."""
        return Received(bytes(data), self._parse)


CODECS = (
    DeferredCodec("proto", parse_binary, lambda response: response.SerializeToString()),
    DeferredCodec(
        "json",
        parse_json,
        lambda response: json_format.MessageToJson(response, indent=None).encode(),
    ),
)


def connect_error(error: TierlineError) -> ConnectError:
    """The Connect error of a domain error: its code's twin, its message, its details."""
    details = [
        ErrorDetail(AnyDetail(type_url=detail.type_url, value=detail.value))
        for detail in status_details(error)
    ]
    return ConnectError(CONNECT_CODES[error.code], str(error), details)


def application(
    app_class: Callable[..., ConnectASGIApplication[Any]],
    guarded: Mapping[str, Guarded],
    read_max_bytes: int,
) -> ConnectASGIApplication[Any]:
    """The generated ASGI application of a service (``app_class``), each of its methods the
    guarded one of the same name."""
    endpoints = {_python_name(name): _over_http(each) for name, each in guarded.items()}
    return app_class(SimpleNamespace(**endpoints), read_max_bytes=read_max_bytes, codecs=CODECS)


def _python_name(method: str) -> str:
    """The name generated code gives a method: DecideBatch -> decide_batch."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", method).lower()


def _over_http(guarded: Guarded) -> Any:
    async def handle(received: Received, context: RequestContext[Any, Any]) -> Any:
        try:
            return await guarded(HttpCall(context), received.data, received.parse)
        except TierlineError as error:
            raise connect_error(error) from None

    return handle


class HttpCall:
    """A Connect or gRPC-Web call as the guard sees it."""

    def __init__(self, context: RequestContext[Any, Any]) -> None:
        self._context = context
        content_type = context.request_headers.get("content-type", "")
        self.protocol = (
            "grpc_web"
            if content_type.startswith("application/grpc-web")
            else "grpc"  # connectrpc serves gRPC too (HTTP/2 with trailers)
            if content_type.startswith("application/grpc")
            else "connect"
        )

    def credentials(self) -> Credentials:
        """The call's authorization headers. Client certificates are checked in the TLS
        handshake under mutual TLS, but the HTTP server does not say whose they are: callers
        name themselves with tokens here."""
        return Credentials(
            authorization=presented_authorization(
                self._context.request_headers.getall("authorization")
            ),
            certificate_subject=None,
            peer=self._context.client_address or "",
        )

    def time_remaining(self) -> float | None:
        """Seconds before the caller's deadline (its Connect-Timeout-Ms or grpc-timeout)."""
        remaining = self._context.timeout_ms
        return None if remaining is None else remaining / 1000
