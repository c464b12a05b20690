"""AsyncEntitlementClient: ask Tierline for decisions from asyncio code."""

from __future__ import annotations

import asyncio
import contextlib
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


class AsyncEntitlementClient:
    """The asyncio twin of :class:`tierline.EntitlementClient`: same arguments, same methods,
    awaited; the same deadlines, fallback and errors.

    Create it inside the running event loop (``async with AsyncEntitlementClient(...) as
    client:``) and close it there (``await client.close()``).
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
            self._channel = grpc.aio.insecure_channel(target, options=self._core.options)
        else:
            self._channel = grpc.aio.secure_channel(
                target, self._core.credentials, options=self._core.options
            )
        self._stub = pb_grpc.EntitlementServiceStub(self._channel)
        self._background: set[asyncio.Task[None]] = set()

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

    async def decide(
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
        """Decide one interaction; see :meth:`tierline.EntitlementClient.decide`."""
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
        return await self.decide_request(request, timeout=timeout)

    async def decide_request(
        self, request: DecisionRequest, *, timeout: float | None = None
    ) -> Decision:
        """``decide`` for a prepared :class:`DecisionRequest`."""
        self._refresh_policy_if_due()
        started = time.perf_counter()
        try:
            response = await self._stub.Decide(
                messages.decide_request(request),
                timeout=self._core.deadline(timeout, self._core.timeout),
                metadata=self._core.metadata,
            )
        except grpc.RpcError as error:
            return self._core.fall_back(error, [request], started)[0]
        return self._core.decided(response.decision, started)

    async def decide_batch(
        self, requests: Iterable[BatchItem], *, timeout: float | None = None
    ) -> list[BatchResult]:
        """Decide up to 1000 interactions; see :meth:`tierline.EntitlementClient.decide_batch`."""
        prepared = prepare_batch(requests)
        sent = [item for item in prepared if isinstance(item, DecisionRequest)]
        if not sent:
            return [item for item in prepared if isinstance(item, BatchResult)]
        self._refresh_policy_if_due()
        started = time.perf_counter()
        try:
            response = await self._stub.DecideBatch(
                messages.decide_batch_request(sent),
                timeout=self._core.deadline(timeout, self._core.batch_timeout),
                metadata=self._core.metadata,
            )
        except grpc.RpcError as error:
            return self._core.batch_fallback(prepared, error, started)
        return self._core.batch_decided(prepared, response, started)

    async def policy(self, *, timeout: float | None = None) -> PolicyInfo:
        """The policy being served; see :meth:`tierline.EntitlementClient.policy`."""
        try:
            response = await self._stub.GetPolicy(
                pb.GetPolicyRequest(),
                timeout=self._core.deadline(timeout, self._core.policy_timeout),
                metadata=self._core.metadata,
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error
        return self._core.policy_fetched(response)

    async def close(self) -> None:
        """Stop the background policy fetch and close the connections."""
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._channel.close()

    async def __aenter__(self) -> AsyncEntitlementClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def _refresh_policy_if_due(self) -> None:
        """Fetch the policy in a background task when it is due."""
        if not self._core.policy_cache.claim_fetch():
            return
        task = asyncio.get_running_loop().create_task(self._fetch_policy())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _fetch_policy(self) -> None:
        try:
            response = await self._stub.GetPolicy(
                pb.GetPolicyRequest(),
                timeout=self._core.policy_timeout,
                metadata=self._core.metadata,
            )
        except grpc.RpcError as error:
            self._core.policy_cache.fetch_failed(describe(error))
            return
        except asyncio.CancelledError:
            self._core.policy_cache.fetch_failed("cancelled")
            raise
        self._core.policy_fetched(response)
