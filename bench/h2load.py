"""The h2load driver: calls from nghttp2's load generator, with a mix of request bodies, in any
protocol of wire.py (gRPC; Connect over h2c or HTTP/1.1).

h2load posts one fixed body per process (``-d``), so a mix of requests is sent by several h2load
processes at once, each with its own body, the requests in flight split between their
connections (one request in flight per connection, or ``streams`` per connection: 16 in flight
over one connection is what one client channel sends to a server whose processes share a port,
and the kernel spreads connections, not calls). When there are more bodies than processes, the
run is cut into consecutive slices, each with the next bodies: with 16 bodies, 4 processes and
16 in flight, four slices of 4 processes x 4 connections; with 1 in flight, sixteen slices of
one process and one connection.

A timed run sends a fixed number of requests per process (``-n``, from the rate a warm-up
measured), so every request it starts also completes: the server's own count of answers over
the run must equal h2load's (see answers.py). h2load sees only HTTP statuses: a gRPC error is
an HTTP 200 with ``grpc-status`` in the trailers, a Connect error an HTTP error status.
"""

from __future__ import annotations

import collections
import math
import re
import resource
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import wire

H2LOAD = "h2load"
RUN_TIMEOUT_SECONDS = 900.0
_REQUESTS = re.compile(
    r"requests: (?P<total>\d+) total, (?P<started>\d+) started, (?P<done>\d+) done, "
    r"(?P<succeeded>\d+) succeeded, (?P<failed>\d+) failed, (?P<errored>\d+) errored, "
    r"(?P<timeout>\d+) timeout"
)
COUNTS = ("total", "started", "done", "succeeded", "failed", "errored", "timeout")


class H2loadMissing(RuntimeError):
    """h2load is not installed."""


def require_h2load() -> None:
    """Raise H2loadMissing with what to install when h2load is not on PATH."""
    if shutil.which(H2LOAD) is None:
        raise H2loadMissing("h2load is not on PATH: apt-get install nghttp2-client")


@dataclass(frozen=True)
class Part:
    """One h2load process of a slice: its body, its connections and streams per connection."""

    body: Path
    connections: int
    streams: int = 1

    @property
    def in_flight(self) -> int:
        """Requests this process keeps in flight."""
        return self.connections * self.streams


def plan(
    bodies: Sequence[Path], in_flight: int, max_processes: int, streams: int = 1
) -> list[list[Part]]:
    """Slices of h2load processes that send every body with ``in_flight`` requests in flight,
    ``streams`` on each connection (``in_flight`` must be a multiple of ``streams``).

    Each slice runs min(max_processes, connections, bodies) processes; the last slice wraps
    around to the first bodies so that every slice has the same requests in flight.
    """
    if in_flight % streams:
        raise ValueError(f"{in_flight} in flight is not a whole number of {streams}-stream links")
    connections = in_flight // streams
    processes = max(1, min(max_processes, connections, len(bodies)))
    base, extra = divmod(connections, processes)
    slices = math.ceil(len(bodies) / processes)
    return [
        [
            Part(
                bodies[(number * processes + index) % len(bodies)],
                base + (index < extra),
                streams,
            )
            for index in range(processes)
        ]
        for number in range(slices)
    ]


@dataclass
class Result:
    """What h2load measured over a run (all slices, all processes)."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    """h2load's request counts summed over processes: total, started, done, succeeded
    (HTTP 2xx), failed (other HTTP status), errored, timeout."""
    latencies_us: list[int] = field(default_factory=list)
    """Every request's time from start to end of response (``--log-file``), µs."""
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    """Responses by HTTP status (``--log-file``); 0: h2load did not read the status. h2load
    1.52 reads an HTTP/1.1 status only through its reason phrase, which some servers (Hypercorn)
    leave empty, as HTTP/1.1 allows: it counts those answers failed."""
    seconds: float = 0.0
    """Time under load: the sum of each slice's first request start to last response end."""
    generator_cpu_s: float = 0.0
    """CPU time of the h2load processes."""
    problems: list[str] = field(default_factory=list)
    """h2load's own complaints: exit status, a missing summary, requests not answered 2xx."""

    @property
    def done(self) -> int:
        """Requests that got a whole response."""
        return self.counts["done"]

    @property
    def rate(self) -> float:
        """Responses per second under load."""
        return self.done / self.seconds if self.seconds else 0.0

    def failures(self, *, server_counts: bool) -> list[str]:
        """Requests not answered with an HTTP 2xx, or not completed; empty when all were.

        ``server_counts``: the server's own count checks every answer's status (see answers.py;
        over Connect an OK answer is an HTTP 200), so an answer whose HTTP status h2load could
        not read (0) is left to it.
        """
        counts = self.counts
        found = [f"{counts[name]:,} {name}" for name in ("errored", "timeout") if counts[name]]
        if counts["done"] != counts["started"]:
            found.append(f"h2load started {counts['started']:,}, done {counts['done']:,}")
        if not counts["done"]:
            found.append("no response at all")
        for status, count in sorted(self.statuses.items()):
            if status == 0 and not server_counts:
                found.append(f"{count:,} answers whose HTTP status h2load could not read")
            elif status and not 200 <= status < 300:
                found.append(f"{count:,} answered HTTP {status}")
        return found


def _command(
    url: str,
    part: Part,
    protocol: wire.Protocol,
    *,
    seconds: float | None,
    requests: int,
    log: Path,
) -> list[str]:
    limit = ["-D", f"{max(1, round(seconds * 1000))}ms"] if seconds else ["-n", str(requests)]
    return [
        H2LOAD, "-c", str(part.connections), "-m", str(part.streams), *limit, "-d", str(part.body),
        *protocol.h2load_arguments, "--log-file", str(log), url,
    ]  # fmt: skip


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _read_log(log: Path, into: Result) -> tuple[float, float]:
    """Add the latencies (µs) and statuses of a --log-file to ``into``; its first start and
    last end (µs since epoch)."""
    first, last = math.inf, 0.0
    for line in log.read_text().splitlines():
        start, status, duration = line.split("\t")[:3]
        into.latencies_us.append(int(duration))
        into.statuses[int(status)] += 1
        first = min(first, int(start))
        last = max(last, int(start) + int(duration))
    return first, last


def run(
    url: str,
    slices: Sequence[Sequence[Part]],
    directory: Path,
    *,
    protocol: wire.Protocol = wire.GRPC,
    seconds: float | None = None,
    rate: float = 0.0,
    duration: float = 0.0,
) -> Result:
    """Run every slice, one after another, its processes together, in ``protocol`` (the bodies
    encoded for it).

    With ``seconds``, each slice runs that long (``-D``: a warm-up; requests still in flight at
    the end are cut off). Otherwise each process sends a fixed number of requests: its share
    of ``rate`` x ``duration`` / slices (at least one per stream).
    """
    result = Result()
    cpu_before = _children_cpu()
    for number, parts in enumerate(slices):
        in_flight = sum(part.in_flight for part in parts)
        commands, logs = [], []
        for index, part in enumerate(parts):
            share = rate * duration / len(slices) * part.in_flight / in_flight
            log = directory / f"h2load-{number}-{index}.log"
            requests = max(part.in_flight, round(share))
            commands.append(
                _command(url, part, protocol, seconds=seconds, requests=requests, log=log)
            )
            logs.append(log)
        started = time.perf_counter()
        processes = [
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for command in commands
        ]
        outputs = [process.communicate(timeout=RUN_TIMEOUT_SECONDS)[0] for process in processes]
        wall = time.perf_counter() - started
        first, last = math.inf, 0.0
        for process, output, log in zip(processes, outputs, logs, strict=True):
            _count(result, process.returncode, output)
            start, end = _read_log(log, result)
            first, last = min(first, start), max(last, end)
            log.unlink()
        # Under -D the log holds only the measured requests; the wall clock is the slice.
        result.seconds += wall if seconds or last <= first else (last - first) / 1e6
    result.generator_cpu_s = _children_cpu() - cpu_before
    return result


def _count(result: Result, status: int, output: str) -> None:
    """Add one process's summary line to ``result`` (or note what is wrong with it)."""
    found = _REQUESTS.search(output)
    if status != 0 or found is None:
        tail = " | ".join(output.strip().splitlines()[-3:])
        result.problems.append(f"h2load exit status {status}: {tail}")
        return
    for name in COUNTS:
        result.counts[name] += int(found[name])
