"""Wire the service together and run it until SIGTERM / SIGINT.

Start: policy -> feature store -> servicers behind the call guard -> health -> reflection ->
port -> metrics endpoint -> SERVING. Stop: NOT_SERVING -> the guard refuses new calls ->
in-flight calls finish within the grace period -> gRPC stops -> close Redis and the metrics
endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import REGISTRY, start_http_server
from tierline.v1 import entitlement_pb2, policy_admin_pb2

from tierline_server.api import admin, entitlement
from tierline_server.api.admission import Admission
from tierline_server.api.guard import CallGuard
from tierline_server.config import ServerConfig, masked_url
from tierline_server.decisions import DecisionService
from tierline_server.features.store import FeatureStore
from tierline_server.metrics import Metrics
from tierline_server.served_policy import ServedPolicy

log = logging.getLogger(__name__)

ENTITLEMENT = entitlement_pb2.DESCRIPTOR.services_by_name["EntitlementService"]
ADMIN = policy_admin_pb2.DESCRIPTOR.services_by_name["PolicyAdminService"]
FEATURE_STORE_HEALTH = "tierline.features"
"""Health entry that reports Redis: NOT_SERVING while Redis is unreachable (decisions degrade)."""
OVERALL_HEALTH = ""
REDIS_PROBE_SECONDS = 1.0
KEEPALIVE_MIN_PING_MS = 10_000
CONNECTION_AGE_GRACE_MS = 30_000
"""Time a connection past its maximum age has to finish its calls."""
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class TierlineServer:
    """A running Tierline: start(), then stop(); ``port`` is the bound gRPC port."""

    def __init__(self, config: ServerConfig, metrics: Metrics) -> None:
        self.config = config
        self.metrics = metrics
        self.served = ServedPolicy(Path(config.policy_path), metrics)
        self.store = FeatureStore(self.served.policy, config.redis, config.near_cache, metrics)
        self.served.on_change(self.store.set_policy)
        self.health = health.aio.HealthServicer()
        self.guard = CallGuard(Admission(config.max_in_flight, config.max_queue_seconds), metrics)
        # No maximum_concurrent_rpcs: gRPC would count a call from its first frame, so calls
        # whose message never completes could take every slot. The guard counts admitted
        # decisions instead, and a connection may hold only streams_per_connection calls.
        self.server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", config.max_message_bytes),
                ("grpc.max_send_message_length", config.max_message_bytes),
                ("grpc.max_concurrent_streams", config.streams_per_connection),
                ("grpc.max_connection_age_ms", int(config.max_connection_age_seconds * 1000)),
                ("grpc.max_connection_age_grace_ms", CONNECTION_AGE_GRACE_MS),
                ("grpc.so_reuseport", 1),
                # Let clients keep idle connections warm with pings (a live call must not pay
                # for a reconnect); gRPC's defaults answer such pings with GOAWAY.
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.min_ping_interval_without_data_ms", KEEPALIVE_MIN_PING_MS),
            ],
        )
        self.port = 0
        self._services = [ENTITLEMENT.full_name] + (
            [ADMIN.full_name] if config.enable_admin else []
        )
        self._metrics_http: Any = None
        self._probe: asyncio.Task[None] | None = None
        self._redis_reachable: bool | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        """Listen, then report SERVING once everything is ready."""
        await self._set_health(NOT_SERVING)
        await self.store.start()
        decisions = DecisionService(self.served, self.store, self.metrics)
        services = [
            self.guard.service(
                ENTITLEMENT,
                entitlement.EntitlementServicer(decisions, self.served),
                entitlement.METHODS,
            )
        ]
        if self.config.enable_admin:
            services.append(
                self.guard.service(ADMIN, admin.PolicyAdminServicer(self.served), admin.METHODS)
            )
        self.server.add_generic_rpc_handlers(services)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            [*self._services, health.SERVICE_NAME, reflection.SERVICE_NAME], self.server
        )
        self.port = self.server.add_insecure_port(self.config.listen)
        if self.config.metrics_port:
            self._metrics_http, _ = start_http_server(
                self.config.metrics_port, addr="0.0.0.0", registry=self.metrics.registry
            )
        await self.server.start()
        await self._report_redis()
        await self._set_health(SERVING)
        self._probe = asyncio.create_task(self._probe_redis())

    async def stop(self) -> None:
        """Drain: NOT_SERVING, finish in-flight RPCs within the grace period, close resources."""
        await self._set_health(NOT_SERVING)
        self._stopping.set()
        self.guard.drain()
        grace = self.config.grace_seconds
        started = asyncio.get_running_loop().time()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.guard.idle(), grace)
        elapsed = asyncio.get_running_loop().time() - started
        await self.server.stop(max(grace - elapsed, 0))
        if self._probe is not None:
            await self._probe
        await self.store.close()
        if self._metrics_http is not None:
            self._metrics_http.shutdown()

    async def _set_health(self, status: int) -> None:
        for service in [OVERALL_HEALTH, *self._services]:
            await self.health.set(service, status)

    async def _report_redis(self) -> None:
        reachable = await self.store.ping()
        if reachable != self._redis_reachable:  # the state at start, then each change
            self._log_redis(reachable, first=self._redis_reachable is None)
            self._redis_reachable = reachable
        await self.health.set(FEATURE_STORE_HEALTH, SERVING if reachable else NOT_SERVING)

    def _log_redis(self, reachable: bool, *, first: bool) -> None:
        where = masked_url(self.config.redis.url)
        if reachable:
            log.log(logging.INFO if first else logging.WARNING, "Redis at %s answers", where)
        else:
            log.warning(
                "Redis at %s %s: decisions are degraded (baseline and rules that read no "
                "features) until it answers",
                where,
                "does not answer" if first else "stopped answering",
            )

    async def _probe_redis(self) -> None:
        # Ends on the stop event rather than by cancellation: redis-py can swallow a
        # cancellation that lands while it connects, which would leave shutdown waiting.
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), REDIS_PROBE_SECONDS)
            if self._stopping.is_set():
                return
            await self._report_redis()


async def serve(config: ServerConfig) -> None:
    """Run until SIGTERM or SIGINT; SIGHUP reloads the policy."""
    server = TierlineServer(config, Metrics(REGISTRY))
    await server.start()
    host = config.listen.rsplit(":", 1)[0]
    log.info(
        "tierline listening on %s:%d, serving policy %s %s (metrics %s)",
        host,
        server.port,
        server.served.policy.name,
        server.served.policy.version,
        f"on :{config.metrics_port}/metrics" if config.metrics_port else "off",
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    loop.add_signal_handler(signal.SIGHUP, server.served.reload)
    await stopping.wait()
    log.info("draining (grace %.1fs)", config.grace_seconds)
    await server.stop()
    log.info("stopped")
