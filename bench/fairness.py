"""Fairness report benchmark: a demo population through `tierline report fairness`, end to end.

Prints figures; it is not a test.

    python bench/fairness.py                      # 100,000 customers, the default mix
    python bench/fairness.py --customers 20000 --runs 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tierline_server.features import demo
from tierline_server.policy.compiler import load_policy
from tierline_server.report import figures, page
from tierline_server.report.mix import load_mix
from tierline_server.report.population import treat

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 60.0
"""100,000 customers x the default mix, end to end, on the 2-core machine."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3, help="end-to-end runs of the command")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        population = Path(directory) / "customers.csv"
        with population.open("w", newline="") as out:
            demo.write_demo(out, args.customers, args.seed)
        phases(population)
        end_to_end(population, Path(directory) / "report.html", args.runs)


def phases(population: Path) -> None:
    """One run in this process, phase by phase, and what deciding every customer would cost."""
    policy = load_policy(REPO / "rules")
    mix = load_mix()
    (treatment,), timing = treat(population, [policy], mix)
    started = time.perf_counter()
    every = figures.figures(treatment)
    figured = time.perf_counter()
    html = page.render([page.Report(treatment, every)], population=str(population))
    rendered = time.perf_counter()
    per_call = timing.decide_seconds / timing.engine_calls
    one_by_one = treatment.decisions
    print(f"population: {timing.rows:,} customers x {len(mix.contexts)} contexts of the mix")
    print(f"  read, check, segment, group   {timing.read_seconds:7.2f} s")
    print(
        f"  decide                        {timing.decide_seconds:7.2f} s  "
        f"({timing.groups} distinct inputs x {len(mix.contexts)} = {timing.engine_calls:,} "
        f"engine calls, {per_call * 1e6:.0f} us each incl. building the engine)"
    )
    print(f"  figures                       {figured - started:7.2f} s")
    print(f"  page ({len(html) / 1e6:.1f} MB)                {rendered - figured:7.2f} s")
    print(
        f"  deciding each customer instead: {one_by_one:,} engine calls, about "
        f"{one_by_one * per_call / 60:.0f} min at the same cost per call"
    )


def end_to_end(population: Path, out: Path, runs: int) -> None:
    """The command as an operator runs it: interpreter start, imports, everything."""
    command = [
        str(Path(sys.executable).with_name("tierline")),
        "report", "fairness", str(population), "--policy", str(REPO / "rules"),
        "--out", str(out), "--json",
    ]  # fmt: skip
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(command, check=False, capture_output=True, text=True)
        seconds.append(time.perf_counter() - started)
        if done.returncode != 0:
            sys.exit(f"`tierline report fairness` exited {done.returncode}: {done.stderr}")
    print(
        f"end to end (`tierline report fairness`, {runs} run(s)): median "
        f"{statistics.median(seconds):.1f} s, min {min(seconds):.1f} s, max {max(seconds):.1f} s; "
        f"target < {TARGET_SECONDS:.0f} s"
    )
    print(f"load average meanwhile: {os.getloadavg()[0]:.2f} (2 cores; others' work skews this)")


if __name__ == "__main__":
    main()
