"""AsyncEntitlementClient: ask Tierline for decisions from asyncio code."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING

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


class AsyncEntitlementClient(ClientBase):
    """The asyncio twin of :class:`tierline.EntitlementClient`: same arguments, same methods,
    awaited; the same deadlines, fallback and errors.

    Create it inside the running event loop (``async with AsyncEntitlementClient(...) as
    client:``) and close it there (``await client.close()``).
    """

    def _connect(self) -> None:
        self._open_channels(grpc.aio.insecure_channel, grpc.aio.secure_channel)
        self._background: set[asyncio.Task[None]] = set()

    async def decide(
        self,
        customer_id: str,
        channel: Channel | str | int,
        *,
        timeout: float | None = None,
        **fields: Unpack[RequestFields],
    ) -> Decision:
        """Decide one interaction; see :meth:`tierline.EntitlementClient.decide`."""
        request = DecisionRequest(customer_id, channel, **fields)
        return await self.decide_request(request, timeout=timeout)

    async def decide_request(
        self, request: DecisionRequest, *, timeout: float | None = None
    ) -> Decision:
        """``decide`` for a prepared :class:`DecisionRequest`."""
        started = self._start()
        try:
            response = await self._stub.Decide(
                messages.decide_request(request), **self._call_options(timeout, self._timeout)
            )
        except grpc.RpcError as error:
            return self._fall_back(error, [request], started)[0]
        return self._decided(response.decision, started)

    async def decide_batch(
        self, requests: Iterable[BatchItem], *, timeout: float | None = None
    ) -> list[BatchResult]:
        """Decide up to 1000 interactions; see :meth:`tierline.EntitlementClient.decide_batch`."""
        prepared, sent = prepare_batch(requests)
        if not sent:
            return [item for item in prepared if isinstance(item, BatchResult)]
        started = self._start()
        try:
            response = await self._stub.DecideBatch(
                messages.decide_batch_request(sent),
                **self._call_options(timeout, self._batch_timeout),
            )
        except grpc.RpcError as error:
            return self._batch_fallback(prepared, sent, error, started)
        return self._batch_decided(prepared, response, started)

    async def policy(self, *, timeout: float | None = None) -> PolicyInfo:
        """The policy being served; see :meth:`tierline.EntitlementClient.policy`."""
        try:
            response = await self._stub.GetPolicy(
                pb.GetPolicyRequest(), **self._call_options(timeout, self._policy_timeout)
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error
        return self._policy_fetched(response)

    async def close(self) -> None:
        """Stop the background policy fetch and close the connections."""
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for channel in self._channels:
            await channel.close()

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
        if not self._policy_cache.claim_fetch():
            return
        task = asyncio.get_running_loop().create_task(self._fetch_policy())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _fetch_policy(self) -> None:
        try:
            response = await self._stub.GetPolicy(
                pb.GetPolicyRequest(), **self._call_options(None, self._policy_timeout)
            )
        except grpc.RpcError as error:
            self._policy_cache.fetch_failed(describe(error))
            return
        except asyncio.CancelledError:
            self._policy_cache.fetch_failed("cancelled")
            raise
        self._policy_fetched(response)
