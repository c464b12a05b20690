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
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import h2load
import mix
import servers
from environment import environment_table, machine_facts, tool_version
from rich.console import Console
from rich.table import Table
from tierline_server.config import DEFAULT_KEY_PREFIX

DECIDE_PATH = "/tierline.v1.EntitlementService/Decide"
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("metrics (prometheus-client)", ("prometheus_client", "tierline_server/metrics")),
    ("durable-rules (engine + actions)", ("durable", "policy/engine.py")),
    ("Redis lookup (redis-py, store)", ("/redis/", "tierline_server/features")),
    ("response building (mapping)", ("api/mapping.py",)),
    ("validation", ("api/validation.py",)),
    ("policy facts + merge", ("tierline_server/policy", "tierline_server/decisions.py")),
    ("other Tierline code (handler, ids, ...)", ("tierline_server",)),
    ("gRPC + asyncio machinery", ("grpc", "asyncio", "cygrpc", "libgrpc", "_cython")),
)
"""(name, path fragments): a sample belongs to the first category, innermost frame first.
Order matters: metrics calls made from the handler are metrics, not handler."""
OTHER = "other (interpreter, libc, ...)"

Stacks = list[tuple[list[str], int]]
"""py-spy's raw (collapsed) output: frames outermost first, and the sample count."""


def read_stacks(text: str) -> Stacks:
    """Parse ``frame;frame;... count`` lines."""
    stacks = []
    for line in text.splitlines():
        frames, _, count = line.rpartition(" ")
        if frames and count.isdigit():
            stacks.append((frames.split(";"), int(count)))
    return stacks


def category(frames: Sequence[str]) -> str:
    """The part of the server a sample belongs to (innermost recognised frame)."""
    for frame in reversed(frames):
        for name, fragments in CATEGORIES:
            if any(fragment in frame for fragment in fragments):
                return name
    return OTHER


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
    """Samples per function whose frame contains ``fragment``, counted once per sample."""
    counted: collections.Counter[str] = collections.Counter()
    for frames, count in stacks:
        for frame in set(frames):
            if fragment in frame:
                counted[frame] += count
    return counted


def share_table(title: str, counted: collections.Counter[str], total: int, top: int) -> Table:
    """The ``top`` entries of ``counted`` as shares of ``total`` samples."""
    table = Table(title=title)
    table.add_column("where")
    table.add_column("samples", justify="right")
    table.add_column("share", justify="right")
    for name, count in counted.most_common(top):
        table.add_row(name, f"{count:,}", f"{count / total:.1%}")
    return table


def record(pid: int, seconds: float, rate: int, out: Path) -> subprocess.CompletedProcess[str]:
    """py-spy record of every thread of ``pid``, Python and native frames."""
    command = [
        "py-spy", "record", "--native", "--format", "raw", "--rate", str(rate),
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


def profile(args: argparse.Namespace, directory: Path, console: Console) -> Stacks:
    """Start Redis and Tierline, load it, record it; the stacks."""
    redis = servers.start_redis(directory / "redis")
    tierline = None
    try:
        servers.load_customers(redis.url, directory, args.customers)
        by_tier = mix.customers_by_tier(redis.url, args.customers, DEFAULT_KEY_PREFIX)
        bodies = mix.decide_bodies(by_tier, args.bodies, args.seed)
        files = [body.write(directory / f"decide-{n}.bin") for n, body in enumerate(bodies)]
        cache = ["--near-cache", "false"] if args.near_cache == "off" else []
        tierline = servers.start_tierline("tierline", redis.url, extra_args=cache)
        url = f"http://{tierline.target}{DECIDE_PATH}"
        slices = h2load.plan(files, args.in_flight, args.h2load_processes)
        warm = h2load.run(url, slices, directory, seconds=2.0 / len(slices))
        out = directory / "stacks.txt"
        # The load outlasts the recording: a second more than py-spy's duration.
        load_seconds = (args.seconds + 1.0) / len(slices)
        loading = threading.Thread(
            target=h2load.run, args=(url, slices, directory), kwargs={"seconds": load_seconds}
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
        console.print(
            f"load before recording: {warm.rate:,.0f} Decide/s, {args.in_flight} in flight"
        )
        return read_stacks(text)
    finally:
        if tierline is not None:
            tierline.stop()
        redis.stop()


def print_profile(console: Console, stacks: Stacks, top: int) -> None:
    """The category shares and the function tables."""
    total = sum(count for _, count in stacks)
    console.print(
        share_table(f"Busy samples by part ({total:,} samples)", shares(stacks), total, 20)
    )
    console.print(share_table("Hottest innermost frames (self)", innermost(stacks), total, top))
    ours = inclusive(stacks, "tierline_server")
    console.print(share_table("Tierline functions (inclusive)", ours, total, top))


def main(argv: Sequence[str] | None = None) -> int:
    """Profile, print; 0, or 1 when the run could not be made."""
    args = parse_args(argv)
    h2load.require_h2load()
    console = Console()
    facts = machine_facts(["grpcio", "protobuf", "redis", "durable-rules"])
    console.print(environment_table({**facts, "py-spy": tool_version(["py-spy", "--version"])}))
    with tempfile.TemporaryDirectory(prefix="tierline-profile-") as directory:
        stacks = profile(args, Path(directory), console)
    print_profile(console, stacks, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
