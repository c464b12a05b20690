"""Feature store benchmark: lookup latency by source, loader throughput and memory.

Starts its own redis-server (on PATH) on a free loopback port, without persistence, and stops it
at the end. Prints figures; it is not a test.

    python bench/features.py                  # 1M rows, 20k lookups per case
    python bench/features.py --rows 100000    # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import redis
from prometheus_client import CollectorRegistry
from tierline_server.config import NearCacheSettings, RedisSettings
from tierline_server.features import demo, loader, redis_client
from tierline_server.features.lookup import FeatureSource
from tierline_server.features.records import CustomerRecords
from tierline_server.features.store import FeatureStore
from tierline_server.metrics import Metrics
from tierline_server.policy.compiler import load_policy

REPO = Path(__file__).resolve().parents[1]
BATCH = 100
LookupCall = Callable[[FeatureStore, int], Awaitable[list[FeatureSource]]]
"""One benchmarked call: the store and the call's index -> the sources of what it found."""
"""Customers per lookup_many call in the batch case (DecideBatch allows up to 1000)."""


def start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A redis-server on a free loopback port, answering PING."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            with redis.Redis.from_url(url) as client:
                client.ping()
            return process, url
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)


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


async def latencies(
    lookup: Callable[[int], Awaitable[list[FeatureSource]]], count: int
) -> tuple[list[float], dict[FeatureSource, int]]:
    """Microseconds per call of ``lookup`` (after a warm-up), and the sources it returned."""
    for index in range(min(1000, count)):
        await lookup(index % count)
    timings, sources = [], dict.fromkeys(FeatureSource, 0)
    for index in range(count):
        started = time.perf_counter_ns()
        found = await lookup(index)
        timings.append((time.perf_counter_ns() - started) / 1000)
        for source in found:
            sources[source] += 1
    return timings, sources


def report(name: str, timings: list[float], sources: dict[FeatureSource, int]) -> None:
    """One line: p50, p99, max, and the sources seen."""
    cuts = statistics.quantiles(timings, n=100)
    seen = ", ".join(f"{source.value} {n:,}" for source, n in sources.items() if n)
    print(
        f"  {name:<24} p50 {cuts[49]:8.1f} us   p99 {cuts[98]:8.1f} us   "
        f"max {max(timings):9.1f} us   ({seen})"
    )


async def single(store: FeatureStore, customer_id: str) -> list[FeatureSource]:
    """One lookup; its source."""
    return [(await store.lookup(customer_id)).source]


async def batch(store: FeatureStore, customer_ids: list[str]) -> list[FeatureSource]:
    """One lookup_many; the source of each customer."""
    return [found.source for found in await store.lookup_many(customer_ids)]


async def bench_lookups(url: str, rows: int, count: int) -> None:
    """Sequential lookups (one in flight) through FeatureStore, by where features come from."""
    policy = load_policy(REPO / "rules")
    settings = RedisSettings(url=url)  # the default read budget
    rng = random.Random(2)
    width = max(6, len(str(rows)))
    known = [f"c{rng.randint(1, rows):0{width}d}" for _ in range(count)]
    unknown = [f"x{n}" for n in range(count)]
    hot = known[:100]  # a small working set stays in the near-cache
    batches = [known[i : i + BATCH] for i in range(0, count, BATCH)]
    cached, off = NearCacheSettings(ttl_seconds=3600), NearCacheSettings(enabled=False)
    cases: list[tuple[str, NearCacheSettings, LookupCall, int]] = [
        ("near-cache hit", cached, lambda store, i: single(store, hot[i % len(hot)]), count),
        ("Redis hit (cache off)", off, lambda store, i: single(store, known[i]), count),
        ("Redis miss (cache off)", off, lambda store, i: single(store, unknown[i]), count),
        (f"lookup_many({BATCH}), Redis", off, lambda s, i: batch(s, batches[i]), len(batches)),
    ]
    budget_ms = settings.timeout_seconds * 1000
    print(f"lookups: sequential calls, one in flight, read budget {budget_ms:g} ms")
    for name, cache, call, calls in cases:
        store = FeatureStore(policy, settings, cache, Metrics(CollectorRegistry()))
        await store.start()
        try:
            while cache.enabled and not store.is_listening:  # subscribing clears the cache
                await asyncio.sleep(0.01)
            timings, sources = await latencies(lambda i: call(store, i), calls)  # noqa: B023
            report(name, timings, sources)
        finally:
            await store.close()


def main() -> None:
    """Run both benchmarks against a fresh redis-server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="customers to load")
    parser.add_argument("--lookups", type=int, default=20_000, help="lookups per case")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, redis-py {redis.__version__}, {redis_version()}")
    with tempfile.TemporaryDirectory() as directory:
        process, url = start_redis(Path(directory))
        try:
            bench_loader(url, Path(directory), args.rows)
            asyncio.run(bench_lookups(url, args.rows, args.lookups))
        finally:
            process.terminate()
            process.wait()


def redis_version() -> str:
    """The redis-server version on PATH."""
    command = ["redis-server", "--version"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return output.split(" v=")[1].split()[0] if " v=" in output else output.strip()


if __name__ == "__main__":
    main()
