"""Feature store benchmark: lookup latency by source, loader throughput and memory.

Starts its own redis-server (on PATH) on a free loopback port, without persistence, and stops it
at the end. Prints figures; it is not a test.

    python bench/features.py                  # 1M rows, 20k lookups per case
    python bench/features.py --rows 100000    # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import random
import resource
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import redis
import servers
from environment import redis_version
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


PLACEMENTS = ("unpinned", "same CPU", "other CPUs")
"""Where this process and redis-server run during the round-trip comparison."""


@contextlib.contextmanager
def placed(placement: str, redis_pid: int) -> Iterator[None]:
    """Pin this process and redis-server (every thread of each) as ``placement`` says."""
    cpus = sorted(os.sched_getaffinity(0))
    mine, theirs = {
        "unpinned": (set(cpus), set(cpus)),
        "same CPU": ({cpus[0]}, {cpus[0]}),
        "other CPUs": ({cpus[0]}, {cpus[-1]}),
    }[placement]
    pin(os.getpid(), mine)
    pin(redis_pid, theirs)
    try:
        yield
    finally:
        pin(os.getpid(), set(cpus))
        pin(redis_pid, set(cpus))


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of ``pid`` on ``cpus`` (a thread keeps the affinity it was created with)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), cpus)


def resp_command(*parts: str) -> bytes:
    """A Redis command in RESP, as a client sends it."""
    encoded = [part.encode() for part in parts]
    return b"*%d\r\n" % len(encoded) + b"".join(
        b"$%d\r\n%s\r\n" % (len(part), part) for part in encoded
    )


def array_complete(reply: bytes) -> bool:
    """Whether ``reply`` holds a whole RESP array of bulk strings (HMGET's answer)."""
    header, _, rest = reply.partition(b"\r\n")
    if not header.startswith(b"*") or not _:
        return False
    for _item in range(int(header[1:])):
        size, found, rest = rest.partition(b"\r\n")
        if not found:
            return False
        if size != b"$-1":
            if len(rest) < int(size[1:]) + 2:
                return False
            rest = rest[int(size[1:]) + 2 :]
    return True


async def bench_round_trips(url: str, rows: int, count: int, placement: str) -> None:
    """One HMGET of a customer's features, five ways, sequentially: what a near-cache miss
    costs through redis-py asyncio against the raw round trip."""
    policy = load_policy(REPO / "rules")
    settings = RedisSettings(url=url)
    fields = [*policy.features, "_updated"]
    width = max(6, len(str(rows)))
    rng = random.Random(3)
    keys = [f"{settings.key_prefix}c{rng.randint(1, rows):0{width}d}" for _ in range(count)]
    commands = [resp_command("HMGET", key, *fields) for key in keys]
    host, port = url.split("//")[1].split("/", maxsplit=1)[0].split(":")
    print(f"round trips ({placement}): HMGET of {len(fields)} fields, one in flight")

    with socket.create_connection((host, int(port))) as raw:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        async def raw_socket(index: int) -> list[FeatureSource]:
            raw.sendall(commands[index])
            reply = raw.recv(65536)
            while not array_complete(reply):
                reply += raw.recv(65536)
            return [FeatureSource.REDIS]

        report("raw socket (blocking)", *await latencies(raw_socket, count))

    reader, writer = await asyncio.open_connection(host, int(port))

    async def raw_asyncio(index: int) -> list[FeatureSource]:
        writer.write(commands[index])
        reply = await reader.read(65536)
        while not array_complete(reply):
            reply += await reader.read(65536)
        return [FeatureSource.REDIS]

    report("raw asyncio streams", *await latencies(raw_asyncio, count))
    writer.close()

    with redis.Redis.from_url(url) as sync_client:

        async def redis_py_sync(index: int) -> list[FeatureSource]:
            sync_client.hmget(keys[index], fields)
            return [FeatureSource.REDIS]

        report("redis-py sync", *await latencies(redis_py_sync, count))

    # Tierline's request client, but with a read budget long enough that a slow call on a busy
    # machine is timed rather than raised: the cost is measured here, not the budget.
    client = redis_client.request_client(dataclasses.replace(settings, timeout_seconds=1.0))

    async def redis_py_asyncio(index: int) -> list[FeatureSource]:
        await client.hmget(keys[index], fields)
        return [FeatureSource.REDIS]

    report("redis-py asyncio (ours)", *await latencies(redis_py_asyncio, count))
    await client.aclose()

    store = FeatureStore(
        policy, settings, NearCacheSettings(enabled=False), Metrics(CollectorRegistry())
    )
    await store.start()
    try:
        ids = [key.removeprefix(settings.key_prefix) for key in keys]
        report("FeatureStore.lookup", *await latencies(lambda i: single(store, ids[i]), count))
    finally:
        await store.close()


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
    """Run every benchmark against a fresh redis-server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="customers to load")
    parser.add_argument("--lookups", type=int, default=20_000, help="lookups per case")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, redis-py {redis.__version__}, {redis_version()}")
    with tempfile.TemporaryDirectory() as directory:
        server = servers.start_redis(Path(directory) / "redis")
        try:
            bench_loader(server.url, Path(directory), args.rows)
            asyncio.run(bench_lookups(server.url, args.rows, args.lookups))
            assert server.pid is not None
            for placement in PLACEMENTS:
                with placed(placement, server.pid):
                    asyncio.run(bench_round_trips(server.url, args.rows, args.lookups, placement))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
