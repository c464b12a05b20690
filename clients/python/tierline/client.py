"""EntitlementClient: ask Tierline for decisions from synchronous code (threads welcome)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import grpc

from tierline import messages
from tierline.core import BatchItem, ClientBase, prepare_batch
from tierline.errors import describe, from_rpc_error
from tierline.interaction import Channel, DecisionRequest, RequestFields
from tierline.model import BatchResult, Decision, PolicyInfo
from tierline.v1 import entitlement_pb2 as pb

if sys.version_info >= (3, 11):
    from typing import Unpack
elif TYPE_CHECKING:  # Python 3.10: for the type checker only (not a runtime dependency)
    from typing_extensions import Unpack


class EntitlementClient(ClientBase):
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
        connections: connections per address, used in turn: a server spreads connections (not
            calls) over its worker processes.
    """

    def _connect(self) -> None:
        self._open_channels(grpc.insecure_channel, grpc.secure_channel)

    def decide(
        self,
        customer_id: str,
        channel: Channel | str | int,
        *,
        timeout: float | None = None,
        **fields: Unpack[RequestFields],
    ) -> Decision:
        """Decide one interaction, within ``timeout`` seconds (default: the client's, 50 ms).

        The other arguments are those of :class:`DecisionRequest`: ``intent``, ``order_value``
        or ``order_value_minor``, ``currency``, ``item_count``, ``attributes``, ``occurred_at``
        and ``explain``. ``channel`` is a :class:`Channel` or its name in any case
        (``"phone"``); ``order_value`` is in major units of ``currency`` (``"59.90"``),
        ``order_value_minor`` in minor units (``5990``). Returns the service's decision, or the
        baseline decision (``is_fallback``) on any failure that is not the caller's own mistake
        (slow, unreachable, overloaded, draining, faulty). Raises ``InvalidRequest`` (with every
        field violation), ``Unauthenticated``, ``PermissionDenied`` or ``ServiceUnavailable``
        (no baseline known yet).
        """
        return self.decide_request(DecisionRequest(customer_id, channel, **fields), timeout=timeout)

    def decide_request(self, request: DecisionRequest, *, timeout: float | None = None) -> Decision:
        """``decide`` for a prepared :class:`DecisionRequest`."""
        started = self._start()
        try:
            response = self._stub.Decide(
                messages.decide_request(request), **self._call_options(timeout, self._timeout)
            )
        except grpc.RpcError as error:
            return self._fall_back(error, [request], started)[0]
        return self._decided(response.decision, started)

    def decide_batch(
        self, requests: Iterable[BatchItem], *, timeout: float | None = None
    ) -> list[BatchResult]:
        """Decide up to 1000 interactions in one call; one result per item, in order.

        Each item is a :class:`DecisionRequest` or a mapping of ``decide``'s arguments. An
        invalid item gets its own ``InvalidRequest`` in its result and does not fail the
        others. When the service is slow or unreachable, every item gets the baseline decision.
        """
        prepared, sent = prepare_batch(requests)
        if not sent:
            return [item for item in prepared if isinstance(item, BatchResult)]
        started = self._start()
        try:
            response = self._stub.DecideBatch(
                messages.decide_batch_request(sent),
                **self._call_options(timeout, self._batch_timeout),
            )
        except grpc.RpcError as error:
            return self._batch_fallback(prepared, sent, error, started)
        return self._batch_decided(prepared, response, started)

    def policy(self, *, timeout: float | None = None) -> PolicyInfo:
        """The policy being served (version, tiers, levels, baseline); also refreshes the cache.

        Call it at start-up to warm the connection and the fallback baseline. Raises
        ``ServiceUnavailable`` when the service cannot be reached in time.
        """
        try:
            response = self._stub.GetPolicy(
                pb.GetPolicyRequest(), **self._call_options(timeout, self._policy_timeout)
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error
        return self._policy_fetched(response)

    def close(self) -> None:
        """Close the connections; calls in flight are cancelled."""
        for channel in self._channels:
            channel.close()

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
        if not self._policy_cache.claim_fetch():
            return
        try:
            future = self._stub.GetPolicy.future(
                pb.GetPolicyRequest(), **self._call_options(None, self._policy_timeout)
            )
        except ValueError as error:  # the channel is closed: so is the client
            self._policy_cache.fetch_failed(repr(error))
            raise
        future.add_done_callback(self._policy_fetch_done)

    def _policy_fetch_done(self, future: Any) -> None:
        try:
            response = future.result()
        except grpc.FutureCancelledError:
            self._policy_cache.fetch_failed("cancelled")
            return
        except grpc.RpcError as error:
            self._policy_cache.fetch_failed(describe(error))
            return
        self._policy_fetched(response)
