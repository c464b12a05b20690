"""What a hostile or careless caller sends must hurt nobody else: bounded work per request,
INVALID_ARGUMENT for what does not parse, and no connection that can lock others out."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator

import grpc
import pytest
from service_support import TIMEOUT, ServerFactory, bad_request, stub_on
from support.metrics import metric, scrape
from support.procfs import tree_rss_bytes
from support.raw_grpc import RawConnection, frame
from support.requests import request
from support.tierline_process import TierlineProcess
from tierline import EntitlementClient, InvalidRequest
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc

pytestmark = pytest.mark.integration

DECIDE = "/tierline.v1.EntitlementService/Decide"
RSS_BOUND_BYTES = 50 * 1024 * 1024


def raw_decide(target: str, body: bytes) -> grpc.RpcError:
    """Send ``body`` as a Decide request as it is; the error the server answered with."""
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(DECIDE)  # no serializers: bytes go as they are
        with pytest.raises(grpc.RpcError) as caught:
            call(body, timeout=TIMEOUT)
    return caught.value


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def million_attributes() -> bytes:
    """A 15 MB DecideRequest with a million attributes, encoded directly (fast)."""
    entries = b"".join(field(6, field(1, b"key%d" % n) + field(2, b"v")) for n in range(10**6))
    channel_phone = varint(1 << 3) + varint(pb.CHANNEL_PHONE)
    context = channel_phone + entries
    return field(1, b"gold-1") + field(2, context)


@pytest.fixture
def decide_in_background(server: TierlineProcess) -> Iterator[list[grpc.StatusCode]]:
    """Valid Decides sent in a loop while the test runs: their status codes."""
    codes: list[grpc.StatusCode] = []
    stop = threading.Event()

    def run() -> None:
        with stub_on(server.target, entitlement_pb2_grpc.EntitlementServiceStub) as stub:
            while not stop.is_set():
                try:
                    stub.Decide(request("gold-1"), timeout=1.0)
                    codes.append(grpc.StatusCode.OK)
                except grpc.RpcError as error:
                    codes.append(error.code())

    thread = threading.Thread(target=run)
    thread.start()
    yield codes
    stop.set()
    thread.join()


def test_a_fifteen_megabyte_decide_is_refused_from_its_length_prefix(
    server: TierlineProcess, decide_in_background: list[grpc.StatusCode]
) -> None:
    """Over the transport's limit (8 MiB): refused before any of it is buffered, with the status
    the gRPC specification gives a message larger than the limit."""
    body = million_attributes()
    assert len(body) > 14_000_000
    before = tree_rss_bytes(server.pid)

    errors = [raw_decide(server.target, body) for _ in range(3)]

    assert {error.code() for error in errors} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert tree_rss_bytes(server.pid) - before < RSS_BOUND_BYTES
    assert decide_in_background
    assert set(decide_in_background) == {grpc.StatusCode.OK}


def test_a_decide_over_its_own_limit_is_invalid_before_it_is_parsed(
    server: TierlineProcess, decide_in_background: list[grpc.StatusCode]
) -> None:
    """Under the transport's limit, over Decide's (64 KiB): INVALID_ARGUMENT, never parsed
    (300,000 attributes would cost hundreds of megabytes as Python objects)."""
    body = million_attributes()[: 4 * 1024 * 1024]  # cut: it need not even parse
    before = tree_rss_bytes(server.pid)

    errors = [raw_decide(server.target, body) for _ in range(3)]

    for error in errors:
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        ((_, description),) = bad_request(error)
        assert "Decide takes at most 65,536" in description
    assert tree_rss_bytes(server.pid) - before < RSS_BOUND_BYTES
    invalid = metric(scrape(server.metrics_port), "tierline_rpcs_total", method="Decide",
                     code="INVALID_ARGUMENT")  # fmt: skip
    assert invalid >= 3
    assert set(decide_in_background) == {grpc.StatusCode.OK}
    assert decide_in_background
    assert set(decide_in_background) == {grpc.StatusCode.OK}


@pytest.mark.parametrize(
    "attributes",
    [
        pytest.param({"k" * 5000: "v"}, id="5000-character-key"),
        pytest.param({f"key {n}": "v" for n in range(40)}, id="40-keys-with-spaces"),
        pytest.param({f"key{n}": "v" * 300 for n in range(100)}, id="100-values-of-300-bytes"),
    ],
)
def test_many_or_long_bad_attributes_are_invalid_and_the_client_raises(
    server: TierlineProcess, attributes: dict[str, str]
) -> None:
    bad = request("gold-1", attributes=attributes)
    with (
        stub_on(server.target, entitlement_pb2_grpc.EntitlementServiceStub) as stub,
        pytest.raises(grpc.RpcError) as caught,
    ):
        stub.Decide(bad, timeout=TIMEOUT)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert 1 <= len(bad_request(caught.value)) <= 11

    with (
        EntitlementClient(server.target, timeout=TIMEOUT) as client,
        pytest.raises(InvalidRequest) as raised,
    ):
        client.decide("gold-1", "phone", attributes=attributes)
    assert raised.value.field_violations
    assert client.fallback_count == 0


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\xff\xfe garbage \x00\x01", id="garbage"),
        pytest.param(request("gold-1").SerializeToString()[:-3], id="truncated"),
        pytest.param(field(1, b"gold-\xff\xfe"), id="bad-utf8-in-a-string"),
        pytest.param(field(2, b"\x08\x01\x12\x05can\xffl"), id="bad-utf8-in-the-intent"),
    ],
)
def test_a_body_that_does_not_parse_is_invalid_argument(
    server: TierlineProcess, body: bytes
) -> None:
    error = raw_decide(server.target, body)

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    ((_, description),) = bad_request(error)
    assert description.startswith("malformed request")
    assert "Traceback" not in (error.details() or "")


def test_compressed_messages_get_the_statuses_the_grpc_specification_gives(
    server: TierlineProcess,
) -> None:
    message = request("gold-1").SerializeToString()
    with RawConnection(server.target) as connection:
        # The flag set without a grpc-encoding: the message cannot be read (INTERNAL).
        flagged = connection.call(DECIDE, frame(message, compressed=True))
        assert flagged.grpc_status == grpc.StatusCode.INTERNAL.value[0]
        # A supported encoding is simply read.
        gzipped = frame(gzip.compress(message), compressed=True)
        answered = connection.call(DECIDE, gzipped, {"grpc-encoding": "gzip"})
        assert answered.grpc_status == grpc.StatusCode.OK.value[0]


def test_streams_that_never_finish_cannot_lock_other_callers_out(
    server: TierlineProcess,
) -> None:
    connections = [RawConnection(server.target) for _ in range(11)]
    try:
        stuck = 0
        for connection in connections:
            connection.settle()
            assert connection.max_streams <= 100
            for _ in range(connection.max_streams):
                # The frame announces 16 bytes and carries 9; the stream stays open.
                stream = connection.start(DECIDE)
                connection.send(stream, frame(b"x" * 9, announced=16), end=False)
                stuck += 1
        assert stuck >= 1000

        with stub_on(server.target, entitlement_pb2_grpc.EntitlementServiceStub) as stub:
            decisions = [stub.Decide(request("gold-1"), timeout=1.0) for _ in range(20)]
        assert all(d.decision.tier == "gold" for d in decisions)
    finally:
        for connection in connections:
            connection.close()


def test_a_connection_holding_unfinished_calls_is_closed_at_its_maximum_age(
    start_server: ServerFactory, redis_url: str
) -> None:
    """gRPC never answers a stream whose message is cut short: such calls take no slot of the
    server's, and the connection that holds them is closed when it reaches its maximum age."""
    server = start_server(redis_url, extra_args=["--max-connection-age", "1"])
    with RawConnection(server.target) as connection:
        connection.settle()
        stream = connection.start(DECIDE)
        connection.send(stream, frame(b"x" * 9, announced=16), end=True)
        connection.read_until_closed()
        assert connection.goaway
        assert not connection.answers[stream].ended


def test_an_unknown_enum_value_is_a_field_violation(server: TierlineProcess) -> None:
    with (
        stub_on(server.target, entitlement_pb2_grpc.EntitlementServiceStub) as stub,
        pytest.raises(grpc.RpcError) as caught,
    ):
        stub.Decide(request("gold-1", channel=12345), timeout=TIMEOUT)
    assert [f for f, _ in bad_request(caught.value)] == ["context.channel"]
