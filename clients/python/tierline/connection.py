"""How the client talks to Tierline: gRPC service config, channel options and credentials.

Retries and load balancing are gRPC's own, configured through the service config (JSON) rather
than written as loops: gRPC retries UNAVAILABLE (a server refusing calls as it drains) and
CANCELLED (a call a stopping server received but never started: every Tierline call is a read,
so a retry is safe) with jittered exponential backoff, within the
call's deadline, throttled when most calls fail (so an outage does not double the load), and
spreads calls over every address a ``dns:///`` or ``ipv4:`` target resolves to (round_robin).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

ENTITLEMENT_SERVICE = "tierline.v1.EntitlementService"
LOAD_BALANCING_POLICY = "round_robin"
USER_AGENT = "tierline-python"

INITIAL_RECONNECT_BACKOFF_MS = 20
MAX_RECONNECT_BACKOFF_MS = 2_000
"""gRPC's defaults are 1 s growing to 120 s: after an outage a client could keep falling back
for two minutes after the service is back. Tierline is an internal service a few hops away:
reconnect sooner, and first of all within a call's deadline (50 ms), so that a connection a
server closed as it rolled its workers onto a new policy is replaced while the call waits.
(``grpc.min_reconnect_backoff_ms`` is left alone: despite its name, gRPC uses it as the minimum
time a connection attempt may take, 20 s by default.)"""


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of UNAVAILABLE and CANCELLED by gRPC, all within the call's deadline.

    The n-th retry waits a random time up to ``min(initial_backoff * multiplier**(n-1),
    max_backoff)`` seconds. gRPC caps ``max_attempts`` (first call included) at 5.
    """

    max_attempts: int = 3
    initial_backoff: float = 0.005
    max_backoff: float = 0.05
    backoff_multiplier: float = 2.0
    throttle_max_tokens: int = 10
    """Retry throttling: each failure costs a token, each success returns ``throttle_ratio``;
    below half the tokens gRPC stops retrying until calls succeed again."""
    throttle_ratio: float = 0.1

    def __post_init__(self) -> None:
        if not 2 <= self.max_attempts <= 5:
            raise ValueError("RetryPolicy.max_attempts must be 2-5 (pass retry=None for none)")
        if self.initial_backoff <= 0 or self.max_backoff <= 0 or self.backoff_multiplier <= 0:
            raise ValueError("RetryPolicy backoffs and multiplier must be positive")


@dataclass(frozen=True)
class Keepalive:
    """HTTP/2 keepalive pings: find a dead connection while idle, not on the next call.

    The service must allow pings this often (see clients/README.md).
    """

    time: float = 30.0
    """Seconds between pings."""
    timeout: float = 5.0
    """Seconds to wait for a ping's answer before the connection is considered dead."""
    permit_without_calls: bool = True
    """Ping while no call is in flight, which is when a call-center client idles."""


@dataclass(frozen=True)
class TlsConfig:
    """TLS to the service: trusted roots, and a client certificate for mutual TLS.

    All PEM bytes; ``None`` for ``root_certificates`` uses the system's trust store.
    """

    root_certificates: bytes | None = None
    certificate_chain: bytes | None = None
    """The client certificate (mutual TLS), with ``private_key``."""
    private_key: bytes | None = None
    server_name: str | None = None
    """Expect this name in the server's certificate instead of the target's host (tests,
    addresses by IP)."""

    def __post_init__(self) -> None:
        if (self.certificate_chain is None) != (self.private_key is None):
            raise ValueError("a client certificate needs both certificate_chain and private_key")

    @classmethod
    def from_files(
        cls,
        ca: str | Path | None = None,
        cert: str | Path | None = None,
        key: str | Path | None = None,
        server_name: str | None = None,
    ) -> TlsConfig:
        """TLS settings from PEM files: the CA bundle, and the client certificate and key."""

        def read(path: str | Path | None) -> bytes | None:
            return Path(path).read_bytes() if path is not None else None

        return cls(read(ca), read(cert), read(key), server_name)


def _duration(seconds: float) -> str:
    """A protobuf Duration in JSON: ``0.005s``."""
    return f"{seconds:.9f}".rstrip("0").rstrip(".") + "s"


def service_config(retry: RetryPolicy | None = None) -> dict[str, Any]:
    """The gRPC service config: round_robin over all addresses, and the retry policy."""
    config: dict[str, Any] = {"loadBalancingConfig": [{LOAD_BALANCING_POLICY: {}}]}
    # Wait for a connection, within the call's deadline, rather than fail at once while one is
    # being made again: a server rolling its workers closes connections; a server that is down
    # costs the deadline, after which the client answers with the baseline.
    method: dict[str, Any] = {"name": [{"service": ENTITLEMENT_SERVICE}], "waitForReady": True}
    config["methodConfig"] = [method]
    if retry is not None:
        method["retryPolicy"] = {
            "maxAttempts": retry.max_attempts,
            "initialBackoff": _duration(retry.initial_backoff),
            "maxBackoff": _duration(retry.max_backoff),
            "backoffMultiplier": retry.backoff_multiplier,
            "retryableStatusCodes": ["UNAVAILABLE", "CANCELLED"],
        }
        config["retryThrottling"] = {
            "maxTokens": retry.throttle_max_tokens,
            "tokenRatio": retry.throttle_ratio,
        }
    return config


def channel_options(
    retry: RetryPolicy | None,
    keepalive: Keepalive | None,
    tls: TlsConfig | None = None,
    extra: dict[str, Any] | None = None,
    version: str = "",
) -> list[tuple[str, Any]]:
    """gRPC channel arguments; ``extra`` (raw gRPC arguments) overrides any of them."""
    options: dict[str, Any] = {
        "grpc.service_config": json.dumps(service_config(retry)),
        "grpc.enable_retries": 1 if retry is not None else 0,
        "grpc.initial_reconnect_backoff_ms": INITIAL_RECONNECT_BACKOFF_MS,
        "grpc.max_reconnect_backoff_ms": MAX_RECONNECT_BACKOFF_MS,
        "grpc.primary_user_agent": f"{USER_AGENT}/{version}" if version else USER_AGENT,
    }
    if keepalive is not None:
        options.update(
            {
                "grpc.keepalive_time_ms": round(keepalive.time * 1000),
                "grpc.keepalive_timeout_ms": round(keepalive.timeout * 1000),
                "grpc.keepalive_permit_without_calls": int(keepalive.permit_without_calls),
                "grpc.http2.max_pings_without_data": 0,  # keep pinging an idle connection
            }
        )
    if tls is not None and tls.server_name:
        options["grpc.ssl_target_name_override"] = tls.server_name
    options.update(extra or {})
    return list(options.items())


def channel_credentials(tls: TlsConfig | None, token: str | None) -> Any:
    """Credentials for a secure channel (TLS, and the bearer token per call), or None."""
    if tls is None:
        return None
    credentials = grpc.ssl_channel_credentials(
        root_certificates=tls.root_certificates,
        private_key=tls.private_key,
        certificate_chain=tls.certificate_chain,
    )
    if token:
        credentials = grpc.composite_channel_credentials(
            credentials, grpc.access_token_call_credentials(token)
        )
    return credentials


def call_metadata(
    tls: TlsConfig | None, token: str | None, insecure_token: bool
) -> tuple[tuple[str, str], ...]:
    """Metadata sent with every call: the bearer token when there is no TLS to carry it.

    gRPC sends call credentials over TLS only. Without TLS the token goes in plain metadata,
    which is allowed only with ``insecure_token=True`` (e.g. a sidecar terminates TLS).
    """
    if not token or tls is not None:
        return ()
    if not insecure_token:
        raise ValueError(
            "a bearer token needs TLS (tls=TlsConfig(...)); pass insecure_token=True to send it"
            " in clear text, e.g. to a local sidecar that terminates TLS"
        )
    return (("authorization", f"Bearer {token}"),)
