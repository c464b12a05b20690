"""Engine benchmark: Tierline's policy layer against a bare durable-rules ruleset, and RSS.

In one run, on the same few hundred representative inputs (cycled):

(a) ``Decider.decide``         - our full layer: facts -> RuleEngine -> merge -> Decision;
(b) bare durable-rules         - the 19 conditions of ``rules/entitlements.yaml`` written by hand
                                  as one JSON ruleset over a flat fact, one asserted fact per
                                  evaluation, fixed sid, ``delete_state`` after;
(c) ``RuleEngine.matched``     - our engine alone (slot fact + durable-rules), without building
                                  the Facts or merging, to tell engine cost from merge cost;

then RSS (VmRSS) at 0, 1/4, 1/2, 3/4 and all of ``--rss-decisions`` calls of ``Decider.decide``.
It prints the figures beside the engine targets and always exits 0: it reports, it is not a
test. Run it with the project's interpreter: ``python bench/engine.py [--decisions N]``.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from environment import environment_table, machine_facts
from percentiles import Percentiles, percentiles
from procfs import rss_kib
from rich.console import Console
from rich.table import Table
from tierline_server.policy.compiler import load_policy
from tierline_server.policy.decider import Decider
from tierline_server.policy.domain import CHANNELS, Context, Facts

DEFAULT_POLICY = Path(__file__).resolve().parent.parent / "rules"

TARGET_OVERHEAD = 1.25
"""Our layer (a) may take at most 25% more time per decision than bare durable-rules (b)."""
TARGET_P50_US = 150.0
"""p50 of a full decision (a) for the default policy, in microseconds."""
TARGET_RSS_GROWTH_MB = 5.0
"""RSS growth over the whole RSS run (1M decisions by default), in MB (10^6 bytes)."""

BARE_RULESET = "bench-bare"
BARE_SID = "0"

# The 19 conditions of rules/entitlements.yaml, written by hand against a flat fact whose fields
# carry their policy names (defaults filled in: tier "unknown", numbers 0, evangelist false,
# campaign ""). durable-rules' $mt is a full match, so the anchors of the YAML regex go.
FREE_SHIPPING = {"EUR": 5000, "USD": 5500, "GBP": 4500, "JPY": 8000}
BULK_ORDER = {"EUR": 20000, "USD": 22000, "GBP": 17500, "JPY": 32000}
"""The default policy's money thresholds, in minor units per currency."""


def _order_of_at_least(thresholds: dict[str, int]) -> dict[str, Any]:
    """An order in one of the currencies, at least its threshold (as one would write it)."""
    return {
        "$or": [
            {"$and": [{"currency": code}, {"$gte": {"order_value": minor}}]}
            for code, minor in thresholds.items()
        ]
    }


BARE_CONDITIONS: dict[str, dict[str, Any]] = {
    "platinum-personal-support": {"tier": "platinum"},
    "platinum-special-deals": {"$and": [{"tier": "platinum"}, {"intent": "purchase"}]},
    "gold-priority-support": {"tier": "gold"},
    "growth-upsell": {
        "$and": [{"tier": "growth"}, {"$or": [{"intent": "purchase"}, {"intent": "support"}]}]
    },
    "growth-incentive": {"$and": [{"tier": "growth"}, {"$gte": {"orders_12m": 12}}]},
    "top-tier-loyalty": {
        "$and": [{"$or": [{"tier": "gold"}, {"tier": "platinum"}]}, {"intent": "purchase"}]
    },
    "new-customer-care": {"$or": [{"tier": "unknown"}, {"$lt": {"tenure_days": 90}}]},
    "evangelist-feedback": {"evangelist": True},
    "complaint-goodwill": {"intent": "complaint"},
    "chronic-complainer": {"$gte": {"complaints_90d": 5}},
    "outage-credit": {"intent": "outage"},
    "retention-offer": {
        "$and": [
            {"$or": [{"tier": "growth"}, {"tier": "gold"}, {"tier": "platinum"}]},
            {"intent": "cancel"},
        ]
    },
    "cancellation-desk": {"intent": "cancel"},
    "free-shipping": {
        "$or": [{"tier": "gold"}, {"tier": "platinum"}, _order_of_at_least(FREE_SHIPPING)]
    },
    "bulk-order-discount": {"$and": [{"$gte": {"item_count": 20}}, _order_of_at_least(BULK_ORDER)]},
    "campaign-code": {"$mt": {"campaign": "spring-[0-9]{4}"}},
    "social-care-team": {"channel": "social"},
    "in-store-desk": {"channel": "in_store"},
    "billing-specialists": {
        "$and": [
            {"intent": "billing"},
            {"$neq": {"channel": "social"}},
            {"$neq": {"channel": "in_store"}},
        ]
    },
}

_TIERS = ("unknown", "basic", "standard", "growth", "gold", "platinum")
_TIER_WEIGHTS = (10, 25, 25, 20, 12, 8)
_LTV_RANGE = {
    "basic": (0, 199),
    "standard": (200, 999),
    "growth": (1000, 4999),
    "gold": (5000, 19999),
    "platinum": (20000, 90000),
}
_INTENTS = ("", "purchase", "support", "complaint", "outage", "cancel", "billing", "browse")
_CAMPAIGNS = ("spring-2026", "spring-26", "summer-2026")
_CURRENCIES = ("EUR", "EUR", "USD", "GBP", "JPY", "CHF")


@dataclass(frozen=True)
class Sample:
    """One representative input, prepared for every variant."""

    features: dict[str, Any]
    context: Context
    facts: Facts
    """What ``Decider.facts`` makes of it: the input of variant (c)."""
    flat: dict[str, Any]
    """The flat fact of the hand-written ruleset: the input of variant (b)."""


@dataclass(frozen=True)
class RssPoint:
    """Memory after ``decisions`` calls of ``Decider.decide`` in the RSS run."""

    decisions: int
    rss_kib: int
    py_blocks: int
    """``sys.getallocatedblocks()``: Python objects, to tell Python growth from native growth."""
    elapsed_s: float


class QuietHostMixin:
    """Disables ``Host._run``: no background dispatch timers calling into the engine."""

    def _run(self) -> None:
        pass


class BareRuleset:
    """The hand-written durable-rules ruleset: one fact, fixed sid, state deleted after."""

    def __init__(self, conditions: dict[str, dict[str, Any]]) -> None:
        from durable import engine

        self._not_handled = engine.MessageNotHandledException
        self._fired: list[str] = []
        host_class = type("BareHost", (QuietHostMixin, engine.Host), {})
        self._host = host_class()
        definition = {
            name: {"all": [{"m": condition}], "run": self._recorder(name)}
            for name, condition in conditions.items()
        }
        self._host.register_rulesets({BARE_RULESET: definition})

    def _recorder(self, name: str) -> Callable[[Any], None]:
        def fired(_closure: Any) -> None:
            self._fired.append(name)

        return fired

    def matched(self, fact: dict[str, Any]) -> set[str]:
        """The names of the rules that fire for ``fact`` (which carries ``sid``)."""
        self._fired.clear()
        try:
            self._host.assert_fact(BARE_RULESET, fact)
        except self._not_handled:
            pass
        finally:
            self._host.delete_state(BARE_RULESET, BARE_SID)
        return set(self._fired)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", type=Path, default=DEFAULT_POLICY, help="policy path")
    parser.add_argument(
        "--decisions", type=int, default=50_000, help="timed calls per latency variant"
    )
    parser.add_argument("--warmup", type=int, default=5_000, help="untimed calls per variant")
    parser.add_argument(
        "--rounds", type=int, default=5, help="interleaved rounds the timed calls are split into"
    )
    parser.add_argument(
        "--rss-decisions", type=int, default=1_000_000, help="Decider.decide calls in the RSS run"
    )
    parser.add_argument("--samples", type=int, default=400, help="distinct inputs, cycled")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the input generator")
    return parser.parse_args(argv)


def random_features(rng: random.Random) -> dict[str, Any]:
    """A customer's typed features; empty for an unknown customer, some missing otherwise."""
    tier = rng.choices(_TIERS, _TIER_WEIGHTS)[0]
    if tier == "unknown":
        return {}
    features: dict[str, Any] = {
        "tier": tier,
        "ltv": float(rng.randint(*_LTV_RANGE[tier])),
        "tenure_days": rng.choice((rng.randint(0, 89), rng.randint(90, 3000), 400, 1200)),
        "orders_12m": rng.randint(0, 30),
        "complaints_90d": rng.choice((0, 0, 0, 1, 2, rng.randint(3, 9))),
        "evangelist": rng.random() < 0.15,
    }
    for name in ("orders_12m", "complaints_90d", "evangelist"):
        if rng.random() < 0.1:
            del features[name]  # a record without it: the policy default applies
    return features


def random_context(rng: random.Random) -> Context:
    """An interaction: channel, intent, sometimes an order, sometimes attributes."""
    intent = rng.choice(_INTENTS)
    has_order = intent == "purchase" or rng.random() < 0.2
    attributes: dict[str, str] = {}
    if rng.random() < 0.3:
        attributes["campaign"] = rng.choice(_CAMPAIGNS)
    if rng.random() < 0.3:
        attributes["locale"] = rng.choice(("en-GB", "de-DE", "nl-NL"))
    return Context(
        channel=rng.choice(CHANNELS),
        intent=intent,
        order_value=rng.randint(500, 60_000) if has_order else None,
        currency=rng.choice(_CURRENCIES) if has_order else "",
        item_count=rng.randint(1, 40) if has_order else 0,
        attributes=MappingProxyType(attributes),
    )


def flat_fact(decider: Decider, features: dict[str, Any], context: Context) -> dict[str, Any]:
    """The flat fact the hand-written ruleset reads: policy field names, defaults filled in."""
    values = {name: spec.default for name, spec in decider.policy.features.items()}
    values.update(features)
    return {
        "sid": BARE_SID,
        "tier": values["tier"],
        "tenure_days": values["tenure_days"],
        "orders_12m": values["orders_12m"],
        "complaints_90d": values["complaints_90d"],
        "evangelist": values["evangelist"],
        "channel": context.channel,
        "intent": context.intent,
        "order_value": context.order_value or 0,
        "currency": context.currency,
        "item_count": context.item_count,
        "campaign": context.attributes.get("campaign", ""),
    }


def make_samples(decider: Decider, count: int, seed: int) -> list[Sample]:
    """``count`` varied inputs, reproducible from ``seed``."""
    rng = random.Random(seed)
    samples = []
    for _ in range(count):
        features, context = random_features(rng), random_context(rng)
        samples.append(
            Sample(
                features=features,
                context=context,
                facts=decider.facts(features, context),
                flat=flat_fact(decider, features, context),
            )
        )
    return samples


def count_disagreements(decider: Decider, bare: BareRuleset, samples: Sequence[Sample]) -> int:
    """Inputs where the bare ruleset fires other rules than our engine: must be 0 to compare."""
    return sum(
        set(decider.engine.matched(sample.facts)) != bare.matched(sample.flat) for sample in samples
    )


def variants(decider: Decider, bare: BareRuleset) -> dict[str, Callable[[Sample], object]]:
    """The three timed calls, each taking one sample."""
    engine = decider.engine
    return {
        "(a) Decider.decide": lambda s: decider.decide(s.features, s.context),
        "(b) bare durable-rules": lambda s: bare.matched(s.flat),
        "(c) RuleEngine.matched": lambda s: engine.matched(s.facts),
    }


def time_calls(call: Callable[[Sample], object], inputs: Iterator[Sample], count: int) -> list[int]:
    """Nanoseconds of each of ``count`` calls, one ``perf_counter_ns`` pair per call."""
    clock = time.perf_counter_ns
    durations = []
    for _ in range(count):
        sample = next(inputs)
        start = clock()
        call(sample)
        durations.append(clock() - start)
    return durations


def measure_latency(
    calls: dict[str, Callable[[Sample], object]],
    samples: Sequence[Sample],
    decisions: int,
    warmup: int,
    rounds: int,
) -> dict[str, Percentiles]:
    """Warm every variant up, then time them in interleaved rounds (order rotated each round).

    Interleaving spreads drift on a shared 2-core machine (frequency, noisy neighbours) evenly
    over the variants instead of charging it to whichever ran last.
    """
    names = list(calls)
    for name in names:
        time_calls(calls[name], itertools.cycle(samples), warmup)
    durations: dict[str, list[int]] = {name: [] for name in names}
    per_round = max(1, decisions // rounds)
    for round_index in range(rounds):
        rotation = round_index % len(names)
        for name in names[rotation:] + names[:rotation]:
            inputs = itertools.islice(itertools.cycle(samples), round_index * per_round, None)
            durations[name].extend(time_calls(calls[name], inputs, per_round))
    return {name: percentiles(d / 1000 for d in durations[name]) for name in names}


def measure_rss(decider: Decider, samples: Sequence[Sample], total: int) -> list[RssPoint]:
    """RSS at 0, 1/4, 1/2, 3/4 and all of ``total`` calls of ``Decider.decide``."""
    inputs = itertools.cycle(samples)
    quarter = max(1, total // 4)
    start = time.perf_counter()
    points = [RssPoint(0, rss_kib(), sys.getallocatedblocks(), 0.0)]
    done = 0
    while done < total:
        step = min(quarter, total - done)
        for _ in range(step):
            sample = next(inputs)
            decider.decide(sample.features, sample.context)
        done += step
        elapsed = time.perf_counter() - start
        points.append(RssPoint(done, rss_kib(), sys.getallocatedblocks(), elapsed))
    return points


def verdict(ok: bool) -> str:
    """A coloured met / missed mark."""
    return "[green]met[/green]" if ok else "[red]missed[/red]"


def environment_facts(args: argparse.Namespace, samples: int, disagreements: int) -> dict[str, str]:
    """What ran, where, with which inputs."""
    return {
        **machine_facts(["durable-rules"]),
        "policy": str(args.policy),
        "inputs": f"{samples} distinct features/context combos, cycled, seed {args.seed}",
        "timed calls": f"{args.decisions:,} per variant in {args.rounds} interleaved rounds, "
        f"after {args.warmup:,} warm-up calls each",
        "bare vs engine": f"{disagreements} of {samples} inputs fire different rules",
        "malloc": "glibc mallopt tuning from the engine import applies to all variants",
    }


def latency_table(stats: dict[str, Percentiles]) -> Table:
    """Per-decision latency and throughput of each variant."""
    table = Table(title="Latency per decision (µs)")
    for column in ("variant", "calls", "p50", "p95", "p99", "mean", "decisions/s"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for name, figures in stats.items():
        table.add_row(
            name,
            f"{figures.count:,}",
            f"{figures.p50:.1f}",
            f"{figures.p95:.1f}",
            f"{figures.p99:.1f}",
            f"{figures.mean:.1f}",
            f"{1e6 / figures.mean:,.0f}",
        )
    return table


def rss_table(points: Sequence[RssPoint], before_kib: int) -> Table:
    """RSS (and Python allocated blocks) at each checkpoint of the RSS run."""
    table = Table(
        title="Memory over Decider.decide calls",
        caption=f"VmRSS before the first decision of this process: {before_kib * 1024 / 1e6:.2f} MB"
        " (0 = after the latency runs)",
    )
    for column in ("decisions", "VmRSS (MB)", "Δ from 0 (MB)", "Python blocks", "elapsed (s)"):
        table.add_column(column, justify="right")
    base = points[0]
    for point in points:
        table.add_row(
            f"{point.decisions:,}",
            f"{point.rss_kib * 1024 / 1e6:.2f}",
            f"{(point.rss_kib - base.rss_kib) * 1024 / 1e6:+.2f}",
            f"{point.py_blocks:,}",
            f"{point.elapsed_s:.1f}",
        )
    return table


def targets_table(stats: dict[str, Percentiles], points: Sequence[RssPoint]) -> Table:
    """The figures beside the engine targets."""
    full, bare, engine = stats.values()
    growth_mb = (points[-1].rss_kib - points[0].rss_kib) * 1024 / 1e6
    table = Table(title="Engine targets")
    for column in ("figure", "measured", "target", ""):
        table.add_column(column)
    rows = [
        (
            "overhead (a)/(b), p50",
            f"{full.p50 / bare.p50:.2f}x",
            f"<= {TARGET_OVERHEAD:.2f}x",
            verdict(full.p50 / bare.p50 <= TARGET_OVERHEAD),
        ),
        (
            "overhead (a)/(b), mean",
            f"{full.mean / bare.mean:.2f}x",
            f"<= {TARGET_OVERHEAD:.2f}x",
            verdict(full.mean / bare.mean <= TARGET_OVERHEAD),
        ),
        ("engine only (c)/(b), p50", f"{engine.p50 / bare.p50:.2f}x", "(info)", ""),
        (
            "facts + merge (a)-(c), p50",
            f"{full.p50 - engine.p50:.1f} µs",
            "(info)",
            "",
        ),
        (
            "p50 of (a)",
            f"{full.p50:.1f} µs",
            f"<= {TARGET_P50_US:.0f} µs",
            verdict(full.p50 <= TARGET_P50_US),
        ),
        (
            f"RSS growth over {points[-1].decisions:,} decisions",
            f"{growth_mb:+.2f} MB",
            f"< {TARGET_RSS_GROWTH_MB:.0f} MB",
            verdict(growth_mb < TARGET_RSS_GROWTH_MB),
        ),
    ]
    for row in rows:
        table.add_row(*row)
    return table


def main(argv: Sequence[str] | None = None) -> int:
    """Run every measurement, print the tables; 0 whatever the figures are."""
    args = parse_args(argv)
    console = Console()
    decider = Decider(load_policy(args.policy))  # imports durable-rules, tunes malloc
    bare = BareRuleset(BARE_CONDITIONS)
    samples = make_samples(decider, args.samples, args.seed)
    before_kib = rss_kib()
    disagreements = count_disagreements(decider, bare, samples)
    console.print(environment_table(environment_facts(args, len(samples), disagreements)))

    with console.status("timing (a), (b), (c) ..."):
        stats = measure_latency(
            variants(decider, bare), samples, args.decisions, args.warmup, args.rounds
        )
    console.print(latency_table(stats))

    gc.collect()
    with console.status(f"RSS over {args.rss_decisions:,} decisions ..."):
        points = measure_rss(decider, samples, args.rss_decisions)
    console.print(rss_table(points, before_kib))
    console.print(targets_table(stats, points))
    return 0


if __name__ == "__main__":
    sys.exit(main())
