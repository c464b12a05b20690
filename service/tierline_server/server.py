"""One serving process: the gRPC server (and the HTTP listener) over one policy, wired together.

Start: feature store -> decision log (behind the shadow policy, if any) -> servicers behind the
call guard (which authenticates callers), served over gRPC and, with --http-listen, over HTTP
(Connect and gRPC-Web) -> health -> reflection (unless turned off) -> ports (TLS when configured)
-> SERVING. Stop (shutdown): NOT_SERVING -> the guard refuses new calls -> in-flight calls finish
within the grace period -> gRPC and HTTP stop -> the shadow decides what it holds -> the decision
log writes its queue -> close Redis. Retire (a newer policy is serving beside it): both stop
listening at once, telling clients to reconnect, and in-flight calls finish.

`tierline serve` runs one or more of these under a supervisor (tierline_server.supervisor),
which owns the port, the metrics endpoint and policy reloads.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import grpc
import structlog
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from tierline.v1 import entitlement_pb2, policy_admin_pb2

from tierline_server import tls
from tierline_server.api import admin, auth, entitlement, grpc_transport
from tierline_server.api.admission import Admission
from tierline_server.api.grpc_calls import GrpcCalls
from tierline_server.api.guard import CallGuard, Guarded, Method
from tierline_server.config import ServerConfig, check_http, check_security, masked_url
from tierline_server.decisionlog.writer import DecisionLogWriter
from tierline_server.decisions import DecisionService
from tierline_server.features.store import FeatureStore
from tierline_server.metrics import PROTOCOLS, Metrics
from tierline_server.policy.decider import Decider
from tierline_server.reloads import Reload
from tierline_server.shadow import Shadow

log = structlog.get_logger(__name__)

ENTITLEMENT = entitlement_pb2.DESCRIPTOR.services_by_name["EntitlementService"]
ADMIN = policy_admin_pb2.DESCRIPTOR.services_by_name["PolicyAdminService"]
FEATURE_STORE_HEALTH = "tierline.features"
"""Health entry that reports Redis: NOT_SERVING while Redis is unreachable (decisions degrade)."""
OVERALL_HEALTH = ""
PERIOD_SECONDS = 1.0
"""How often Redis is probed, gRPC's own call counts are copied into the metrics and the
admission gauges are sampled."""
KEEPALIVE_MIN_PING_MS = 10_000
RETIRE_IDLE_SECONDS = 1.0
"""How long a retiring server waits for a moment with no call in progress before it stops."""
QUIET_SECONDS = 0.1
"""While draining: how long no call may have arrived before gRPC is stopped."""
CONNECTION_AGE_GRACE_MS = 30_000
"""Time a connection past its maximum age has to finish its calls (at most the age itself)."""
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class TierlineServer:
    """A running Tierline: start(), then stop() or retire(); ``port`` is the bound gRPC port."""

    def __init__(
        self,
        config: ServerConfig,
        metrics: Metrics,
        decider: Decider,
        reload: Reload | None = None,
        *,
        share_port: bool = False,
        shadow: Decider | None = None,
    ) -> None:
        """``share_port``: listen with SO_REUSEPORT, beside the other workers of a supervisor
        that claimed the port; otherwise the port is this server's alone. ``shadow``: the
        candidate policy that also decides a share of decisions (config.shadow.share).

        Raises SettingError for settings that cannot work together, and for TLS or callers files
        that cannot be used; PortInUse when the HTTP address cannot be had."""
        check_security(config)
        check_http(config)
        self._certificates = tls.watch_for(config.tls)
        authenticator = auth.Authenticator(auth.callers_for(config), metrics)
        self.config = config
        self.metrics = metrics
        self.decider = decider
        self._reload = reload
        self.store = FeatureStore(decider.policy, config.redis, config.near_cache, metrics)
        self.decision_log = DecisionLogWriter.for_config(config, metrics)  # None when off
        self.shadow = (
            None
            if shadow is None
            else Shadow(decider, shadow, config.shadow.share, metrics, self.decision_log)
        )
        self.health = health.aio.HealthServicer()
        self.http = None
        if config.http.listen:
            from tierline_server.http.listener import HttpListener  # connectrpc: Python 3.11+

            self.http = HttpListener(config, share_port=share_port)
        self.guard = CallGuard(
            Admission(config.max_in_flight, config.max_queue_seconds),
            metrics,
            authenticator,
            PROTOCOLS if self.http else ("grpc",),
        )
        # No maximum_concurrent_rpcs: gRPC would count a call from its first frame, so calls
        # whose message never completes could take every slot. The guard counts admitted
        # decisions instead, and a connection may hold only streams_per_connection calls.
        age_ms = int(config.max_connection_age_seconds * 1000)
        self.server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", config.max_message_bytes),
                ("grpc.max_send_message_length", config.max_message_bytes),
                ("grpc.max_concurrent_streams", config.streams_per_connection),
                ("grpc.max_connection_age_ms", age_ms),
                ("grpc.max_connection_age_grace_ms", min(age_ms, CONNECTION_AGE_GRACE_MS)),
                ("grpc.so_reuseport", int(share_port)),
                # Let clients keep idle connections warm with pings (a live call must not pay
                # for a reconnect); gRPC's defaults answer such pings with GOAWAY.
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.min_ping_interval_without_data_ms", KEEPALIVE_MIN_PING_MS),
            ],
        )
        # Health alone, in plaintext, for probes that cannot speak TLS: it tells no more than the
        # health service on the main port, which is open to all.
        self.health_server = (
            grpc.aio.server(options=[("grpc.so_reuseport", int(share_port))])
            if config.health_listen
            else None
        )
        self.port = 0
        self._services = [ENTITLEMENT.full_name] + (
            [ADMIN.full_name] if config.enable_admin else []
        )
        self.serving = False
        """SERVING: the policy compiled, every listener up, not draining (/readyz)."""
        self._periodic: asyncio.Task[None] | None = None
        self._grpc_calls = GrpcCalls(metrics.grpc_calls)
        self._redis_reachable: bool | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        """Listen, then report SERVING once everything is ready."""
        await self._set_health(NOT_SERVING)
        policy = self.decider.policy
        self.metrics.track_policy(
            name=policy.name,
            version=policy.version,
            checksum=policy.checksum,
            rules=[rule.id for rule in policy.rules],
            levels=policy.service_levels,
            tiers=policy.tiers,
        )
        await self.store.start()
        if self.decision_log is not None:
            self.decision_log.start()
        decisions = DecisionService(
            self.decider, self.store, self.metrics, self.shadow or self.decision_log
        )
        services = {
            ENTITLEMENT: self._guarded(
                ENTITLEMENT,
                entitlement.EntitlementServicer(decisions, self.decider),
                entitlement.METHODS,
            )
        }
        if self.config.enable_admin:
            services[ADMIN] = self._guarded(
                ADMIN, admin.PolicyAdminServicer(self._reload), admin.METHODS
            )
        self.server.add_generic_rpc_handlers(
            [grpc_transport.service(each, guarded) for each, guarded in services.items()]
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        if self.config.reflection:
            reflection.enable_server_reflection(
                [*self._services, health.SERVICE_NAME, reflection.SERVICE_NAME], self.server
            )
        if self._certificates is None:
            self.port = self.server.add_insecure_port(self.config.listen)
        else:
            credentials = tls.server_credentials(self._certificates)
            self.port = self.server.add_secure_port(self.config.listen, credentials)
        await self.server.start()
        if self.http is not None:
            await self._start_http(services)
        if self.health_server is not None:
            health_pb2_grpc.add_HealthServicer_to_server(self.health, self.health_server)
            self.health_server.add_insecure_port(self.config.health_listen)
            await self.health_server.start()
        await self._report_redis()
        await self._set_health(SERVING)
        self._periodic = asyncio.create_task(self._each_period())

    def _guarded(
        self, service: ServiceDescriptor, servicer: object, methods: dict[str, Method]
    ) -> dict[str, Guarded]:
        """Each method of ``service``, behind the guard, whatever transport calls it."""
        return {
            rpc.name: self.guard.guarded(
                rpc.name, GetMessageClass(rpc.input_type), methods[rpc.name],
                getattr(servicer, rpc.name),
            )
            for rpc in service.methods
        }  # fmt: skip

    async def _start_http(self, services: dict[ServiceDescriptor, dict[str, Guarded]]) -> None:
        from tierline.v1 import entitlement_connect, policy_admin_connect

        from tierline_server.http import app, connect

        assert self.http is not None
        generated = {
            ENTITLEMENT: entitlement_connect.EntitlementServiceASGIApplication,
            ADMIN: policy_admin_connect.PolicyAdminServiceASGIApplication,
        }
        settings = self.config.http
        await self.http.start(
            app.http_application(
                [
                    connect.application(generated[service], guarded, self.config.max_message_bytes)
                    for service, guarded in services.items()
                ],
                lambda: self.serving,
                settings.read_timeout_seconds,
                settings.cors_origins,
            )
        )
        host = settings.listen.rpartition(":")[0]
        log.info("http listening", address=f"{self.http.scheme}://{host}:{self.http.port}")

    async def stop(self) -> None:
        """Shut down: NOT_SERVING, refuse new calls (UNAVAILABLE) until callers have noticed,
        finish in-flight calls within the grace period, close resources."""
        await self._set_health(NOT_SERVING)
        self.guard.drain()
        loop = asyncio.get_running_loop()
        grace = self.config.grace_seconds
        started = loop.time()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.guard.quiet(QUIET_SECONDS), grace)
        await asyncio.gather(
            self.server.stop(max(grace - (loop.time() - started), 0)), self._stop_http()
        )
        await self._close()

    async def retire(self, stopped_listening: Callable[[], None] = lambda: None) -> None:
        """Give way to a newer server on the same port: stop listening and tell clients to
        reconnect (GOAWAY), so they move to it; in-flight calls finish within the grace period.
        ``stopped_listening`` is called once new calls can no longer arrive here.

        gRPC cancels the calls it has received but not yet handed over when it stops; stopping
        at a moment with no decision in progress makes those rare, and clients retry them
        (every Tierline call is a read)."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.guard.idle(), RETIRE_IDLE_SECONDS)
        stopping = asyncio.ensure_future(self.server.stop(self.config.grace_seconds))
        await asyncio.sleep(0)  # stop() closes the listener and sends GOAWAY before it awaits
        if self.http is not None:
            await self.http.stop_listening()
        stopped_listening()
        await asyncio.gather(stopping, self._stop_http())
        await self._close()

    async def _stop_http(self) -> None:
        if self.http is not None:
            await self.http.stop()

    async def _close(self) -> None:
        if self.health_server is not None:
            await self.health_server.stop(None)
        self._stopping.set()
        if self._periodic is not None:
            await self._periodic
        if self.shadow is not None:
            self.shadow.close()  # after the drain, before the log: every decision reaches it
        if self.decision_log is not None:
            await self.decision_log.close()  # after the drain: every decision made is queued
        await self.store.close()

    async def _set_health(self, status: int) -> None:
        self.serving = status == SERVING
        for service in [OVERALL_HEALTH, *self._services]:
            await self.health.set(service, status)

    async def _report_redis(self) -> None:
        reachable = await self.store.ping()
        await self.health.set(FEATURE_STORE_HEALTH, SERVING if reachable else NOT_SERVING)
        if reachable == self._redis_reachable:
            return
        # The state at start, then each change.
        first, self._redis_reachable = self._redis_reachable is None, reachable
        where = masked_url(self.config.redis.url)
        if reachable:
            (log.info if first else log.warning)("redis reachable", redis=where)
        else:
            log.warning(
                "redis unreachable",
                redis=where,
                effect="decisions are degraded (baseline and rules that read no features) "
                "until it answers",
            )

    async def _each_period(self) -> None:
        # Ends on the stop event rather than by cancellation: redis-py can swallow a
        # cancellation that lands while it connects, which would leave shutdown waiting.
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), PERIOD_SECONDS)
            self._grpc_calls.update()
            self.guard.sample()
            if self._stopping.is_set():
                return
            await self._report_redis()
