"""TLS and mutual TLS on a real `tierline serve`: who gets through the handshake, who the client
certificate says is calling, /metrics behind the same TLS and bound where it is told, and a
certificate rotated in place serving new handshakes without a restart."""

from __future__ import annotations

import shutil
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2
from service_support import TIMEOUT, ServerFactory, load_customers
from support.command import tierline
from support.metrics import metric, scrape
from support.redis_server import free_port
from support.requests import request
from support.security import (
    CALLERS,
    TOKENS,
    KeyPair,
    Pki,
    server_tls_args,
    tls_credentials,
    write_callers,
)
from support.tierline_process import TierlineProcess
from support.waiting import wait_for
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc

pytestmark = pytest.mark.integration

SERVING = health_pb2.HealthCheckResponse.SERVING


@pytest.fixture(scope="module")
def checkout(pki: Pki) -> KeyPair:
    """The client certificate of the caller `checkout` (decide only)."""
    return pki.client("checkout")


@pytest.fixture(scope="module")
def mtls(
    _session_redis: object, pki: Pki, checkout: KeyPair, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TierlineProcess]:
    """A Tierline with mutual TLS on gRPC and /metrics, whose callers include `checkout` by its
    certificate's subject."""
    callers = write_callers(
        tmp_path_factory.mktemp("callers") / "callers.yaml",
        {**CALLERS, "checkout": ("decide",)},
        subjects={"checkout": checkout.subject},
    )
    server = TierlineProcess(
        _session_redis.url,  # type: ignore[attr-defined]
        extra_args=[*server_tls_args(pki.server(), pki.ca_file), "--metrics-tls"],
        auth_file=callers,
        credentials=tls_credentials(pki.ca_file, checkout),
    ).start()
    yield server
    server.stop()


@pytest.fixture
def server(mtls: TierlineProcess, redis_url: str) -> TierlineProcess:
    load_customers(redis_url)
    return mtls


def decide(
    server: TierlineProcess, credentials: grpc.ChannelCredentials, *, explain: bool = False
) -> pb.Decision:
    with grpc.secure_channel(server.target, credentials) as channel:
        stub = entitlement_pb2_grpc.EntitlementServiceStub(channel)
        return stub.Decide(request("gold-1", explain=explain), timeout=TIMEOUT).decision


def refused(server: TierlineProcess, credentials: grpc.ChannelCredentials) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as error:
        decide(server, credentials)
    code: grpc.StatusCode = error.value.code()
    return code


def metrics_context(pki: Pki, client: KeyPair | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca_file))
    if client is not None:
        context.load_cert_chain(client.cert, client.key)
    return context


def test_a_plaintext_client_gets_nowhere(server: TierlineProcess) -> None:
    with grpc.insecure_channel(server.target) as channel:
        stub = entitlement_pb2_grpc.EntitlementServiceStub(channel)
        with pytest.raises(grpc.RpcError) as error:
            stub.Decide(request(), timeout=TIMEOUT)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_client_without_a_certificate_is_refused_in_the_handshake(
    server: TierlineProcess, pki: Pki
) -> None:
    token = tls_credentials(pki.ca_file, token=TOKENS["support-lead"])

    assert refused(server, token) == grpc.StatusCode.UNAVAILABLE


def test_a_certificate_from_another_ca_is_refused_in_the_handshake(
    server: TierlineProcess, pki: Pki, tmp_path: Path
) -> None:
    stranger = Pki(tmp_path / "other", name="other").client("checkout")  # the same subject

    assert refused(server, tls_credentials(pki.ca_file, stranger)) == grpc.StatusCode.UNAVAILABLE


def test_a_client_certificate_names_its_caller(
    server: TierlineProcess, pki: Pki, checkout: KeyPair
) -> None:
    decision = decide(server, tls_credentials(pki.ca_file, checkout))
    assert decision.tier == "gold"

    with pytest.raises(grpc.RpcError) as denied:
        decide(server, tls_credentials(pki.ca_file, checkout), explain=True)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "caller checkout may not ask for explanations" in denied.value.details()


def test_a_certificate_of_no_known_caller_is_unauthenticated(
    server: TierlineProcess, pki: Pki
) -> None:
    nobody = pki.client("nobody")

    assert refused(server, tls_credentials(pki.ca_file, nobody)) == (
        grpc.StatusCode.UNAUTHENTICATED
    )


def test_a_token_names_the_caller_whatever_the_certificate(
    server: TierlineProcess, pki: Pki, checkout: KeyPair
) -> None:
    lead = tls_credentials(pki.ca_file, checkout, token=TOKENS["support-lead"])

    assert decide(server, lead, explain=True).explanation.features["tier"] == "gold"


def test_metrics_are_served_over_the_same_mutual_tls(
    server: TierlineProcess, pki: Pki, checkout: KeyPair
) -> None:
    samples = scrape(server.metrics_port, metrics_context(pki, checkout))
    assert (
        "tierline_auth_refusals_total",
        frozenset({("method", "Decide"), ("reason", "no_credentials")}),
    ) in samples

    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
        scrape(server.metrics_port, metrics_context(pki, None))
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=TIMEOUT)


def test_refused_handshakes_never_reach_the_call_guard(
    server: TierlineProcess, pki: Pki, checkout: KeyPair
) -> None:
    context = metrics_context(pki, checkout)

    def refusals() -> float:
        return metric(scrape(server.metrics_port, context), "tierline_auth_refusals_total")

    before = refusals()
    refused(server, tls_credentials(pki.ca_file, token=TOKENS["call-center"]))

    assert refusals() == before


@pytest.mark.parametrize(
    ("metrics_listen", "reachable", "unreachable"),
    [(":{port}", "127.0.0.1", "127.0.0.2"), ("127.0.0.2:{port}", "127.0.0.2", "127.0.0.1")],
)
def test_metrics_listen_where_they_are_told(
    start_server: ServerFactory,
    redis_url: str,
    metrics_listen: str,
    reachable: str,
    unreachable: str,
) -> None:
    port = free_port()
    start_server(redis_url, extra_args=["--metrics-listen", metrics_listen.format(port=port)])

    with urllib.request.urlopen(f"http://{reachable}:{port}/metrics", timeout=TIMEOUT) as answer:
        assert answer.status == 200
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((unreachable, port), timeout=TIMEOUT).close()


def presented(port: int, pki: Pki, *, alpn: str | None = None) -> bytes:
    """The certificate the server on ``port`` presents to a new TLS connection (DER)."""
    context = ssl.create_default_context(cafile=str(pki.ca_file))
    if alpn:
        context.set_alpn_protocols([alpn])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def der_of(pair: KeyPair) -> bytes:
    """The DER of a pair's (first) certificate."""
    return ssl.PEM_cert_to_DER_cert(pair.cert.read_text())


def test_a_certificate_rotated_in_place_serves_new_handshakes_without_a_restart(
    start_server: ServerFactory, redis_url: str, pki: Pki, tmp_path: Path
) -> None:
    first, second = pki.server("first"), pki.server("second")
    live = KeyPair(tmp_path / "tls.crt", tmp_path / "tls.key")
    for source, target in ((first.cert, live.cert), (first.key, live.key)):
        shutil.copyfile(source, target)
    server = start_server(
        redis_url,
        extra_args=[*server_tls_args(live), "--metrics-tls"],
        credentials=tls_credentials(pki.ca_file),
    )
    assert presented(server.port, pki, alpn="h2") == der_of(first)
    assert presented(server.metrics_port, pki) == der_of(first)
    pid = server.pid

    # As a Kubernetes Secret volume does it: new files, then one rename over the old ones.
    staged = KeyPair(tmp_path / "new.crt", tmp_path / "new.key")
    shutil.copyfile(second.key, staged.key)
    shutil.copyfile(second.cert, staged.cert)
    staged.key.replace(live.key)
    staged.cert.replace(live.cert)

    wait_for(lambda: presented(server.port, pki, alpn="h2") == der_of(second), what="gRPC")
    wait_for(lambda: presented(server.metrics_port, pki) == der_of(second), what="/metrics")
    assert server.health() == SERVING
    assert server.pid == pid
    assert server.process is not None
    assert server.process.poll() is None


def test_decide_and_health_from_the_command_line_over_mutual_tls_with_a_token(
    server: TierlineProcess, pki: Pki, checkout: KeyPair, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKENS["support-lead"] + "\n")
    tls = ["--target", f"localhost:{server.port}", "--tls-ca", str(pki.ca_file)]
    client = ["--client-cert", str(checkout.cert), "--client-key", str(checkout.key)]

    decided = tierline(
        "decide", "gold-1", "--channel", "phone", "--explain", "--json", *tls, *client,
        "--token-file", str(token_file),
    )  # fmt: skip
    healthy = tierline("health", *tls, *client)
    refused = tierline("health", *tls)  # no client certificate: no handshake

    assert decided.returncode == 0, decided.stderr
    assert '"tier": "gold"' in decided.stdout
    assert '"explanation"' in decided.stdout
    assert (healthy.returncode, healthy.stdout.strip()) == (0, f"localhost:{server.port}: SERVING")
    assert refused.returncode == 1
    assert "no answer: UNAVAILABLE" in refused.stderr


def test_decide_says_why_a_call_was_refused(
    server: TierlineProcess, pki: Pki, checkout: KeyPair
) -> None:
    result = tierline(
        "decide", "gold-1", "--channel", "phone", "--explain", "--target",
        f"localhost:{server.port}", "--tls-ca", str(pki.ca_file),
        "--client-cert", str(checkout.cert), "--client-key", str(checkout.key),
    )  # fmt: skip

    assert result.returncode == 1
    assert "PERMISSION_DENIED: caller checkout may not ask for explanations" in result.stderr


def test_a_token_is_never_sent_without_tls(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKENS["call-center"])

    result = tierline("decide", "gold-1", "--channel", "phone", "--token-file", str(token_file))

    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: --token-file needs TLS (--tls, or --tls-ca): a token must not cross the network "
        "in clear text"
    )


def test_a_plaintext_listener_answers_health_only_for_probes_that_cannot_speak_tls(
    start_server: ServerFactory, redis_url: str, pki: Pki
) -> None:
    port = free_port()
    start_server(
        redis_url,
        extra_args=[
            *server_tls_args(pki.server(), pki.ca_file),
            "--health-listen",
            f"127.0.0.1:{port}",
        ],
        credentials=tls_credentials(pki.ca_file, pki.client("probe")),
    )

    probe = tierline(
        "health", "--target", f"127.0.0.1:{port}", "--service", "tierline.v1.EntitlementService"
    )
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = entitlement_pb2_grpc.EntitlementServiceStub(channel)
        with pytest.raises(grpc.RpcError) as decide_there:
            stub.Decide(request(), timeout=TIMEOUT)

    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip().endswith("SERVING")
    assert decide_there.value.code() == grpc.StatusCode.UNIMPLEMENTED
