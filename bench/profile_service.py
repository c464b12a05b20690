"""Where a decision's time goes: one `tierline serve` process under h2load, sampled by py-spy.

Starts a private Redis with demo customers and one `tierline serve`, loads it with the Decide
mix of service.py (h2load, ``--in-flight`` requests in flight), and while the load runs records
every thread of the server with ``py-spy record --native`` (Python and native frames, busy
samples only). Each sample is charged to the first part it finds walking from the innermost
frame outwards (see CATEGORIES): durable-rules, the Redis lookup, response building,
validation, metrics, the rest of the policy layer (facts and merge), the rest of Tierline's own
code, and gRPC / asyncio machinery (no Tierline frame at all). Prints the shares, the hottest
innermost functions, and Tierline's functions by inclusive share.

    python bench/profile_service.py                          # 20 s, near-cache on
    python bench/profile_service.py --near-cache off --seconds 30 --raw stacks.txt
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import h2load
import mix
import servers
import wire
from environment import environment_table, machine_facts, tool_version
from rich.console import Console
from rich.table import Table

DECIDE_PATH = "/tierline.v1.EntitlementService/Decide"
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("metrics (prometheus-client)", ("(prometheus_client/", "tierline_server/metrics")),
    ("durable-rules (engine + actions)", ("(durable", "policy/engine.py")),
    ("Redis lookup (redis-py, store)", ("(redis/", "tierline_server/features")),
    ("response building (mapping)", ("api/mapping.py",)),
    ("validation", ("api/validation.py",)),
    ("policy facts + merge", ("tierline_server/policy", "tierline_server/decisions.py")),
    ("other Tierline code (handlers, call guard, ids)", ("tierline_server/api",)),
)
"""(name, path fragments) of the parts of a decision. A sample belongs to the part of its
innermost frame that has one (the socket writes of redis-py are the lookup's, a metric observed
by the handler is metrics); with none, to gRPC + asyncio machinery (MACHINERY) or OTHER."""
MACHINERY = ("gRPC + asyncio machinery (no Tierline frame)", ("grpc", "asyncio", "cygrpc"))
KERNEL_IO = "system calls of gRPC (sendmsg, eventfd write, recv, futex)"
SYSCALLS = frozenset({"sendmsg", "send", "write", "writev", "recv", "recvmsg", "read", "syscall"})
"""Innermost frames that are the kernel's work for gRPC: on loopback a send also runs the
receiver's side and wakes it, so this share swells when the machine is busy."""
OTHER = "other (interpreter, libc, ...)"
WAITS = frozenset({
    "epoll_wait", "epoll_pwait", "poll", "ppoll", "select", "pselect6", "nanosleep",
    "clock_nanosleep", "pthread_cond_wait", "pthread_cond_timedwait", "sem_wait",
    "sem_timedwait", "accept", "accept4",
})  # fmt: skip
"""Innermost native frames of a thread blocked waiting (the event loop, gRPC's poller, the
metrics server's select): py-spy samples them even without --idle; they are not busy time."""

Stacks = list[tuple[list[str], int]]
"""py-spy's raw (collapsed) output: frames outermost first, and the sample count."""


def read_stacks(text: str) -> tuple[Stacks, int]:
    """Parse ``frame;frame;... count`` lines: the busy stacks, and the samples spent waiting."""
    stacks, waiting = [], 0
    for line in text.splitlines():
        frames, _, count = line.rpartition(" ")
        if not (frames and count.isdigit()):
            continue
        parts = frames.split(";")
        if parts[-1].split(" (")[0] in WAITS:
            waiting += int(count)
        else:
            stacks.append((parts, int(count)))
    return stacks, waiting


def category(frames: Sequence[str]) -> str:
    """The part of the server a sample belongs to (see CATEGORIES)."""
    for frame in reversed(frames):
        for name, fragments in CATEGORIES:
            if any(fragment in frame for fragment in fragments):
                return name
    name, fragments = MACHINERY
    if not any(fragment in frame for frame in frames for fragment in fragments):
        return OTHER
    return KERNEL_IO if frames[-1].split(" (")[0] in SYSCALLS else name


def shares(stacks: Stacks) -> collections.Counter[str]:
    """Samples per category."""
    counted: collections.Counter[str] = collections.Counter()
    for frames, count in stacks:
        counted[category(frames)] += count
    return counted


def innermost(stacks: Stacks) -> collections.Counter[str]:
    """Samples per innermost frame (self time)."""
    counted: collections.Counter[str] = collections.Counter()
    for frames, count in stacks:
        counted[frames[-1]] += count
    return counted


def inclusive(stacks: Stacks, fragment: str) -> collections.Counter[str]:
    """Samples per function (all its lines) whose frame contains ``fragment``, once a sample."""
    counted: collections.Counter[str] = collections.Counter()
    for frames, count in stacks:
        for function in {_without_line(frame) for frame in frames if fragment in frame}:
            counted[function] += count
    return counted


def _without_line(frame: str) -> str:
    """``f (path.py:12)`` -> ``f (path.py)``."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def share_table(title: str, counted: collections.Counter[str], total: int, top: int) -> Table:
    """The ``top`` entries of ``counted`` as shares of ``total`` samples."""
    table = Table(title=title)
    table.add_column("where")
    table.add_column("samples", justify="right")
    table.add_column("share", justify="right")
    for name, count in counted.most_common(top):
        table.add_row(name, f"{count:,}", f"{count / total:.1%}")
    return table


def py_spy() -> str:
    """The py-spy beside this interpreter (a virtualenv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise RuntimeError("py-spy is not installed: make bench installs it (the bench extra)")
    return found


def record(pid: int, seconds: float, rate: int, out: Path) -> subprocess.CompletedProcess[str]:
    """py-spy record of every thread of ``pid`` and of its worker processes (`tierline serve`
    is a supervisor: the decisions are made in its children), Python and native frames."""
    command = [
        py_spy(), "record", "--native", "--subprocesses", "--format", "raw", "--rate", str(rate),
        "--duration", str(round(seconds)), "--output", str(out), "--pid", str(pid),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, check=False)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000, help="demo customers in Redis")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds recorded")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--in-flight", type=int, default=16, help="requests in flight")
    parser.add_argument("--near-cache", choices=("on", "off"), default="on")
    parser.add_argument("--bodies", type=int, default=16, help="distinct Decide bodies")
    parser.add_argument("--h2load-processes", type=int, default=4, help="h2load processes")
    parser.add_argument("--seed", type=int, default=7, help="seed of the request mix")
    parser.add_argument("--top", type=int, default=15, help="rows of the function tables")
    parser.add_argument("--raw", type=Path, help="also keep py-spy's raw stacks here")
    return parser.parse_args(argv)


def profile(args: argparse.Namespace, directory: Path, console: Console) -> tuple[Stacks, int]:
    """Start Redis and Tierline, load it, record it; the busy stacks and the samples waiting."""
    redis = servers.start_redis(directory / "redis")
    tierline = None
    try:
        by_tier = servers.load_population(redis.url, directory, args.customers).by_tier
        bodies = mix.decide_bodies(by_tier, args.bodies, args.seed)
        files = wire.GRPC.write(bodies, directory, "decide")
        cache = ["--near-cache", "false"] if args.near_cache == "off" else []
        tierline = servers.start_tierline("tierline", redis.url, extra_args=cache)
        url = f"http://{tierline.target}{DECIDE_PATH}"
        slices = h2load.plan(files, args.in_flight, args.h2load_processes)
        warm = h2load.run(url, slices, directory, seconds=2.0 / len(slices))
        out = directory / "stacks.txt"
        # The load outlasts the recording: a second more than py-spy's duration.
        load_seconds = (args.seconds + 1.0) / len(slices)
        under: list[h2load.Result] = []
        loading = threading.Thread(
            target=lambda: under.append(h2load.run(url, slices, directory, seconds=load_seconds))
        )
        with console.status(f"recording {args.seconds:g} s at {warm.rate:,.0f} calls/s ..."):
            loading.start()
            spy = record(tierline.pids()[0], args.seconds, args.rate, out)
            loading.join()
        if spy.returncode != 0 or not out.exists():
            raise RuntimeError(f"py-spy failed: {spy.stderr.strip() or spy.stdout.strip()}")
        text = out.read_text()
        if args.raw:
            args.raw.write_text(text)
        during = under[0].rate if under else 0.0
        console.print(
            f"{args.in_flight} in flight: {warm.rate:,.0f} Decide/s before recording, "
            f"{during:,.0f} while py-spy sampled"
        )
        return read_stacks(text)
    finally:
        if tierline is not None:
            tierline.stop()
        redis.stop()


def print_profile(console: Console, stacks: Stacks, waiting: int, top: int) -> None:
    """The category shares and the function tables."""
    total = sum(count for _, count in stacks)
    title = f"Busy samples by part ({total:,} busy; {waiting:,} blocked waiting, not counted)"
    console.print(share_table(title, shares(stacks), total, len(CATEGORIES) + 3))
    console.print(share_table("Hottest innermost frames (self)", innermost(stacks), total, top))
    ours = inclusive(stacks, "tierline_server")
    console.print(share_table("Tierline functions (inclusive)", ours, total, top))


def main(argv: Sequence[str] | None = None) -> int:
    """Profile, print; 0, or 1 when the run could not be made."""
    args = parse_args(argv)
    h2load.require_h2load()
    console = Console()
    facts = machine_facts(["grpcio", "protobuf", "redis", "durable-rules"])
    console.print(environment_table({**facts, "py-spy": tool_version([py_spy(), "--version"])}))
    with tempfile.TemporaryDirectory(prefix="tierline-profile-") as directory:
        stacks, waiting = profile(args, Path(directory), console)
    print_profile(console, stacks, waiting, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
