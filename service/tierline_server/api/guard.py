"""The call guard: what every call of Tierline's own services goes through, whatever its
transport, around its handler.

In order: refuse while draining (UNAVAILABLE) -> identify the caller from its credentials and
check the method's permission (UNAUTHENTICATED, PERMISSION_DENIED: before anything is parsed, so
an unknown caller costs no more than that) -> refuse a request over its method's size before
parsing it (INVALID_ARGUMENT) -> parse it (a body that does not parse is INVALID_ARGUMENT,
"malformed request") -> refuse an explanation to a caller without the explain permission
(PERMISSION_DENIED) -> admit or shed the decisions it asks for (RESOURCE_EXHAUSTED at once) ->
the handler, given the caller's Identity -> every call counted by method, status code and
protocol, abandoned calls (CANCELLED, DEADLINE_EXCEEDED) included.

A transport adapter hands the guard a Call (its credentials, its deadline, its protocol), the
request's bytes as received and how to parse them, and turns the domain error the guard raises
into its own status: gRPC (tierline_server.api.grpc_transport) and Connect / gRPC-Web over HTTP
(tierline_server.http.connect). The status details (google.rpc.BadRequest) are built here, once.
Health and reflection are not guarded: they must answer whatever the load.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
import structlog
from google.protobuf import any_pb2, message
from google.rpc import error_details_pb2

from tierline_server import logs
from tierline_server.api.admission import Admission
from tierline_server.api.auth import Authenticator, Credentials, Identity
from tierline_server.errors import (
    FieldViolation,
    InvalidRequest,
    Overloaded,
    ShuttingDown,
    TierlineError,
)
from tierline_server.metrics import DECISION_OUTCOMES, PROTOCOLS, Metrics

log = structlog.get_logger(__name__)


class Call(Protocol):
    """One call as its transport sees it."""

    @property
    def protocol(self) -> str:
        """The wire protocol, one of metrics.PROTOCOLS."""

    def credentials(self) -> Credentials:
        """What the call presents (read before the request is parsed)."""

    def time_remaining(self) -> float | None:
        """Seconds left before the caller's deadline; None when it gave none."""


Behaviour = Callable[[Any, Call, Identity], Awaitable[Any]]
"""A handler: the parsed request, the call, who is calling."""

Parser = Callable[[bytes, type[message.Message]], message.Message]
"""Parses a request's bytes into its message type; InvalidRequest when they do not parse."""

Guarded = Callable[[Call, bytes, Parser], Awaitable[Any]]
"""A handler behind the guard: the call, the request as received, how to parse it -> the
response; raises the TierlineError that the transport turns into its status."""

SHED_LOG_SECONDS = 10.0
"""Shed calls are logged at most once per this period (with how many there were): under
overload a line per call would add to the load."""

OUTCOMES = {
    grpc.StatusCode.OK: "ok",
    grpc.StatusCode.INVALID_ARGUMENT: "invalid",
    grpc.StatusCode.UNAUTHENTICATED: "refused",
    grpc.StatusCode.PERMISSION_DENIED: "refused",
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
    explains: Callable[[Any], bool] | None = None
    """Whether a request asks for an explanation (the explain permission); None: never."""


def status_details(error: TierlineError) -> list[any_pb2.Any]:
    """The google.rpc details of a domain error's status: a BadRequest listing the field
    violations of INVALID_ARGUMENT, nothing for the others."""
    if not isinstance(error, InvalidRequest):
        return []
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
    return [detail]


def parse_binary(data: bytes, request_type: type[message.Message]) -> message.Message:
    """A request in the protobuf binary format (gRPC, gRPC-Web, Connect with application/proto)."""
    try:
        return request_type.FromString(data)
    except message.DecodeError:
        raise InvalidRequest(
            [FieldViolation("", "malformed request: not a valid protobuf message "
                            f"{request_type.DESCRIPTOR.full_name}")]
        ) from None  # fmt: skip


class CallGuard:
    """Guards the calls of one server (one event loop), over every transport it serves."""

    def __init__(
        self,
        admission: Admission,
        metrics: Metrics,
        authenticator: Authenticator,
        protocols: tuple[str, ...] = PROTOCOLS,
    ) -> None:
        """``protocols``: those the server serves (their series are created up front)."""
        self.admission = admission
        self._protocols = protocols
        self._metrics = metrics
        self._authenticator = authenticator
        self._draining = False
        self._calls = 0
        self._idle = asyncio.Event()
        self._last_call = 0.0
        self._shed_log = logs.Summary(self._log_shed, SHED_LOG_SECONDS)

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
    ) -> Guarded:
        """``behaviour`` behind the guard."""
        series = CallSeries(self._metrics, name, method, self._protocols)
        admission = self.admission
        authenticator = self._authenticator

        async def guarded_call(call: Call, data: bytes, parse: Parser) -> Any:
            started = time.perf_counter()
            admitted = 0
            self._enter()

            def settle(code: grpc.StatusCode, degraded: bool = False) -> None:
                # Before the status is sent: what a caller saw is counted when it sees it.
                self._release(admitted)
                series.count(call.protocol, code, time.perf_counter() - started, degraded)
                self._leave()

            try:
                if self._draining:
                    raise ShuttingDown("the server is shutting down: retry on another replica")
                credentials = call.credentials()
                identity = authenticator.authenticate(name, credentials)
                request = _parse(name, request_type, data, method.max_request_bytes, parse)
                if method.explains is not None and method.explains(request):
                    authenticator.check_explain(name, identity, credentials)
                if method.decisions is not None:
                    decisions = method.decisions(request)
                    admission.admit(decisions, call.time_remaining())
                    admitted = decisions
                    self._idle.clear()
                    # Let calls that arrived meanwhile be admitted (or shed) before this one's
                    # work, which may not yield on its own (a near-cache hit never does).
                    await asyncio.sleep(0)
                response = await behaviour(request, call, identity)
            except TierlineError as error:
                settle(error.code)
                if isinstance(error, Overloaded):
                    self._shed_log.add(method=name, reason=str(error))
                raise
            except asyncio.CancelledError:
                remaining = call.time_remaining()
                expired = remaining is not None and remaining <= 0
                settle(grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED)
                raise
            except BaseException:
                settle(grpc.StatusCode.UNKNOWN)
                raise
            settle(grpc.StatusCode.OK, method.degraded(response))
            return response

        return guarded_call

    def _release(self, decisions: int) -> None:
        """Admitted decisions are done (answered, failed or abandoned)."""
        if not decisions:
            return
        admission = self.admission
        admission.release(decisions)
        if not admission.in_flight:
            self._idle.set()

    def sample(self) -> None:
        """Set the admission gauges (decisions in flight, their cost): they are read once per
        scrape, so a sample now and then tells as much as a write on every call, for less."""
        self._metrics.decisions_in_flight.set(self.admission.in_flight)
        self._metrics.decision_cost.set(self.admission.cost_seconds)

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


class CallSeries:
    """The metric series one method's calls are counted in, bound once."""

    def __init__(
        self, metrics: Metrics, name: str, method: Method, protocols: tuple[str, ...]
    ) -> None:
        self._calls = {
            (protocol, code): metrics.rpcs.labels(name, code.name, protocol)
            for protocol in protocols
            for code in grpc.StatusCode
        }
        self._durations = (
            {o: metrics.decision_duration.labels(name, o) for o in DECISION_OUTCOMES}
            if method.decisions is not None
            else None
        )

    def count(self, protocol: str, code: grpc.StatusCode, seconds: float, degraded: bool) -> None:
        """One call answered with ``code`` after ``seconds``."""
        self._calls[protocol, code].inc()
        if self._durations is not None:
            outcome = "degraded" if degraded else OUTCOMES.get(code, "error")
            self._durations[outcome].observe(seconds)


def _parse(
    name: str,
    request_type: type[message.Message],
    data: bytes,
    max_bytes: int,
    parse: Parser,
) -> message.Message:
    if len(data) > max_bytes:
        raise InvalidRequest(
            [FieldViolation("", f"request of {len(data):,} bytes; {name} takes at most "
                            f"{max_bytes:,}")]
        )  # fmt: skip
    return parse(data, request_type)
