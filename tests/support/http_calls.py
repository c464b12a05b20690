"""Calls to Tierline's HTTP listener for tests: the Connect project's own client (Connect with
JSON or binary protobuf, gRPC-Web; HTTP/1.1 or HTTP/2), and plain HTTP requests for what a
client library would never send."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from connectrpc.compat import google_protobuf_binary_codec, google_protobuf_json_codec
from connectrpc.errors import ConnectError
from connectrpc.protocol import ProtocolType
from google.rpc import error_details_pb2
from pyqwest import HTTPVersion, SyncClient, SyncHTTPTransport
from tierline.v1 import entitlement_connect, policy_admin_connect

TIMEOUT_MS = 10_000
"""Timeout of every test call: generous, so that a loaded CI machine never fails a test by time."""


@dataclass(frozen=True)
class Wire:
    """One way of calling over HTTP."""

    name: str
    protocol: ProtocolType
    json: bool
    http2: bool = False

    def __str__(self) -> str:
        return self.name


WIRES = (
    Wire("connect-json", ProtocolType.CONNECT, json=True),
    Wire("connect-proto", ProtocolType.CONNECT, json=False),
    Wire("grpc-web", ProtocolType.GRPC_WEB, json=False),
    Wire("connect-json-h2", ProtocolType.CONNECT, json=True, http2=True),
)
"""Connect with JSON and with binary protobuf and gRPC-Web over HTTP/1.1; Connect JSON over
HTTP/2 (cleartext, prior knowledge, as h2load and service meshes speak it)."""


def _client_options(wire: Wire, ca_pem: bytes | None) -> dict[str, Any]:
    transport = SyncHTTPTransport(
        tls_ca_cert=ca_pem,
        http_version=HTTPVersion.HTTP2 if wire.http2 else HTTPVersion.HTTP1,
        enable_otel=False,
    )
    return {
        "protocol": wire.protocol,
        "codec": google_protobuf_json_codec() if wire.json else google_protobuf_binary_codec(),
        "send_compression": None,
        "timeout_ms": TIMEOUT_MS,
        "http_client": SyncClient(transport),
    }


@contextmanager
def entitlement_client(
    url: str, wire: Wire, ca_pem: bytes | None = None
) -> Iterator[entitlement_connect.EntitlementServiceClientSync]:
    """A Connect client of EntitlementService at ``url`` speaking ``wire``."""
    with entitlement_connect.EntitlementServiceClientSync(
        url, **_client_options(wire, ca_pem)
    ) as client:
        yield client


@contextmanager
def admin_client(
    url: str, wire: Wire = WIRES[0]
) -> Iterator[policy_admin_connect.PolicyAdminServiceClientSync]:
    """A Connect client of PolicyAdminService at ``url`` speaking ``wire``."""
    with policy_admin_connect.PolicyAdminServiceClientSync(
        url, **_client_options(wire, None)
    ) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    """The headers that present ``token``."""
    return {"authorization": f"Bearer {token}"}


def violations(error: ConnectError) -> list[tuple[str, str]]:
    """The (field, description) pairs of the google.rpc.BadRequest in a Connect error."""
    found: list[tuple[str, str]] = []
    for detail in error.details:
        assert detail.type_name == "google.rpc.BadRequest", detail.type_name
        bad_request = error_details_pb2.BadRequest.FromString(detail.message_bytes)
        found.extend((v.field, v.description) for v in bad_request.field_violations)
    return found


@dataclass(frozen=True)
class Answer:
    """A plain HTTP answer."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def post(
    url: str,
    path: str,
    body: bytes,
    headers: Mapping[str, str] | None = None,
    method: str = "POST",
) -> Answer:
    """One plain HTTP/1.1 request (JSON unless ``headers`` say otherwise) and its answer."""
    where = urlsplit(url)
    connection = http.client.HTTPConnection(where.netloc, timeout=TIMEOUT_MS / 1000)
    try:
        connection.request(
            method, path, body, {"content-type": "application/json", **(headers or {})}
        )
        response = connection.getresponse()
        return Answer(
            response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        )
    finally:
        connection.close()


def raw_connection(url: str) -> socket.socket:
    """A plain TCP connection to the listener, to send what no client would."""
    where = urlsplit(url)
    assert where.hostname is not None
    assert where.port is not None
    return socket.create_connection((where.hostname, where.port), timeout=TIMEOUT_MS / 1000)
