"""Service benchmark: `tierline serve` over a real Redis beside bare gRPC echo servers, loaded by
h2load with a mix of real requests, in one run.

Starts on loopback: a private redis-server with ``--customers`` demo customers (``tierline
features demo`` + ``features load``); each Tierline deployment asked for (``--workers 1``
and ``--workers 2``) with the near-cache on and off; and bare echo
servers (bench/echo_server.py) in each process model asked for, answering a real
DecideResponse. Each Tierline method is driven in every protocol of ``--protocols`` (gRPC; the
Connect protocol on the server's HTTP listener, JSON over h2c or HTTP/1.1, or binary protobuf:
see wire.py), the same requests in each. Then, for each number of requests in flight and each
target, h2load warms up, then sends a timed run (see h2load.py); the status of every answer is
checked (see answers.py); then bursts from the Python asyncio client (see load.py). Prints the
tables, writes the JSON result, and exits 1 if any answer was not OK.

    python bench/service.py                          # the default run, about 4 minutes
    python bench/service.py --process-model          # every echo model at 16 in flight, 3 times
    python bench/service.py --soak                   # 10 minutes at 16 in flight, RSS every 30 s
    python bench/service.py --in-flight 16 --tierline 1 --echo aio --duration 2   # quick
    python bench/service.py --in-flight 1,16 --tierline 1 --echo aio --protocols all
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import answers
import grpc
import h2load
import load
import mix
import procfs
import servers
import wire
from environment import environment_table, machine_facts, redis_version, tool_version
from percentiles import percentiles
from report import (
    Measurement,
    ProcessMemory,
    Report,
    SoakPoint,
    burst_table,
    memory_table,
    results_table,
    soak_table,
    summaries,
    unavailable_table,
    write_json,
)
from rich.console import Console
from tierline_server.config import (
    DEFAULT_BREAKER_COOLDOWN_SECONDS,
    DEFAULT_REDIS_TIMEOUT_SECONDS,
)

RESULTS = Path(__file__).resolve().parent / "results"
DECIDE_PATH = "/tierline.v1.EntitlementService/Decide"
BATCH_PATH = "/tierline.v1.EntitlementService/DecideBatch"
METHODS = {"Decide": DECIDE_PATH, "DecideBatch": BATCH_PATH}
DEPLOYMENTS: dict[str, tuple[str, int]] = {
    "1": ("--workers 1", 1),
    "2": ("--workers 2", 2),
}
"""Key -> (name, worker processes): `tierline serve --workers N`, the workers sharing the port
(SO_REUSEPORT) under one supervisor."""
NEAR_CACHE = {"on": (), "off": ("--near-cache", "false")}
DISTRIBUTIONS = (
    "grpcio", "protobuf", "redis", "hiredis", "durable-rules", "prometheus-client", "uvloop",
)  # fmt: skip
PROCESS_MODEL_ECHOES = [
    f"{kind}{processes}{pin}"
    for kind in ("aio", "uvloop", "sync1", "sync4", "sync10")
    for processes in ("", ":2")
    for pin in ("", ":pin")
]
"""Every echo model of the process-model question."""
CAPTURED_WIDTH = 200
SETTLE_SECONDS = 0.1
SETTLE_TIMEOUT_SECONDS = 30.0
BURST_PAUSE_SECONDS = 0.5


@dataclass(frozen=True)
class Target:
    """What one row of the results drives: a server, a method, the bodies of the mix, and the
    protocol they are sent in."""

    name: str
    server: servers.Server
    path: str
    bodies: Sequence[mix.Body]
    files: Sequence[Path]
    """The bodies as ``protocol`` encodes them."""
    per_call: int
    """Decisions per call (1, or the items of a batch)."""
    is_tierline: bool
    protocol: wire.Protocol = wire.GRPC

    @property
    def address(self) -> str:
        """host:port of the server's listener for ``protocol``."""
        address = self.server.http_target if self.protocol.over_http else self.server.target
        assert address is not None, f"{self.server.name} was started without an HTTP listener"
        return address

    @property
    def url(self) -> str:
        """What h2load is given: the listener and the method's path."""
        return f"http://{self.address}{self.path}"


@dataclass(frozen=True)
class Settings:
    """How each target is driven."""

    warmup_s: float
    duration_s: float
    processes: int
    """h2load processes at once at most (each with its own body)."""
    streams: int
    """Requests in flight on each connection."""
    directory: Path
    redis_pid: int


def measure(target: Target, in_flight: int, repeat: int, settings: Settings) -> Measurement:
    """Warm up, then one timed run, with CPU and the server's answer counts around it."""
    slices = h2load.plan(target.files, in_flight, settings.processes, settings.streams)
    protocol = target.protocol
    warm = h2load.run(
        target.url,
        slices,
        settings.directory,
        protocol=protocol,
        seconds=settings.warmup_s / len(slices),
    )
    settle(target.server)
    pids = target.server.pids()
    before_texts = [servers.scrape(url) for url in target.server.metrics_urls]
    cpu_before = _cpu(pids)
    redis_before = procfs.cpu_seconds(settings.redis_pid)
    machine_before, started = procfs.machine_busy_seconds(), time.perf_counter()
    run = h2load.run(
        target.url,
        slices,
        settings.directory,
        protocol=protocol,
        rate=warm.rate,
        duration=settings.duration_s,
    )
    wall = time.perf_counter() - started
    server_cpu = _cpu_since(cpu_before)
    redis_cpu = procfs.cpu_seconds(settings.redis_pid) - redis_before
    machine = procfs.machine_busy_seconds() - machine_before
    after_texts = [servers.scrape(url) for url in target.server.metrics_urls]

    problems = [*warm.problems, *run.problems, *run.failures(server_counts=target.is_tierline)]
    degraded, checked_by = 0, "sample"
    if target.is_tierline:
        method = target.path.rsplit("/", 1)[1]
        counted = answers.account(method, protocol.counted_as, before_texts, after_texts, run.done)
        problems += counted.problems
        degraded, checked_by = counted.degraded, "server count + sample"
    decisions = run.done * target.per_call
    rate = run.rate
    return Measurement(
        target=target.name,
        server=target.server.name,
        in_flight=in_flight,
        repeat=repeat,
        decisions_per_s=rate * target.per_call,
        calls_per_s=rate,
        latency_ms=percentiles(us / 1000 for us in run.latencies_us),
        server_cpu_us=server_cpu * 1e6 / max(decisions, 1),
        redis_cpu_us=redis_cpu * 1e6 / max(decisions, 1) if target.is_tierline else None,
        generator_cpu=run.generator_cpu_s / wall,
        other_cpu=max(0.0, machine - server_cpu - redis_cpu - run.generator_cpu_s) / wall,
        responses=run.done,
        problems=tuple(problems),
        degraded=degraded,
        checked_by=checked_by,
    )


def _cpu(pids: Sequence[int]) -> dict[int, float]:
    """CPU seconds so far of each of ``pids`` still alive."""
    found = {}
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            found[pid] = procfs.cpu_seconds(pid)
    return found


def _cpu_since(before: dict[int, float]) -> float:
    """CPU seconds the processes of ``before`` used since (those that exited: up to then)."""
    now = _cpu(list(before))
    return sum(now.get(pid, spent) - spent for pid, spent in before.items())


# --- starting what is measured -----------------------------------------------------------------


def start_tierlines(
    args: argparse.Namespace, redis_url: str, report: Report
) -> Iterator[servers.Server]:
    """Every Tierline deployment x near-cache asked for; a refused one is noted unavailable."""
    timeout = () if args.redis_timeout is None else ("--redis-timeout", str(args.redis_timeout))
    http = any(protocol.over_http for protocol in args.protocols)
    for key in args.tierline:
        name, processes = DEPLOYMENTS[key]
        for cache in args.near_cache:
            label = f"tierline {name}, near-cache {cache}"
            try:
                yield servers.start_tierline(
                    label, redis_url, processes=processes, http=http,
                    extra_args=[*NEAR_CACHE[cache], *timeout],
                )  # fmt: skip
            except servers.Refused as refused:
                report.unavailable[label] = f"the server refused: {refused}"


def canned_answer(tierline: servers.Server, bodies: Sequence[mix.Body], path: Path) -> Path:
    """A real DecideResponse of median size, for the echo servers to answer with."""
    with grpc.insecure_channel(tierline.target) as channel:
        call = channel.unary_unary(DECIDE_PATH)
        found = sorted((call(body.message, timeout=5) for body in bodies), key=len)
    path.write_bytes(found[len(found) // 2])
    return path


def tierline_targets(
    args: argparse.Namespace,
    tierlines: Sequence[servers.Server],
    decide: Sequence[mix.Body],
    batch: Sequence[mix.Body],
    directory: Path,
) -> list[Target]:
    """Decide and DecideBatch in every protocol asked for, on every Tierline server: the
    protocols of one method side by side."""
    methods = {
        "Decide": ("Decide", DECIDE_PATH, decide, 1),
        "DecideBatch": (f"DecideBatch({args.batch_items})", BATCH_PATH, batch, args.batch_items),
    }
    files = {
        (method, protocol.key): protocol.write(bodies, directory, method)
        for method, (_, _, bodies, _) in methods.items()
        for protocol in args.protocols
    }
    targets = []
    for server in tierlines:
        deployment = server.name.removeprefix("tierline ")
        for method in args.methods:
            title, path, bodies, per_call = methods[method]
            for protocol in args.protocols:
                name = " · ".join(filter(None, (title, deployment, protocol.label)))
                written = files[method, protocol.key]
                targets.append(
                    Target(name, server, path, bodies, written, per_call, True, protocol)
                )
    return targets


# --- the run ------------------------------------------------------------------------------------


def benchmark(args: argparse.Namespace, console: Console, directory: Path) -> Report:
    """Start everything, drive every target, stop everything; the report."""
    report = Report(environment={})
    started: list[servers.Server] = []
    redis = servers.start_redis(directory / "redis")
    try:
        with console.status(f"loading {args.customers:,} demo customers ..."):
            population = servers.load_population(redis.url, directory, args.customers)
        by_tier = population.by_tier
        decide = mix.decide_bodies(by_tier, args.bodies, args.seed)
        batch = mix.batch_bodies(by_tier, args.batch_bodies, args.batch_items, args.seed)
        with console.status("starting tierline serve ..."):
            tierlines = list(start_tierlines(args, redis.url, report))
            started += tierlines
        if not tierlines:
            raise RuntimeError("no Tierline deployment started: " + str(report.unavailable))
        answer = canned_answer(tierlines[0], decide, directory / "answer.bin")
        with console.status("starting the echo servers ..."):
            echoes = []
            for model in args.echo:
                echoes.append(servers.start_echo(model, answer))
                started.append(echoes[-1])

        echo_files = wire.GRPC.write(decide, directory, "echo")
        echo_targets = [
            Target(e.name, e, "/bench.Echo/Decide", decide, echo_files, 1, False) for e in echoes
        ]
        targets = [*echo_targets, *tierline_targets(args, tierlines, decide, batch, directory)]
        report.environment = environment(args, redis.url, population.load_seconds, decide, answer)
        console.print(environment_table(report.environment))
        if report.unavailable:
            console.print(unavailable_table(report.unavailable))

        report.memory = [
            ProcessMemory(server.name, pid, procfs.rss_kib(pid))
            for server in started
            for pid in server.pids()
        ]
        check_samples(targets, answer.read_bytes(), report, "before")
        assert redis.pid is not None
        settings = Settings(
            args.warmup, args.duration, args.h2load_processes, args.streams, directory, redis.pid
        )
        if args.soak:
            soak(targets[len(echo_targets)], settings, args, report, console)
        else:
            drive(targets, settings, args, report, console)
        # Before the bursts (they can open the Redis circuit), once a circuit the load opened has
        # closed again: a degraded answer's tier is 'unknown', so it cannot be checked.
        time.sleep(2 * DEFAULT_BREAKER_COOLDOWN_SECONDS)
        check_samples(targets, answer.read_bytes(), report, "after")
        if args.bursts:
            burst(tierlines, by_tier, args, report, console)
        for process in report.memory:
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                process.end_kib = procfs.rss_kib(process.pid)
        report.samples = {k: v for k, v in report.samples.items() if v}
        return report
    finally:
        for server in started:
            server.stop()
        redis.stop()


def drive(
    targets: Sequence[Target],
    settings: Settings,
    args: argparse.Namespace,
    report: Report,
    console: Console,
) -> None:
    """Every target at every number in flight, ``--repeat`` times, interleaved so that the
    machine's drift (other people's work) falls on every target alike. The load average as
    each repeat starts is printed and kept with the environment."""
    for repeat in range(1, args.repeat + 1):
        load = " ".join(f"{value:.2f}" for value in os.getloadavg())
        report.environment[f"load average, repeat {repeat}"] = f"{load} (1, 5, 15 min)"
        console.print(f"repeat {repeat}/{args.repeat}: load average {load}", highlight=False)
        for in_flight in args.in_flight:
            for target in targets:
                with console.status(f"[{repeat}/{args.repeat}] {target.name}, {in_flight} ..."):
                    report.measurements.append(measure(target, in_flight, repeat, settings))


def burst(
    tierlines: Sequence[servers.Server],
    by_tier: dict[str, list[str]],
    args: argparse.Namespace,
    report: Report,
    console: Console,
) -> None:
    """Bursts of concurrent Decides against every Tierline server."""
    requests = [request for request, _ in mix.interactions(by_tier, args.burst_size, args.seed)]
    for server in tierlines:
        with console.status(f"bursts of {args.burst_size} on {server.name} ..."):
            report.bursts[server.name] = asyncio.run(
                load.bursts(
                    server.target, requests, size=args.burst_size, count=args.bursts,
                    pause=BURST_PAUSE_SECONDS, deadline=args.burst_deadline,
                )
            )  # fmt: skip


def soak(
    target: Target,
    settings: Settings,
    args: argparse.Namespace,
    report: Report,
    console: Console,
) -> None:
    """``--soak-minutes`` of timed runs of ``--soak-interval`` s at 16 in flight, RSS after each."""
    chunk = dataclasses.replace(settings, warmup_s=1.0, duration_s=args.soak_interval)
    report.soak.append(SoakPoint(0.0, _rss(target.server), 0.0, ()))
    started = time.monotonic()
    while time.monotonic() - started < args.soak_minutes * 60:
        elapsed = time.monotonic() - started
        with console.status(f"soak {target.name}: {elapsed:.0f} s ..."):
            run = measure(target, args.soak_in_flight, len(report.soak), chunk)
        report.measurements.append(run)
        point = SoakPoint(
            time.monotonic() - started, _rss(target.server), run.decisions_per_s, run.problems
        )
        report.soak.append(point)


def _rss(server: servers.Server) -> dict[int, int]:
    return {pid: procfs.rss_kib(pid) for pid in server.pids()}


def check_samples(targets: Sequence[Target], echo: bytes, report: Report, when: str) -> None:
    """The decoded sample of every target's bodies (before and after the load)."""
    for target in targets:
        found = answers.sample(
            target.address,
            target.path,
            target.bodies,
            protocol=target.protocol,
            echo_answer=None if target.is_tierline else echo,
        )
        name = target.server.name
        report.samples.setdefault(name, []).extend(f"{when}: {p}" for p in found.problems)
        report.sampled[name] = report.sampled.get(name, 0) + found.decisions
        report.sample_degraded[name] = report.sample_degraded.get(name, 0) + found.degraded


def settle(server: servers.Server) -> None:
    """Wait until the server has finished what the warm-up left in flight (h2load -D cuts its
    requests off at the end; the server still answers or cancels them), so that none of them
    is counted in the timed run."""
    if not server.metrics_urls:
        time.sleep(SETTLE_SECONDS)  # a bare echo answers in microseconds
        return
    previous = None
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        now = answers.counted(servers.scrape(url) for url in server.metrics_urls)
        if now == previous:
            return
        previous = now
        time.sleep(SETTLE_SECONDS)


def environment(
    args: argparse.Namespace,
    redis_url: str,
    load_seconds: float,
    decide: Sequence[mix.Body],
    answer: Path,
) -> dict[str, str]:
    """The machine, the versions and the run's own settings."""
    timeout = (
        f"--redis-timeout {args.redis_timeout:g}"
        if args.redis_timeout is not None
        else f"server default Redis budget {DEFAULT_REDIS_TIMEOUT_SECONDS * 1000:g} ms"
    )
    http = any(protocol.over_http for protocol in args.protocols)
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        **machine_facts(DISTRIBUTIONS),
        "h2load": tool_version(["h2load", "--version"]),
        "Redis": f"redis-server {redis_version()} on {redis_url}, {args.customers:,} demo "
        f"customers loaded in {load_seconds:.1f} s",
        "tierline serve": f"default settings but ports{' (and --http-listen)' if http else ''} "
        f"and Redis URL; {timeout}",
        "protocols": "; ".join(protocol_facts(protocol, decide) for protocol in args.protocols),
        "mix": f"{len(decide)} Decide bodies (every tier, unknown ids, 7 channels, 8 intents, "
        f"4 order sizes), {args.batch_bodies} DecideBatch bodies of {args.batch_items} mixed "
        f"items; DecideRequest ~{statistics.fmean(len(b.message) for b in decide):.0f} B; "
        f"echo answer {answer.stat().st_size} B (a real DecideResponse of median size)",
        "load": f"h2load, at most {args.h2load_processes} processes at once, one body each, "
        f"in-flight split over their connections ({args.streams} stream(s) each); "
        f"{args.warmup:g} s warm-up, "
        f"then {args.duration:g} s timed (a fixed count of requests, all completed); "
        f"{args.repeat} repeat(s), interleaved",
        "noise": "a shared 2-core machine: other people's tests run at the same time; "
        "see the 'other CPU' column",
    }


def protocol_facts(protocol: wire.Protocol, decide: Sequence[mix.Body]) -> str:
    """One protocol of the run: its transport, its headers and the mean size of a Decide body."""
    transport = "HTTP/1.1" if protocol.http1 else "h2c"
    listener = "HTTP listener" if protocol.over_http else "gRPC port"
    size = statistics.fmean(len(protocol.encode(body)) for body in decide)
    return (
        f"{protocol.key} ({transport} to the {listener}, {', '.join(protocol.headers)}, "
        f"Decide body ~{size:.0f} B)"
    )


# --- the command line ---------------------------------------------------------------------------


def int_list(text: str) -> list[int]:
    """``1,16,64`` -> [1, 16, 64] (each at least 1)."""
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None
    if min(values) < 1:
        raise argparse.ArgumentTypeError(f"each must be at least 1: {text!r}")
    return values


def choices(allowed: Sequence[str]) -> Callable[[str], list[str]]:
    """A comma-separated subset of ``allowed`` ('none' for none)."""

    def parse(text: str) -> list[str]:
        chosen = [] if text == "none" else text.split(",")
        unknown = [item for item in chosen if item not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(f"{unknown}: choose from {', '.join(allowed)}")
        return chosen

    return parse


def protocols(text: str) -> list[wire.Protocol]:
    """``grpc,connect-json`` -> those protocols; ``all`` = every one of wire.py."""
    keys = list(wire.PROTOCOLS) if text == "all" else choices(list(wire.PROTOCOLS))(text)
    if not keys:
        raise argparse.ArgumentTypeError("at least one protocol: " + ", ".join(wire.PROTOCOLS))
    return [wire.PROTOCOLS[key] for key in keys]


def echo_models(text: str) -> list[servers.EchoModel]:
    """``aio,sync4:2:pin`` -> echo models; ``all`` = every model of the process-model question."""
    names = PROCESS_MODEL_ECHOES if text == "all" else ([] if text == "none" else text.split(","))
    try:
        return [servers.EchoModel.parse(name) for name in names]
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line; ``--process-model`` and ``--soak`` preset the others."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--customers", type=int, default=20_000, help="demo customers in Redis")
    add("--in-flight", type=int_list, default=[1, 16, 64], help="requests in flight (1,16,64)")
    add("--duration", type=float, default=5.0, help="timed seconds per target and in-flight")
    add("--warmup", type=float, default=1.0, help="warm-up seconds before each timed run")
    add("--repeat", type=int, default=1, help="runs of everything, interleaved")
    add(
        "--echo",
        type=echo_models,
        default=echo_models("aio,aio:2:pin,sync4:2:pin"),
        help="echo models: aio|uvloop|syncN[:N processes][:pin], comma-separated; all; none",
    )
    add(
        "--tierline",
        type=choices(list(DEPLOYMENTS)),
        default=list(DEPLOYMENTS),
        help="deployments: 1 (--workers 1), 2 (--workers 2)",
    )
    add("--near-cache", type=choices(list(NEAR_CACHE)), default=["on", "off"], help="on,off")
    add("--methods", type=choices(list(METHODS)), default=list(METHODS), help="Decide,DecideBatch")
    add(
        "--protocols",
        type=protocols,
        default=[wire.GRPC],
        help=f"how Tierline is loaded: {','.join(wire.PROTOCOLS)} (Connect on --http-listen); all",
    )
    add("--bodies", type=int, default=16, help="distinct Decide bodies in the mix")
    add("--batch-bodies", type=int, default=4, help="distinct DecideBatch bodies")
    add("--batch-items", type=int, default=100, help="items per DecideBatch")
    add("--h2load-processes", type=int, default=4, help="h2load processes at once, at most")
    add(
        "--streams",
        type=int,
        default=1,
        help="requests in flight per connection (16 with --in-flight 16: one connection)",
    )
    add("--bursts", type=int, default=5, help="bursts per Tierline server (0: none)")
    add("--burst-size", type=int, default=500, help="concurrent calls per burst")
    add("--burst-deadline", type=float, default=0.05, help="client deadline in a burst (s)")
    add("--redis-timeout", type=float, default=None, help="pass --redis-timeout to the server")
    add("--seed", type=int, default=7, help="seed of the request mix")
    add("--soak", action="store_true", help="soak the first Tierline server instead")
    add("--soak-minutes", type=float, default=10.0, help="length of the soak")
    add("--soak-interval", type=float, default=30.0, help="seconds between RSS readings")
    add("--soak-in-flight", type=int, default=16, help="requests in flight during the soak")
    add(
        "--process-model",
        action="store_true",
        help="every echo model and Tierline 1 and 2 processes, Decide, 16 in flight, 3 times",
    )
    add("--json", type=Path, help="where to write the JSON result (default bench/results/)")
    args = parser.parse_args(argv)  # fmt: skip
    if args.process_model:
        args.echo, args.tierline, args.near_cache = echo_models("all"), ["1", "2"], ["on"]
        args.methods, args.in_flight, args.bursts = ["Decide"], [16], 0
        args.repeat = max(args.repeat, 3)
    if args.soak:
        args.echo, args.tierline = [], args.tierline[:1]
        args.near_cache, args.methods, args.bursts = args.near_cache[:1], ["Decide"], 0
        args.protocols = args.protocols[:1]
    levels = [args.soak_in_flight] if args.soak else args.in_flight
    if args.streams < 1 or any(level % args.streams for level in levels):
        parser.error(f"requests in flight {levels} must be multiples of --streams {args.streams}")
    http1 = [protocol.key for protocol in args.protocols if protocol.http1]
    if args.streams > 1 and http1:
        parser.error(
            f"--streams {args.streams} puts several requests on one connection, which HTTP/1.1 "
            f"cannot ({', '.join(http1)} in --protocols): leave --streams at 1 or drop it"
        )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 1 if any answer was not OK (or the run broke), else 0."""
    args = parse_args(argv)
    h2load.require_h2load()
    console = recording_console()
    started = time.perf_counter()
    kind = "soak" if args.soak else "process-model" if args.process_model else "service"
    path = args.json or RESULTS / f"{kind}-{datetime.date.today().isoformat()}.json"
    with tempfile.TemporaryDirectory(prefix="tierline-bench-") as directory:
        report = benchmark(args, console, Path(directory))
    console.print(results_table(summaries(report.measurements)))
    if report.bursts:
        console.print(burst_table(report.bursts, args.burst_deadline * 1000))
    if report.soak:
        console.print(soak_table(report.soak))
    console.print(memory_table(report.memory))
    return finish(report, console, path, started)


def recording_console() -> Console:
    """A console that keeps what it prints (saved beside the JSON)."""
    console = Console(record=True)
    if not console.is_terminal:
        console.width = CAPTURED_WIDTH  # a log file gets whole tables, not 80 columns
    return console


def finish(report: Report, console: Console, path: Path, started: float) -> int:
    """After the tables: the decoded samples, the failures; the JSON at ``path`` and the text
    beside it. 1 if any answer was not OK, else 0."""
    console.print(
        f"decoded samples: {sum(report.sampled.values())} decisions checked, "
        f"{sum(report.sample_degraded.values())} degraded decisions among them",
        highlight=False,
    )
    failures = report.failures
    for failure in failures[:20]:
        console.print(f"[red]FAILED[/red] {failure}", highlight=False)
    write_json(report, path)
    seconds = time.perf_counter() - started
    console.print(f"{len(failures)} failures; JSON in {path}; {seconds:.0f} s")
    console.save_text(str(path.with_suffix(".txt")))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
