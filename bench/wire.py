"""How a request of the mix goes on the wire: gRPC, or the Connect protocol on the HTTP listener
(``tierline serve --http-listen``) with JSON bodies over HTTP/2 (h2c) or HTTP/1.1, or with
binary protobuf bodies over h2c (which tells the cost of JSON from that of the HTTP stack).

A Protocol is everything the harness needs to know about one: how a body of the mix is encoded,
which headers and flags h2load is given, which of the server's listeners it goes to, and the
``protocol`` label under which the server counts its answers (``tierline_rpcs_total``). The
Connect bodies are the very DecideRequest messages of the gRPC bodies, in protobuf's JSON
mapping (``json_format.MessageToJson``), as a flow builder or a browser page would send them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import json_format
from mix import Body


def grpc_frame(message: bytes) -> bytes:
    """The HTTP/2 body of a gRPC call: uncompressed flag, 4-byte big-endian length, message."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def grpc_framed(body: Body) -> bytes:
    """A body of the mix as gRPC sends it."""
    return grpc_frame(body.message)


def connect_json(body: Body) -> bytes:
    """The body of a Connect unary call in JSON: the request in protobuf's JSON mapping, on one
    line (field names in lowerCamelCase, enums by name, 64-bit integers as strings)."""
    text: str = json_format.MessageToJson(body.request(), indent=None)
    return text.encode()


def connect_proto(body: Body) -> bytes:
    """The body of a Connect unary call in binary protobuf: the serialized message alone."""
    return body.message


@dataclass(frozen=True)
class Protocol:
    """One way of sending the mix to a server."""

    key: str
    """Its name on the command line (``--protocols``)."""
    label: str
    """What it adds to a target's name; empty for gRPC, the harness's own wire, so that the
    names of gRPC rows are the same with or without the others."""
    encode: Callable[[Body], bytes]
    """A body of the mix as h2load posts it."""
    headers: tuple[str, ...]
    """Request headers, as h2load's ``-H`` takes them (``name: value``)."""
    http1: bool = False
    """HTTP/1.1 (``h2load --h1``: one request in flight per connection) instead of h2c."""
    over_http: bool = False
    """Sent to the HTTP listener (``--http-listen``) rather than to gRPC's."""
    counted_as: str = "grpc"
    """The ``protocol`` label of the server's ``tierline_rpcs_total`` for these calls."""

    @property
    def h2load_arguments(self) -> list[str]:
        """What h2load is told besides the load itself: the headers, and --h1 for HTTP/1.1."""
        headers = [argument for header in self.headers for argument in ("-H", header)]
        return [*headers, *(["--h1"] if self.http1 else [])]

    def write(self, bodies: Sequence[Body], directory: Path, kind: str) -> list[Path]:
        """Write every body, encoded, to its own file in ``directory`` (h2load -d reads it):
        ``<kind>-<key>-<n>.bin``."""
        paths = []
        for number, body in enumerate(bodies):
            path = directory / f"{kind}-{self.key}-{number}.bin"
            path.write_bytes(self.encode(body))
            paths.append(path)
        return paths


GRPC = Protocol("grpc", "", grpc_framed, ("content-type: application/grpc", "te: trailers"))
JSON = ("content-type: application/json",)
PROTOCOLS = {
    protocol.key: protocol
    for protocol in (
        GRPC,
        Protocol(
            "connect-json", "connect-json h2", connect_json, JSON,
            over_http=True, counted_as="connect",
        ),
        Protocol(
            "connect-json-h1", "connect-json http1", connect_json, JSON,
            http1=True, over_http=True, counted_as="connect",
        ),
        Protocol(
            "connect-proto", "connect-proto h2", connect_proto,
            ("content-type: application/proto",), over_http=True, counted_as="connect",
        ),
    )
}  # fmt: skip
"""Every protocol the harness can load a server with, by its command-line name."""
