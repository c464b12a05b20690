"""The figures of a service benchmark run: what was measured (dataclasses), the readable tables
(rich) and the JSON result."""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from load import BurstResult
from percentiles import Percentiles, percentiles
from rich.table import Table


@dataclass(frozen=True)
class Measurement:
    """One timed h2load run of one target at one number of requests in flight."""

    target: str
    server: str
    in_flight: int
    repeat: int
    decisions_per_s: float
    calls_per_s: float
    latency_ms: Percentiles
    server_cpu_us: float
    """CPU time of every server process per decision."""
    redis_cpu_us: float | None
    """CPU time of redis-server per decision (None for the echo servers)."""
    generator_cpu: float
    """CPU time of the h2load processes / time under load (1.0 = one core)."""
    other_cpu: float
    """Busy CPU of everything else on the machine / time under load (noise)."""
    responses: int
    problems: tuple[str, ...]
    """Non-OK answers and miscounts: the run failed when this is not empty."""
    degraded: int
    checked_by: str
    """How the status of every answer was checked."""


@dataclass
class ProcessMemory:
    """VmRSS of one server process before the load and after it (kB)."""

    server: str
    pid: int
    start_kib: int
    end_kib: int | None = None


@dataclass
class SoakPoint:
    """Memory of every process of the soaked server, ``elapsed`` seconds into the soak."""

    elapsed_s: float
    rss_kib: dict[int, int]
    decisions_per_s: float
    problems: tuple[str, ...]


@dataclass
class Report:
    """Everything a run produced."""

    environment: dict[str, str]
    measurements: list[Measurement] = field(default_factory=list)
    memory: list[ProcessMemory] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    """Targets that could not run, and why (e.g. the server refused a flag)."""
    bursts: dict[str, BurstResult] = field(default_factory=dict)
    samples: dict[str, list[str]] = field(default_factory=dict)
    """Problems found by the decoded samples, by server (empty lists: all answers right)."""
    sampled: dict[str, int] = field(default_factory=dict)
    """Decisions the decoded samples checked, by server."""
    sample_degraded: dict[str, int] = field(default_factory=dict)
    """Degraded decisions in the decoded samples, by server."""
    soak: list[SoakPoint] = field(default_factory=list)
    silent_streams: dict[str, str] = field(default_factory=dict)
    """What a normal call got while streams that never send their request were open, by server
    (sync_model.py)."""

    @property
    def failures(self) -> list[str]:
        """Every reason the run failed: a non-OK answer anywhere, or a wrong decoded sample."""
        found = [
            f"{m.target}, {m.in_flight} in flight: {problem}"
            for m in self.measurements
            for problem in m.problems
        ]
        found += [f"{server}: {p}" for server, problems in self.samples.items() for p in problems]
        found += [f"soak at {p.elapsed_s:.0f} s: {x}" for p in self.soak for x in p.problems]
        return found


@dataclass(frozen=True)
class Summary:
    """A target at one number in flight, over its repeats: medians and spread."""

    target: str
    in_flight: int
    runs: Sequence[Measurement]

    def median(self, figure: str) -> float:
        """The median over the repeats of a Measurement figure (dotted for latency)."""
        return statistics.median(_figure(run, figure) for run in self.runs)

    def spread(self, figure: str) -> tuple[float, float]:
        """Lowest and highest over the repeats."""
        values = [_figure(run, figure) for run in self.runs]
        return min(values), max(values)


def _figure(run: Measurement, figure: str) -> float:
    if figure.startswith("latency_ms."):
        return float(getattr(run.latency_ms, figure.split(".", 1)[1]))
    value = getattr(run, figure)
    return float(value) if value is not None else float("nan")


def summaries(measurements: Sequence[Measurement]) -> list[Summary]:
    """Measurements grouped by target and in-flight, in the order they first ran."""
    groups: dict[tuple[str, int], list[Measurement]] = {}
    for run in measurements:
        groups.setdefault((run.target, run.in_flight), []).append(run)
    ordered = sorted(groups.items(), key=lambda item: item[0][1])
    return [Summary(target, in_flight, runs) for (target, in_flight), runs in ordered]


def best_echo(rows: Sequence[Summary]) -> dict[int, Summary]:
    """The echo process model with the most calls/s (median), at each number in flight."""
    best: dict[int, Summary] = {}
    for row in rows:
        if row.target.startswith("echo") and (
            row.in_flight not in best
            or row.median("calls_per_s") > best[row.in_flight].median("calls_per_s")
        ):
            best[row.in_flight] = row
    return best


def _table(title: str, columns: Sequence[str], caption: str | None = None) -> Table:
    table = Table(title=title, caption=caption)
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 else "right")
    return table


def _spread(row: Summary, figure: str, fmt: str) -> str:
    low, high = row.spread(figure)
    middle = format(row.median(figure), fmt)
    if len(row.runs) == 1:
        return middle
    return f"{middle} ({format(low, fmt)}-{format(high, fmt)})"


def results_table(rows: Sequence[Summary]) -> Table:
    """Throughput, latency, CPU and checks of every target at every number in flight."""
    echo = best_echo(rows)
    table = _table(
        "Load by h2load (medians over repeats; min-max in brackets)",
        ("target", "in flight", "decisions/s", "vs best echo", "p50 ms", "p95", "p99",
         "p99.9", "server CPU µs/dec", "Redis µs/dec", "h2load CPU", "other CPU", "answers"),
        caption="vs best echo: decisions/s / calls/s of the fastest echo model at the same in "
        "flight; CPU µs/dec: CPU time of all the server's processes (Redis: redis-server) per "
        "decision; h2load / other CPU: cores used by the load generator / by everything else "
        "on the machine (other people's work is noise); answers: every answer's gRPC status "
        "checked (server count = server's own per-status count equals h2load's; sample = "
        "decoded sample only)",
    )  # fmt: skip
    for row in rows:
        base = echo.get(row.in_flight)
        ratio = row.median("decisions_per_s") / base.median("calls_per_s") if base else 0.0
        failed = sum(len(run.problems) for run in row.runs)
        degraded = sum(run.degraded for run in row.runs)
        checks = row.runs[0].checked_by + (f", [red]{failed} failed[/red]" if failed else " ok")
        if degraded:
            checks += f", [yellow]{degraded:,} degraded[/yellow]"
        redis = row.median("redis_cpu_us")
        table.add_row(
            row.target,
            str(row.in_flight),
            _spread(row, "decisions_per_s", ",.0f"),
            f"{ratio:.2f}" if base else "-",
            _spread(row, "latency_ms.p50", ".2f"),
            f"{row.median('latency_ms.p95'):.2f}",
            _spread(row, "latency_ms.p99", ".2f"),
            f"{row.median('latency_ms.p999'):.2f}",
            f"{row.median('server_cpu_us'):,.0f}",
            "-" if math.isnan(redis) else f"{redis:,.0f}",  # no Redis behind an echo
            f"{row.median('generator_cpu'):.2f}",
            f"{row.median('other_cpu'):.2f}",
            checks,
        )
    return table


def memory_table(memory: Sequence[ProcessMemory]) -> Table:
    """VmRSS of every server process before the load and after it."""
    table = _table("Server memory (VmRSS per process, MB)", ("server", "pid", "start", "end", "Δ"))
    for process in memory:
        end = process.end_kib
        table.add_row(
            process.server,
            str(process.pid),
            f"{process.start_kib / 1024:.1f}",
            "exited" if end is None else f"{end / 1024:.1f}",
            "" if end is None else f"{(end - process.start_kib) / 1024:+.1f}",
        )
    return table


def burst_table(results: Mapping[str, BurstResult], deadline_ms: float) -> Table:
    """Bursts of concurrent Decides from the Python asyncio client."""
    table = _table(
        f"Bursts from the Python asyncio client (deadline {deadline_ms:g} ms)",
        ("server", "bursts x calls", "answered", "p50 / p99 ms", "shed", "shed p50 ms",
         "failed", "failed p50 ms", "burst wall ms (median)", "not answered because"),
    )  # fmt: skip
    for server, result in results.items():
        answered = percentiles(result.answered)
        share = len(result.answered) / result.calls if result.calls else 0.0
        statuses = ", ".join(f"{name} {n}" for name, n in result.statuses.most_common())
        table.add_row(
            server,
            f"{result.bursts} x {result.calls // max(result.bursts, 1)}",
            f"{len(result.answered):,} ({share:.1%})",
            f"{answered.p50:.1f} / {answered.p99:.1f}",
            f"{len(result.shed):,}",
            f"{percentiles(result.shed).p50:.1f}",
            f"{len(result.failed):,}",
            f"{percentiles(result.failed).p50:.1f}",
            f"{statistics.median(result.seconds) * 1000:.0f}" if result.seconds else "-",
            statuses or "-",
        )
    return table


def soak_table(points: Sequence[SoakPoint]) -> Table:
    """Memory of every process of the soaked server over time."""
    pids = sorted({pid for point in points for pid in point.rss_kib})
    table = _table(
        "Soak: VmRSS per process (MB) and decisions/s",
        ("elapsed s", *(f"pid {pid}" for pid in pids), "decisions/s", "answers"),
    )
    for point in points:
        table.add_row(
            f"{point.elapsed_s:.0f}",
            *(f"{point.rss_kib[pid] / 1024:.1f}" if pid in point.rss_kib else "-" for pid in pids),
            f"{point.decisions_per_s:,.0f}",
            "ok" if not point.problems else f"[red]{len(point.problems)} problems[/red]",
        )
    return table


def unavailable_table(unavailable: Mapping[str, str]) -> Table:
    """Targets that could not run, with the server's reason."""
    table = _table("Unavailable", ("target", "why"))
    for target, reason in unavailable.items():
        table.add_row(target, reason)
    return table


def to_json(report: Report) -> dict[str, Any]:
    """The whole report as plain data (every measurement, the medians, the failures)."""
    rows = summaries(report.measurements)
    echo = best_echo(rows)
    return {
        "environment": report.environment,
        "summary": [
            {
                "target": row.target,
                "in_flight": row.in_flight,
                "repeats": len(row.runs),
                "decisions_per_s": row.median("decisions_per_s"),
                "decisions_per_s_spread": row.spread("decisions_per_s"),
                "ratio_to_best_echo": (
                    row.median("decisions_per_s") / echo[row.in_flight].median("calls_per_s")
                    if row.in_flight in echo
                    else None
                ),
                "best_echo": echo[row.in_flight].target if row.in_flight in echo else None,
                "latency_ms": {
                    name: row.median(f"latency_ms.{name}") for name in ("p50", "p95", "p99", "p999")
                },
                "server_cpu_us_per_decision": row.median("server_cpu_us"),
            }
            for row in rows
        ],
        "measurements": [
            {**dataclasses.asdict(m), "latency_ms": m.latency_ms.as_dict()}
            for m in report.measurements
        ],
        "memory": [dataclasses.asdict(process) for process in report.memory],
        "unavailable": report.unavailable,
        "bursts": {
            server: {
                "calls": result.calls,
                "bursts": result.bursts,
                "answered": len(result.answered),
                "answered_ms": percentiles(result.answered).as_dict(),
                "shed": len(result.shed),
                "shed_ms": percentiles(result.shed).as_dict(),
                "failed": len(result.failed),
                "failed_ms": percentiles(result.failed).as_dict(),
                "not_answered_because": dict(result.statuses),
                "burst_wall_s": result.seconds,
            }
            for server, result in report.bursts.items()
        },
        "samples": report.samples,
        "sampled": report.sampled,
        "sample_degraded": report.sample_degraded,
        "soak": [dataclasses.asdict(point) for point in report.soak],
        "silent_streams": report.silent_streams,
        "failures": report.failures,
    }


def write_json(report: Report, path: Path) -> None:
    """Write the JSON result (creating its folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(report), indent=1, default=str) + "\n")
