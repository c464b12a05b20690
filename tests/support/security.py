"""Credentials for tests: certificates made with trustme (in the test's own directory, never
committed), callers files with known tokens, and gRPC channels that present them."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import trustme
import yaml

TOKENS = {
    "call-center": "test-token-call-center-5f0c2a9d41b7e6",
    "support-lead": "test-token-support-lead-8e13d7c05a92fb",
    "release": "test-token-release-c4a1f96e2d0b83",
}
"""A token for each caller of CALLERS (long, as real tokens are)."""
CALLERS: Mapping[str, tuple[str, ...]] = {
    "call-center": ("decide",),
    "support-lead": ("decide", "explain"),
    "release": ("admin",),
}
"""The callers of a test callers file, and their permissions."""
WRONG_TOKEN = "test-token-nobody-0d9c8b7a6f5e4d"


def token_sha256(token: str) -> str:
    """What a callers file holds for a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def write_callers(
    path: Path,
    callers: Mapping[str, Iterable[str]] = CALLERS,
    *,
    tokens: Mapping[str, str | list[str]] = TOKENS,
    subjects: Mapping[str, str] | None = None,
) -> Path:
    """A callers file: each caller with its permissions, its tokens' hashes and its client
    certificate subject (``subjects``, by caller)."""
    entries = []
    for name, permissions in callers.items():
        entry: dict[str, Any] = {"name": name, "permissions": list(permissions)}
        given = tokens.get(name, [])
        given = [given] if isinstance(given, str) else given
        if given:
            entry["token_sha256"] = [token_sha256(token) for token in given]
        if subjects and name in subjects:
            entry["certificate_subject"] = subjects[name]
        entries.append(entry)
    path.write_text(yaml.safe_dump({"callers": entries}, sort_keys=False))
    return path


@dataclass(frozen=True)
class KeyPair:
    """A certificate (chain) and its private key, as PEM files."""

    cert: Path
    key: Path
    subject: str = ""
    """A client certificate's subject, as the server reports it (RFC 2253)."""


class Pki:
    """A test CA and the certificates it issues, as files in ``directory``."""

    def __init__(self, directory: Path, name: str = "ca") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.ca = trustme.CA(organization_name=f"Tierline tests {name}")
        self.ca_file = directory / f"{name}.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self._name = name
        self._issued = itertools.count(1)  # each certificate in files of its own

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate, PEM."""
        return self.ca_file.read_bytes()

    def server(
        self, name: str = "server", hosts: tuple[str, ...] = ("localhost", "127.0.0.1")
    ) -> KeyPair:
        """A server certificate for ``hosts``."""
        return self._issue(name, self.ca.issue_cert(*hosts))

    def client(self, common_name: str) -> KeyPair:
        """A client certificate for ``common_name`` (its subject in ``subject``)."""
        issued = self.ca.issue_cert(
            common_name=common_name, organization_name="Shop", organization_unit_name="Tests"
        )
        subject = f"CN={common_name},OU=Tests,O=Shop"
        return self._issue(f"client-{common_name}", issued, subject)

    def _issue(self, name: str, issued: trustme.LeafCert, subject: str = "") -> KeyPair:
        stem = f"{self._name}-{name}-{next(self._issued)}"
        pair = KeyPair(self.directory / f"{stem}.pem", self.directory / f"{stem}.key", subject)
        pair.cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
        issued.private_key_pem.write_to_path(str(pair.key))
        return pair


def server_tls_args(pair: KeyPair, client_ca: Path | None = None) -> list[str]:
    """`tierline serve` flags for TLS with ``pair`` (mutual TLS with ``client_ca``)."""
    args = ["--tls-cert", str(pair.cert), "--tls-key", str(pair.key)]
    return args + (["--tls-client-ca", str(client_ca)] if client_ca else [])


def tls_credentials(
    ca_file: Path, client: KeyPair | None = None, token: str | None = None
) -> grpc.ChannelCredentials:
    """Channel credentials trusting ``ca_file``, with a client certificate and a token."""
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ca_file.read_bytes(),
        private_key=client.key.read_bytes() if client else None,
        certificate_chain=client.cert.read_bytes() if client else None,
    )
    if token:
        credentials = grpc.composite_channel_credentials(
            credentials, grpc.access_token_call_credentials(token)
        )
    return credentials


class _Authorization(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Sends ``authorization`` metadata with every call (a plaintext channel cannot carry call
    credentials)."""

    def __init__(self, value: str) -> None:
        self._value = value

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        metadata = [*(details.metadata or ()), ("authorization", self._value)]
        return continuation(details._replace(metadata=metadata), request)


def with_authorization(channel: grpc.Channel, value: str) -> grpc.Channel:
    """``channel``, sending ``authorization: value`` with every call."""
    return grpc.intercept_channel(channel, _Authorization(value))


def with_token(channel: grpc.Channel, token: str) -> grpc.Channel:
    """``channel``, sending ``authorization: Bearer token`` with every call."""
    return with_authorization(channel, f"Bearer {token}")
