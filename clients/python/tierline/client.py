"""EntitlementClient: ask Tierline for decisions from synchronous code (threads welcome)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any

import grpc

from tierline import messages
from tierline.connection import Keepalive, RetryPolicy, TlsConfig
from tierline.core import (
    DEFAULT_BATCH_TIMEOUT_SECONDS,
    DEFAULT_POLICY_TIMEOUT_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    BatchItem,
    ClientCore,
    prepare_batch,
)
from tierline.errors import describe, from_rpc_error
from tierline.fallback import DEFAULT_POLICY_REFRESH_SECONDS
from tierline.interaction import Channel, DecisionRequest
from tierline.model import Baseline, BatchResult, Decision, PolicyInfo
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc as pb_grpc


class EntitlementClient:
    """A client of Tierline's EntitlementService that never blocks a call past its deadline.

    ``decide`` answers within its deadline (50 ms by default): with the service's decision, or,
    when the service is slow or unreachable, with the baseline decision (``degraded``, reason
    ``client_fallback``). Invalid requests and auth failures raise typed errors. Thread-safe;
    make one per process and reuse it (it holds the connections). Use it as a context manager
    or call ``close()``.

    Args:
        target: gRPC target, e.g. ``127.0.0.1:50051``, ``dns:///tierline.prod:50051`` (calls are
            spread over every address, round_robin) or ``ipv4:10.0.0.1:50051,10.0.0.2:50051``.
        timeout: default deadline of ``decide``, seconds.
        batch_timeout: default deadline of ``decide_batch``, seconds.
        policy_timeout: deadline of ``policy()`` and of the background policy fetch, seconds.
        baseline: the baseline to answer with before the client has ever reached the service;
            without one, ``decide`` raises ``ServiceUnavailable`` in that case.
        policy_refresh_interval: seconds between background fetches of the policy (baseline).
        tls: TLS (and mutual TLS) settings; ``None`` for a plaintext connection.
        token: bearer token sent with every call (needs ``tls``, or ``insecure_token=True``).
        insecure_token: allow sending ``token`` without TLS.
        retry: gRPC's retries of UNAVAILABLE; ``None`` for none.
        keepalive: HTTP/2 keepalive settings; ``None`` for gRPC's defaults.
        channel_options: raw gRPC channel arguments, overriding the client's.
    """

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
    ) -> None:
        self._core = ClientCore(
            target,
            timeout=timeout,
            batch_timeout=batch_timeout,
            policy_timeout=policy_timeout,
            baseline=baseline,
            policy_refresh_interval=policy_refresh_interval,
            tls=tls,
            token=token,
            insecure_token=insecure_token,
            retry=retry,
            keepalive=keepalive,
            channel_options=channel_options,
        )
        if self._core.credentials is None:
            self._channel = grpc.insecure_channel(target, options=self._core.options)
        else:
            self._channel = grpc.secure_channel(
                target, self._core.credentials, options=self._core.options
            )
        self._stub = pb_grpc.EntitlementServiceStub(self._channel)

    @property
    def target(self) -> str:
        """The gRPC target the client calls."""
        return self._core.target

    @property
    def fallback_count(self) -> int:
        """How many baseline (``client_fallback``) decisions the client has returned."""
        return self._core.fallbacks.count

    @property
    def cached_policy(self) -> PolicyInfo | None:
        """The policy last fetched from the service (its baseline is the fallback), if any."""
        return self._core.policy_cache.policy

    def decide(
        self,
        customer_id: str,
        channel: Channel | str | int,
        *,
        intent: str = "",
        order_value: Decimal | int | str | float | None = None,
        order_value_minor: int | None = None,
        currency: str = "",
        item_count: int = 0,
        attributes: Mapping[str, str] | None = None,
        occurred_at: datetime | None = None,
        explain: bool = False,
        timeout: float | None = None,
    ) -> Decision:
        """Decide one interaction, within ``timeout`` seconds (default: the client's, 50 ms).

        ``channel`` is a :class:`Channel` or its name in any case (``"phone"``); ``order_value``
        is in major units of ``currency`` (``"59.90"``), ``order_value_minor`` in minor units
        (``5990``). Returns the service's decision, or the baseline decision (``is_fallback``)
        when the service is slow or unreachable. Raises ``InvalidRequest`` (with every field
        violation), ``Unauthenticated``, ``PermissionDenied``, ``ServiceUnavailable`` (no
        baseline known yet) or ``ServiceError``.
        """
        request = DecisionRequest(
            customer_id,
            channel,
            intent=intent,
            order_value=order_value,
            order_value_minor=order_value_minor,
            currency=currency,
            item_count=item_count,
            attributes=attributes,
            occurred_at=occurred_at,
            explain=explain,
        )
        return self.decide_request(request, timeout=timeout)

    def decide_request(self, request: DecisionRequest, *, timeout: float | None = None) -> Decision:
        """``decide`` for a prepared :class:`DecisionRequest`."""
        self._refresh_policy_if_due()
        started = time.perf_counter()
        try:
            response = self._stub.Decide(
                messages.decide_request(request),
                timeout=self._core.deadline(timeout, self._core.timeout),
                metadata=self._core.metadata,
            )
        except grpc.RpcError as error:
            return self._core.fall_back(error, [request], started)[0]
        return self._core.decided(response.decision, started)

    def decide_batch(
        self, requests: Iterable[BatchItem], *, timeout: float | None = None
    ) -> list[BatchResult]:
        """Decide up to 1000 interactions in one call; one result per item, in order.

        Each item is a :class:`DecisionRequest` or a mapping of ``decide``'s arguments. An
        invalid item gets its own ``InvalidRequest`` in its result and does not fail the
        others. When the service is slow or unreachable, every item gets the baseline decision.
        """
        prepared = prepare_batch(requests)
        sent = [item for item in prepared if isinstance(item, DecisionRequest)]
        if not sent:
            return [item for item in prepared if isinstance(item, BatchResult)]
        self._refresh_policy_if_due()
        started = time.perf_counter()
        try:
            response = self._stub.DecideBatch(
                messages.decide_batch_request(sent),
                timeout=self._core.deadline(timeout, self._core.batch_timeout),
                metadata=self._core.metadata,
            )
        except grpc.RpcError as error:
            return self._core.batch_fallback(prepared, error, started)
        return self._core.batch_decided(prepared, response, started)

    def policy(self, *, timeout: float | None = None) -> PolicyInfo:
        """The policy being served (version, tiers, levels, baseline); also refreshes the cache.

        Call it at start-up to warm the connection and the fallback baseline. Raises
        ``ServiceUnavailable`` when the service cannot be reached in time.
        """
        try:
            response = self._stub.GetPolicy(
                pb.GetPolicyRequest(),
                timeout=self._core.deadline(timeout, self._core.policy_timeout),
                metadata=self._core.metadata,
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error
        return self._core.policy_fetched(response)

    def close(self) -> None:
        """Close the connections; calls in flight are cancelled."""
        self._channel.close()

    def __enter__(self) -> EntitlementClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _refresh_policy_if_due(self) -> None:
        """Fetch the policy in the background (gRPC's own thread) when it is due."""
        if not self._core.policy_cache.claim_fetch():
            return
        try:
            future = self._stub.GetPolicy.future(
                pb.GetPolicyRequest(),
                timeout=self._core.policy_timeout,
                metadata=self._core.metadata,
            )
        except ValueError as error:  # the channel is closed: so is the client
            self._core.policy_cache.fetch_failed(repr(error))
            raise
        future.add_done_callback(self._policy_fetch_done)

    def _policy_fetch_done(self, future: Any) -> None:
        try:
            response = future.result()
        except grpc.FutureCancelledError:
            self._core.policy_cache.fetch_failed("cancelled")
            return
        except grpc.RpcError as error:
            self._core.policy_cache.fetch_failed(describe(error))
            return
        self._core.policy_fetched(response)
