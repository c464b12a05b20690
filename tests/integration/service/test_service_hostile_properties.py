"""A thousand generated hostile requests against one real server: every one is INVALID_ARGUMENT
with its field violations (or, for a body that does not parse, "malformed request"), memory
stays bounded, and valid callers keep being answered."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_support import TIMEOUT, bad_request, load_customers, stub_on
from support.procfs import tree_rss_bytes
from support.requests import request
from support.tierline_process import TierlineProcess
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc

pytestmark = pytest.mark.integration

DECIDE = "/tierline.v1.EntitlementService/Decide"
RSS_BOUND_BYTES = 50 * 1024 * 1024
CHECK_EVERY = 50
"""A valid request every this many hostile ones: callers must keep being answered."""

VALID_ID = st.from_regex(r"[A-Za-z0-9._:@-]{1,128}", fullmatch=True)
BAD_ID = st.one_of(
    st.just(""),
    st.text(min_size=129, max_size=5000),
    st.text(min_size=1, max_size=40).filter(
        lambda s: any(c not in "._:@-" and not (c.isascii() and c.isalnum()) for c in s)
    ),
    VALID_ID.map(lambda s: s + "\n"),
)
BAD_INTENT = st.one_of(
    st.text(min_size=65, max_size=2000),
    st.text(min_size=1, max_size=20).filter(
        lambda s: any(
            c not in "_.-" and not (c.isascii() and (c.islower() or c.isdigit())) for c in s
        )
    ),
)
BAD_CURRENCY = st.text(max_size=10).filter(
    lambda s: not (len(s) == 3 and s.isascii() and s.isalpha())
)
HUGE_ATTRIBUTES = st.dictionaries(
    st.text(min_size=1, max_size=80), st.text(max_size=300), min_size=33, max_size=400
)
BAD_ATTRIBUTE = st.one_of(
    st.tuples(
        st.text(max_size=200).filter(lambda k: not k or len(k) > 64 or " " in k), st.just("v")
    ),
    st.tuples(st.just("campaign"), st.one_of(st.just(""), st.text(min_size=257, max_size=2000))),
)


@st.composite
def hostile_messages(draw: st.DrawFn) -> bytes:
    """A DecideRequest with at least one field out of bounds, serialized."""
    message = request(draw(VALID_ID))
    breaks = draw(
        st.sets(
            st.sampled_from(
                [
                    "id",
                    "channel",
                    "intent",
                    "currency",
                    "order",
                    "items",
                    "attributes",
                    "pair",
                    "time",
                ]
            ),
            min_size=1,
        )
    )
    context = message.context
    if "id" in breaks:
        message.customer_id = draw(BAD_ID)
    if "channel" in breaks:
        context.channel = draw(st.sampled_from([0, 8, 99, 2**31 - 1, -1]))  # type: ignore[assignment]
    if "intent" in breaks:
        context.intent = draw(BAD_INTENT)
    if "currency" in breaks:
        context.currency = draw(BAD_CURRENCY.filter(bool))
    if "order" in breaks:
        context.order_value_minor = draw(st.sampled_from([-1, -(2**63), 10**12 + 1, 2**63 - 1]))
        context.currency = "EUR"
    if "items" in breaks:
        context.item_count = draw(st.sampled_from([-1, -(2**31), 100_001, 2**31 - 1]))
    if "attributes" in breaks:
        context.attributes.update(draw(HUGE_ATTRIBUTES))
    if "pair" in breaks:
        key, value = draw(BAD_ATTRIBUTE)
        context.attributes[key] = value
    if "time" in breaks:
        context.occurred_at.seconds = draw(st.sampled_from([0, 2**40, -(2**40)]))
        context.occurred_at.nanos = draw(st.sampled_from([-1, 10**9, 2**31 - 1]))
    return message.SerializeToString()


GARBAGE = st.one_of(
    st.binary(min_size=1, max_size=2000),
    st.builds(lambda m, cut: m[:cut], hostile_messages(), st.integers(1, 30)),
)
"""Bodies that are not (whole) messages: random bytes, a message cut short."""


class Caller:
    """Sends raw bodies as Decide requests, and valid ones from time to time."""

    def __init__(self, server: TierlineProcess) -> None:
        self.server = server
        self._channel = grpc.insecure_channel(server.target)
        self._raw = self._channel.unary_unary(DECIDE)  # no serializers: bytes as they are
        self.sent = 0
        self.start_rss = tree_rss_bytes(server.pid)

    def close(self) -> None:
        self._channel.close()

    def send(self, body: bytes) -> grpc.RpcError:
        self.sent += 1
        if self.sent % CHECK_EVERY == 0:
            with stub_on(self.server.target, entitlement_pb2_grpc.EntitlementServiceStub) as stub:
                assert stub.Decide(request("gold-1"), timeout=TIMEOUT).decision.tier == "gold"
        with pytest.raises(grpc.RpcError) as caught:
            self._raw(body, timeout=TIMEOUT)
        return caught.value


@pytest.fixture(scope="module")
def caller(_session_redis: object) -> Iterator[Caller]:
    redis_url: str = _session_redis.url  # type: ignore[attr-defined]
    load_customers(redis_url)
    server = TierlineProcess(redis_url).start()
    sender = Caller(server)
    yield sender
    try:
        assert tree_rss_bytes(server.pid) - sender.start_rss < RSS_BOUND_BYTES
    finally:
        sender.close()
        server.stop()


HOSTILE = settings(
    max_examples=700,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@HOSTILE
@given(body=hostile_messages())
def test_every_out_of_bounds_request_is_invalid_with_its_violations(
    caller: Caller, body: bytes
) -> None:
    error = caller.send(body)

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    violations = bad_request(error)
    assert 1 <= len(violations) <= 11
    assert "Traceback" not in (error.details() or "")


@settings(HOSTILE, max_examples=300)
@given(body=GARBAGE)
def test_every_body_that_does_not_parse_is_invalid_and_says_so(caller: Caller, body: bytes) -> None:
    try:
        pb.DecideRequest.FromString(body)
    except Exception:
        parses = False
    else:
        parses = True

    error = caller.send(body)

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    violations = bad_request(error)
    if not parses:
        assert violations[0][1].startswith("malformed request")
