"""The client's TLS, mutual TLS and token options end to end against a real `tierline serve` (with
a callers file, certificates made by trustme): calls that get through, auth failures that raise
typed errors and never fall back to the baseline, and a server certificate rotated while the
client is connected."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from client_support import seed
from support.security import (
    CALLERS,
    TOKENS,
    WRONG_TOKEN,
    KeyPair,
    Pki,
    server_tls_args,
    tls_credentials,
    write_callers,
)
from support.tierline_process import TierlineProcess
from support.waiting import wait_for
from tierline import (
    AsyncEntitlementClient,
    Baseline,
    EntitlementClient,
    PermissionDenied,
    ServiceUnavailable,
    TlsConfig,
    Unauthenticated,
)

pytestmark = pytest.mark.integration

TIMEOUT = 5.0
"""Deadline of each call: generous (a loaded machine), the point is what comes back."""
CONNECTIONS = 2
"""The rotation test's client connections, each opened before the certificate changes."""


@pytest.fixture(scope="module")
def call_center(pki: Pki) -> KeyPair:
    """A client certificate (a caller by its subject: decide only)."""
    return pki.client("call-center-desk")


@pytest.fixture(scope="module")
def callers_file(tmp_path_factory: pytest.TempPathFactory, call_center: KeyPair) -> Path:
    return write_callers(
        tmp_path_factory.mktemp("callers") / "callers.yaml",
        {**CALLERS, "desk": ("decide",)},
        subjects={"desk": call_center.subject},
    )


@pytest.fixture(scope="module")
def mtls_server(
    _session_redis: object, pki: Pki, call_center: KeyPair, callers_file: Path
) -> Iterator[TierlineProcess]:
    """Mutual TLS and the callers file."""
    server = TierlineProcess(
        _session_redis.url,  # type: ignore[attr-defined]
        extra_args=server_tls_args(pki.server(), pki.ca_file),
        auth_file=callers_file,
        credentials=tls_credentials(pki.ca_file, call_center),
    ).start()
    yield server
    server.stop()


@pytest.fixture
def mtls(mtls_server: TierlineProcess, redis_url: str) -> TierlineProcess:
    seed(redis_url)
    return mtls_server


def mtls_config(pki: Pki, client: KeyPair, server_name: str | None = None) -> TlsConfig:
    return TlsConfig.from_files(pki.ca_file, client.cert, client.key, server_name=server_name)


def test_mutual_tls_and_a_token(mtls: TierlineProcess, pki: Pki, call_center: KeyPair) -> None:
    target = f"localhost:{mtls.port}"
    tls = mtls_config(pki, call_center)
    with EntitlementClient(
        target, tls=tls, token=TOKENS["support-lead"], timeout=TIMEOUT
    ) as client:
        assert client.policy().version == "2026.11.1"
        decision = client.decide("gold-1", "phone", intent="cancel", explain=True)

    assert not decision.is_fallback
    assert decision.tier == "gold"
    assert decision.explanation is not None  # support-lead may have explanations


def test_the_client_certificate_alone_identifies_the_caller(
    mtls: TierlineProcess, pki: Pki, call_center: KeyPair
) -> None:
    with EntitlementClient(
        f"localhost:{mtls.port}", tls=mtls_config(pki, call_center), timeout=TIMEOUT
    ) as client:
        assert client.decide("platinum-1", "chat").tier == "platinum"
        with pytest.raises(PermissionDenied, match="caller desk may not ask for explanations"):
            client.decide("platinum-1", "chat", explain=True)


def test_async_mutual_tls_and_token(mtls: TierlineProcess, pki: Pki, call_center: KeyPair) -> None:
    tls = TlsConfig(
        root_certificates=pki.ca_pem,
        certificate_chain=call_center.cert.read_bytes(),
        private_key=call_center.key.read_bytes(),
    )

    async def scenario() -> None:
        async with AsyncEntitlementClient(
            f"localhost:{mtls.port}", tls=tls, token=TOKENS["call-center"], timeout=TIMEOUT
        ) as client:
            decision = await client.decide("gold-1", "chat")
            assert (decision.tier, decision.is_fallback) == ("gold", False)
            with pytest.raises(PermissionDenied):
                await client.decide("gold-1", "chat", explain=True)

    asyncio.run(scenario())


def test_server_name_override_for_an_address_by_ip(pki: Pki, redis_url: str) -> None:
    named = pki.server("named", hosts=("tierline.internal",))  # no IP address in it
    server = TierlineProcess(
        redis_url,
        extra_args=server_tls_args(named),
        credentials=tls_credentials(pki.ca_file),
        server_name="tierline.internal",
    ).start()
    try:
        tls = TlsConfig.from_files(pki.ca_file, server_name="tierline.internal")
        with EntitlementClient(f"127.0.0.1:{server.port}", tls=tls, timeout=TIMEOUT) as client:
            assert client.policy().version == "2026.11.1"
        with (
            EntitlementClient(
                f"127.0.0.1:{server.port}", tls=TlsConfig.from_files(pki.ca_file), timeout=TIMEOUT
            ) as client,
            pytest.raises(ServiceUnavailable),
        ):
            client.policy()  # the certificate does not name 127.0.0.1
    finally:
        server.stop()


def test_an_untrusted_server_is_not_a_silent_fallback(
    mtls: TierlineProcess, call_center: KeyPair
) -> None:
    untrusting = TlsConfig(  # the system's roots do not trust the test CA
        certificate_chain=call_center.cert.read_bytes(), private_key=call_center.key.read_bytes()
    )
    with (
        EntitlementClient(
            f"localhost:{mtls.port}", tls=untrusting, token=TOKENS["call-center"], timeout=TIMEOUT
        ) as client,
        pytest.raises(ServiceUnavailable),
    ):
        client.policy()


@pytest.mark.parametrize("token", [WRONG_TOKEN, TOKENS["release"]])
def test_an_auth_failure_raises_even_with_a_baseline_to_fall_back_on(
    mtls: TierlineProcess, pki: Pki, call_center: KeyPair, baseline: Baseline, token: str
) -> None:
    expected = Unauthenticated if token == WRONG_TOKEN else PermissionDenied
    with EntitlementClient(
        f"localhost:{mtls.port}",
        tls=mtls_config(pki, call_center),
        token=token,
        baseline=baseline,
        timeout=TIMEOUT,
    ) as client:
        with pytest.raises(expected):
            client.decide("gold-1", "phone")
        with pytest.raises(expected):
            client.decide_batch([{"customer_id": "gold-1", "channel": "web"}])
        with pytest.raises(expected):
            client.policy()


def test_a_token_without_tls_only_when_allowed(
    redis_url: str, callers_file: Path, baseline: Baseline
) -> None:
    seed(redis_url)
    server = TierlineProcess(redis_url, auth_file=callers_file).start()
    try:
        with pytest.raises(ValueError, match="needs TLS"):
            EntitlementClient(server.target, token=TOKENS["call-center"])
        with EntitlementClient(
            server.target, token=TOKENS["call-center"], insecure_token=True, timeout=TIMEOUT
        ) as client:
            assert client.decide("gold-1", "web").tier == "gold"
        with (
            EntitlementClient(server.target, baseline=baseline, timeout=TIMEOUT) as client,
            pytest.raises(Unauthenticated, match="no credentials"),
        ):
            client.decide("gold-1", "web")  # no token at all: raised, never the baseline
    finally:
        server.stop()


def test_a_server_certificate_rotated_while_the_client_is_connected(
    redis_url: str, callers_file: Path, tmp_path: Path
) -> None:
    """The server moves to a certificate of another CA. A client that trusts only the old CA
    keeps deciding on its open connection (were it dropped, no new handshake could succeed),
    while new handshakes get the new certificate."""
    seed(redis_url)
    old, new = Pki(tmp_path / "old", name="old"), Pki(tmp_path / "new", name="new")
    live = KeyPair(tmp_path / "tls.crt", tmp_path / "tls.key")
    install(old.server(), live)
    server = TierlineProcess(
        redis_url,
        extra_args=server_tls_args(live),
        auth_file=callers_file,
        credentials=tls_credentials(old.ca_file),
    ).start()
    token = TOKENS["call-center"]
    try:
        with EntitlementClient(
            f"localhost:{server.port}",
            tls=TlsConfig.from_files(old.ca_file),
            token=token,
            timeout=TIMEOUT,
            connections=CONNECTIONS,
        ) as connected:
            for _ in range(2 * CONNECTIONS):  # calls go to each connection in turn: open them all
                assert not connected.decide("gold-1", "phone").is_fallback

            install(new.server(), live)
            wait_for(lambda: answers(server.port, new, token), what="the new certificate")

            for _ in range(20):
                decision = connected.decide("gold-1", "phone")
                assert (decision.tier, decision.is_fallback) == ("gold", False)
        assert not answers(server.port, old, token)  # a new handshake meets the new one
    finally:
        server.stop()


def install(pair: KeyPair, live: KeyPair) -> None:
    """Put ``pair`` in place of the live files, each by one rename (as cert-manager's Secret
    volume does)."""
    for source, target in ((pair.key, live.key), (pair.cert, live.cert)):
        staged = target.with_suffix(".new")
        shutil.copyfile(source, staged)
        staged.replace(target)


def answers(port: int, pki: Pki, token: str) -> bool:
    """Whether a new client trusting only ``pki``'s CA gets the policy."""
    with EntitlementClient(
        f"localhost:{port}", tls=TlsConfig.from_files(pki.ca_file), token=token, timeout=TIMEOUT
    ) as client:
        try:
            client.policy(timeout=2.0)
        except ServiceUnavailable:
            return False
    return True
