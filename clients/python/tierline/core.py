"""What the sync and asyncio clients share: settings, and every step that is not I/O."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from importlib import metadata
from typing import Any

import grpc

from tierline import connection, messages
from tierline.connection import Keepalive, RetryPolicy, TlsConfig
from tierline.errors import FALLBACK_CODES, InvalidRequest, ServiceUnavailable, from_rpc_error
from tierline.fallback import FallbackRecorder, PolicyCache, fallback_decision
from tierline.interaction import DecisionRequest
from tierline.model import Baseline, BatchResult, Decision, PolicyInfo

DEFAULT_TIMEOUT_SECONDS = 0.05
"""Deadline of ``decide``: a live call cannot wait longer for its routing."""
DEFAULT_BATCH_TIMEOUT_SECONDS = 0.5
"""Deadline of ``decide_batch`` (up to 1000 decisions; a checkout, not a ringing phone)."""
DEFAULT_POLICY_TIMEOUT_SECONDS = 1.0
"""Deadline of ``policy()`` and of the background policy fetch."""

BatchItem = DecisionRequest | Mapping[str, Any]
"""A ``decide_batch`` item: a DecisionRequest, or a mapping of ``decide``'s arguments."""


def _version() -> str:
    try:
        return metadata.version("tierline")
    except metadata.PackageNotFoundError:
        return ""


def _positive(name: str, value: float) -> float:
    if not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
    return value


class ClientCore:
    """Settings, the cached policy and the fallback, for either client."""

    def __init__(
        self,
        target: str,
        *,
        timeout: float,
        batch_timeout: float,
        policy_timeout: float,
        baseline: Baseline | None,
        policy_refresh_interval: float,
        tls: TlsConfig | None,
        token: str | None,
        insecure_token: bool,
        retry: RetryPolicy | None,
        keepalive: Keepalive | None,
        channel_options: Mapping[str, Any] | None,
    ) -> None:
        if not target:
            raise ValueError(
                "target is required, e.g. '127.0.0.1:50051' or 'dns:///tierline:50051'"
            )
        self.target = target
        self.timeout = _positive("timeout", timeout)
        self.batch_timeout = _positive("batch_timeout", batch_timeout)
        self.policy_timeout = _positive("policy_timeout", policy_timeout)
        self.options = connection.channel_options(
            retry, keepalive, tls, dict(channel_options or {}), _version()
        )
        self.credentials = connection.channel_credentials(tls, token)
        self.metadata = connection.call_metadata(tls, token, insecure_token) or None
        self.policy_cache = PolicyCache(policy_refresh_interval, baseline)
        self.fallbacks = FallbackRecorder()

    @staticmethod
    def deadline(timeout: float | None, default: float) -> float:
        """The call's deadline in seconds: its own, else the client's default."""
        return default if timeout is None else _positive("timeout", timeout)

    def decided(self, message: Any, started: float) -> Decision:
        """The service's decision, timed; notes its policy version."""
        self.fallbacks.answered()
        decision = messages.decision(message, time.perf_counter() - started)
        self.policy_cache.note_version(decision.policy_version)
        return decision

    def batch_decided(
        self, prepared: list[DecisionRequest | BatchResult], response: Any, started: float
    ) -> list[BatchResult]:
        """The service's batch results, merged with the items rejected before sending."""
        self.fallbacks.answered()
        answered = messages.batch_results(response, time.perf_counter() - started)
        for result in answered:
            if result.decision is not None:
                self.policy_cache.note_version(result.decision.policy_version)
                break
        return messages.merge_batch(prepared, answered)

    def fall_back(
        self, error: grpc.RpcError, requests: list[DecisionRequest], started: float
    ) -> list[Decision]:
        """Baseline decisions for a call that failed slow or unreachable; else the typed error."""
        code = error.code()
        if code not in FALLBACK_CODES:
            raise from_rpc_error(error) from error
        known = self.policy_cache.baseline()
        if known is None:
            raise ServiceUnavailable(
                f"Tierline at {self.target} did not answer ({code.name}: {error.details()}) and"
                " the client has no baseline yet: it never reached the service and was given no"
                " baseline= to fall back on",
                code,
            ) from error
        baseline, version = known
        latency = time.perf_counter() - started
        self.fallbacks.fell_back(code.name, str(error.details()), len(requests))
        return [fallback_decision(request, baseline, version, latency) for request in requests]

    def batch_fallback(
        self,
        prepared: list[DecisionRequest | BatchResult],
        error: grpc.RpcError,
        started: float,
    ) -> list[BatchResult]:
        """Baseline results for every sent item of a failed batch (or the typed error)."""
        sent = [item for item in prepared if isinstance(item, DecisionRequest)]
        decisions = self.fall_back(error, sent, started)
        return messages.merge_batch(prepared, [BatchResult(decision=d) for d in decisions])

    def policy_fetched(self, message: Any) -> PolicyInfo:
        """Keep and return a GetPolicyResponse's policy."""
        policy = messages.policy_info(message.policy)
        self.policy_cache.store(policy)
        return policy


def prepare_batch(items: Iterable[BatchItem]) -> list[DecisionRequest | BatchResult]:
    """Each item as a request to send, or as the error result of an item the client rejects."""
    prepared: list[DecisionRequest | BatchResult] = []
    for item in items:
        try:
            prepared.append(DecisionRequest.of(item))
        except InvalidRequest as error:
            prepared.append(BatchResult(error=error))
    return prepared
