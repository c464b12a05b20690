"""Replay benchmark: ``tierline policy diff`` on a population and on the decision log.

The default policy against a candidate that raises free shipping from 50.00 to 75.00, replayed:

(a) on a population: ``--population`` (``--customers`` demo customers, as ``features demo``
    writes them) crossed with ``--contexts`` built-in contexts (channels, intents, orders in
    EUR), the command run in this process;
(b) on the decision log: the same number of decisions written to a private redis-server's
    stream (the current policy's decisions over the population and the contexts, encoded as the
    writer does), then ``--from-log``;
(c) for reference: the engine itself for every input of a sample (no answer reused).

Each input is decided by both policies: decisions/s counts both. Per core = decisions over this
process's CPU time (time.process_time), which a busy machine does not inflate as it does the
wall clock (both are printed). The target is 20,000 decisions/s per core. It prints
figures and always exits 0: it is not a test.

    python bench/diff.py                     # about a minute
    python bench/diff.py --customers 5000    # quicker
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the test support that starts a real redis-server

import redis  # noqa: E402
from environment import redis_version  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from support.policies import raised_threshold  # noqa: E402
from support.redis_server import RedisServer  # noqa: E402
from tierline_server.cli import main as tierline  # noqa: E402
from tierline_server.decisionlog import record  # noqa: E402
from tierline_server.decisions import DecisionRequest, Outcome  # noqa: E402
from tierline_server.features import demo  # noqa: E402
from tierline_server.features.lookup import FeatureSource  # noqa: E402
from tierline_server.features.population import Population  # noqa: E402
from tierline_server.ids import new_decision_id  # noqa: E402
from tierline_server.policy.compiler import load_policy  # noqa: E402
from tierline_server.policy.decider import Decider  # noqa: E402
from tierline_server.policy.domain import Context  # noqa: E402
from tierline_server.policy.inputs import load_contexts  # noqa: E402

POLICY = REPO / "rules"
TARGET_PER_CORE = 20_000
"""Decisions per second per core: enough to replay a day of a call center in minutes."""
CONTEXTS = """\
contexts:
  - {channel: phone, intent: support}
  - {channel: phone, intent: cancel}
  - {channel: chat, intent: billing}
  - {channel: email, intent: outage}
  - {channel: social, intent: complaint}
  - {channel: web, intent: purchase, order_value: 4000, currency: EUR, item_count: 2}
  - {channel: web, intent: purchase, order_value: 6000, currency: EUR, item_count: 3}
  - {channel: mobile_app, intent: purchase, order_value: 9000, currency: EUR, item_count: 25,
     attributes: {campaign: spring-2026}}
"""
WRITE_BATCH = 1000
WIDTH = 150
"""Columns of the printed tables, terminal or not (results are kept as text files)."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000, help="demo customers")
    parser.add_argument("--seed", type=int, default=7, help="seed of the demo population")
    parser.add_argument(
        "--reference", type=int, default=5_000, help="inputs the engine decides in (c)"
    )
    return parser.parse_args(argv)


@dataclass(frozen=True)
class Run:
    """One replay: how many inputs, the time it took, and what the report said."""

    name: str
    inputs: int
    wall_s: float
    cpu_s: float
    changed: int
    engine_calls: str = ""

    @property
    def decisions(self) -> int:
        """Both policies decide each input."""
        return 2 * self.inputs


def replay(name: str, args: Sequence[str]) -> Run:
    """``tierline policy diff ... --json`` in this process, timed."""
    out = io.StringIO()
    cpu, wall = time.process_time(), time.perf_counter()
    with contextlib.redirect_stdout(out):
        status = tierline(["policy", "diff", *args, "--json"])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if status not in (0, 1):
        raise RuntimeError(f"policy diff exited {status}")
    report = json.loads(out.getvalue())
    return Run(name, report["decisions"], wall, cpu, report["changed"])


def write_log(url: str, population: Path, contexts: Path) -> int:
    """The current policy's decisions over the population and contexts, into the stream, as the
    writer encodes them; how many."""
    policy = load_policy(POLICY)
    decider = Decider(policy)
    mix = [context for _, context in load_contexts(contexts)]
    count = 0
    with redis.Redis.from_url(url) as client:
        pipeline = client.pipeline(transaction=False)
        for customer in Population(population, [policy]):
            features = customer.features[0]
            for context in mix:
                outcome = Outcome(
                    decision_id=new_decision_id(),
                    customer_id=customer.customer_id,
                    decision=decider.decide(features, context),
                    feature_source=FeatureSource.REDIS,
                    features_age_seconds=10.0,
                    lookup_micros=200,
                    eval_micros=80,
                    total_micros=300,
                    features=features,
                )
                made = record.record_of(
                    DecisionRequest(customer.customer_id, context), outcome, batch=False
                )
                pipeline.xadd("tierline:decisions", {record.FIELD: record.encode(made)})
                count += 1
                if count % WRITE_BATCH == 0:
                    pipeline.execute()
        pipeline.execute()
    return count


def reference(population: Path, contexts: Path, candidate: Path, limit: int) -> Run:
    """(c) Both policies' engines on the first ``limit`` inputs: no answer reused."""
    current, changed = load_policy(POLICY), load_policy(candidate)
    deciders = (Decider(current), Decider(changed))
    mix = [context for _, context in load_contexts(contexts)]
    inputs: list[tuple[tuple[dict[str, Any], ...], Context]] = []
    for customer in Population(population, [current, changed]):
        inputs.extend((customer.features, context) for context in mix)
        if len(inputs) >= limit:
            break
    cpu, wall = time.process_time(), time.perf_counter()
    moved = 0
    for (before, after), context in inputs:
        old = deciders[0].engine.matched(deciders[0].facts(before, context))
        new = deciders[1].engine.matched(deciders[1].facts(after, context))
        moved += old != new
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Run("(c) the engine on every input", len(inputs), wall, cpu, moved)


def engine_calls(population: Path, contexts: Path, candidate: Path) -> tuple[int, int, int]:
    """How many inputs, and how many decisions each memo had to ask the engine for."""
    from tierline_server.policy.diff import ReplayInput
    from tierline_server.policy.diff import replay as replay_inputs

    current, changed = load_policy(POLICY), load_policy(candidate)
    deciders = Decider(current), Decider(changed)
    mix = load_contexts(contexts)
    inputs = (
        ReplayInput(customer.customer_id, context, customer.features[0], customer.features[1])
        for customer in Population(population, [current, changed])
        for _, context in mix
    )
    report = replay_inputs(inputs, *deciders)
    return report.decisions, deciders[0].engine_calls, deciders[1].engine_calls


def main(argv: Sequence[str] | None = None) -> int:
    """Set up the population, contexts and candidate; run (a), (b), (c); print the table."""
    args = parse_args(argv)
    console = Console(highlight=False, width=WIDTH)
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        population, contexts = folder / "customers.csv", folder / "contexts.yaml"
        with population.open("w") as out:
            demo.write_demo(out, args.customers, args.seed)
        contexts.write_text(CONTEXTS)
        candidate = raised_threshold(folder)
        common = [str(candidate), "--current", str(POLICY)]
        runs = [
            replay(
                "(a) population x contexts",
                [*common, "--population", str(population), "--contexts", str(contexts)],
            )
        ]
        server = RedisServer(folder / "redis").start()
        try:
            logged = write_log(server.url, population, contexts)
            runs.append(
                replay("(b) decision log", [*common, "--from-log", "--redis-url", server.url])
            )
        finally:
            server.stop()
        runs.append(reference(population, contexts, candidate, args.reference))
        inputs, current_calls, candidate_calls = engine_calls(population, contexts, candidate)

    console.print(
        f"Python {platform.python_version()}, durable-rules {metadata.version('durable-rules')}, "
        f"redis-server {redis_version()}; {args.customers:,} demo customers (seed {args.seed}) "
        f"x 8 contexts = {inputs:,} inputs; {logged:,} decisions in the log"
    )
    table = Table(title="policy diff: default policy vs free shipping from 75.00")
    columns = ("run", "inputs", "decisions", "changed", "wall s", "CPU s", "decisions/s (wall)",
               "decisions/s per core (CPU)", f"target {TARGET_PER_CORE:,}/s per core")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "run" else "right")
    for run in runs:
        per_core = run.decisions / run.cpu_s if run.cpu_s else 0.0
        table.add_row(
            run.name,
            f"{run.inputs:,}",
            f"{run.decisions:,}",
            f"{run.changed:,}",
            f"{run.wall_s:.2f}",
            f"{run.cpu_s:.2f}",
            f"{run.decisions / run.wall_s:,.0f}",
            f"{per_core:,.0f}",
            "met" if per_core >= TARGET_PER_CORE else "[red]not met[/red]",
        )
    console.print(table)
    console.print(
        f"The engine decided {current_calls:,} (current) and {candidate_calls:,} (candidate) of "
        f"the {inputs:,} inputs; the memo answered the rest. (a) and (b) are the whole command "
        "(reading, segmenting or decoding, deciding, comparing, the report and its examples); "
        "(b) includes reading the stream from Redis. Other processes on the machine slow the "
        "wall-clock figures."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
