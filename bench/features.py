"""Feature store benchmark: loader throughput and memory, read commands, lookup latency.

Starts its own redis-server (on PATH) on a free loopback port, without persistence, and stops it
at the end. Prints figures; it is not a test.

    python bench/features.py                  # 1M rows, 20k lookups per case
    python bench/features.py --rows 100000    # quicker
    python bench/features.py --rows 100000 --concurrency 1,16,64,256 --redis-timeout 1

The bounded-read script is compared with a plain HMGET (Redis's CPU per call and the client's
wall time). Lookups are measured one in flight (latency by source) and with several in flight,
each caller a task of its own issuing lookups back to back (throughput and latency per lookup).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import redis
import servers
from environment import redis_version
from prometheus_client import CollectorRegistry
from tierline_server.config import NearCacheSettings, RedisSettings
from tierline_server.features import demo, loader, redis_client
from tierline_server.features.bounded_read import SCRIPT, SCRIPT_SHA
from tierline_server.features.codec import FeatureCodec
from tierline_server.features.lookup import FeatureSource
from tierline_server.features.records import CustomerRecords
from tierline_server.features.store import FeatureStore
from tierline_server.metrics import Metrics
from tierline_server.policy.compiler import load_policy

REPO = Path(__file__).resolve().parents[1]
BATCH = 100
"""Customers per lookup_many call in the batch case (DecideBatch allows up to 1000)."""
LookupCall = Callable[[FeatureStore, int], Awaitable[list[FeatureSource]]]
"""One benchmarked call: the store and the call's index -> the sources of what it found."""


def peak_rss_bytes() -> int:
    """This process's peak resident set size so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def bench_loader(url: str, directory: Path, rows: int) -> None:
    """Load a demo population of ``rows`` customers; report rows/s and peak RSS."""
    source = directory / "customers.csv"
    with source.open("w", newline="") as out:
        demo.write_demo(out, rows, seed=1)
    policy = load_policy(REPO / "rules")
    settings = RedisSettings(url=url)
    with redis_client.writer_client(settings) as client:
        client.ping()
        before = peak_rss_bytes()
        summary = loader.load_file(source, policy, CustomerRecords(client, settings))
    after = peak_rss_bytes()
    size_mb = source.stat().st_size / 1e6
    print(
        f"loader: {summary.loaded:,} rows ({size_mb:.0f} MB of CSV), {summary.rejected} rejected, "
        f"{summary.customers:,} customers, in {summary.seconds:.1f} s = "
        f"{summary.rows_per_second:,.0f} rows/s"
    )
    print(
        f"loader: peak RSS {after / 1e6:.0f} MB for the whole process "
        f"({(after - before) / 1e6:+.1f} MB while loading)"
    )
    tiers = ", ".join(f"{tier} {count:,}" for tier, count in summary.tiers.most_common())
    print(f"loader: tiers {tiers}")


@dataclass
class Run:
    """What a timed run of calls measured."""

    timings: list[float]
    """Microseconds per call."""
    sources: dict[FeatureSource, int]
    """Where the features came from, over all calls."""
    seconds: float = 0.0
    """Wall-clock time of the whole run."""
    cpu_seconds: float = 0.0
    """This process's CPU time during the run: less sensitive to a busy machine than wall time."""


async def run_callers(
    lookup: Callable[[int], Awaitable[list[FeatureSource]]], count: int, concurrency: int
) -> Run:
    """``count`` calls of ``lookup`` from ``concurrency`` tasks, each issuing its next call as soon
    as the last returns (after a warm-up)."""
    run = Run([], dict.fromkeys(FeatureSource, 0))

    async def caller(indices: Iterator[int], timed: bool) -> None:
        for index in indices:  # shared by the callers: each index is taken once
            started = time.perf_counter_ns()
            found = await lookup(index)
            if timed:
                run.timings.append((time.perf_counter_ns() - started) / 1000)
                for source in found:
                    run.sources[source] += 1

    for timed, calls in ((False, min(1000, count)), (True, count)):
        indices = iter(range(calls))
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(caller(indices, timed) for _ in range(concurrency)))
    run.seconds, run.cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    return run


def report(name: str, run: Run, metrics: Metrics) -> None:
    """One line: p50, p99, max, calls/s, CPU per call, the sources seen and any Redis errors."""
    cuts = statistics.quantiles(run.timings, n=100)
    seen = ", ".join(f"{source.value} {n:,}" for source, n in run.sources.items() if n)
    failures = {
        sample.labels["kind"]: int(sample.value)
        for metric in metrics.registry.collect()
        if metric.name == "tierline_redis_errors"
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.value
    }
    calls = len(run.timings)
    print(
        f"  {name:<30} p50 {cuts[49]:8.1f} us   p99 {cuts[98]:8.1f} us   "
        f"max {max(run.timings):9.1f} us   {calls / run.seconds:7,.0f}/s   "
        f"CPU {run.cpu_seconds / calls * 1e6:6.1f} us/call   ({seen})"
        + (f"   Redis errors {failures}" if failures else "")
    )


async def single(store: FeatureStore, customer_id: str) -> list[FeatureSource]:
    """One lookup; its source."""
    return [(await store.lookup(customer_id)).source]


async def batch(store: FeatureStore, customer_ids: list[str]) -> list[FeatureSource]:
    """One lookup_many; the source of each customer."""
    return [found.source for found in await store.lookup_many(customer_ids)]


async def bench_lookups(
    settings: RedisSettings, rows: int, count: int, concurrency: list[int]
) -> None:
    """Lookups through FeatureStore: one in flight by where features come from, then Redis hits
    with several in flight."""
    policy = load_policy(REPO / "rules")
    rng = random.Random(2)
    width = max(6, len(str(rows)))
    known = [f"c{rng.randint(1, rows):0{width}d}" for _ in range(count)]
    unknown = [f"x{n}" for n in range(count)]
    hot = known[:100]  # a small working set stays in the near-cache
    batches = [known[i : i + BATCH] for i in range(0, count, BATCH)]
    cached, off = NearCacheSettings(ttl_seconds=3600), NearCacheSettings(enabled=False)
    cases: list[tuple[str, NearCacheSettings, LookupCall, int, int]] = [
        ("near-cache hit", cached, lambda store, i: single(store, hot[i % len(hot)]), count, 1),
        ("Redis hit (cache off)", off, lambda store, i: single(store, known[i]), count, 1),
        ("Redis miss (cache off)", off, lambda store, i: single(store, unknown[i]), count, 1),
        (f"lookup_many({BATCH}), Redis", off, lambda s, i: batch(s, batches[i]), len(batches), 1),
    ]
    cases += [
        (f"Redis hit, {n} in flight", off, lambda store, i: single(store, known[i]), count, n)
        for n in concurrency
        if n > 1
    ]
    budget_ms = settings.timeout_seconds * 1000
    print(f"lookups: read budget {budget_ms:g} ms; one in flight unless said otherwise")
    for name, cache, call, calls, callers in cases:
        metrics = Metrics(CollectorRegistry())
        store = FeatureStore(policy, settings, cache, metrics)
        await store.start()
        try:
            while cache.enabled and not store.is_listening:  # subscribing clears the cache
                await asyncio.sleep(0.01)
            run = await run_callers(
                lambda i: call(store, i),  # noqa: B023
                calls,
                callers,
            )
            report(name, run, metrics)
        finally:
            await store.close()


def bench_commands(url: str, rows: int, count: int) -> None:
    """What the bounded-read script costs against a plain HMGET, per key: Redis's own CPU
    (INFO commandstats) and the client's wall time, one key per round trip and 100 per round
    trip. The lookups above use EVALSHA."""
    fields = FeatureCodec(load_policy(REPO / "rules").features).fields
    rng = random.Random(3)
    width = max(6, len(str(rows)))
    keys_ = [f"tierline:customer:c{rng.randint(1, rows):0{width}d}" for _ in range(count)]
    limit = RedisSettings().max_value_bytes
    variants: dict[str, Callable[[str], tuple[object, ...]]] = {
        "HMGET": lambda key: ("HMGET", key, *fields),
        "EVALSHA script": lambda key: ("EVALSHA", SCRIPT_SHA, 1, key, limit, *fields),
        "EVAL script": lambda key: ("EVAL", SCRIPT, 1, key, limit, *fields),
    }
    print("commands: per key; Redis CPU from INFO commandstats, wall time at the client")
    with redis.Redis.from_url(url) as client:
        client.script_load(SCRIPT)
        for name, command in variants.items():
            stat = "cmdstat_" + str(command("k")[0]).lower()
            for per_trip in (1, BATCH):
                client.config_resetstat()
                started = time.perf_counter()
                for start in range(0, count, per_trip):
                    pipeline = client.pipeline(transaction=False)
                    for key in keys_[start : start + per_trip]:
                        pipeline.execute_command(*command(key))
                    pipeline.execute()
                wall = (time.perf_counter() - started) / count * 1e6
                server = client.info("commandstats")[stat]["usec_per_call"]
                print(
                    f"  {name:<16} {per_trip:>3} per round trip   Redis {server:6.2f} us   "
                    f"client wall {wall:7.1f} us"
                )


def main() -> None:
    """Run both benchmarks against a fresh redis-server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="customers to load")
    parser.add_argument("--lookups", type=int, default=20_000, help="lookups per case")
    parser.add_argument(
        "--concurrency",
        default="1,16,64",
        type=lambda text: [int(n) for n in text.split(",")],
        help="lookups in flight for the Redis-hit case, comma-separated",
    )
    parser.add_argument(
        "--redis-timeout",
        type=float,
        default=RedisSettings().timeout_seconds,
        help="read budget in seconds (default: the server's); on a busy machine a larger one "
        "keeps the circuit breaker out of the figures",
    )
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, redis-py {redis.__version__}, {redis_version()}")
    with tempfile.TemporaryDirectory() as directory:
        server = servers.start_redis(Path(directory) / "redis")
        url = server.url
        try:
            bench_loader(url, Path(directory), args.rows)
            settings = RedisSettings(url=url, timeout_seconds=args.redis_timeout)
            bench_commands(url, args.rows, args.lookups)
            asyncio.run(bench_lookups(settings, args.rows, args.lookups, args.concurrency))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
