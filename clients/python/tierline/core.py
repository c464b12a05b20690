"""What the sync and asyncio clients share: settings, and every step that is not I/O."""

from __future__ import annotations

import abc
import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from importlib import metadata
from typing import Any, TypeVar

import grpc

from tierline import connection, messages
from tierline.connection import Keepalive, RetryPolicy, TlsConfig
from tierline.errors import FALLBACK_CODES, InvalidRequest, ServiceUnavailable, from_rpc_error
from tierline.fallback import (
    DEFAULT_POLICY_REFRESH_SECONDS,
    FallbackRecorder,
    PolicyCache,
    fallback_decision,
)
from tierline.interaction import DecisionRequest
from tierline.model import Baseline, BatchResult, Decision, PolicyInfo
from tierline.v1 import entitlement_pb2_grpc as pb_grpc

DEFAULT_TIMEOUT_SECONDS = 0.05
"""Deadline of ``decide``: a live call cannot wait longer for its routing."""
DEFAULT_BATCH_TIMEOUT_SECONDS = 0.5
"""Deadline of ``decide_batch`` (up to 1000 decisions; a checkout, not a ringing phone)."""
DEFAULT_POLICY_TIMEOUT_SECONDS = 1.0
"""Deadline of ``policy()`` and of the background policy fetch."""
DEFAULT_CONNECTIONS = 4
"""Connections per address. A server spreads connections, not calls, over its worker processes
(one per CPU), so one connection would keep a whole client on one of them; with 4, the chance
that all land on the same one of two workers is 1 in 8."""

BatchItem = DecisionRequest | Mapping[str, Any]
"""A ``decide_batch`` item: a DecisionRequest, or a mapping of ``decide``'s arguments."""

ChannelT = TypeVar("ChannelT")


def _version() -> str:
    try:
        return metadata.version("tierline")
    except metadata.PackageNotFoundError:
        return ""


def _positive(name: str, value: float) -> float:
    if not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
    return value


def deadline(timeout: float | None, default: float) -> float:
    """A call's deadline in seconds: its own, else the client's default."""
    return default if timeout is None else _positive("timeout", timeout)


def prepare_batch(
    items: Iterable[BatchItem],
) -> tuple[list[DecisionRequest | BatchResult], list[DecisionRequest]]:
    """Each item as a request to send, or as the error result of an item the client rejects;
    and the requests to send, in order."""
    prepared: list[DecisionRequest | BatchResult] = []
    for item in items:
        try:
            prepared.append(DecisionRequest.of(item))
        except InvalidRequest as error:
            prepared.append(BatchResult(error=error))
    return prepared, [item for item in prepared if isinstance(item, DecisionRequest)]


class ClientBase(abc.ABC):
    """The settings, the cached policy and the fallback of either client, its properties, and
    every step of a call that is not I/O.

    A subclass opens the channel (``_connect``), makes the calls (blocking or awaited) and
    fetches the policy in the background when it is due (``_refresh_policy_if_due``).
    """

    _channels: list[Any]
    _stubs: Iterator[pb_grpc.EntitlementServiceStub]

    def __init__(
        self,
        target: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        batch_timeout: float = DEFAULT_BATCH_TIMEOUT_SECONDS,
        policy_timeout: float = DEFAULT_POLICY_TIMEOUT_SECONDS,
        baseline: Baseline | None = None,
        policy_refresh_interval: float = DEFAULT_POLICY_REFRESH_SECONDS,
        tls: TlsConfig | None = None,
        token: str | None = None,
        insecure_token: bool = False,
        retry: RetryPolicy | None = RetryPolicy(),  # noqa: B008 - frozen, shared safely
        keepalive: Keepalive | None = Keepalive(),  # noqa: B008 - frozen, shared safely
        channel_options: Mapping[str, Any] | None = None,
        connections: int = DEFAULT_CONNECTIONS,
    ) -> None:
        if not target:
            raise ValueError(
                "target is required, e.g. '127.0.0.1:50051' or 'dns:///tierline:50051'"
            )
        self._target = target
        self._timeout = _positive("timeout", timeout)
        self._batch_timeout = _positive("batch_timeout", batch_timeout)
        self._policy_timeout = _positive("policy_timeout", policy_timeout)
        if connections < 1:
            raise ValueError(f"connections must be at least 1, not {connections!r}")
        self._connections = connections
        self._options = connection.channel_options(
            retry, keepalive, tls, dict(channel_options or {}), _version()
        )
        self._credentials = connection.channel_credentials(tls, token)
        self._metadata = connection.call_metadata(tls, token, insecure_token) or None
        self._policy_cache = PolicyCache(policy_refresh_interval, baseline)
        self._fallbacks = FallbackRecorder()
        self._connect()

    @property
    def target(self) -> str:
        """The gRPC target the client calls."""
        return self._target

    @property
    def fallback_count(self) -> int:
        """How many baseline (``client_fallback``) decisions the client has returned."""
        return self._fallbacks.count

    @property
    def cached_policy(self) -> PolicyInfo | None:
        """The policy last fetched from the service (its baseline is the fallback), if any."""
        return self._policy_cache.policy

    @abc.abstractmethod
    def _connect(self) -> None:
        """Open the channels (with :meth:`_open_channels`)."""

    @abc.abstractmethod
    def _refresh_policy_if_due(self) -> None:
        """Fetch the policy in the background when it is due."""

    def _open_channels(
        self, insecure: Callable[..., ChannelT], secure: Callable[..., ChannelT]
    ) -> None:
        """``connections`` channels to the target from grpc's (or grpc.aio's) insecure or secure
        factory, each with a connection of its own, and a stub on each, used in turn."""
        options = self._options
        if self._connections > 1:
            # Channels with the same arguments would share one connection (gRPC's global pool).
            options = [*options, ("grpc.use_local_subchannel_pool", 1)]
        if self._credentials is None:
            channels = [insecure(self._target, options=options) for _ in range(self._connections)]
        else:
            channels = [
                secure(self._target, self._credentials, options=options)
                for _ in range(self._connections)
            ]
        self._channels = channels
        self._stubs = itertools.cycle([pb_grpc.EntitlementServiceStub(c) for c in channels])

    @property
    def _stub(self) -> pb_grpc.EntitlementServiceStub:
        """The stub of the next connection."""
        return next(self._stubs)

    def _call_options(self, timeout: float | None, default: float) -> dict[str, Any]:
        """The ``timeout`` and ``metadata`` arguments of a call."""
        return {"timeout": deadline(timeout, default), "metadata": self._metadata}

    def _start(self) -> float:
        """Begin a decision call: refresh the policy if it is due; the time the call starts."""
        self._refresh_policy_if_due()
        return time.perf_counter()

    def _decided(self, message: Any, started: float) -> Decision:
        """The service's decision, timed; notes its policy version."""
        self._fallbacks.answered()
        decision = messages.decision(message, time.perf_counter() - started)
        self._policy_cache.note_version(decision.policy_version)
        return decision

    def _batch_decided(
        self, prepared: list[DecisionRequest | BatchResult], response: Any, started: float
    ) -> list[BatchResult]:
        """The service's batch results, merged with the items rejected before sending."""
        self._fallbacks.answered()
        answered = messages.batch_results(response, time.perf_counter() - started)
        for result in answered:
            if result.decision is not None:
                self._policy_cache.note_version(result.decision.policy_version)
                break
        return messages.merge_batch(prepared, answered)

    def _fall_back(
        self, error: grpc.RpcError, requests: list[DecisionRequest], started: float
    ) -> list[Decision]:
        """Baseline decisions for a call that failed slow or unreachable; else the typed error."""
        code = error.code()
        if code not in FALLBACK_CODES:
            raise from_rpc_error(error) from error
        known = self._policy_cache.baseline()
        if known is None:
            raise ServiceUnavailable(
                f"Tierline at {self._target} did not answer ({code.name}: {error.details()}) and"
                " the client has no baseline yet: it never reached the service and was given no"
                " baseline= to fall back on",
                code,
            ) from error
        baseline, version = known
        latency = time.perf_counter() - started
        self._fallbacks.fell_back(code.name, str(error.details()), len(requests))
        return [fallback_decision(request, baseline, version, latency) for request in requests]

    def _batch_fallback(
        self,
        prepared: list[DecisionRequest | BatchResult],
        sent: list[DecisionRequest],
        error: grpc.RpcError,
        started: float,
    ) -> list[BatchResult]:
        """Baseline results for every sent item of a failed batch (or the typed error)."""
        decisions = self._fall_back(error, sent, started)
        return messages.merge_batch(prepared, [BatchResult(decision=d) for d in decisions])

    def _policy_fetched(self, message: Any) -> PolicyInfo:
        """Keep and return a GetPolicyResponse's policy."""
        policy = messages.policy_info(message.policy)
        self._policy_cache.store(policy)
        return policy
