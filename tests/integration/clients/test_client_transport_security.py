"""TLS, mutual TLS and bearer tokens reach the server as configured.

``tierline serve`` does not take TLS or tokens yet (the operations issue adds them), so a small
EntitlementService in this test, on a real gRPC server with real certificates, records what
arrives: the token, the client certificate's name.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from tierline import AsyncEntitlementClient, EntitlementClient, ServiceUnavailable, TlsConfig
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc as pb_grpc

pytestmark = pytest.mark.integration

TOKEN = "s3cret-token"


@dataclass
class Seen:
    """What the recording service saw, call by call."""

    authorization: list[str | None] = field(default_factory=list)
    client_names: list[str | None] = field(default_factory=list)


class RecordingService(pb_grpc.EntitlementServiceServicer):  # type: ignore[misc]
    """Answers GetPolicy and Decide, and records each call's credentials."""

    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    def _record(self, context: grpc.ServicerContext) -> None:
        self.seen.authorization.append(dict(context.invocation_metadata()).get("authorization"))
        names = context.auth_context().get("x509_common_name", [None])
        self.seen.client_names.append(names[0].decode() if names[0] else None)

    def GetPolicy(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        self._record(context)
        return pb.GetPolicyResponse(policy=pb.PolicyInfo(name="recording", version="1"))

    def Decide(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        self._record(context)
        return pb.DecideResponse(decision=pb.Decision(customer_id=request.customer_id, tier="x"))


@dataclass(frozen=True)
class Pki:
    """PEM files of a test CA, a server certificate for localhost and a client certificate."""

    directory: Path

    def pem(self, name: str) -> bytes:
        return (self.directory / name).read_bytes()


def openssl(directory: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not on PATH to make test certificates")
    directory = tmp_path_factory.mktemp("pki")
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl(directory, "req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=tierline-test-ca")  # fmt: skip
    (directory / "server.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name, extension in (("server", ["-extfile", "server.ext"]), ("client", [])):
        subject = "/CN=localhost" if name == "server" else "/CN=call-center"
        openssl(directory, "req", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", subject)  # fmt: skip
        openssl(directory, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem",
                "-CAkey", "ca.key", "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
                *extension)  # fmt: skip
    return Pki(directory)


def serve(credentials: grpc.ServerCredentials | None) -> tuple[grpc.Server, int, Seen]:
    seen = Seen()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_EntitlementServiceServicer_to_server(RecordingService(seen), server)
    if credentials is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    return server, port, seen


@pytest.fixture
def mtls_server(pki: Pki) -> Iterator[tuple[int, Seen]]:
    credentials = grpc.ssl_server_credentials(
        [(pki.pem("server.key"), pki.pem("server.pem"))],
        root_certificates=pki.pem("ca.pem"),
        require_client_auth=True,
    )
    server, port, seen = serve(credentials)
    yield port, seen
    server.stop(None)


@pytest.fixture
def plaintext_server() -> Iterator[tuple[int, Seen]]:
    server, port, seen = serve(None)
    yield port, seen
    server.stop(None)


def test_mutual_tls_and_token(pki: Pki, mtls_server: tuple[int, Seen]) -> None:
    port, seen = mtls_server
    tls = TlsConfig.from_files(
        ca=pki.directory / "ca.pem",
        cert=pki.directory / "client.pem",
        key=pki.directory / "client.key",
    )
    with EntitlementClient(f"localhost:{port}", tls=tls, token=TOKEN, timeout=2.0) as client:
        assert client.policy().name == "recording"
        assert client.decide("c1", "phone").tier == "x"
    assert seen.authorization[-2:] == [f"Bearer {TOKEN}"] * 2
    assert seen.client_names[-2:] == ["call-center"] * 2


def test_async_mutual_tls_and_token(pki: Pki, mtls_server: tuple[int, Seen]) -> None:
    port, seen = mtls_server
    tls = TlsConfig(
        root_certificates=pki.pem("ca.pem"),
        certificate_chain=pki.pem("client.pem"),
        private_key=pki.pem("client.key"),
    )

    async def scenario() -> None:
        async with AsyncEntitlementClient(
            f"localhost:{port}", tls=tls, token=TOKEN, timeout=2.0
        ) as client:
            assert (await client.decide("c1", "chat")).tier == "x"

    asyncio.run(scenario())
    assert seen.authorization[-1] == f"Bearer {TOKEN}"
    assert seen.client_names[-1] == "call-center"


def test_server_name_override_for_an_address_by_ip(pki: Pki, mtls_server: tuple[int, Seen]) -> None:
    port, _ = mtls_server
    tls = TlsConfig.from_files(
        pki.directory / "ca.pem", pki.directory / "client.pem", pki.directory / "client.key",
        server_name="localhost",
    )  # fmt: skip
    with EntitlementClient(f"127.0.0.1:{port}", tls=tls) as client:
        assert client.policy().version == "1"


def test_untrusted_server_is_not_a_silent_fallback(pki: Pki, mtls_server: tuple[int, Seen]) -> None:
    port, seen = mtls_server
    client = EntitlementClient(f"localhost:{port}", tls=TlsConfig(), token=TOKEN)
    with client, pytest.raises(ServiceUnavailable):
        client.policy()  # the system's roots do not trust the test CA
    assert seen.authorization == []  # and the token was never sent


def test_token_without_tls_only_when_allowed(plaintext_server: tuple[int, Seen]) -> None:
    port, seen = plaintext_server
    with pytest.raises(ValueError, match="needs TLS"):
        EntitlementClient(f"127.0.0.1:{port}", token=TOKEN)
    with EntitlementClient(f"127.0.0.1:{port}", token=TOKEN, insecure_token=True) as client:
        client.decide("c1", "web", timeout=2.0)  # and the policy fetch in the background
    assert seen.authorization
    assert set(seen.authorization) == {f"Bearer {TOKEN}"}
