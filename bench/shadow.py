"""Shadow policy benchmark: what deciding with a candidate beside the live policy costs, and who
pays it.

The candidate raises free shipping from 50.00 to 80.00 (the default policy otherwise), so that the
load harness's 75.00 orders differ. In one run:

(a) in this process, per decision, on the inputs of engine.py: the live decision itself
    (``Decider.decide``, warm memo) for scale; what the request path pays for the shadow
    (``Shadow.append``: the draw, a deque append, scheduling the work; the event loop turns
    between two calls, untimed, as it does between two requests), at share 1 and 0.1; and the
    work the shadow does later for each decision it drew (the candidate's decision, the
    comparison, the counting), which runs once the answer is sent;
(b) end to end: `tierline serve --workers 1` without a shadow and with the candidate (share
    ``--share``), side by side on one private Redis with demo customers, the decision log off in
    both, loaded by the load harness's h2load mix (Decide; DecideBatch of 100) at each number in
    flight, in interleaved rounds (``--repeat``). Client side: decisions/s, latency, the server's
    CPU per decision (service.py's ``measure``, every answer's status checked). Server side, from
    /metrics over each run and its warm-up: the mean time to answer as the call guard measures
    it (before gRPC sends the answer), the shadow's mean evaluation time, and its agreements
    and differences;
(c) what a request itself waits for: each server answering one call at a time, idle between two
    (``--pause``), from a Python gRPC client, in the same rounds: client-side latency
    percentiles with and without the shadow.

CPU time is printed beside wall time: on a shared machine the wall clock counts other processes'
turns too. It prints figures and exits 0 unless an answer was wrong: it is not a test.

    python bench/shadow.py                                   # about 3 minutes
    python bench/shadow.py --in-flight 1 --repeat 1 --duration 2 --decisions 20000   # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import mix
import servers
import wire
from decisionlog import Decision, make_decisions
from environment import environment_table, machine_facts, redis_version, tool_version
from percentiles import percentile, percentiles
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from report import Measurement, results_table, summaries
from rich.console import Console
from rich.table import Table
from support.policies import raised_threshold
from tierline_server.metrics import Metrics
from tierline_server.policy.compiler import load_policy
from tierline_server.policy.decider import Decider
from tierline_server.shadow import Shadow

from service import BATCH_PATH, DECIDE_PATH, Settings, Target, measure

POLICY = servers.POLICY
WIDTH = 150
"""Columns of the printed tables, terminal or not (results are kept as text files)."""
DISTRIBUTIONS = ("grpcio", "protobuf", "durable-rules", "prometheus-client")
DEPLOYMENTS = ("no shadow", "shadow")
CANDIDATE_EUROS = 80
"""Free shipping from 80.00 in the candidate: the load harness's 75.00 orders lose it."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--decisions", type=int, default=100_000, help="(a): decisions timed per figure")
    add("--samples", type=int, default=400, help="(a): distinct inputs, cycled")
    add("--seed", type=int, default=2026, help="seed of the inputs")
    add("--customers", type=int, default=20_000, help="(b): demo customers in Redis")
    add("--share", type=float, default=1.0, help="(b): the shadowed server's --shadow-share")
    add("--in-flight", type=lambda t: [int(n) for n in t.split(",")], default=[1, 16])
    add("--duration", type=float, default=5.0, help="(b): timed seconds per run")
    add("--warmup", type=float, default=1.0, help="(b): warm-up seconds before each run")
    add("--repeat", type=int, default=3, help="(b): rounds, every server in each")
    add("--bodies", type=int, default=16, help="(b): distinct Decide bodies")
    add("--batch-bodies", type=int, default=4, help="(b): distinct DecideBatch bodies")
    add("--batch-items", type=int, default=100, help="(b): items per DecideBatch")
    add("--h2load-processes", type=int, default=4, help="(b): h2load processes at once")
    add("--paced-calls", type=int, default=400, help="(c): calls per server, method and round")
    add("--pause", type=float, default=3.0, help="(c): milliseconds between two calls")
    add("--in-process-only", action="store_true", help="(a) only")
    add("--save", type=Path, help="also write the printed tables to this text file")
    return parser.parse_args(argv)


# --- (a) in this process ------------------------------------------------------------------------


@dataclass(frozen=True)
class PerCall:
    """Time per call in nanoseconds: each call's median and mean, and CPU per call."""

    median_ns: float
    mean_ns: float
    cpu_ns: float


async def time_each(call: Callable[[Decision], object], made: Sequence[Decision]) -> PerCall:
    """``call`` once per decision, each timed alone (the clock's own cost taken off), the event
    loop turning between two calls (untimed, but in the CPU figure)."""
    clock = _clock_cost()
    durations = []
    cpu_started = time.process_time()
    for item in made:
        began = time.perf_counter_ns()
        call(item)
        durations.append(time.perf_counter_ns() - began - clock)
        await asyncio.sleep(0)
    cpu = (time.process_time() - cpu_started) * 1e9 / len(made)
    return PerCall(statistics.median(durations), statistics.fmean(durations), cpu)


def _clock_cost() -> float:
    """What timing an empty stretch costs (ns): perf_counter_ns twice."""
    samples = []
    for _ in range(10_000):
        began = time.perf_counter_ns()
        samples.append(time.perf_counter_ns() - began)
    return statistics.median(samples)


def in_process(made: Sequence[Decision], candidate: Path) -> dict[str, PerCall]:
    """(a): the live decision, the request path's share of the shadow, the shadow's own work."""
    live, other = Decider(load_policy(POLICY)), Decider(load_policy(candidate))

    def shadow(share: float) -> Shadow:
        return Shadow(live, other, share, Metrics(CollectorRegistry()), None)

    async def measure_all() -> dict[str, PerCall]:
        results = {
            "live decision (Decider.decide, warm memo)": await time_each(
                lambda item: live.decide(item[1].features, item[0].context), made
            )
        }
        for share in (1.0, 0.1):
            drawing = shadow(share)

            def append(item: Decision, drawing: Shadow = drawing) -> None:
                drawing.append(item[0], item[1], batch=False)

            results[f"request path: Shadow.append, share {share:g}"] = await time_each(append, made)
        # What the shadow does on the loop's next turn, for each decision it drew.
        deciding = shadow(1.0)
        results["after the answer: candidate decides, compares, counts"] = await time_each(
            lambda item: deciding._evaluate(item[0], item[1], False), made
        )
        return results

    return asyncio.run(measure_all())


def in_process_table(results: dict[str, PerCall], decisions: int) -> Table:
    """(a) as a table."""
    table = Table(
        title=f"(a) Per decision, in this process ({decisions:,} decisions each)",
        caption="each call timed alone (perf_counter_ns, the clock's cost taken off), the event "
        "loop turning between calls; CPU = process CPU time / calls, which also counts the loop's "
        "turns and, for the appends, the shadow's work they scheduled",
    )
    for column in ("step", "median µs", "mean µs", "CPU µs"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for name, per_call in results.items():
        table.add_row(
            name,
            f"{per_call.median_ns / 1000:.2f}",
            f"{per_call.mean_ns / 1000:.2f}",
            f"{per_call.cpu_ns / 1000:.2f}",
        )
    return table


# --- (b) end to end -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerSide:
    """What the server's /metrics say about one run (warm-up included)."""

    answer_us: float
    """Mean time to answer (the call guard's measure, before gRPC sends the answer)."""
    shadow_us: float
    """Mean time the shadow took per decision it evaluated (0 without a shadow)."""
    shadowed: float
    differ: float


def samples_of(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """A /metrics text as sample value by (name, labels)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """The sum of the samples ``name`` with at least ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= found)


def server_side(before: str, after: str, method: str) -> ServerSide:
    """The difference between two scrapes of one server."""
    old, new = samples_of(before), samples_of(after)

    def delta(name: str, **labels: str) -> float:
        return total(new, name, **labels) - total(old, name, **labels)

    def mean_us(histogram: str, **labels: str) -> float:
        count = delta(f"{histogram}_count", **labels)
        return delta(f"{histogram}_sum", **labels) * 1e6 / count if count else 0.0

    return ServerSide(
        answer_us=mean_us("tierline_decision_duration_seconds", method=method),
        shadow_us=mean_us("tierline_shadow_evaluation_duration_seconds"),
        shadowed=delta("tierline_shadow_decisions_total"),
        differ=delta("tierline_shadow_decisions_total", result="differ"),
    )


@dataclass
class Run:
    """One measured run and what the server said about it."""

    measurement: Measurement
    deployment: str
    method: str
    server: ServerSide


def paced(target: Target, calls: int, pause_s: float) -> list[float]:
    """(c): ``calls`` calls one at a time, ``pause_s`` apart; each call's latency (s)."""
    with grpc.insecure_channel(target.server.target) as channel:
        call = channel.unary_unary(target.path)  # the bodies' bytes, as they are
        call(target.bodies[0].message, timeout=10)  # connected before timing
        latencies = []
        for number in range(calls):
            body = target.bodies[number % len(target.bodies)].message
            started = time.perf_counter()
            call(body, timeout=10)
            latencies.append(time.perf_counter() - started)
            time.sleep(pause_s)
    return latencies


Paced = dict[tuple[str, str], list[float]]
"""(c): latencies (s) by (method, deployment), over every round."""


def end_to_end(
    args: argparse.Namespace, directory: Path, candidate: Path, console: Console
) -> tuple[list[Run], Paced, dict[str, str]]:
    """(b) and (c): both servers, every method and number in flight, ``--repeat`` rounds."""
    redis = servers.start_redis(directory / "redis")
    started: list[servers.Server] = []
    try:
        with console.status(f"loading {args.customers:,} demo customers ..."):
            population = servers.load_population(redis.url, directory, args.customers)
        by_tier = population.by_tier
        bodies = {
            "Decide": (DECIDE_PATH, mix.decide_bodies(by_tier, args.bodies, args.seed), 1),
            f"DecideBatch({args.batch_items})": (
                BATCH_PATH,
                mix.batch_bodies(by_tier, args.batch_bodies, args.batch_items, args.seed),
                args.batch_items,
            ),
        }
        flags = {
            "no shadow": ["--workers", "1"],
            "shadow": [
                "--workers", "1", "--shadow-policy", str(candidate),
                "--shadow-share", str(args.share),
            ],
        }  # fmt: skip
        with console.status("starting tierline serve ..."):
            deployments = {}
            for name in DEPLOYMENTS:
                deployments[name] = servers.start_tierline(name, redis.url, extra_args=flags[name])
                started.append(deployments[name])
        targets = []
        for method, (path, made, per_call) in bodies.items():
            files = wire.GRPC.write(made, directory, method)
            for name, server in deployments.items():
                targets.append(
                    (
                        name,
                        method,
                        Target(f"{method} · {name}", server, path, made, files, per_call, True),
                    )
                )
        assert redis.pid is not None
        settings = Settings(
            args.warmup, args.duration, args.h2load_processes, 1, directory, redis.pid
        )
        runs: list[Run] = []
        latencies: Paced = {}
        for repeat in range(args.repeat):
            for name, method, target in targets:
                with console.status(f"round {repeat + 1}: {target.name}, one call at a time"):
                    latencies.setdefault((method, name), []).extend(
                        paced(target, args.paced_calls, args.pause / 1000)
                    )
            for in_flight in args.in_flight:
                for name, method, target in targets:
                    with console.status(
                        f"round {repeat + 1}: {target.name}, {in_flight} in flight"
                    ):
                        before = servers.scrape(target.server.metrics_urls[0])
                        measured = measure(target, in_flight, repeat, settings)
                        after = servers.scrape(target.server.metrics_urls[0])
                    runs.append(
                        Run(
                            measured,
                            name,
                            method,
                            server_side(before, after, target.path.rsplit("/", 1)[1]),
                        )
                    )
        facts = {
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            **machine_facts(DISTRIBUTIONS),
            "h2load": tool_version(["h2load", "--version"]),
            "Redis": f"redis-server {redis_version()}, {args.customers:,} demo customers loaded "
            f"in {population.load_seconds:.1f} s",
            "tierline serve": "--workers 1, the decision log off; 'shadow' adds --shadow-policy "
            f"(free shipping from 80.00) --shadow-share {args.share:g}",
            "load": f"the load harness's mix ({args.bodies} Decide bodies, {args.batch_bodies} "
            f"DecideBatch bodies of {args.batch_items}); {args.warmup:g} s warm-up, "
            f"{args.duration:g} s timed; {args.repeat} rounds, both servers in each",
            "noise": "a shared 2-core machine: other people's work runs at the same time (see "
            "'other CPU'); compare rows of one round, and the medians",
        }
        return runs, latencies, facts
    finally:
        for server in started:
            server.stop()
        redis.stop()


def server_table(runs: Sequence[Run]) -> Table:
    """(b) server side, medians over the rounds, and the shadow's effect on each figure."""
    table = Table(
        title="(b) Server side (medians over the rounds) and the shadow against no shadow",
        caption="answer µs: mean time to answer as the call guard measures it, before gRPC "
        "sends the answer; shadow µs: mean evaluation per shadowed decision (after the answer)",
    )
    columns = (
        "method", "in flight", "deployment", "decisions/s", "p50 ms", "p99 ms", "server CPU µs/dec",
        "answer µs", "shadow µs", "shadowed (differ) per run",
    )  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column in ("method", "deployment") else "right")
    groups: dict[tuple[str, int, str], list[Run]] = {}
    for run in runs:
        key = (run.method, run.measurement.in_flight, run.deployment)
        groups.setdefault(key, []).append(run)
    for (method, in_flight, deployment), group in groups.items():
        table.add_row(
            method,
            str(in_flight),
            deployment,
            f"{_median(r.measurement.decisions_per_s for r in group):,.0f}",
            f"{_median(r.measurement.latency_ms.p50 for r in group):.2f}",
            f"{_median(r.measurement.latency_ms.p99 for r in group):.2f}",
            f"{_median(r.measurement.server_cpu_us for r in group):.0f}",
            f"{_median(r.server.answer_us for r in group):.0f}",
            f"{_median(r.server.shadow_us for r in group):.1f}",
            f"{_median(r.server.shadowed for r in group):,.0f} "
            f"({_median(r.server.differ for r in group):,.0f})",
        )
    return table


def paced_table(latencies: Paced, pause_ms: float) -> Table:
    """(c) as a table: each method's latencies with the shadow against without."""
    table = Table(
        title=f"(c) One call at a time, the server idle {pause_ms:g} ms between two: client-side "
        "latency (µs), every round",
        caption="what a request itself waits for: the shadow's work comes after the answer",
    )
    for column in ("method", "deployment", "calls", "p50", "p90", "p99", "mean", "p50 vs none"):
        table.add_column(column, justify="left" if column in ("method", "deployment") else "right")
    for (method, deployment), seconds in latencies.items():
        figures = percentiles(value * 1e6 for value in seconds)
        base = percentiles(value * 1e6 for value in latencies[(method, DEPLOYMENTS[0])])
        table.add_row(
            method,
            deployment,
            f"{figures.count:,}",
            f"{figures.p50:.0f}",
            f"{percentile(sorted(seconds), 0.9) * 1e6:.0f}",
            f"{figures.p99:.0f}",
            f"{figures.mean:.0f}",
            f"{figures.p50 - base.p50:+.0f}",
        )
    return table


def _median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def main(argv: Sequence[str] | None = None) -> int:
    """Run (a), then (b); print the tables."""
    args = parse_args(argv)
    console = Console(record=True, width=WIDTH, highlight=False)
    failures = []
    with tempfile.TemporaryDirectory(prefix="tierline-bench-") as name:
        directory = Path(name)
        candidate = raised_threshold(directory, euros=CANDIDATE_EUROS)
        made = make_decisions(args.decisions, args.samples, args.seed)
        console.print(in_process_table(in_process(made, candidate), len(made)))
        if not args.in_process_only:
            runs, latencies, facts = end_to_end(args, directory, candidate, console)
            console.print(environment_table(facts))
            console.print(results_table(summaries([run.measurement for run in runs])))
            console.print(server_table(runs))
            console.print(paced_table(latencies, args.pause))
            failures = [p for run in runs for p in run.measurement.problems]
    for failure in failures[:20]:
        console.print(f"[red]FAILED[/red] {failure}")
    if args.save is not None:
        console.save_text(str(args.save))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
