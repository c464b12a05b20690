"""The process-model question, asked of the decision itself: how fast would Tierline's Decide be
if a worker used grpcio's sync server (grpc.server on a thread pool) instead of grpc.aio?

An experiment, not a second Tierline server. The bare echo servers (echo_server.py) say that a
sync server answers more calls per second on this machine than grpc.aio; this script says how
much of that survives when each call does the real decision work. Its ``serve`` mode runs N
processes sharing a port (SO_REUSEPORT; with ``--pin``, process i on CPU i), each a
``grpc.server`` on a pool of T threads (echo_server.serve_sync) answering
``/tierline.v1.EntitlementService/Decide`` with Tierline's own modules, synchronously:

    parse (guard.parse_binary) -> validation.decision_request -> DecisionService.decide: ids,
    timing, the decision metrics and the Outcome, run to its end on the handler's thread
    (``run_to_end``), its features read through a per-process dict of decoded records filled
    by a blocking redis-py client (CustomerRecords.read, FeatureCodec.decode_hash, as
    ``tierline features get`` reads them), Decider.decide under a lock (durable-rules crashes
    when two threads use it at once) -> mapping.outcome_message -> counted in
    tierline_rpcs_total and the decision duration histogram (guard.CallSeries), prometheus-client
    in multiprocess mode, /metrics served for all the processes by their parent.

Left out, against `tierline serve`: authentication, the call guard's draining, size check,
admission (load shedding, the in-flight and cost gauges) and deadline checks; the near-cache's
TTL, bound, invalidations and the Redis read budget and circuit (a miss is a plain HGETALL); the
decision log (off in the load harness too), the shadow policy, health, reflection, channelz
counts, the HTTP listener and reloads. Those cost little per call next to gRPC itself, except
admission's bookkeeping (one event-loop turn per call in the real server).

The driver, in one run: a private Redis with demo customers; `tierline serve --workers 2` and
the bare sync echo (``sync4:2:pin``) beside the sync models asked for; every target driven by
h2load with the load harness's Decide mix at each number in flight, the repeats interleaved
(service.py's ``measure``: CPU per decision, the server's own count of answers, which must all
be OK, and a decoded sample of every body before and after); then, for `tierline serve` and each
sync model, a normal Decide while 64 streams that never send their request are open (one
connection each). Prints the tables and exits 1 if any answer was not OK.

    python bench/sync_model.py                              # about 4 minutes
    python bench/sync_model.py --models sync4:2:pin --in-flight 16 --repeat 1   # quick
    python bench/sync_model.py serve --port 50100 --metrics-port 50101 \\
        --redis-url redis://127.0.0.1:6379/0 --threads 4 --processes 2 --pin
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

import echo_server
import grpc
import h2load
import mix
import servers
import wire
from environment import environment_table, machine_facts, redis_version, tool_version
from prometheus_client import CollectorRegistry, multiprocess, start_http_server
from report import Report, results_table, summaries
from rich.console import Console
from rich.table import Table
from support.redis_server import free_port
from tierline.v1 import entitlement_pb2 as pb
from tierline_server.api import entitlement, mapping, validation
from tierline_server.api.grpc_transport import to_status
from tierline_server.api.guard import CallSeries, parse_binary
from tierline_server.config import RedisSettings
from tierline_server.decisions import DecisionService
from tierline_server.errors import TierlineError
from tierline_server.features import redis_client
from tierline_server.features.codec import Decoded, FeatureCodec
from tierline_server.features.lookup import FeatureLookup, FeatureSource
from tierline_server.features.records import CustomerRecords
from tierline_server.features.store import FeatureStore, lookup_of
from tierline_server.metrics import Metrics
from tierline_server.policy.compiled import Policy
from tierline_server.policy.compiler import load_policy
from tierline_server.policy.decider import Decider
from tierline_server.policy.domain import Context, Decision

from service import (
    DECIDE_PATH,
    Settings,
    Target,
    canned_answer,
    check_samples,
    drive,
    finish,
    int_list,
    recording_console,
)

T = TypeVar("T")

SERVICE = "tierline.v1.EntitlementService"
DEFAULT_MODELS = "sync4:2:pin,sync4,sync8:2"
ECHO_MODEL = "sync4:2:pin"
"""The bare echo beside the models: the fastest echo model of the process-model runs."""
TIERLINE = "tierline --workers 2"
DISTRIBUTIONS = ("grpcio", "protobuf", "redis", "durable-rules", "prometheus-client")
RESULTS = Path(__file__).resolve().parent / "results"
SILENT_STREAMS = 64
"""Streams opened, one connection each, that never send their request: more than the threads
of any sync model, and what any client can open."""
PROBE_DEADLINE_SECONDS = 2.0


# --- the serving processes ------------------------------------------------------------------------


class SerialDecider(Decider):
    """A Decider that decides on one thread at a time: durable-rules crashes when two threads
    use it at once, and the memo of its answers is a plain dict."""

    def __init__(self, policy: Policy) -> None:
        super().__init__(policy)
        self._lock = threading.Lock()

    def decide(
        self,
        features: Mapping[str, Any],
        context: Context,
        *,
        degraded: bool = False,
        explain: bool = False,
    ) -> Decision:
        """Decider.decide, under the lock."""
        with self._lock:
            return super().decide(features, context, degraded=degraded, explain=explain)


class BlockingFeatures:
    """Customer features for the handler threads: a per-process dict of decoded records in
    front of a blocking redis-py client, counted in the feature store's metrics.

    Its records never expire: the load reads a few customers that nobody writes, so every call
    after a process's first for a customer is a near-cache hit, as in the real server.
    """

    def __init__(self, policy: Policy, settings: RedisSettings, metrics: Metrics) -> None:
        self._codec = FeatureCodec(policy.features)
        self._records = CustomerRecords(redis_client.writer_client(settings), settings)
        self._cache: dict[str, Decoded] = {}
        self._hits = metrics.near_cache_hits
        self._misses = metrics.near_cache_misses
        self._durations = {
            source: metrics.feature_lookup_duration.labels(source.value) for source in FeatureSource
        }

    async def lookup(self, customer_id: str) -> FeatureLookup:
        """The features of one customer. A coroutine because DecisionService awaits it; it never
        suspends (a miss blocks its thread on Redis), so ``run_to_end`` can drive the decision."""
        started = time.perf_counter()
        decoded = self._cache.get(customer_id)
        if decoded is None:
            self._misses.inc()
            # Two threads missing the same customer both read it: harmless, and rare.
            decoded = self._codec.decode_hash(self._records.read(customer_id))
            self._cache[customer_id] = decoded
            source = FeatureSource.REDIS
        else:
            self._hits.inc()
            source = FeatureSource.NEAR_CACHE
        found = lookup_of(decoded, source)
        self._durations[found.source].observe(time.perf_counter() - started)
        return found


def run_to_end(coroutine: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that never suspends, run on this thread with no event loop.

    DecisionService.decide is a coroutine only because the feature store's lookup is one: over
    BlockingFeatures it finishes at its first step. So the handler runs the server's own
    decision path rather than a copy of it.
    """
    try:
        coroutine.send(None)
    except StopIteration as finished:
        result: T = finished.value
        return result
    coroutine.close()
    raise RuntimeError("the decision suspended: it needs an event loop")


class DecideHandler:
    """Decide on a handler thread: parse, validate, decide, map, count (as the call guard
    counts: by status code, and the decision duration by outcome)."""

    def __init__(self, decisions: DecisionService, metrics: Metrics) -> None:
        self._decisions = decisions
        self._series = CallSeries(metrics, "Decide", entitlement.METHODS["Decide"], ("grpc",))

    def __call__(self, data: bytes, context: grpc.ServicerContext) -> pb.DecideResponse:
        """One call: its raw bytes in, the DecideResponse out (or a status with details)."""
        started = time.perf_counter()
        try:
            request = parse_binary(data, pb.DecideRequest)
            domain = validation.decision_request(request)
            outcome = run_to_end(self._decisions.decide(domain))
            response = pb.DecideResponse(decision=mapping.outcome_message(outcome))
        except TierlineError as error:
            self._series.count("grpc", error.code, time.perf_counter() - started, False)
            context.abort_with_status(to_status(error))
            raise  # abort_with_status has raised already
        except BaseException:
            self._series.count(
                "grpc", grpc.StatusCode.UNKNOWN, time.perf_counter() - started, False
            )
            raise
        degraded = response.decision.degraded
        self._series.count("grpc", grpc.StatusCode.OK, time.perf_counter() - started, degraded)
        return response


def serve_decisions(args: argparse.Namespace) -> None:
    """Be serving process ``--index``: Decide on a sync gRPC server, until SIGTERM / SIGINT."""
    if args.pin:
        echo_server.pin(args.index)
    policy = load_policy(servers.POLICY)
    decider = SerialDecider(policy)
    metrics = Metrics(CollectorRegistry())  # multiprocess values: the parent set the directory
    features = BlockingFeatures(policy, RedisSettings(url=args.redis_url), metrics)
    # DecisionService reads features through lookup() alone, which BlockingFeatures has.
    decisions = DecisionService(decider, cast(FeatureStore, features), metrics)
    decide = grpc.unary_unary_rpc_method_handler(
        DecideHandler(decisions, metrics), response_serializer=pb.DecideResponse.SerializeToString
    )
    handlers = grpc.method_handlers_generic_handler(SERVICE, {"Decide": decide})
    echo_server.serve_sync(f"127.0.0.1:{args.port}", handlers, args.threads)


def supervise(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Serve /metrics for every serving process (prometheus-client's multiprocess mode, as
    `tierline serve`'s supervisor does) and run ``--processes`` of them until a signal."""
    directory = tempfile.mkdtemp(prefix="sync-model-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory  # the serving processes inherit it
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, directory)  # type: ignore[no-untyped-call]
    start_http_server(args.metrics_port, addr="127.0.0.1", registry=registry)
    try:
        return echo_server.supervise(["serve", *argv], args.processes, __file__)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def serve_main(argv: Sequence[str]) -> int:
    """``serve``: the supervising process, or (with ``--index``) one serving process."""
    parser = argparse.ArgumentParser(prog="sync_model.py serve", description=serve_main.__doc__)
    add = parser.add_argument
    add("--port", type=int, required=True, help="loopback port of gRPC")
    add("--metrics-port", type=int, required=True, help="loopback port of /metrics")
    add("--redis-url", required=True, help="Redis with the customers' features")
    add("--threads", type=echo_server.positive, default=4, help="threads of each process")
    add("--processes", type=echo_server.positive, default=1, help="processes on the port")
    add("--pin", action="store_true", help="pin process i to CPU i")
    add("--index", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.index is None:
        return supervise(args, argv)
    serve_decisions(args)
    return 0


# --- the driver -----------------------------------------------------------------------------------


def start_model(model: servers.EchoModel, redis_url: str) -> servers.Server:
    """``serve`` as ``model`` says (threads, processes, pinned), once every process serves."""
    port, metrics_port = free_port(), free_port()
    command = [
        sys.executable, __file__, "serve", "--port", str(port),
        "--metrics-port", str(metrics_port), "--redis-url", redis_url,
        "--threads", str(model.threads), "--processes", str(model.processes),
        *(["--pin"] if model.pinned else []),
    ]  # fmt: skip
    return servers.start_script(
        f"sync Decide {model.label}",
        f"127.0.0.1:{port}",
        command,
        model.processes,
        [f"http://127.0.0.1:{metrics_port}/metrics"],
    )


def benchmark(args: argparse.Namespace, console: Console, directory: Path) -> Report:
    """Start everything, drive every target ``--repeat`` times interleaved, stop everything."""
    report = Report(environment={})
    started: list[servers.Server] = []
    redis = servers.start_redis(directory / "redis")
    try:
        with console.status(f"loading {args.customers:,} demo customers ..."):
            population = servers.load_population(redis.url, directory, args.customers)
        by_tier = population.by_tier
        decide = mix.decide_bodies(by_tier, args.bodies, args.seed)
        files = wire.GRPC.write(decide, directory, "decide")
        with console.status("starting the servers ..."):
            tierline = servers.start_tierline(f"{TIERLINE}, near-cache on", redis.url, processes=2)
            started.append(tierline)
            answer = canned_answer(tierline, decide, directory / "answer.bin")
            echo = servers.start_echo(servers.EchoModel.parse(ECHO_MODEL), answer)
            started.append(echo)
            models = []
            for model in args.models:
                models.append(start_model(model, redis.url))
                started.append(models[-1])
        targets = [
            Target(echo.name, echo, "/bench.Echo/Decide", decide, files, 1, False),
            Target(f"Decide · {TIERLINE}", tierline, DECIDE_PATH, decide, files, 1, True),
            *(Target(s.name, s, DECIDE_PATH, decide, files, 1, True) for s in models),
        ]
        report.environment = environment(args, redis.url, population.load_seconds)
        console.print(environment_table(report.environment))
        check_samples(targets, answer.read_bytes(), report, "before")
        assert redis.pid is not None
        settings = Settings(
            args.warmup, args.duration, args.h2load_processes, 1, directory, redis.pid
        )
        drive(targets, settings, args, report, console)
        check_samples(targets, answer.read_bytes(), report, "after")
        with console.status("silent streams ..."):
            for server in (tierline, *models):
                report.silent_streams[server.name] = silent_streams(server, decide[0].message)
        report.samples = {name: found for name, found in report.samples.items() if found}
        return report
    finally:
        for server in started:
            server.stop()
        redis.stop()


def silent_streams(server: servers.Server, body: bytes, count: int = SILENT_STREAMS) -> str:
    """What a normal Decide gets while ``count`` streams that never send their request are open:
    its latency, or the status it got by its deadline.

    A sync server hands a call to a thread before its request has arrived, and the thread waits
    for it there; grpc.aio waits for it without holding anything. So a few such callers, slow
    or hostile, can stop a sync server answering anyone.
    """
    own_connection = [("grpc.use_local_subchannel_pool", 1)]
    never = threading.Event()

    def nothing() -> Iterator[bytes]:
        never.wait()
        yield b""

    channels = [grpc.insecure_channel(server.target, own_connection) for _ in range(count)]
    held = [
        channel.stream_unary(DECIDE_PATH).future(nothing(), timeout=PROBE_DEADLINE_SECONDS * 10)
        for channel in channels
    ]
    try:
        time.sleep(1.0)  # every stream reaches the server
        with grpc.insecure_channel(server.target, own_connection) as channel:
            started = time.perf_counter()
            try:
                channel.unary_unary(DECIDE_PATH)(body, timeout=PROBE_DEADLINE_SECONDS)
            except grpc.RpcError as error:
                return f"{error.code().name} after {time.perf_counter() - started:.1f} s"
            return f"answered in {(time.perf_counter() - started) * 1000:.1f} ms"
    finally:
        for call in held:
            call.cancel()
        never.set()
        for channel in channels:
            channel.close()


def silent_streams_table(found: Mapping[str, str]) -> Table:
    """The silent-streams check, one row per server."""
    table = Table(title=f"A normal Decide while {SILENT_STREAMS} streams never send their request")
    table.add_column("server")
    table.add_column(f"the call (deadline {PROBE_DEADLINE_SECONDS:g} s)")
    for server, seen in found.items():
        table.add_row(server, seen)
    return table


def environment(args: argparse.Namespace, redis_url: str, load_seconds: float) -> dict[str, str]:
    """The machine, the versions and the run's settings."""
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        **machine_facts(DISTRIBUTIONS),
        "h2load": tool_version(["h2load", "--version"]),
        "Redis": f"redis-server {redis_version()} on {redis_url}, {args.customers:,} demo "
        f"customers loaded in {load_seconds:.1f} s",
        "targets": f"bare echo {ECHO_MODEL}; `{TIERLINE}` (grpc.aio, default settings, no "
        "authentication, decision log off); sync Decide: grpc.server on T threads x N "
        "processes sharing the port (pinned: process i on CPU i), the decision work of "
        "Tierline's modules, no auth, guard, admission, deadline checks or decision log",
        "mix": f"{args.bodies} Decide bodies of the load harness's mix (every tier, unknown ids, "
        "channels, intents, order sizes), over gRPC",
        "load": f"h2load, at most {args.h2load_processes} processes at once, one body each, one "
        f"request in flight per connection; {args.warmup:g} s warm-up, then {args.duration:g} s "
        f"timed; {args.repeat} repeat(s), interleaved",
        "noise": "a shared 2-core machine: other people's tests run at the same time; see the "
        "'other CPU' column and the load average printed as each repeat starts",
    }


def sync_models(text: str) -> list[servers.EchoModel]:
    """``sync4:2:pin,sync8:2`` -> the models (grpc.server ones only: that is the question)."""
    try:
        models = [servers.EchoModel.parse(name) for name in text.split(",")]
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if any(model.mode != "sync" for model in models):
        raise argparse.ArgumentTypeError(f"{text!r}: each model is syncN[:N processes][:pin]")
    return models


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The driver's command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add(
        "--models",
        type=sync_models,
        default=sync_models(DEFAULT_MODELS),
        help=f"sync models: syncT[:N processes][:pin], comma-separated ({DEFAULT_MODELS})",
    )
    add("--in-flight", type=int_list, default=[1, 16, 64], help="requests in flight (1,16,64)")
    add("--duration", type=float, default=3.0, help="timed seconds per target and in-flight")
    add("--warmup", type=float, default=1.0, help="warm-up seconds before each timed run")
    add("--repeat", type=int, default=3, help="runs of everything, interleaved")
    add("--customers", type=int, default=20_000, help="demo customers in Redis")
    add("--bodies", type=int, default=16, help="distinct Decide bodies in the mix")
    add("--h2load-processes", type=int, default=4, help="h2load processes at once, at most")
    add("--seed", type=int, default=7, help="seed of the request mix")
    add("--json", type=Path, help="where to write the JSON result (default bench/results/)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """``serve``, or run the measurement: 1 if any answer was not OK, else 0."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["serve"]:
        return serve_main(arguments[1:])
    args = parse_args(arguments)
    h2load.require_h2load()
    console = recording_console()
    started = time.perf_counter()
    path = args.json or RESULTS / f"sync-model-{datetime.date.today().isoformat()}.json"
    with tempfile.TemporaryDirectory(prefix="tierline-sync-model-") as directory:
        report = benchmark(args, console, Path(directory))
    console.print(results_table(summaries(report.measurements)))
    console.print(silent_streams_table(report.silent_streams))
    return finish(report, console, path, started)


if __name__ == "__main__":
    sys.exit(main())
