"""The call guard: what every RPC of Tierline's own services goes through, around its handler.

In order: refuse while draining (UNAVAILABLE) -> refuse a request over its method's size before
parsing it (INVALID_ARGUMENT) -> parse it (a body that does not parse is INVALID_ARGUMENT,
"malformed request") -> admit or shed the decisions it asks for (RESOURCE_EXHAUSTED at once) ->
the handler -> domain errors become statuses with google.rpc details -> every call counted by
method and status code, abandoned calls (CANCELLED, DEADLINE_EXCEEDED) included.

Handlers are registered with the guard's behaviour directly (no interceptor), and receive raw
bytes from gRPC, so that no request is parsed before its size is checked. Health and reflection
are not guarded: they must answer whatever the load.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import structlog
from google.protobuf import any_pb2, message
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message_factory import GetMessageClass
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from tierline_server import logs
from tierline_server.api.admission import Admission
from tierline_server.errors import (
    FieldViolation,
    InvalidRequest,
    Overloaded,
    ShuttingDown,
    TierlineError,
)
from tierline_server.metrics import DECISION_OUTCOMES, Metrics

log = structlog.get_logger(__name__)

Behaviour = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]

SHED_LOG_SECONDS = 10.0
"""Shed calls are logged at most once per this period (with how many there were): under
overload a line per call would add to the load."""

OUTCOMES = {
    grpc.StatusCode.OK: "ok",
    grpc.StatusCode.INVALID_ARGUMENT: "invalid",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "shed",
    grpc.StatusCode.CANCELLED: "abandoned",
    grpc.StatusCode.DEADLINE_EXCEEDED: "abandoned",
}
"""The decision latency metric's outcome for a status code (others: "error")."""


@dataclass(frozen=True)
class Method:
    """What the guard knows of one RPC."""

    max_request_bytes: int
    """Largest request accepted: checked before parsing, so a request's cost is bounded first."""
    decisions: Callable[[Any], int] | None = None
    """How many decisions a request asks for (admission control); None: not a decision RPC."""
    degraded: Callable[[Any], bool] = lambda response: False
    """Whether an answer was degraded (the decision latency metric's outcome)."""


def to_status(error: TierlineError) -> grpc.Status:
    """The gRPC status for a domain error; INVALID_ARGUMENT carries a BadRequest."""
    status = status_pb2.Status(code=error.code.value[0], message=str(error))
    if isinstance(error, InvalidRequest):
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=violation.field, description=violation.description
                )
                for violation in error.violations
            ]
        )
        detail = any_pb2.Any()
        detail.Pack(bad_request)
        status.details.append(detail)
    return rpc_status.to_status(status)


class CallGuard:
    """Guards the RPCs of one server (one event loop)."""

    def __init__(self, admission: Admission, metrics: Metrics) -> None:
        self.admission = admission
        self._metrics = metrics
        self._draining = False
        self._calls = 0
        self._idle = asyncio.Event()
        self._last_call = 0.0
        self._shed_log = logs.Summary(self._log_shed, SHED_LOG_SECONDS)

    def service(
        self,
        descriptor: ServiceDescriptor,
        servicer: object,
        methods: dict[str, Method],
    ) -> grpc.GenericRpcHandler:
        """The generic handler of a service whose methods all go through the guard."""
        handlers = {}
        for rpc in descriptor.methods:
            behaviour = self.guarded(
                rpc.name,
                GetMessageClass(rpc.input_type),
                methods[rpc.name],
                getattr(servicer, rpc.name),
            )
            handlers[rpc.name] = grpc.unary_unary_rpc_method_handler(
                behaviour,
                request_deserializer=None,  # raw bytes: the guard checks the size first
                response_serializer=GetMessageClass(rpc.output_type).SerializeToString,
            )
        return grpc.method_handlers_generic_handler(descriptor.full_name, handlers)

    def drain(self) -> None:
        """Refuse new calls from now on (UNAVAILABLE: clients retry another replica)."""
        self._draining = True

    async def idle(self) -> None:
        """Wait for a moment with no decision in progress (admin calls do not count: a reload
        asked over ReloadPolicy waits for this server to retire)."""
        if self.admission.in_flight:
            await self._idle.wait()

    async def quiet(self, period: float) -> None:
        """Wait until no call is in progress and none has arrived for ``period`` seconds.

        gRPC cancels the calls it has received but not yet handed over when it stops, so a
        draining server waits for callers to notice (they are refused with UNAVAILABLE) first.
        """
        loop = asyncio.get_running_loop()
        while self._calls or loop.time() - self._last_call < period:
            await asyncio.sleep(period / 4)

    def guarded(
        self, name: str, request_type: type[message.Message], method: Method, behaviour: Behaviour
    ) -> Callable[[bytes, grpc.aio.ServicerContext], Awaitable[Any]]:
        """``behaviour`` behind the guard."""
        metrics = self._metrics
        calls = {code: metrics.rpcs.labels(name, code.name) for code in grpc.StatusCode}
        durations = (
            {o: metrics.decision_duration.labels(name, o) for o in DECISION_OUTCOMES}
            if method.decisions is not None
            else None
        )
        admission = self.admission

        async def call(data: bytes, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            admitted = 0
            self._enter()

            def settle(code: grpc.StatusCode, degraded: bool = False) -> None:
                # Before the status is sent: what a caller saw is counted when it sees it.
                if admitted:
                    admission.release(admitted)
                    if not admission.in_flight:
                        self._idle.set()
                    metrics.decisions_in_flight.dec(admitted)
                    metrics.decision_cost.set(admission.cost_seconds)
                calls[code].inc()
                if durations is not None:
                    outcome = "degraded" if degraded else OUTCOMES.get(code, "error")
                    durations[outcome].observe(time.perf_counter() - started)
                self._leave()

            try:
                if self._draining:
                    raise ShuttingDown("the server is shutting down: retry on another replica")
                request = _parse(name, request_type, data, method.max_request_bytes)
                if method.decisions is not None:
                    decisions = method.decisions(request)
                    admission.admit(decisions, context.time_remaining())
                    admitted = decisions
                    self._idle.clear()
                    metrics.decisions_in_flight.inc(decisions)
                    # Let calls that arrived meanwhile be admitted (or shed) before this one's
                    # work, which may not yield on its own (a near-cache hit never does).
                    await asyncio.sleep(0)
                response = await behaviour(request, context)
            except TierlineError as error:
                settle(error.code)
                if isinstance(error, Overloaded):
                    self._shed_log.add(method=name, reason=str(error))
                await context.abort_with_status(to_status(error))
            except asyncio.CancelledError:
                remaining = context.time_remaining()
                expired = remaining is not None and remaining <= 0
                settle(grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED)
                raise
            except BaseException:
                settle(grpc.StatusCode.UNKNOWN)
                raise
            settle(grpc.StatusCode.OK, method.degraded(response))
            return response

        return call

    def _log_shed(self, calls: int, latest: dict[str, Any]) -> None:
        log.warning(
            "shedding load",
            calls=calls,  # since the previous such line
            in_flight=self.admission.in_flight,
            decision_cost_ms=round(self.admission.cost_seconds * 1000, 3),
            latest_method=latest["method"],
            latest_reason=latest["reason"],
        )

    def _enter(self) -> None:
        self._calls += 1
        self._last_call = asyncio.get_running_loop().time()

    def _leave(self) -> None:
        self._calls -= 1


def _parse(
    name: str, request_type: type[message.Message], data: bytes, max_bytes: int
) -> message.Message:
    if len(data) > max_bytes:
        raise InvalidRequest(
            [FieldViolation("", f"request of {len(data):,} bytes; {name} takes at most "
                            f"{max_bytes:,}")]
        )  # fmt: skip
    try:
        return request_type.FromString(data)
    except message.DecodeError:
        raise InvalidRequest(
            [FieldViolation("", "malformed request: not a valid protobuf message "
                            f"{request_type.DESCRIPTOR.full_name}")]
        ) from None  # fmt: skip
