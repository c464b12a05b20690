"""What our own code costs per Decide, without gRPC: the CPU time of the guarded Decide handler.

Builds what a worker serves Decide with (the call guard without authentication, validation,
the feature store over a private Redis with demo customers, the default policy, the response
message, metrics written to files as a worker writes them) and calls the guarded handler in a
loop on its event loop with the load harness's Decide bodies, as gRPC would hand it the raw
bytes. What this leaves out of a call is gRPC and the kernel: service.py's server CPU per
decision minus this figure is what a call costs outside our code.

Prints CPU µs per call for each repeat (near-cache on: after the first call per customer, every
lookup is a hit) and, with ``--profile``, the functions with the most time of their own.

    python bench/handler_cost.py
    python bench/handler_cost.py --calls 20000 --profile 25
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import mix
import servers
from environment import environment_table, machine_facts
from prometheus_client import CollectorRegistry, values
from rich.console import Console
from tierline.v1 import entitlement_pb2 as pb
from tierline_server.api import entitlement
from tierline_server.api.admission import Admission
from tierline_server.api.auth import Authenticator, Credentials
from tierline_server.api.guard import CallGuard, parse_binary
from tierline_server.config import (
    NearCacheSettings,
    RedisSettings,
    ServerConfig,
)
from tierline_server.decisions import DecisionService
from tierline_server.features.store import FeatureStore
from tierline_server.metrics import Metrics
from tierline_server.policy.compiler import load_policy
from tierline_server.policy.decider import Decider

DISTRIBUTIONS = ("grpcio", "protobuf", "redis", "durable-rules", "prometheus-client")
DEADLINE_SECONDS = 0.05
"""What each call says is left of its deadline (a call center's)."""


class LoopbackCall:
    """A gRPC call as the guard sees it, from a caller on loopback without credentials."""

    protocol = "grpc"

    def credentials(self) -> Credentials:
        """No authorization, no certificate."""
        return Credentials(authorization=None, certificate_subject=None, peer="ipv4:127.0.0.1:1")

    def time_remaining(self) -> float:
        """Always the same deadline ahead."""
        return DEADLINE_SECONDS


async def measure(
    redis_url: str, bodies: Sequence[bytes], calls: int, repeat: int, profile: int
) -> list[float]:
    """CPU µs per call of each repeat (after a warm-up of every body)."""
    metrics = Metrics(CollectorRegistry())
    decider = Decider(load_policy(servers.POLICY))
    store = FeatureStore(decider.policy, RedisSettings(url=redis_url), NearCacheSettings(), metrics)
    await store.start()
    defaults = ServerConfig()  # the server's admission settings
    admission = Admission(defaults.max_in_flight, defaults.max_queue_seconds)
    guard = CallGuard(admission, metrics, Authenticator(None, metrics))
    servicer = entitlement.EntitlementServicer(DecisionService(decider, store, metrics), decider)
    decide = guard.guarded(
        "Decide", pb.DecideRequest, entitlement.METHODS["Decide"], servicer.Decide
    )
    call = LoopbackCall()

    async def run(count: int) -> None:
        for index in range(count):
            await decide(call, bodies[index % len(bodies)], parse_binary)

    try:
        await run(len(bodies) * 10)
        figures = [await _cpu_micros(run, calls) for _ in range(repeat)]
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            await run(calls)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(profile)
        return figures
    finally:
        await store.close()


async def _cpu_micros(run: Callable[[int], Awaitable[None]], calls: int) -> float:
    started = time.process_time()
    await run(calls)
    return (time.process_time() - started) / calls * 1e6


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print; always 0 (figures, not a test)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40_000, help="calls per repeat")
    parser.add_argument("--repeat", type=int, default=3, help="repeats")
    parser.add_argument("--customers", type=int, default=2_000, help="demo customers in Redis")
    parser.add_argument("--bodies", type=int, default=16, help="distinct Decide bodies")
    parser.add_argument("--seed", type=int, default=7, help="seed of the request mix")
    parser.add_argument("--profile", type=int, default=0, help="also print the top N functions")
    args = parser.parse_args(argv)
    console = Console()
    with tempfile.TemporaryDirectory(prefix="tierline-handler-cost-") as directory:
        # Metrics go to files, as in a worker: an increment is a write to a mapped file there.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        values.ValueClass = values.MultiProcessValue(lambda: "bench")  # type: ignore[no-untyped-call]
        redis = servers.start_redis(Path(directory) / "redis")
        try:
            by_tier = servers.load_population(redis.url, Path(directory), args.customers).by_tier
            bodies = [body.message for body in mix.decide_bodies(by_tier, args.bodies, args.seed)]
            figures = asyncio.run(measure(redis.url, bodies, args.calls, args.repeat, args.profile))
        finally:
            redis.stop()
    console.print(environment_table(machine_facts(DISTRIBUTIONS)))
    shown = ", ".join(f"{figure:.1f}" for figure in figures)
    console.print(
        f"guarded Decide without gRPC: {shown} µs of CPU per call "
        f"({args.calls:,} calls per repeat, near-cache on, {args.bodies} bodies)",
        highlight=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
