"""Burst benchmark: ``--size`` Decides sent at once by h2load, each with a 50 ms deadline
(``grpc-timeout``), against `tierline serve --workers 1` and `--workers 2` over a real Redis.

A call center's top of the hour, without a Python client in the way: a Python client spends
about as long starting 500 calls as their deadline (service.py's bursts show that side). h2load
opens ``--connections`` connections and sends every stream of the burst over them at once.
For each burst, the server's own counters say what became of the calls that reached its
handlers (answered OK, shed with RESOURCE_EXHAUSTED, abandoned), and its decision-duration
histogram how fast the shed ones were refused; calls that gRPC's core expired before any
handler ran are the difference to ``--size`` (gRPC answers them DEADLINE_EXCEEDED itself); the
server counts them only in gRPC's own count of calls (tierline_grpc_calls_total, from channelz),
whose "started" must be the whole burst. Client side: h2load's time to the last answer.

    python bench/burst.py                   # 10 bursts of 500 on each deployment, about 1 minute
    python bench/burst.py --size 200 --bursts 3 --workers 2
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h2load
import mix
import servers
import wire
from environment import environment_table, machine_facts, redis_version, tool_version
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table

DECIDE_PATH = "/tierline.v1.EntitlementService/Decide"
SHED_FAST_SECONDS = 0.005
"""A shed call must be refused within this (a LATENCY_BUCKETS bound, so read exactly)."""
PAUSE_SECONDS = 1.5
"""After each burst: the server's queues empty, and its workers copy gRPC's own counts into
/metrics (once a second)."""


@dataclass
class Burst:
    """One burst as the server counted it, and the client's wall time."""

    answered: int
    shed: int
    shed_fast: int
    abandoned: int
    grpc_started: int
    """Calls gRPC itself counted as started (tierline_grpc_calls_total): the whole burst."""
    wall_ms: float

    def unseen(self, size: int) -> int:
        """Calls that never reached a handler: gRPC expired them first."""
        return size - self.answered - self.shed - self.abandoned


@dataclass
class Deployment:
    """Every burst on one deployment."""

    name: str
    bursts: list[Burst] = field(default_factory=list)


def _counts(metrics_url: str) -> dict[str, float]:
    """The server's Decide calls by gRPC code, and its shed calls refused within
    SHED_FAST_SECONDS (key ``shed_fast``)."""
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(servers.scrape(metrics_url)):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "tierline_grpc_calls_total":
                counts["grpc_" + labels["result"]] = sample.value
            if labels.get("method") != "Decide" or labels.get("protocol", "grpc") != "grpc":
                continue
            if sample.name == "tierline_rpcs_total":
                counts[labels["code"]] = counts.get(labels["code"], 0) + sample.value
            elif (
                sample.name == "tierline_decision_duration_seconds_bucket"
                and labels.get("outcome") == "shed"
                and float(labels["le"]) == SHED_FAST_SECONDS
            ):
                counts["shed_fast"] = counts.get("shed_fast", 0) + sample.value
    return counts


def burst(server: servers.Server, body: Path, args: argparse.Namespace) -> Burst:
    """One burst of ``args.size`` streams over ``args.connections`` connections."""
    url = f"http://{server.target}{DECIDE_PATH}"
    streams = -(-args.size // args.connections)  # every stream of the burst at once
    before = _counts(server.metrics_urls[0])
    started = time.perf_counter()
    subprocess.run(
        [
            "h2load", "-n", str(args.size), "-c", str(args.connections), "-m", str(streams),
            "-d", str(body), "-H", "content-type: application/grpc", "-H", "te: trailers",
            "-H", f"grpc-timeout: {round(args.deadline * 1000)}m", url,
        ],
        capture_output=True, check=True,
    )  # fmt: skip
    wall_ms = (time.perf_counter() - started) * 1000
    time.sleep(PAUSE_SECONDS)  # the calls still in the server finish and are counted
    after = _counts(server.metrics_urls[0])

    def delta(key: str) -> int:
        return round(after.get(key, 0) - before.get(key, 0))

    return Burst(
        answered=delta("OK"),
        shed=delta("RESOURCE_EXHAUSTED"),
        shed_fast=delta("shed_fast"),
        abandoned=delta("DEADLINE_EXCEEDED") + delta("CANCELLED"),
        grpc_started=delta("grpc_started"),
        wall_ms=wall_ms,
    )


def table(deployments: Sequence[Deployment], size: int, deadline_ms: float) -> Table:
    """Medians over the bursts of each deployment, min-max in brackets."""
    result = Table(
        title=f"Bursts of {size} Decides with a {deadline_ms:g} ms deadline (medians over "
        "bursts; min-max in brackets)"
    )
    for column in (
        "deployment", "bursts", "answered OK", "shed", f"shed ≤ {SHED_FAST_SECONDS * 1000:g} ms",
        "abandoned in a handler", "expired before a handler", "gRPC counted", "h2load wall ms",
    ):  # fmt: skip
        result.add_column(column, justify="left" if column == "deployment" else "right")

    def spread(values: Sequence[float], digits: int = 0) -> str:
        low, middle, high = min(values), statistics.median(values), max(values)
        return f"{middle:,.{digits}f} ({low:,.{digits}f}-{high:,.{digits}f})"

    for deployment in deployments:
        bursts = deployment.bursts
        result.add_row(
            deployment.name,
            str(len(bursts)),
            spread([b.answered for b in bursts]),
            spread([b.shed for b in bursts]),
            f"{sum(b.shed_fast for b in bursts):,} of {sum(b.shed for b in bursts):,}",
            spread([b.abandoned for b in bursts]),
            spread([b.unseen(size) for b in bursts]),
            spread([b.grpc_started for b in bursts]),
            spread([b.wall_ms for b in bursts], 1),
        )
    return result


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--size", type=int, default=500, help="calls per burst")
    add("--bursts", type=int, default=10, help="bursts per deployment")
    add("--deadline", type=float, default=0.05, help="each call's deadline (s)")
    add("--connections", type=int, default=8, help="h2load connections (the calls spread)")
    add("--workers", type=int, nargs="+", default=[1, 2], help="deployments: --workers N")
    add("--customers", type=int, default=20_000, help="demo customers in Redis")
    add("--seed", type=int, default=7, help="seed of the request mix")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bursts and print the table."""
    args = parse_args(argv)
    h2load.require_h2load()
    console = Console()
    facts = machine_facts(["grpcio", "protobuf", "redis", "durable-rules"])
    facts["h2load"] = tool_version(["h2load", "--version"])
    deployments = []
    with tempfile.TemporaryDirectory(prefix="tierline-burst-") as scratch:
        directory = Path(scratch)
        redis = servers.start_redis(directory)
        try:
            by_tier = servers.load_population(redis.url, directory, args.customers).by_tier
            facts["Redis"] = f"{redis_version()}, {args.customers:,} demo customers"
            # One body per burst: h2load sends one; the mix's first known customer, near-cache on.
            body = directory / "decide.bin"
            body.write_bytes(wire.grpc_framed(mix.decide_bodies(by_tier, 1, args.seed)[0]))
            for workers in args.workers:
                name = f"--workers {workers}"
                server = servers.start_tierline(name, redis.url, processes=workers)
                try:
                    with console.status(f"{args.bursts} bursts of {args.size} on {name} ..."):
                        deployment = Deployment(name)
                        burst(server, body, args)  # warm: connections, near-cache, memo
                        for _ in range(args.bursts):
                            deployment.bursts.append(burst(server, body, args))
                    deployments.append(deployment)
                finally:
                    server.stop()
        finally:
            redis.stop()
    facts["load"] = (
        f"h2load, all {args.size} streams at once over {args.connections} connections; "
        f"grpc-timeout {args.deadline * 1000:g} ms; {PAUSE_SECONDS:g} s between bursts"
    )
    console.print(environment_table(facts))
    console.print(table(deployments, args.size, args.deadline * 1000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
