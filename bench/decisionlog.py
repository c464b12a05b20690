"""Decision log benchmark: what a decision pays on the request path, and what the background
writer costs and stores.

In one run:

(a) ``append``: the only call on the request path, timed in batches of ``--batch`` calls
    (perf_counter_ns around each batch, so the clock's own cost is spread thin), with every
    decision sampled, with a quarter sampled, and with the queue full (the drop path);
(b) the background work per decision: building the record and encoding it as JSON (msgspec),
    with and without a keyed hash of the customer id;
(c) the writer against a private redis-server: decisions written per second (append to the
    last batch acknowledged) and Redis memory per entry (MEMORY USAGE);
(d) why the writer calls a script: this process's CPU per entry to append batches of
    WRITE_BATCH encoded records with a pipeline of XADDs, and with the writer's script (the
    event loop spends that time in one stretch per batch, while requests wait).

CPU time (time.process_time) is printed beside wall time: on a shared machine the wall clock
counts other processes' turns too. It prints figures and always exits 0: it is not a test.

    python bench/decisionlog.py                     # about half a minute
    python bench/decisionlog.py --decisions 20000   # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from types import MappingProxyType

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the test support that starts a real redis-server

from engine import make_samples  # noqa: E402
from environment import redis_version  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from support.redis_server import RedisServer  # noqa: E402
from tierline_server.config import DecisionLogSettings, RedisSettings  # noqa: E402
from tierline_server.decisionlog import record  # noqa: E402
from tierline_server.decisionlog.customers import CustomerNames  # noqa: E402
from tierline_server.decisionlog.writer import (  # noqa: E402
    APPEND_SCRIPT,
    WRITE_BATCH,
    DecisionLogWriter,
)
from tierline_server.decisions import DecisionRequest, Outcome  # noqa: E402
from tierline_server.features.lookup import FeatureSource  # noqa: E402
from tierline_server.ids import new_decision_id  # noqa: E402
from tierline_server.metrics import Metrics  # noqa: E402
from tierline_server.policy.compiler import load_policy  # noqa: E402
from tierline_server.policy.decider import Decider  # noqa: E402

POLICY = REPO / "rules"
KEY = b"bench-key-of-thirty-two-bytes-00"
WIDTH = 150
"""Columns of the printed tables, terminal or not (results are kept as text files)."""
POLL_SECONDS = 0.05
"""How often (c) looks whether everything is written (reading metrics costs CPU too)."""
Decision = tuple[DecisionRequest, Outcome]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=100_000, help="decisions per figure")
    parser.add_argument("--batch", type=int, default=1000, help="appends per timed batch")
    parser.add_argument("--samples", type=int, default=400, help="distinct inputs, cycled")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the input generator")
    return parser.parse_args(argv)


def make_decisions(count: int, samples: int, seed: int) -> list[Decision]:
    """``count`` decisions of the default policy, as the decision service hands them on."""
    decider = Decider(load_policy(POLICY))
    inputs = itertools.cycle(make_samples(decider, samples, seed))
    made = []
    for number in range(count):
        sample = next(inputs)
        outcome = Outcome(
            decision_id=new_decision_id(),
            customer_id=f"c{number % 100_000:06d}",
            decision=decider.decide(sample.features, sample.context),
            feature_source=FeatureSource.NEAR_CACHE,
            features_age_seconds=1.5,
            lookup_micros=20,
            eval_micros=70,
            total_micros=95,
            features=MappingProxyType(sample.features),
        )
        made.append((DecisionRequest(outcome.customer_id, sample.context), outcome))
    return made


def writer(url: str, metrics: Metrics, **settings: object) -> DecisionLogWriter:
    """A writer with its own settings and metrics."""
    return DecisionLogWriter(
        DecisionLogSettings(**settings),  # type: ignore[arg-type]
        RedisSettings(url=url),
        metrics,
        CustomerNames(None),
    )


@dataclasses.dataclass(frozen=True)
class PerCall:
    """Time per call: the median batch's and the mean, in nanoseconds; CPU mean likewise."""

    median_ns: float
    mean_ns: float
    cpu_ns: float


def time_appends(log: DecisionLogWriter, made: Sequence[Decision], batch: int) -> PerCall:
    """``append`` over ``made``, in batches of ``batch`` calls (the writer is never started)."""
    append = log.append
    per_batch = []
    cpu_started = time.process_time()
    for start in range(0, len(made) - batch + 1, batch):
        chunk = made[start : start + batch]
        began = time.perf_counter_ns()
        for request, outcome in chunk:
            append(request, outcome, batch=False)
        per_batch.append((time.perf_counter_ns() - began) / batch)
        log._queue.clear()  # as the writer's task drains it: a queue that is never long
    cpu = time.process_time() - cpu_started
    ordered = sorted(per_batch)
    calls = len(per_batch) * batch
    return PerCall(ordered[len(ordered) // 2], sum(per_batch) / len(per_batch), cpu * 1e9 / calls)


def time_each(work: Callable[[Decision], object], made: Sequence[Decision]) -> PerCall:
    """``work`` once per decision: mean wall and CPU time per call."""
    cpu_started, began = time.process_time(), time.perf_counter_ns()
    for item in made:
        work(item)
    wall = (time.perf_counter_ns() - began) / len(made)
    cpu = (time.process_time() - cpu_started) * 1e9 / len(made)
    return PerCall(wall, wall, cpu)


def request_path(made: Sequence[Decision], batch: int) -> dict[str, PerCall]:
    """(a): every decision sampled, a quarter sampled, and the queue full."""
    unused = "redis://127.0.0.1:1/0"  # never started: append alone is timed
    results = {}
    variants: dict[str, dict[str, float]] = {
        "append, all sampled (queued)": {},
        "append, 1 in 4 sampled": {"sample_decide": 0.25},
        "append, queue full (dropped, counted)": {"queue_size": 1},
    }
    for name, settings in variants.items():
        results[name] = time_appends(
            writer(unused, Metrics(CollectorRegistry()), **settings), made, batch
        )
    return results


def background(made: Sequence[Decision]) -> dict[str, PerCall]:
    """(b): building and encoding the record, without and with a keyed hash."""
    names = CustomerNames(KEY)

    def plain(item: Decision) -> bytes:
        return record.encode(record.record_of(item[0], item[1], batch=False))

    def hashed(item: Decision) -> bytes:
        outcome = dataclasses.replace(item[1], customer_id=names.name(item[1].customer_id))
        return record.encode(record.record_of(item[0], outcome, batch=False, customer_hashed=True))

    return {
        "record + JSON encode": time_each(plain, made),
        "record + JSON encode, keyed hash": time_each(hashed, made),
        "JSON decode (a reader's cost)": time_each_decode(made),
    }


def time_each_decode(made: Sequence[Decision]) -> PerCall:
    """Decoding what (b) encodes: what export, tail and replay pay per entry."""
    encoded = [record.encode(record.record_of(r, o, batch=False)) for r, o in made]
    cpu_started, began = time.process_time(), time.perf_counter_ns()
    for data in encoded:
        record.decode(data)
    wall = (time.perf_counter_ns() - began) / len(encoded)
    return PerCall(wall, wall, (time.process_time() - cpu_started) * 1e9 / len(encoded))


@dataclasses.dataclass(frozen=True)
class Throughput:
    """(c): the writer against real Redis."""

    decisions: int
    seconds: float
    cpu_seconds: float
    bytes_per_entry: float
    json_bytes: float


def throughput(made: Sequence[Decision], redis_url: str) -> Throughput:
    """Queue everything, then time until the last decision is written."""
    metrics = Metrics(CollectorRegistry())
    log = writer(redis_url, metrics, queue_size=len(made) + 1, max_length=0)

    def written() -> float:
        return metrics.registry.get_sample_value("tierline_decision_log_written_total") or 0.0

    async def run() -> tuple[float, float]:
        log.start()
        cpu_started, began = time.process_time(), time.perf_counter()
        for request, outcome in made:
            log.append(request, outcome, batch=False)
        while (metrics.registry.get_sample_value("tierline_decision_log_written_total") or 0) < len(
            made
        ):
            await asyncio.sleep(0.005)
        elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu_started
        await log.close()
        return elapsed, cpu

    seconds, cpu = asyncio.run(run())
    server_client = RedisServerClient(redis_url)
    memory = server_client.memory_usage()
    sizes = [len(record.encode(record.record_of(r, o, batch=False))) for r, o in made[:1000]]
    return Throughput(len(made), seconds, cpu, memory / len(made), sum(sizes) / len(sizes))


def batch_costs(made: Sequence[Decision], redis_url: str) -> dict[str, float]:
    """(d) CPU µs per entry to append encoded batches: a pipeline of XADDs, and the script."""
    import redis.asyncio

    encoded = [record.encode(record.record_of(r, o, batch=False)) for r, o in made]
    batches = [encoded[i : i + WRITE_BATCH] for i in range(0, len(encoded), WRITE_BATCH)]

    async def run() -> dict[str, float]:
        client = redis.asyncio.from_url(redis_url)
        script = client.register_script(APPEND_SCRIPT)
        costs = {}
        for name in ("pipeline of XADDs", "one script call (the writer)"):
            started = time.process_time()
            for batch in batches:
                if name.startswith("one script"):
                    await script(keys=["bench:script"], args=[0, "", *batch])
                    continue
                async with client.pipeline(transaction=False) as pipeline:
                    for data in batch:
                        pipeline.xadd("bench:pipeline", {record.FIELD: data})
                    await pipeline.execute()
            costs[name] = (time.process_time() - started) * 1e6 / len(encoded)
        await client.aclose()
        return costs

    return asyncio.run(run())


class RedisServerClient:
    """MEMORY USAGE of the decision stream."""

    def __init__(self, url: str) -> None:
        import redis

        self._client = redis.Redis.from_url(url)

    def memory_usage(self) -> float:
        """Bytes the stream takes (all samples)."""
        return float(self._client.memory_usage("tierline:decisions", samples=0) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the three parts and print their tables."""
    args = parse_args(argv)
    console = Console(highlight=False, width=WIDTH)
    console.print(
        f"Python {platform.python_version()}, msgspec {metadata.version('msgspec')}, "
        f"redis-py {metadata.version('redis')}, redis-server {redis_version()}, "
        f"{args.decisions:,} decisions of the default policy ({args.samples} inputs, cycled)"
    )
    made = make_decisions(args.decisions, args.samples, args.seed)

    table = Table(title="(a) Request path: append (ns per call)")
    for column in ("what", "median batch", "mean", "CPU mean"):
        table.add_column(column, justify="left" if column == "what" else "right")
    for name, figures in request_path(made, args.batch).items():
        table.add_row(
            name, f"{figures.median_ns:,.0f}", f"{figures.mean_ns:,.0f}", f"{figures.cpu_ns:,.0f}"
        )
    console.print(table)

    table = Table(title="(b) Background work per decision (µs)")
    for column in ("what", "wall mean", "CPU mean"):
        table.add_column(column, justify="left" if column == "what" else "right")
    for name, figures in background(made).items():
        table.add_row(name, f"{figures.mean_ns / 1000:,.2f}", f"{figures.cpu_ns / 1000:,.2f}")
    console.print(table)

    with tempfile.TemporaryDirectory() as directory:
        redis = RedisServer(Path(directory)).start()
        try:
            found = throughput(made, redis.url)
            costs = batch_costs(made, redis.url)
        finally:
            redis.stop()
    table = Table(title=f"(c) Writer to redis-server (batches of {WRITE_BATCH})")
    for column in (
        "decisions",
        "seconds",
        "written/s",
        "CPU µs per decision",
        "Redis bytes/entry",
        "JSON bytes",
    ):
        table.add_column(column, justify="right")
    table.add_row(
        f"{found.decisions:,}",
        f"{found.seconds:.2f}",
        f"{found.decisions / found.seconds:,.0f}",
        f"{found.cpu_seconds * 1e6 / found.decisions:,.1f}",
        f"{found.bytes_per_entry:,.0f}",
        f"{found.json_bytes:,.0f}",
    )
    console.print(table)
    table = Table(title=f"(d) Appending batches of {WRITE_BATCH} encoded records")
    for column in ("how", "CPU µs per entry (event loop)"):
        table.add_column(column, justify="left" if column == "how" else "right")
    for name, cost in costs.items():
        table.add_row(name, f"{cost:,.1f}")
    console.print(table)
    console.print(
        "CPU µs per decision in (c) is this process's (encoding, redis-py); Redis's own CPU is "
        "not counted. Other processes on the machine slow the wall-clock figures."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
