"""The HTTP listener of a real `tierline serve`: JSON for curl and flow builders, health for load
balancers, and every way a caller can go wrong refused cleanly: too large, the wrong content
type, too slow, unknown, not permitted, over the load it can take."""

from __future__ import annotations

import json
import socket
import ssl
import time
from pathlib import Path

import grpc
import pytest
from connectrpc.code import Code
from connectrpc.errors import ConnectError
from service_support import ServerFactory, load_customers, set_version
from support.http_calls import (
    WIRES,
    admin_client,
    bearer,
    entitlement_client,
    post,
    raw_connection,
)
from support.metrics import metric, scrape
from support.requests import request
from support.security import TOKENS, WRONG_TOKEN, Pki, server_tls_args, write_callers
from support.tierline_process import TierlineProcess
from support.waiting import wait_for
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import policy_admin_pb2 as admin_pb

pytestmark = pytest.mark.integration

DECIDE = "/tierline.v1.EntitlementService/Decide"
DECIDE_JSON = {
    "customerId": "gold-1",
    "context": {"channel": "CHANNEL_PHONE", "intent": "cancel"},
}
"""A Decide in JSON, as a flow builder's HTTP block or curl sends it."""
READ_TIMEOUT_SECONDS = 1.0


def test_a_decide_in_json_gets_a_decision_in_json(http_server: TierlineProcess) -> None:
    answer = post(http_server.http_url, DECIDE, json.dumps(DECIDE_JSON).encode())

    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    decision = json.loads(answer.body)["decision"]
    assert decision["customerId"] == "gold-1"
    assert decision["tier"] == "gold"
    assert decision["serviceLevel"]["name"] == "premium"
    assert decision["routing"]["queue"] == "retention"
    assert "retention-discount" in {perk["code"] for perk in decision["perks"]}
    assert decision["baselineApplied"] is True
    assert len(decision["decisionId"]) == 26


def test_health_answers_load_balancers(http_server: TierlineProcess) -> None:
    for path in ("/healthz", "/readyz"):
        answer = post(http_server.http_url, path, b"", method="GET")
        assert (answer.status, answer.body) == (200, b"ok\n"), path

    assert post(http_server.http_url, "/readyz", b"").status == 405
    assert post(http_server.http_url, "/tierline.v1.Nothing/Decide", b"{}").status == 404


def test_a_request_over_its_method_limit_is_invalid_before_it_is_parsed(
    http_server: TierlineProcess,
) -> None:
    oversized = b'{"customerId": "' + b"x" * 70_000 + b'"}'  # Decide takes 64 KiB

    answer = post(http_server.http_url, DECIDE, oversized)

    assert answer.status == 400
    error = json.loads(answer.body)
    assert error["code"] == "invalid_argument"
    assert f"request of {len(oversized):,} bytes; Decide takes at most 65,536" in error["message"]


def test_a_body_over_the_message_limit_is_refused_as_grpc_refuses_it(
    http_server: TierlineProcess,
) -> None:
    huge = b'{"customerId": "' + b"x" * (8 * 1024 * 1024) + b'"}'  # --max-message-bytes: 8 MiB

    answer = post(http_server.http_url, DECIDE, huge)

    assert answer.status == 429  # Connect's HTTP status for resource_exhausted
    assert json.loads(answer.body)["code"] == "resource_exhausted"


def test_a_wrong_content_type_is_refused_and_told_what_is_accepted(
    http_server: TierlineProcess,
) -> None:
    answer = post(
        http_server.http_url,
        DECIDE,
        json.dumps(DECIDE_JSON).encode(),
        {"content-type": "text/plain"},
    )

    assert answer.status == 415
    assert "application/json" in answer.headers["accept-post"]
    assert not http_server.events("worker failed")


def test_malformed_json_is_invalid_with_the_parser_s_reason(http_server: TierlineProcess) -> None:
    answer = post(http_server.http_url, DECIDE, b'{"customerId": ')

    assert answer.status == 400
    error = json.loads(answer.body)
    assert error["code"] == "invalid_argument"
    assert "malformed request: not valid JSON for tierline.v1.DecideRequest" in error["message"]


@pytest.fixture
def impatient(start_server: ServerFactory, redis_url: str) -> TierlineProcess:
    """A Tierline whose HTTP requests must arrive within a second."""
    load_customers(redis_url)
    return start_server(
        redis_url, extra_args=["--http-read-timeout", str(READ_TIMEOUT_SECONDS)], http=True
    )


def test_a_client_that_stalls_in_its_body_is_refused_and_let_go(
    impatient: TierlineProcess,
) -> None:
    with raw_connection(impatient.http_url) as connection:
        connection.sendall(
            b"POST " + DECIDE.encode() + b" HTTP/1.1\r\nhost: tierline\r\n"
            b'content-type: application/json\r\ncontent-length: 100\r\n\r\n{"customerId"'
        )
        started = time.monotonic()
        answer = _read_all(connection)

    assert answer.startswith(b"HTTP/1.1 504"), answer[:200]
    assert b'"code": "deadline_exceeded"' in answer
    assert b"--http-read-timeout" in answer
    assert time.monotonic() - started < READ_TIMEOUT_SECONDS + 5


def test_a_client_that_stalls_in_its_headers_is_let_go(impatient: TierlineProcess) -> None:
    with raw_connection(impatient.http_url) as connection:
        connection.sendall(b"POST " + DECIDE.encode() + b" HTTP/1.1\r\nhost: tier")
        started = time.monotonic()
        answer = _read_all(connection)

    assert b"decision" not in answer
    assert time.monotonic() - started < READ_TIMEOUT_SECONDS + 5
    # The server still answers others.
    assert post(impatient.http_url, DECIDE, json.dumps(DECIDE_JSON).encode()).status == 200


def _read_all(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def test_a_batch_that_cannot_be_done_before_its_timeout_is_shed(
    start_server: ServerFactory, redis_url: str
) -> None:
    server = start_server(redis_url, http=True)  # fresh: the decision cost is not yet measured
    batch = pb.DecideBatchRequest(items=[request(f"c{i}") for i in range(1000)])

    with (
        entitlement_client(server.http_url, WIRES[1]) as client,
        pytest.raises(ConnectError) as shed,
    ):
        client.decide_batch(batch, timeout_ms=100)

    assert shed.value.code == Code.RESOURCE_EXHAUSTED
    assert "the deadline leaves" in shed.value.message
    samples = scrape(server.metrics_port)
    assert metric(
        samples, "tierline_rpcs_total", method="DecideBatch", code="RESOURCE_EXHAUSTED",
        protocol="connect",
    ) == 1  # fmt: skip


def test_calls_are_counted_by_protocol(http_server: TierlineProcess) -> None:
    before = scrape(http_server.metrics_port)
    for wire in WIRES:
        with entitlement_client(http_server.http_url, wire) as client:
            client.decide(request("gold-1"))
    after = scrape(http_server.metrics_port)

    def decided(samples: object, protocol: str) -> float:
        return metric(
            samples,  # type: ignore[arg-type]
            "tierline_rpcs_total", method="Decide", code="OK", protocol=protocol,
        )  # fmt: skip

    assert decided(after, "connect") - decided(before, "connect") == 3
    assert decided(after, "grpc_web") - decided(before, "grpc_web") == 1


@pytest.fixture
def secured(start_server: ServerFactory, redis_url: str, tmp_path: Path) -> TierlineProcess:
    """A Tierline with callers, PolicyAdmin and the HTTP listener."""
    load_customers(redis_url)
    return start_server(
        redis_url,
        extra_args=["--enable-admin"],
        auth_file=write_callers(tmp_path / "callers.yaml"),
        http=True,
    )


@pytest.mark.parametrize("wire", WIRES, ids=str)
def test_callers_are_refused_over_http_as_over_grpc(secured: TierlineProcess, wire: object) -> None:
    with entitlement_client(secured.http_url, wire) as client:  # type: ignore[arg-type]
        refusals = {}
        for name, headers in {
            "none": {},
            "wrong": bearer(WRONG_TOKEN),
            "basic": {"authorization": "Basic dXNlcjpwYXNz"},
        }.items():
            with pytest.raises(ConnectError) as refused:
                client.decide(request("gold-1"), headers=headers)
            refusals[name] = refused.value.code
        with pytest.raises(ConnectError) as no_explain:
            client.decide(request("gold-1", explain=True), headers=bearer(TOKENS["call-center"]))
        decided = client.decide(request("gold-1"), headers=bearer(TOKENS["call-center"]))
        explained = client.decide(
            request("gold-1", explain=True), headers=bearer(TOKENS["support-lead"])
        )

    assert set(refusals.values()) == {Code.UNAUTHENTICATED}
    assert no_explain.value.code == Code.PERMISSION_DENIED
    assert decided.decision.tier == "gold"
    assert explained.decision.explanation.features["tier"] == "gold"


def test_an_unknown_caller_is_refused_before_its_body_is_parsed(secured: TierlineProcess) -> None:
    answer = post(secured.http_url, DECIDE, b"not json at all", bearer(WRONG_TOKEN))

    assert answer.status == 401
    assert json.loads(answer.body)["code"] == "unauthenticated"


def test_policy_admin_over_http_needs_the_admin_permission(secured: TierlineProcess) -> None:
    candidate = admin_pb.ValidatePolicyRequest(policy_text="policy: x")
    with admin_client(secured.http_url) as client:
        with pytest.raises(ConnectError) as denied:
            client.validate_policy(candidate, headers=bearer(TOKENS["call-center"]))
        checked = client.validate_policy(candidate, headers=bearer(TOKENS["release"]))

    assert denied.value.code == Code.PERMISSION_DENIED
    assert not checked.valid
    assert checked.errors
    samples = scrape(secured.metrics_port)
    assert metric(samples, "tierline_auth_refusals_total", reason="not_permitted") >= 1


def test_browser_pages_of_allowed_origins_only_may_call(
    start_server: ServerFactory, redis_url: str, http_server: TierlineProcess
) -> None:
    shop = "https://shop.example.com"
    server = start_server(redis_url, extra_args=["--http-cors-origins", shop], http=True)
    preflight = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type,connect-protocol-version",
    }

    allowed = post(server.http_url, DECIDE, b"", {"origin": shop, **preflight}, "OPTIONS")
    other = post(server.http_url, DECIDE, b"", {"origin": "https://evil.example", **preflight},
                 "OPTIONS")  # fmt: skip
    called = post(server.http_url, DECIDE, json.dumps(DECIDE_JSON).encode(), {"origin": shop})
    by_default = post(
        http_server.http_url, DECIDE, json.dumps(DECIDE_JSON).encode(), {"origin": shop}
    )

    assert allowed.status == 200
    assert allowed.headers["access-control-allow-origin"] == shop
    assert "connect-protocol-version" in allowed.headers["access-control-allow-headers"].lower()
    assert other.status == 400
    assert "access-control-allow-origin" not in other.headers
    assert called.headers["access-control-allow-origin"] == shop
    assert "grpc-status" in called.headers["access-control-expose-headers"].lower()
    assert by_default.status == 200
    assert "access-control-allow-origin" not in by_default.headers  # none allowed by default


def test_workers_share_the_http_port_and_no_other_server_can(
    start_server: ServerFactory, redis_url: str
) -> None:
    load_customers(redis_url)
    server = start_server(redis_url, extra_args=["--workers", "2"], http=True)
    assert server.http_port is not None

    answers = {
        post(server.http_url, DECIDE, json.dumps(DECIDE_JSON).encode()).status for _ in range(20)
    }
    second = TierlineProcess(
        redis_url, extra_args=["--http-listen", f"127.0.0.1:{server.http_port}"]
    )
    with pytest.raises(RuntimeError, match=r"--http-listen 127\.0\.0\.1:[0-9]+: cannot bind"):
        second.start()

    assert answers == {200}


def test_the_http_listener_speaks_the_grpc_port_s_tls_with_http2(
    start_server: ServerFactory, redis_url: str, pki: Pki
) -> None:
    load_customers(redis_url)
    server = start_server(
        redis_url,
        extra_args=server_tls_args(pki.server()),
        credentials=grpc.ssl_channel_credentials(pki.ca_pem),
        http=True,
    )
    context = ssl.create_default_context(cafile=str(pki.ca_file))
    context.set_alpn_protocols(["h2", "http/1.1"])
    with (
        raw_connection(server.http_url) as plain,
        context.wrap_socket(plain, server_hostname="localhost") as secured,
    ):
        negotiated = secured.selected_alpn_protocol()

    with entitlement_client(server.http_url, WIRES[0], ca_pem=pki.ca_pem) as client:
        decision = client.decide(request("gold-1")).decision

    assert negotiated == "h2"
    assert server.http_url.startswith("https://")
    assert decision.tier == "gold"


def test_after_a_reload_http_calls_get_the_new_policy(
    start_server: ServerFactory, redis_url: str, rules_dir: Path
) -> None:
    load_customers(redis_url)
    server = start_server(redis_url, policy=rules_dir, http=True)

    def version() -> str:
        answer = post(server.http_url, DECIDE, json.dumps(DECIDE_JSON).encode())
        assert answer.status == 200, answer
        return str(json.loads(answer.body)["decision"]["policyVersion"])

    before = version()
    set_version(rules_dir, "2099.1.1")
    server.signal(1)  # SIGHUP
    wait_for(lambda: server.events("policy reloaded"), what="the reload")

    assert before != "2099.1.1"
    assert version() == "2099.1.1"
    assert server.stop() == 0
