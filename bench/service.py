"""Service benchmark: `tierline serve` over real Redis against bare gRPC echo servers, one run.

Starts, on loopback only: a private redis-server holding ``--customers`` demo customers; two
``tierline serve`` processes with default settings but for ports and Redis URL (one with the
near-cache, one with ``--near-cache false``); and bare gRPC servers run by this same Python and
grpcio, each in its own process:

    echo aio            grpc.aio server, one generic unary method answering canned bytes;
    echo sync pool      grpc.server(ThreadPoolExecutor), the same method;
    rules aio           the aio echo doing one ``Decider.decide`` per call (no Redis);
    rules sync+lock     the sync echo doing it under a lock: the alternative server model.

The canned answer is the bytes of a real DecideResponse captured from Tierline, and the client
sends real DecideRequests to every target, so messages and client work are the same everywhere.

This process is the one load generator for all of them (grpc.aio channels): for each
concurrency, each target gets a warm-up and then ``--duration`` seconds (capped at
``--max-requests``) with that many requests in flight. It prints latency percentiles, throughput,
errors, the server's CPU per request, Tierline/echo ratios, the decision metrics and degraded
flags in Tierline's responses, and each server's RSS before and after the load. It always
exits 0: it reports, it is not a test.

    python bench/service.py                                   # about 2.5 minutes
    python bench/service.py --duration 2 --concurrency 1,8    # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import concurrent.futures
import contextlib
import itertools
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the test support that starts real processes

import grpc  # noqa: E402
from engine import make_samples, percentile, random_context  # noqa: E402
from features import redis_version  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from support.redis_server import RedisServer, free_port  # noqa: E402
from support.tierline_process import TierlineProcess  # noqa: E402
from tierline.v1 import entitlement_pb2 as pb  # noqa: E402
from tierline_server.config import DEFAULT_REDIS_TIMEOUT_SECONDS  # noqa: E402
from tierline_server.policy.domain import CHANNELS, Context  # noqa: E402

POLICY = REPO / "rules"
ECHO_SERVICE = "bench.Echo"
ECHO_METHOD = f"/{ECHO_SERVICE}/Decide"
DECIDE_METHOD = "/tierline.v1.EntitlementService/Decide"
BATCH_METHOD = "/tierline.v1.EntitlementService/DecideBatch"
CHANNEL_ENUM: dict[str, Any] = {
    name: pb.Channel.Value(f"CHANNEL_{name.upper()}") for name in CHANNELS
}
"""Policy channel name -> the API's Channel value (phone -> CHANNEL_PHONE)."""
HOT_CUSTOMERS = 100
"""The hot set of the near-cache target: few enough to stay cached between TTL expiries."""
BATCH_ITEMS = 100
REQUEST_POOL = 2_000
"""Distinct requests per target, cycled."""
BATCH_POOL = 50
START_TIMEOUT_SECONDS = 30.0
CAPTURED_WIDTH = 150
RULE_SAMPLES = 400
RULE_SEED = 2026
OK = grpc.StatusCode.OK.value[0]

ECHO_AIO = "echo aio"
ECHO_SYNC = "echo sync pool"
RULES_AIO = "rules aio"
RULES_SYNC = "rules sync+lock"
DECIDE_HIT = "Decide near-cache"
DECIDE_MISS = "Decide Redis"
BATCH = f"DecideBatch({BATCH_ITEMS}) Redis"
DECIDE_HIT_LOGGED = "Decide near-cache +log"
ALL_TARGETS = (
    ECHO_AIO, ECHO_SYNC, RULES_AIO, RULES_SYNC, DECIDE_HIT, DECIDE_HIT_LOGGED, DECIDE_MISS, BATCH,
)  # fmt: skip
TIERLINE_TARGETS = (DECIDE_HIT, DECIDE_HIT_LOGGED, DECIDE_MISS, BATCH)
TIERLINE_CACHED = "tierline (near-cache)"
TIERLINE_UNCACHED = "tierline (near-cache off)"
TIERLINE_LOGGED = "tierline (near-cache, decision log)"
"""The near-cache server again with the decision log on (every decision); the others run with
it off, so that the same run compares a decision with and without the log."""
TARGET_KEYS = {
    "echo-aio": ECHO_AIO,
    "echo-sync": ECHO_SYNC,
    "rules-aio": RULES_AIO,
    "rules-sync": RULES_SYNC,
    "hit": DECIDE_HIT,
    "hit-log": DECIDE_HIT_LOGGED,
    "miss": DECIDE_MISS,
    "batch": BATCH,
}


# --- the bare servers (run as `python bench/service.py --echo-server aio|sync ...`) -------------


def rules_work(policy: Path) -> Callable[[], None]:
    """One ``Decider.decide`` per call on cycled representative inputs (as bench/engine.py)."""
    from tierline_server.policy.compiler import load_policy
    from tierline_server.policy.decider import Decider

    decider = Decider(load_policy(policy))  # imports durable-rules, tunes malloc
    inputs = itertools.cycle(make_samples(decider, RULE_SAMPLES, RULE_SEED))

    def work() -> None:
        sample = next(inputs)
        decider.decide(sample.features, sample.context)

    return work


def locked(work: Callable[[], None]) -> Callable[[], None]:
    """``work`` run by one thread at a time (the engine must not be entered concurrently)."""
    lock = threading.Lock()

    def guarded() -> None:
        with lock:
            work()

    return guarded


def echo_handler(behaviour: Callable[..., Any]) -> grpc.GenericRpcHandler:
    """``bench.Echo/Decide`` with raw bytes in and out (no serializers: nothing is parsed)."""
    return grpc.method_handlers_generic_handler(
        ECHO_SERVICE, {"Decide": grpc.unary_unary_rpc_method_handler(behaviour)}
    )


async def serve_echo_aio(address: str, answer: bytes, work: Callable[[], None] | None) -> None:
    """A bare grpc.aio server answering ``answer`` to every call, until killed."""

    async def decide(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        if work is not None:
            work()
        return answer

    server = grpc.aio.server()
    server.add_generic_rpc_handlers((echo_handler(decide),))
    server.add_insecure_port(address)
    await server.start()
    await server.wait_for_termination()


def serve_echo_sync(
    address: str, answer: bytes, work: Callable[[], None] | None, workers: int
) -> None:
    """A bare grpc.server on a thread pool answering ``answer`` to every call, until killed."""

    def decide(request: bytes, context: grpc.ServicerContext) -> bytes:
        if work is not None:
            work()
        return answer

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
    server = grpc.server(pool)
    server.add_generic_rpc_handlers((echo_handler(decide),))
    server.add_insecure_port(address)
    server.start()
    server.wait_for_termination()


def echo_server_main(args: argparse.Namespace) -> int:
    """The server side of an echo target (a child process of the benchmark)."""
    answer = Path(args.answer).read_bytes()
    work = rules_work(args.policy) if args.rules else None
    address = f"127.0.0.1:{args.port}"
    if args.echo_server == "aio":
        asyncio.run(serve_echo_aio(address, answer, work))
    else:
        serve_echo_sync(address, answer, locked(work) if work else None, args.sync_workers)
    return 0


# --- the processes under test ---------------------------------------------------------------


@dataclass
class ServerProcess:
    """A server under load: its name, gRPC target, pid and how to stop it."""

    name: str
    target: str
    pid: int
    stop: Callable[[], None]
    metrics_port: int | None = None
    """Tierline's /metrics port (None for the echo servers)."""
    log: list[str] = field(default_factory=list)
    """Tierline's output (config lines and log records), read while it runs."""


def load_customers(redis_url: str, directory: Path, count: int) -> float:
    """Write ``count`` demo customers and load them with the CLI; the seconds it took."""
    started = time.perf_counter()
    csv_path = directory / "customers.csv"
    cli = [sys.executable, "-m", "tierline_server.cli", "features"]
    demo = [*cli, "demo", "--count", str(count), "--seed", "1", "--out", str(csv_path)]
    subprocess.run(demo, check=True, capture_output=True, cwd=REPO, timeout=120)
    load = [*cli, "load", str(csv_path), "--redis-url", redis_url, "--policy", str(POLICY)]
    subprocess.run(load, check=True, capture_output=True, cwd=REPO, timeout=120)
    return time.perf_counter() - started


def drain(stream: Any, into: list[str]) -> None:
    """Keep reading a child's output so that its pipe never fills and blocks it."""
    for line in stream:
        into.append(line.rstrip("\n"))


def tierline_server(name: str, redis_url: str, extra_args: Sequence[str]) -> ServerProcess:
    """`tierline serve` (via tests/support), SERVING, its output drained by a thread."""
    process = TierlineProcess(redis_url, policy=POLICY, extra_args=list(extra_args)).start()
    popen = process.process
    assert popen is not None
    assert popen.stdout is not None
    server = ServerProcess(name, process.target, popen.pid, lambda: None, process.metrics_port)
    reader = threading.Thread(target=drain, args=(popen.stdout, server.log), daemon=True)
    reader.start()

    def stop() -> None:
        popen.send_signal(signal.SIGTERM)
        popen.wait(timeout=START_TIMEOUT_SECONDS)
        reader.join(timeout=5)

    server.stop = stop
    return server


def accepts(target: str, popen: subprocess.Popen[bytes]) -> bool:
    """Wait until ``target`` accepts gRPC connections; False if the process exits or time is up."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    with grpc.insecure_channel(target) as channel:
        ready = grpc.channel_ready_future(channel)
        while time.monotonic() < deadline and popen.poll() is None:
            try:
                ready.result(timeout=0.1)
                return True
            except grpc.FutureTimeoutError:
                continue
    return False


def echo_server(name: str, mode: str, answer: Path, rules: bool, workers: int) -> ServerProcess:
    """An echo server in a child process of this script, once it accepts connections."""
    port = free_port()
    command = [
        sys.executable, __file__, "--echo-server", mode, "--port", str(port),
        "--answer", str(answer), "--sync-workers", str(workers),
        *(["--rules"] if rules else []),
    ]  # fmt: skip
    popen = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL)
    target = f"127.0.0.1:{port}"
    if not accepts(target, popen):
        popen.kill()
        popen.wait()
        raise RuntimeError(f"{name} did not start on {target} (exit status {popen.returncode})")

    def stop() -> None:
        popen.terminate()
        popen.wait(timeout=START_TIMEOUT_SECONDS)

    return ServerProcess(name, target, popen.pid, stop)


def rss_kib(pid: int) -> int:
    """VmRSS of a process, from /proc/PID/status (kB as the kernel reports)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def machine_busy_seconds() -> float:
    """CPU time all CPUs spent busy so far (not idle, not waiting for I/O), from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as stat:
        ticks = [int(value) for value in stat.readline().split()[1:]]
    idle, iowait = ticks[3], ticks[4]
    return (sum(ticks[:8]) - idle - iowait) / os.sysconf("SC_CLK_TCK")


def handler_time(metrics_port: int, method: str) -> tuple[float, float]:
    """Seconds and calls so far in Tierline's handler of ``method`` (all outcomes), as its
    ``tierline_decision_duration_seconds`` histogram on /metrics counts them."""
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    seconds = calls = 0.0
    for family in text_string_to_metric_families(text):
        if family.name != "tierline_decision_duration_seconds":
            continue
        for sample in family.samples:
            if sample.labels.get("method") != method:
                continue
            if sample.name.endswith("_sum"):
                seconds += sample.value
            elif sample.name.endswith("_count"):
                calls += sample.value
    return seconds, calls


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- requests ---------------------------------------------------------------------------------


def decide_request(customer_id: str, context: Context) -> pb.DecideRequest:
    """The API request for a customer in an interaction."""
    message = pb.InteractionContext(
        channel=CHANNEL_ENUM[context.channel],
        intent=context.intent,
        currency=context.currency,
        item_count=context.item_count,
        attributes=dict(context.attributes),
    )
    if context.order_value is not None:
        message.order_value_minor = context.order_value
    return pb.DecideRequest(customer_id=customer_id, context=message)


def customer_ids(population: int) -> list[str]:
    """The demo population's ids: c000001, c000002, ... (as ``features demo`` writes them)."""
    width = max(6, len(str(population)))
    return [f"c{number:0{width}d}" for number in range(1, population + 1)]


def decide_requests(customers: Sequence[str], count: int, rng: random.Random) -> list[Any]:
    """``count`` DecideRequests for customers drawn from ``customers``, varied contexts."""
    return [decide_request(rng.choice(customers), random_context(rng)) for _ in range(count)]


def batch_requests(customers: Sequence[str], count: int, rng: random.Random) -> list[Any]:
    """``count`` DecideBatchRequests of BATCH_ITEMS items each."""
    return [
        pb.DecideBatchRequest(items=decide_requests(customers, BATCH_ITEMS, rng))
        for _ in range(count)
    ]


def capture_answer(target: str, requests: Sequence[Any]) -> bytes:
    """A real DecideResponse from Tierline, of median size: the echo servers' canned answer."""
    with grpc.insecure_channel(target) as channel:
        decide = channel.unary_unary(
            DECIDE_METHOD,
            request_serializer=pb.DecideRequest.SerializeToString,
            response_deserializer=pb.DecideResponse.FromString,
        )
        answers = sorted((decide(r, timeout=5).SerializeToString() for r in requests), key=len)
    median: bytes = answers[len(answers) // 2]
    return median


# --- the load generator -----------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What one benchmark row calls: where, which method, which requests."""

    name: str
    server: ServerProcess
    method: str
    requests: Sequence[Any]
    batch: bool = False

    @property
    def is_tierline(self) -> bool:
        """Whether the answers are Tierline's own (with decisions to inspect)."""
        return self.name in TIERLINE_TARGETS


@dataclass
class Run:
    """What one timed run of a target at one concurrency produced."""

    latencies_ns: list[int] = field(default_factory=list)
    answers: list[Any] = field(default_factory=list)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    elapsed_s: float = 0.0
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    machine_cpu_s: float = 0.0
    handler_s: float = 0.0
    """Time inside Tierline's handler during the run (from its metrics); 0 for echo servers."""
    handler_calls: float = 0.0


@dataclass(frozen=True)
class Settings:
    """How hard and how long each target is driven."""

    duration_s: float
    warmup_s: float
    max_requests: int
    deadline_s: float


def stub(channel: grpc.aio.Channel, target: Target) -> Any:
    """The unary callable of a target: protobuf in and out, the same client work everywhere."""
    request_type, answer_type = (
        (pb.DecideBatchRequest, pb.DecideBatchResponse)
        if target.batch
        else (pb.DecideRequest, pb.DecideResponse)
    )
    return channel.unary_unary(
        target.method,
        request_serializer=request_type.SerializeToString,
        response_deserializer=answer_type.FromString,
    )


async def drive(
    call: Any,
    requests: Sequence[Any],
    concurrency: int,
    *,
    seconds: float,
    limit: int,
    deadline: float,
) -> Run:
    """``concurrency`` callers in a loop for ``seconds`` (at most ``limit`` calls in all)."""
    run = Run()
    counter = itertools.count()
    clock = time.perf_counter_ns
    stop_at = clock() + int(seconds * 1e9)

    async def caller() -> None:
        while clock() < stop_at:
            index = next(counter)
            if index >= limit:
                return
            started = clock()
            try:
                answer = await call(requests[index % len(requests)], timeout=deadline)
            except grpc.aio.AioRpcError as error:
                run.errors[error.code().name] += 1
                continue
            run.latencies_ns.append(clock() - started)
            run.answers.append(answer)

    started = clock()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    run.elapsed_s = (clock() - started) / 1e9
    return run


async def measure(target: Target, concurrency: int, settings: Settings) -> Run:
    """Warm up, then one timed run, with the server's and this process's CPU time around it,
    and for Tierline the time its own metrics say it spent in the handler."""
    metrics_port = target.server.metrics_port
    method = "DecideBatch" if target.batch else "Decide"
    async with grpc.aio.insecure_channel(target.server.target) as channel:
        call = stub(channel, target)
        requests = target.requests
        await drive(
            call, requests, concurrency,
            seconds=settings.warmup_s, limit=settings.max_requests, deadline=settings.deadline_s,
        )  # fmt: skip
        handler_before = handler_time(metrics_port, method) if metrics_port else (0.0, 0.0)
        server_cpu, client_cpu = cpu_seconds(target.server.pid), time.process_time()
        machine_cpu = machine_busy_seconds()
        run = await drive(
            call, requests, concurrency,
            seconds=settings.duration_s, limit=settings.max_requests, deadline=settings.deadline_s,
        )  # fmt: skip
        run.server_cpu_s = cpu_seconds(target.server.pid) - server_cpu
        run.client_cpu_s = time.process_time() - client_cpu
        run.machine_cpu_s = machine_busy_seconds() - machine_cpu
        if metrics_port:  # read after the CPU figures: scraping costs the server CPU too
            handler_after = handler_time(metrics_port, method)
            run.handler_s = handler_after[0] - handler_before[0]
            run.handler_calls = handler_after[1] - handler_before[1]
    return run


# --- figures ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    """Client-side latency and throughput of one run."""

    calls: int
    errors: int
    p50_us: float
    p95_us: float
    p99_us: float
    mean_us: float
    per_second: float
    decisions_per_second: float
    server_cpu_us: float
    """Server CPU time (all threads) per successful call."""
    client_cpu_share: float
    """This process's CPU time over wall time: near or above 1.0, the client may be the limit."""
    other_cpu_share: float
    """Busy CPU of the rest of the machine (Redis, anything else running) over wall time."""


@dataclass(frozen=True)
class Decisions:
    """What Tierline's answers of one run say about its decisions."""

    count: int
    failed_items: int
    degraded: int
    sources: collections.Counter[str]
    total_p50_us: float
    total_p99_us: float
    lookup_p50_us: float
    eval_p50_us: float
    total_mean_us: float
    handler_mean_us: float
    """Mean time per call inside Tierline's handler, from its decision duration metric."""


def latency(run: Run, decisions_per_call: int) -> Latency:
    """Percentiles (µs), throughput and CPU figures of a run."""
    ordered = sorted(run.latencies_ns) or [0]
    calls = len(run.latencies_ns)
    elapsed = max(run.elapsed_s, 1e-9)
    return Latency(
        calls=calls,
        errors=sum(run.errors.values()),
        p50_us=percentile(ordered, 0.50) / 1000,
        p95_us=percentile(ordered, 0.95) / 1000,
        p99_us=percentile(ordered, 0.99) / 1000,
        mean_us=statistics.fmean(ordered) / 1000,
        per_second=calls / elapsed,
        decisions_per_second=calls * decisions_per_call / elapsed,
        server_cpu_us=run.server_cpu_s * 1e6 / max(calls, 1),
        client_cpu_share=run.client_cpu_s / elapsed,
        other_cpu_share=max(0.0, run.machine_cpu_s - run.server_cpu_s - run.client_cpu_s) / elapsed,
    )


def decisions_of(answers: Iterable[Any], batch: bool) -> tuple[list[Any], int]:
    """The Decision messages in Tierline's answers, and the count of batch items not OK."""
    if not batch:
        return [answer.decision for answer in answers], 0
    found, failed = [], 0
    for answer in answers:
        for result in answer.results:
            if result.status.code == OK:
                found.append(result.decision)
            else:
                failed += 1
    return found, failed


def decision_figures(run: Run, batch: bool) -> Decisions:
    """Degraded count, feature sources and the p50 of the server-reported micros."""
    decisions, failed = decisions_of(run.answers, batch)
    source_name = pb.FeatureSource.Name

    def p50(values: list[int]) -> float:
        return float(statistics.median(values)) if values else 0.0

    totals = sorted(d.metrics.total_micros for d in decisions) or [0]
    return Decisions(
        count=len(decisions),
        failed_items=failed,
        degraded=sum(d.degraded for d in decisions),
        sources=collections.Counter(
            source_name(d.metrics.feature_source).removeprefix("FEATURE_SOURCE_").lower()
            for d in decisions
        ),
        total_p50_us=p50(totals),
        total_p99_us=float(percentile(totals, 0.99)),
        lookup_p50_us=p50([d.metrics.lookup_micros for d in decisions]),
        eval_p50_us=p50([d.metrics.eval_micros for d in decisions]),
        total_mean_us=statistics.fmean(totals),
        handler_mean_us=run.handler_s * 1e6 / max(run.handler_calls, 1),
    )


@dataclass(frozen=True)
class Row:
    """One target at one concurrency: everything the tables print."""

    target: str
    concurrency: int
    latency: Latency
    decisions: Decisions | None
    errors: collections.Counter[str]


def row_of(target: Target, concurrency: int, run: Run) -> Row:
    """The figures of a run; the answers are inspected (after timing) only for Tierline."""
    decisions = decision_figures(run, target.batch) if target.is_tierline else None
    per_call = BATCH_ITEMS if target.batch else 1
    return Row(target.name, concurrency, latency(run, per_call), decisions, run.errors)


# --- tables -----------------------------------------------------------------------------------


def table(title: str, columns: Sequence[str], caption: str | None = None) -> Table:
    """A rich table whose first column is left-aligned and the others right-aligned."""
    result = Table(title=title, caption=caption)
    for index, column in enumerate(columns):
        result.add_column(column, justify="left" if index == 0 else "right")
    return result


def environment_table(args: argparse.Namespace, facts: dict[str, str]) -> Table:
    """What ran, where, with which settings."""
    result = Table(title="Environment", show_header=False)
    result.add_column("item")
    result.add_column("value")
    result.add_row("Python", f"{platform.python_implementation()} {sys.version.split()[0]}")
    result.add_row("grpcio", metadata.version("grpcio"))
    result.add_row("machine", f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}")
    for name, value in facts.items():
        result.add_row(name, value)
    result.add_row(
        "load",
        f"concurrency {', '.join(map(str, args.concurrency))}; per target and concurrency "
        f"{args.warmup:g} s warm-up, then {args.duration:g} s (at most {args.max_requests:,} "
        f"calls), deadline {args.deadline:g} s; one grpc.aio channel per run",
    )
    return result


def results_table(rows: Sequence[Row]) -> Table:
    """Client-side latency, throughput and CPU of every run."""
    result = table(
        "Latency per call (µs, client side) and throughput",
        ("target", "conc", "calls", "errors", "p50", "p95", "p99", "calls/s", "decisions/s",
         "server CPU µs/call", "client CPU", "other CPU"),
        caption="client CPU = the load generator's CPU time / wall time (1.0 = one core busy); "
        "other CPU = the rest of the machine (Redis, and anything else running) likewise",
    )  # fmt: skip
    for row in rows:
        figures = row.latency
        result.add_row(
            row.target,
            str(row.concurrency),
            f"{figures.calls:,}",
            _errors(row),
            f"{figures.p50_us:,.0f}",
            f"{figures.p95_us:,.0f}",
            f"{figures.p99_us:,.0f}",
            f"{figures.per_second:,.0f}",
            f"{figures.decisions_per_second:,.0f}",
            f"{figures.server_cpu_us:,.0f}",
            f"{figures.client_cpu_share:.2f}",
            f"{figures.other_cpu_share:.2f}",
        )
    return result


def _errors(row: Row) -> str:
    if not row.errors:
        return "0"
    return "[red]" + ", ".join(f"{code} {n}" for code, n in row.errors.most_common()) + "[/red]"


def ratio_table(rows: Sequence[Row]) -> Table:
    """Every target against echo aio at the same concurrency: p50 and calls/s."""
    echo = {row.concurrency: row.latency for row in rows if row.target == ECHO_AIO}
    result = table(
        "Ratio to echo aio at the same concurrency",
        ("target", "conc", "p50 / echo p50", "calls/s / echo calls/s", "decisions/s / echo"),
    )
    for row in rows:
        base = echo.get(row.concurrency)
        if row.target == ECHO_AIO or base is None or not base.calls:
            continue
        mine = row.latency
        result.add_row(
            row.target,
            str(row.concurrency),
            f"{mine.p50_us / base.p50_us:.2f}x",
            f"{mine.per_second / base.per_second:.2f}",
            f"{mine.decisions_per_second / base.per_second:.2f}",
        )
    return result


def decisions_table(rows: Sequence[Row]) -> Table:
    """The decision metrics Tierline put in its answers, and how many were degraded."""
    result = table(
        "Decisions as Tierline reports them (decision.metrics, µs)",
        ("target", "conc", "decisions", "degraded", "items not OK", "feature sources",
         "total p50", "total p99", "lookup p50", "eval p50", "handler mean / call"),
        caption="total, lookup, eval: per decision, from the answers; handler: per call, from "
        "tierline_decision_duration_seconds (sum / count) on /metrics",
    )  # fmt: skip
    for row in rows:
        found = row.decisions
        if found is None:
            continue
        sources = ", ".join(f"{name} {n:,}" for name, n in found.sources.most_common())
        degraded = f"[red]{found.degraded:,}[/red]" if found.degraded else "0"
        result.add_row(
            row.target,
            str(row.concurrency),
            f"{found.count:,}",
            degraded,
            str(found.failed_items),
            sources,
            f"{found.total_p50_us:,.0f}",
            f"{found.total_p99_us:,.0f}",
            f"{found.lookup_p50_us:,.0f}",
            f"{found.eval_p50_us:,.0f}",
            f"{found.handler_mean_us:,.0f}",
        )
    return result


def breakdown_table(rows: Sequence[Row]) -> Table:
    """At the lowest concurrency: where a Tierline Decide spends its time beyond a bare echo."""
    lowest = min(row.concurrency for row in rows)
    at = {row.target: row for row in rows if row.concurrency == lowest}
    result = table(
        f"Where the time goes, concurrency {lowest} (means, µs per call)",
        ("target", "client", "echo aio", "extra", "handler", "decision", "lookup p50",
         "eval p50", "handler - decision", "extra - handler", "server CPU", "echo CPU"),
        caption="extra = client - echo aio; handler = inside the servicer (metric); decision = "
        "lookup + eval (answers); handler - decision = validation, mapping, ids, metrics; extra - "
        "handler = per-call work outside the handler (interceptor, protobuf, asyncio, gRPC) "
        "beyond a bare echo; CPU = server CPU time per call",
    )  # fmt: skip
    echo = at.get(ECHO_AIO)
    for name in (DECIDE_HIT, DECIDE_HIT_LOGGED, DECIDE_MISS):
        row = at.get(name)
        if row is None or row.decisions is None or echo is None:
            continue
        found, client, base = row.decisions, row.latency.mean_us, echo.latency.mean_us
        extra = client - base
        result.add_row(
            name,
            f"{client:,.0f}",
            f"{base:,.0f}",
            f"{extra:,.0f}",
            f"{found.handler_mean_us:,.0f}",
            f"{found.total_mean_us:,.0f}",
            f"{found.lookup_p50_us:,.0f}",
            f"{found.eval_p50_us:,.0f}",
            f"{found.handler_mean_us - found.total_mean_us:,.0f}",
            f"{extra - found.handler_mean_us:,.0f}",
            f"{row.latency.server_cpu_us:,.0f}",
            f"{echo.latency.server_cpu_us:,.0f}",
        )
    return result


def memory_table(servers: Sequence[ServerProcess], before: dict[str, int]) -> Table:
    """Each server's VmRSS before the first call and after the last."""
    result = table("Server memory (VmRSS, MB)", ("server", "pid", "before load", "after", "Δ"))
    for server in servers:
        after = rss_kib(server.pid)
        start = before[server.name]
        result.add_row(
            server.name,
            str(server.pid),
            f"{start * 1024 / 1e6:.1f}",
            f"{after * 1024 / 1e6:.1f}",
            f"{(after - start) * 1024 / 1e6:+.1f}",
        )
    return result


def warnings_of(servers: Sequence[ServerProcess]) -> list[str]:
    """Tierline's WARNING and ERROR log lines during the run, prefixed with the server."""
    return [
        f"{server.name}: {line}"
        for server in servers
        for line in server.log
        if " WARNING " in line or " ERROR " in line
    ]


# --- the run ----------------------------------------------------------------------------------


def concurrency_list(text: str) -> list[int]:
    """``1,8,32`` -> [1, 8, 32] (each at least 1)."""
    try:
        levels = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None
    if min(levels) < 1:
        raise argparse.ArgumentTypeError("concurrency must be at least 1")
    return levels


def target_list(text: str) -> list[str]:
    """``echo-aio,hit`` -> the targets' names, in table order."""
    unknown = set(text.split(",")) - set(TARGET_KEYS)
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown targets {sorted(unknown)}: use {list(TARGET_KEYS)}"
        )
    return [TARGET_KEYS[key] for key in text.split(",")]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line (the --echo-server group is for this script's own child processes)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000, help="demo customers in Redis")
    parser.add_argument(
        "--concurrency",
        type=concurrency_list,
        default=[1, 8, 32],
        help="requests in flight, comma-separated (default 1,8,32)",
    )
    parser.add_argument("--duration", type=float, default=5.0, help="timed seconds per run")
    parser.add_argument("--warmup", type=float, default=0.5, help="untimed seconds per run")
    parser.add_argument("--max-requests", type=int, default=200_000, help="calls per run, at most")
    parser.add_argument("--deadline", type=float, default=10.0, help="deadline of each call (s)")
    parser.add_argument(
        "--targets",
        type=target_list,
        default=list(ALL_TARGETS),
        help=f"comma-separated subset of {', '.join(TARGET_KEYS)} (default: all)",
    )
    parser.add_argument(
        "--redis-timeout",
        type=float,
        default=None,
        help="pass --redis-timeout to tierline serve (default: not passed, the server's "
        f"default {DEFAULT_REDIS_TIMEOUT_SECONDS:g} s)",
    )
    parser.add_argument(
        "--sync-workers", type=int, default=8, help="thread pool of the sync echo servers"
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the request generator")
    parser.add_argument("--echo-server", choices=("aio", "sync"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--answer", help=argparse.SUPPRESS)
    parser.add_argument("--rules", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--policy", type=Path, default=POLICY, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def start_tierlines(redis_url: str, timeout: float | None, logged: bool) -> Iterator[ServerProcess]:
    """The `tierline serve` processes (near-cache on, off; and with the decision log if
    ``logged``), started side by side.

    Yields every one that started before raising the first failure, so that all get stopped.
    """
    common = [] if timeout is None else ["--redis-timeout", str(timeout)]
    unlogged = [*common, "--decision-log", "false"]
    variants = {
        TIERLINE_CACHED: unlogged,
        TIERLINE_UNCACHED: [*unlogged, "--near-cache", "false"],
    }
    if logged:
        variants[TIERLINE_LOGGED] = common
    with concurrent.futures.ThreadPoolExecutor(len(variants)) as pool:
        futures = [
            pool.submit(tierline_server, name, redis_url, extra) for name, extra in variants.items()
        ]
    failure: BaseException | None = None
    for future in futures:
        failure = failure or future.exception()
        if future.exception() is None:
            yield future.result()
    if failure is not None:
        raise failure


def start_echoes(wanted: Sequence[str], answer: Path, workers: int) -> Iterator[ServerProcess]:
    """The bare servers among ``wanted`` targets, each in its own process, one after another."""
    specs = {
        ECHO_AIO: ("aio", False),
        ECHO_SYNC: ("sync", False),
        RULES_AIO: ("aio", True),
        RULES_SYNC: ("sync", True),
    }
    for name, (mode, rules) in specs.items():
        if name in wanted:
            yield echo_server(name, mode, answer, rules, workers)


def build_targets(
    wanted: Sequence[str],
    servers: dict[str, ServerProcess],
    customers: Sequence[str],
    rng: random.Random,
) -> list[Target]:
    """The targets to drive, in table order, each with its request pool."""
    hot = rng.sample(list(customers), HOT_CUSTOMERS)
    hot_requests = decide_requests(hot, REQUEST_POOL, rng)
    spread = decide_requests(customers, REQUEST_POOL, rng)
    cached, uncached = servers[TIERLINE_CACHED], servers[TIERLINE_UNCACHED]
    every = {
        DECIDE_HIT: Target(DECIDE_HIT, cached, DECIDE_METHOD, hot_requests),
        DECIDE_MISS: Target(DECIDE_MISS, uncached, DECIDE_METHOD, spread),
        BATCH: Target(
            BATCH, uncached, BATCH_METHOD, batch_requests(customers, BATCH_POOL, rng), batch=True
        ),
    }
    if TIERLINE_LOGGED in servers:
        logged = servers[TIERLINE_LOGGED]
        every[DECIDE_HIT_LOGGED] = Target(DECIDE_HIT_LOGGED, logged, DECIDE_METHOD, hot_requests)
    for name in (ECHO_AIO, ECHO_SYNC, RULES_AIO, RULES_SYNC):
        if name in servers:
            every[name] = Target(name, servers[name], ECHO_METHOD, hot_requests)
    return [every[name] for name in ALL_TARGETS if name in wanted]


def run_all(
    targets: Sequence[Target], concurrencies: Sequence[int], settings: Settings, console: Console
) -> list[Row]:
    """Every target at every concurrency (targets side by side within a concurrency)."""
    rows = []
    for concurrency in concurrencies:
        for target in targets:
            with console.status(f"{target.name}, concurrency {concurrency} ..."):
                run = asyncio.run(measure(target, concurrency, settings))
            rows.append(row_of(target, concurrency, run))
    return rows


@dataclass(frozen=True)
class Setup:
    """What was started, for the environment table."""

    redis: str
    load_seconds: float
    request_bytes: float
    answer_bytes: int


def start_servers(
    args: argparse.Namespace,
    redis: RedisServer,
    directory: Path,
    servers: dict[str, ServerProcess],
    console: Console,
) -> Setup:
    """Load the customers, start Tierline, capture its canned answer, start the echo servers.

    Each server is put in ``servers`` as soon as it runs, so the caller stops whatever started.
    """
    with console.status(f"loading {args.customers:,} demo customers ..."):
        load_seconds = load_customers(redis.url, directory, args.customers)
    with console.status("starting tierline serve (near-cache on and off) ..."):
        logged = DECIDE_HIT_LOGGED in args.targets
        for server in start_tierlines(redis.url, args.redis_timeout, logged):
            servers[server.name] = server
    sizing = decide_requests(customer_ids(args.customers), 101, random.Random(args.seed))
    answer = directory / "answer.bin"
    answer.write_bytes(capture_answer(servers[TIERLINE_UNCACHED].target, sizing))
    with console.status("starting the echo servers ..."):
        for server in start_echoes(args.targets, answer, args.sync_workers):
            servers[server.name] = server
    return Setup(
        redis=f"redis-server {redis_version()} on {redis.url}",
        load_seconds=load_seconds,
        request_bytes=statistics.fmean(request.ByteSize() for request in sizing),
        answer_bytes=answer.stat().st_size,
    )


def environment_facts(args: argparse.Namespace, setup: Setup) -> dict[str, str]:
    """The run's own settings, as rows of the environment table."""
    timeout = (
        f"--redis-timeout {args.redis_timeout:g} passed"
        if args.redis_timeout is not None
        else f"--redis-timeout not passed (server default {DEFAULT_REDIS_TIMEOUT_SECONDS:g} s)"
    )
    return {
        "Redis": f"{setup.redis}, {args.customers:,} demo customers loaded in "
        f"{setup.load_seconds:.1f} s",
        "tierline serve": "default settings but --listen, --metrics-port, --redis-url and "
        f"--decision-log false (not for '{DECIDE_HIT_LOGGED}'); {timeout}",
        "messages": f"DecideRequest ~{setup.request_bytes:.0f} B, canned DecideResponse "
        f"{setup.answer_bytes} B (median of 101 real answers); DecideBatch {BATCH_ITEMS} items",
        "hot set": f"{HOT_CUSTOMERS} customers for the near-cache target (TTL: server default)",
        "sync servers": f"ThreadPoolExecutor(max_workers={args.sync_workers}); rules under a "
        "threading.Lock",
    }


def print_report(
    console: Console, rows: Sequence[Row], servers: Sequence[ServerProcess], rss: dict[str, int]
) -> None:
    """Every table after the runs, then Tierline's warnings."""
    console.print(results_table(rows))
    console.print(ratio_table(rows))
    console.print(decisions_table(rows))
    console.print(breakdown_table(rows))
    console.print(memory_table(servers, rss))
    warnings = warnings_of(servers)
    console.print(f"Tierline WARNING/ERROR log lines during the run: {len(warnings)}")
    for line in warnings[:10]:
        console.print(f"  {line}", highlight=False, markup=False)


def benchmark(args: argparse.Namespace, console: Console, directory: Path) -> None:
    """Start everything, drive every target, print the tables, stop everything."""
    servers: dict[str, ServerProcess] = {}
    redis = RedisServer(directory / "redis").start()
    try:
        setup = start_servers(args, redis, directory, servers, console)
        console.print(environment_table(args, environment_facts(args, setup)))
        customers = customer_ids(args.customers)
        rng = random.Random(args.seed + 1)
        targets = build_targets(args.targets, servers, customers, rng)
        rss = {server.name: rss_kib(server.pid) for server in servers.values()}
        settings = Settings(args.duration, args.warmup, args.max_requests, args.deadline)
        rows = run_all(targets, args.concurrency, settings, console)
        print_report(console, rows, list(servers.values()), rss)
    finally:
        for server in servers.values():
            with contextlib.suppress(Exception):
                server.stop()
        redis.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or, with --echo-server, be one of its echo servers); 0 in any case."""
    args = parse_args(argv)
    if args.echo_server:
        return echo_server_main(args)
    console = Console()
    if not console.is_terminal:
        console.width = CAPTURED_WIDTH  # a log file gets the whole tables, not 80 columns
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="tierline-bench-") as directory:
            benchmark(args, console, Path(directory))
    except Exception:  # a benchmark reports what went wrong and still exits 0
        console.print_exception()
    except KeyboardInterrupt:
        console.print("interrupted: servers stopped, no figures")
    console.print(f"total run time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
