"""The fairness figures: pure functions of a Treatment, each with a one-line reading.

A *decision* is one customer in one context of the mix: a group of 40 customers decided in 56
contexts counts as 2,240 decisions. Most figures are means over the decisions of a row (a tier, a
tier on one channel, a cohort): the share of them at each service level, in each queue, with each
perk, or the value of the perks they carry.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from tierline_server.policy.domain import Decision, Sla
from tierline_server.report.mix import EVERYONE, interaction_text, money
from tierline_server.report.treatment import Group, Treatment

TOP_SHARE = 0.2
"""The head of the population the concentration reading speaks of (the 80/20 rule's 20)."""
CURVE_POINTS = 100
PARITY_EXAMPLES = 5
READING_TIERS = 3
"""Tiers named at most in one reading."""
DECISIONS = "share of decisions"
BASELINE_ONLY, MORE = "baseline only", "more than the baseline"


@dataclass(frozen=True)
class Breakdown:
    """A table of figures: one row per label path (a tier; a tier and a channel; a cohort)."""

    rows: tuple[tuple[str, ...], ...]
    columns: tuple[str, ...]
    values: tuple[tuple[float, ...], ...]
    """values[row][column], in ``unit``."""
    totals: tuple[int, ...]
    """The decisions (or customers, when ``unit`` says so) behind each row."""
    unit: str
    reading: str

    def row(self, *label: str) -> dict[str, float]:
        """One row as column -> value ({} when the row is not there)."""
        if label not in self.rows:
            return {}
        return dict(zip(self.columns, self.values[self.rows.index(label)], strict=True))


@dataclass(frozen=True)
class ParityExample:
    """Customers whose level, SLA or perks for one interaction depend on the channel."""

    tier: str
    customers: int
    customer_ids: tuple[str, ...]
    interaction: str
    entitlements: tuple[str, ...]
    """Each distinct entitlement, prefixed with the channels that got it."""


@dataclass(frozen=True)
class Parity:
    """Whether each customer gets the same service level, SLA and perks on every channel."""

    guaranteed: bool
    """The policy declares channel parity (a violation is then a broken guarantee)."""
    channels: int
    customers: int
    """Customers compared: those who had one interaction on several channels (with a mix of
    several channels, every customer)."""
    comparisons: int
    """Interactions compared across channels, counted once per customer."""
    violations: int
    """Customers treated differently on some channel in some interaction."""
    by_tier: Breakdown
    examples: tuple[ParityExample, ...]
    reading: str


@dataclass(frozen=True)
class Floor:
    """The baseline: how often it is all a customer gets, and the check that no decision is
    below it."""

    service_level: str
    only_baseline: Breakdown
    decisions: int
    below: dict[str, int]
    """Per aspect of the baseline, the decisions that fall short of it (all 0 when it holds)."""
    reading: str

    @property
    def violations(self) -> int:
        """Decisions below the baseline in some aspect."""
        return sum(self.below.values())


@dataclass(frozen=True)
class Concentration:
    """Value against customers (the 80/20 curve), with premium decisions along it."""

    feature: str
    customer_share: tuple[float, ...]
    """The x axis: customers ranked by value, highest first."""
    value_share: tuple[float, ...]
    premium_share: tuple[float, ...]
    premium_decisions: int
    top_value: float
    """Share of value held by the top TOP_SHARE of customers."""
    top_premium: float
    by_tier: Breakdown
    reading: str


@dataclass(frozen=True)
class Figures:
    """Every figure of the report, for one policy."""

    levels_by_tier: Breakdown
    levels_by_channel: Breakdown
    perks_by_tier: Breakdown
    perk_value_by_tier: Breakdown
    queues_by_tier: Breakdown
    parity: Parity
    floor: Floor
    concentration: Concentration
    levels_by_cohort: Breakdown
    perks_by_cohort: Breakdown


def figures(treatment: Treatment) -> Figures:
    """Every figure for ``treatment``."""
    return Figures(
        levels_by_tier=levels_by_tier(treatment),
        levels_by_channel=levels_by_channel(treatment),
        perks_by_tier=perks_by_tier(treatment),
        perk_value_by_tier=perk_value_by_tier(treatment),
        queues_by_tier=queues_by_tier(treatment),
        parity=parity(treatment),
        floor=floor(treatment),
        concentration=concentration(treatment),
        levels_by_cohort=levels_by_cohort(treatment),
        perks_by_cohort=perks_by_cohort(treatment),
    )


# --- Rows ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grouping:
    """Rows of a breakdown: their order, and the rows a group's customers count in."""

    order: tuple[str, ...]
    rows: Callable[[Group], Iterable[str]]


def by_tier(treatment: Treatment) -> Grouping:
    """One row per tier, in the policy's order (lowest first), tiers without customers left out."""
    present = {group.tier for group in treatment.groups}
    tiers = [tier for tier in treatment.policy.tiers if tier in present]
    tiers += sorted(present - set(tiers))
    return Grouping(tuple(tiers), lambda group: (group.tier,))


def by_cohort(treatment: Treatment) -> Grouping:
    """One row per cohort of the mix, and one for all customers to compare them with; a customer
    counts in each of its cohorts and in all customers."""
    order = (*treatment.mix.cohorts, EVERYONE)
    return Grouping(order, lambda group: (*group.cohorts, EVERYONE))


Measure = Callable[[Decision], Iterable[tuple[str, float]]]
"""What a decision adds to the columns of its row: (column, amount) pairs."""


def _level(decision: Decision) -> Iterable[tuple[str, float]]:
    return ((decision.service_level.name, 1.0),)


def _perks(decision: Decision) -> Iterable[tuple[str, float]]:
    return ((perk.code, 1.0) for perk in decision.perks)


def _means(
    treatment: Treatment,
    grouping: Grouping,
    measure: Measure,
    columns: Sequence[str] | None = None,
    *,
    by_channel: bool = False,
) -> Breakdown:
    """The mean of ``measure`` over each row's decisions, without a reading. Rows follow the
    grouping (each split by the mix's channels when ``by_channel``), those without decisions left
    out; columns are as given or by total, largest first; totals count each row's decisions."""
    sums: dict[tuple[str, ...], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    decisions: Counter[tuple[str, ...]] = Counter()
    overall: dict[str, float] = defaultdict(float)
    for group in treatment.groups:
        for context, decision in treatment.decided(group):
            added = [(column, amount * group.customers) for column, amount in measure(decision)]
            for row in grouping.rows(group):
                key = (row, context.channel) if by_channel else (row,)
                decisions[key] += group.customers
                for column, amount in added:
                    sums[key][column] += amount
            for column, amount in added:
                overall[column] += amount
    channels = treatment.mix.channels if by_channel else ("",)
    keys = [
        (row, channel) if by_channel else (row,) for row in grouping.order for channel in channels
    ]
    rows = tuple(key for key in keys if decisions[key])
    if columns is None:
        columns = sorted(overall, key=lambda column: -overall[column])
    values = tuple(
        tuple(_share(sums[row][column], decisions[row]) for column in columns) for row in rows
    )
    totals = tuple(decisions[row] for row in rows)
    return Breakdown(rows, tuple(columns), values, totals, DECISIONS, "")


# --- Service levels, perks, routing -------------------------------------------------------------


def levels_by_tier(treatment: Treatment) -> Breakdown:
    """Service levels by tier: the share of each tier's decisions at each level, lowest first.
    The reading names each tier's most frequent level (the lower one on a tie)."""
    table = _means(treatment, by_tier(treatment), _level, treatment.policy.service_levels)
    parts = []
    for (tier,), shares in zip(table.rows, table.values, strict=True):
        level = max(range(len(table.columns)), key=lambda column: shares[column])
        parts.append(f"{tier} {table.columns[level]} ({percent(shares[level])})")
    reading = "Most frequent level: " + ", ".join(parts) + "." if parts else "No decisions."
    return replace(table, reading=reading)


def levels_by_channel(treatment: Treatment) -> Breakdown:
    """Service levels by tier and channel."""
    levels = treatment.policy.service_levels
    table = _means(treatment, by_tier(treatment), _level, levels, by_channel=True)
    seen: dict[str, set[tuple[float, ...]]] = defaultdict(set)
    for (tier, _), shares in zip(table.rows, table.values, strict=True):
        seen[tier].add(shares)
    differing = [tier for tier, kinds in seen.items() if len(kinds) > 1]
    if differing and treatment.log is not None:
        reading = (
            f"Service levels differ by channel for {', '.join(differing)}: in real traffic each "
            "channel carries interactions of its own (parity compares like with like)."
        )
    elif differing:
        reading = f"Service levels differ by channel for {', '.join(differing)} (see parity)."
    else:
        reading = f"Every tier gets the same service levels on all {len(treatment.mix.channels)} "
        reading += "channels."
    return replace(table, reading=reading)


def queues_by_tier(treatment: Treatment) -> Breakdown:
    """Routing: the share of each tier's decisions in each queue, busiest queue first."""
    table = _means(treatment, by_tier(treatment), lambda d: ((d.routing.queue, 1.0),))
    if not table.rows:
        return replace(table, reading="No decisions.")
    columns, totals = table.columns, table.totals
    busiest = sum(row[0] * total for row, total in zip(table.values, totals, strict=True))
    reading = f"{columns[0]} takes {percent(busiest / sum(totals))} of all decisions"
    top, shares = table.rows[-1][0], table.values[-1]
    queue = max(range(len(columns)), key=lambda index: shares[index])
    reading += f"; {top} goes to {columns[queue]} in {percent(shares[queue])} of its decisions."
    return replace(table, reading=reading)


def perks_by_tier(treatment: Treatment) -> Breakdown:
    """Perks by tier: the share of each tier's decisions granting each perk, most frequent first."""
    table = _means(treatment, by_tier(treatment), _perks)
    if not table.columns:
        return replace(table, reading="No perk is granted.")
    pairs = list(zip(table.values, table.totals, strict=True))
    first = sum(shares[0] * total for shares, total in pairs) / sum(table.totals)
    reading = f"{table.columns[0]} is the most frequent perk ({percent(first)} of decisions)"
    kinds = {
        row[0]: sum(share > 0 for share in shares)
        for row, shares in zip(table.rows, table.values, strict=True)
    }
    most = max(kinds, key=lambda tier: kinds[tier])
    least = min(kinds, key=lambda tier: kinds[tier])
    if kinds[most] != kinds[least]:
        reading += f"; {most} gets {kinds[most]} kinds of perk, {least} {kinds[least]}"
    return replace(table, reading=reading + ".")


def perk_value_by_tier(treatment: Treatment) -> Breakdown:
    """The fixed value of perks (amounts, not percentages) per decision, by tier and perk, in
    minor units of the mix's currency."""
    table = _means(
        treatment,
        by_tier(treatment),
        lambda d: ((perk.code, float(perk.amount)) for perk in d.perks if perk.amount),
    )
    currency = treatment.mix.currency
    table = replace(table, unit=f"minor units of {currency} per decision")
    if not table.columns:
        return replace(table, reading="No perk of the policy has a fixed value.")
    worth = {row[0]: sum(amounts) for row, amounts in zip(table.rows, table.values, strict=True)}
    low = min(worth, key=lambda tier: worth[tier])
    high = max(worth, key=lambda tier: worth[tier])
    reading = f"Fixed-value perks are worth {money(worth[low], currency)} per interaction to "
    if math.isclose(worth[low], worth[high]):
        reading += "every tier."
    else:
        reading += f"{low} and {money(worth[high], currency)} to {high}."
    return replace(table, reading=reading)


def levels_by_cohort(treatment: Treatment) -> Breakdown:
    """Service levels of each cohort and of all customers (share of decisions)."""
    levels = treatment.policy.service_levels
    table = _means(treatment, by_cohort(treatment), _level, levels)
    above = levels[treatment.baseline.service_level.rank + 1 :]

    def share_above(*row: str) -> str:
        return percent(sum(table.row(*row).get(level, 0.0) for level in above))

    parts = [
        f"{name}: {share_above(name)} of decisions above the baseline level"
        for name in treatment.mix.cohorts
        if (name,) in table.rows
    ]
    reading = (
        "; ".join(parts) + f" (all customers: {share_above(EVERYONE)})."
        if parts
        else "No customer is in a cohort of the mix."
    )
    return replace(table, reading=reading)


def perks_by_cohort(treatment: Treatment) -> Breakdown:
    """Perks of each cohort and of all customers (share of decisions); the reading names, for
    each cohort, the perk it gets most differently from all customers."""
    table = _means(treatment, by_cohort(treatment), _perks)
    everyone = table.row(EVERYONE)
    parts = []
    for name in treatment.mix.cohorts:
        mine = table.row(name)
        if not mine:
            continue
        # Ties go to the perk granted most often overall (the columns' order).
        code = max(table.columns, key=lambda code: abs(mine[code] - everyone[code]))
        if math.isclose(mine[code], everyone[code]):
            parts.append(f"{name}: the same perks as all customers")
        else:
            parts.append(
                f"{name}: {code} in {percent(mine[code])} of decisions, against "
                f"{percent(everyone[code])} for all customers"
            )
    reading = "; ".join(parts) + "." if parts else "No customer is in a cohort of the mix."
    return replace(table, reading=reading)


# --- The guarantees -----------------------------------------------------------------------------

Entitlement = tuple[str, Sla, tuple[tuple[str, int | None, float | None], ...]]
"""What channel parity compares: service level, SLA and perks (code and value)."""


def entitlement(decision: Decision) -> Entitlement:
    """The part of a decision that must not depend on the channel."""
    perks = tuple(sorted((perk.code, perk.amount, perk.percent) for perk in decision.perks))
    return (decision.service_level.name, decision.service_level.sla, perks)


def parity(treatment: Treatment) -> Parity:
    """For each customer and each interaction it had on several channels, whether every channel
    got the same entitlement (a population crossed with the mix: every interaction, on all the
    mix's channels)."""
    violating: Counter[str] = Counter()
    compared: Counter[str] = Counter()
    examples: list[ParityExample] = []
    comparisons = 0
    channels = len(treatment.mix.channels)
    on_every_channel = True  # whether each comparison spans all the channels
    for group in treatment.groups:
        by_interaction: dict[str, dict[Entitlement, list[str]]] = defaultdict(dict)
        for context, decision in treatment.decided(group):
            seen = by_interaction[interaction_text(context)]
            seen.setdefault(entitlement(decision), []).append(context.channel)
        spans = {
            text: {channel for on in seen.values() for channel in on}
            for text, seen in by_interaction.items()
        }
        checked = [text for text, on in spans.items() if len(on) > 1]
        if not checked:
            continue
        compared[group.tier] += group.customers
        comparisons += group.customers * len(checked)
        on_every_channel = on_every_channel and all(
            len(spans[text]) == channels for text in checked
        )
        broken = [(text, by_interaction[text]) for text in checked if len(by_interaction[text]) > 1]
        if not broken:
            continue
        violating[group.tier] += group.customers
        if len(examples) < PARITY_EXAMPLES:
            text, seen = broken[0]
            kinds = tuple(
                f"{', '.join(dict.fromkeys(on))}: {entitlement_text(kind)}"
                for kind, on in seen.items()
            )
            examples.append(ParityExample(group.tier, group.customers, group.examples, text, kinds))
    tiers = tuple(tier for tier in by_tier(treatment).order if compared[tier])
    by_tier_table = Breakdown(
        rows=tuple((tier,) for tier in tiers),
        columns=("same on every channel", "differs by channel"),
        values=tuple(
            (
                _share(compared[tier] - violating[tier], compared[tier]),
                _share(violating[tier], compared[tier]),
            )
            for tier in tiers
        ),
        totals=tuple(compared[tier] for tier in tiers),
        unit="share of customers",
        reading="",
    )
    total = compared.total()
    violations = violating.total()
    if channels < 2:
        reading = "Decisions on one channel only: channel parity is not checked."
    elif not total:
        reading = "No customer had one interaction on two channels: channel parity is not checked."
    elif violations:
        reading = (
            f"{violations:,} violations: {percent(violations / total)} of customers get a "
            "different service level, SLA or perks depending on the channel."
        )
    elif on_every_channel and total == treatment.customers:
        reading = (
            f"0 violations: service level, SLA and perks are the same on all {channels} "
            f"channels for all {total:,} customers ({comparisons:,} comparisons)."
        )
    else:
        reading = (
            "0 violations: service level, SLA and perks are the same on every channel for all "
            f"{total:,} customers who had one interaction on several ({comparisons:,} "
            "comparisons)."
        )
    return Parity(
        guaranteed=treatment.policy.channel_parity,
        channels=channels,
        customers=total,
        comparisons=comparisons,
        violations=violations,
        by_tier=by_tier_table,
        examples=tuple(examples),
        reading=reading,
    )


BELOW_BASELINE: dict[str, Callable[[Decision, Decision], bool]] = {
    "service level": lambda d, b: d.service_level.rank < b.service_level.rank,
    "maximum wait": lambda d, b: (
        d.service_level.sla.max_wait_seconds > b.service_level.sla.max_wait_seconds
    ),
    "first response": lambda d, b: (
        d.service_level.sla.first_response_seconds > b.service_level.sla.first_response_seconds
    ),
    "callback": lambda d, b: (
        b.service_level.sla.callback_offered and not d.service_level.sla.callback_offered
    ),
    "human agent": lambda d, b: (
        b.service_level.sla.human_agent_guaranteed
        and not d.service_level.sla.human_agent_guaranteed
    ),
    "baseline perks": lambda d, b: not {p.code for p in b.perks} <= {p.code for p in d.perks},
    "routing priority": lambda d, b: d.routing.priority < b.routing.priority,
}
"""Each way a decision ``d`` could fall short of the baseline decision ``b``."""


def floor(treatment: Treatment) -> Floor:
    """How often the baseline is all a customer gets, by tier, and every decision checked
    against it."""
    baseline = treatment.baseline
    only = entitlement(baseline)
    table = _means(
        treatment,
        by_tier(treatment),
        lambda d: ((BASELINE_ONLY if entitlement(d) == only else MORE, 1.0),),
        (BASELINE_ONLY, MORE),
    )
    below = dict.fromkeys(BELOW_BASELINE, 0)
    for group in treatment.groups:
        for decision in group.decisions:
            for aspect, falls_short in BELOW_BASELINE.items():
                if falls_short(decision, baseline):
                    below[aspect] += group.customers
    decisions = treatment.decisions
    only_share = _share(
        sum(v[0] * t for v, t in zip(table.values, table.totals, strict=True)), decisions
    )
    reading = f"{percent(only_share)} of decisions give only the baseline; "
    if not any(below.values()):
        reading += f"none of {decisions:,} decisions falls below it."
    else:
        aspects = ", ".join(f"{aspect} ({count:,})" for aspect, count in below.items() if count)
        reading += f"decisions fall below it in {aspects}."
    return Floor(
        baseline.service_level.name, replace(table, reading=reading), decisions, below, reading
    )


# --- Value --------------------------------------------------------------------------------------


def concentration(treatment: Treatment) -> Concentration:
    """Customers ranked by value, highest first: the cumulative share of value and of premium
    decisions along them; and each tier's share of customers, value and premium decisions."""
    premium = _premium_levels(treatment)
    ranked: list[tuple[float, int]] = []
    per_tier: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for group in treatment.groups:
        count = _premium_count(group, premium)
        ranked.extend((value, count) for value in group.values)
        totals = per_tier[group.tier]
        totals[0] += group.customers
        totals[1] += sum(group.values)
        totals[2] += count * group.customers
    ranked.sort(key=lambda item: -item[0])
    customers = len(ranked)
    value_total = sum(value for value, _ in ranked)
    premium_total = sum(count for _, count in ranked)
    steps = min(CURVE_POINTS, customers)
    marks = sorted({round(step * customers / steps) for step in range(steps + 1)} | {0})
    x, value_curve, premium_curve = [], [], []
    value_sum = premium_sum = 0.0
    done = 0
    for mark in marks:
        for value, count in ranked[done:mark]:
            value_sum += value
            premium_sum += count
        done = mark
        x.append(_share(mark, customers))
        value_curve.append(_share(value_sum, value_total))
        premium_curve.append(_share(premium_sum, premium_total))
    top_value = _share(_head([value for value, _ in ranked]), value_total)
    top_premium = _share(_head([count for _, count in ranked]), premium_total)
    tiers = tuple(tier for tier in by_tier(treatment).order if tier in per_tier)
    feature = treatment.mix.value_feature
    by_tier_table = Breakdown(
        rows=tuple((tier,) for tier in tiers),
        columns=("customers", feature, "premium decisions"),
        values=tuple(
            (
                _share(per_tier[tier][0], customers),
                _share(per_tier[tier][1], value_total),
                _share(per_tier[tier][2], premium_total),
            )
            for tier in tiers
        ),
        totals=tuple(int(per_tier[tier][0]) for tier in tiers),
        unit="share of the population's total",
        reading=_premium_reading(treatment, per_tier, customers, premium_total),
    )
    reading = (
        f"The top {percent(TOP_SHARE)} of customers by {feature} hold {percent(top_value)} of it "
        f"and receive {percent(top_premium)} of premium decisions."
    )
    return Concentration(
        feature=feature,
        customer_share=tuple(x),
        value_share=tuple(value_curve),
        premium_share=tuple(premium_curve),
        premium_decisions=premium_total,
        top_value=top_value,
        top_premium=top_premium,
        by_tier=by_tier_table,
        reading=reading,
    )


# --- Words and numbers --------------------------------------------------------------------------


def percent(share: float) -> str:
    """A share for people: whole percents, one decimal near 0 and 100 (never rounded to them)."""
    if share <= 0:
        return "0 %"
    if share >= 1:
        return "100 %"
    value = share * 100
    if value < 0.1:
        return "< 0.1 %"
    if value > 99.9:
        return "> 99.9 %"
    if value < 1 or value > 99:
        return f"{value:.1f} %"
    return f"{value:.0f} %"


def entitlement_text(kind: Entitlement) -> str:
    """An entitlement in a few words: ``premium, wait <= 120 s, ..., perks: a, b``."""
    level, sla, perks = kind
    codes = ", ".join(code for code, _, _ in perks) or "none"
    return (
        f"{level}, wait <= {sla.max_wait_seconds} s, first response <= "
        f"{sla.first_response_seconds} s, perks: {codes}"
    )


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def _premium_reading(
    treatment: Treatment, per_tier: dict[str, list[float]], customers: int, premium: int
) -> str:
    """The tiers that receive the most premium decisions, with their share of customers."""
    if not premium:
        return f"No decision reaches {treatment.mix.premium_from} or above."
    ranked = sorted(per_tier, key=lambda tier: -per_tier[tier][2])[:READING_TIERS]
    return (
        "; ".join(
            f"{tier}: {percent(per_tier[tier][0] / customers)} of customers, "
            f"{percent(per_tier[tier][2] / premium)} of premium decisions"
            for tier in ranked
            if per_tier[tier][2]
        )
        + "."
    )


def _head(amounts: Sequence[float]) -> float:
    """What the first TOP_SHARE of ``amounts`` add up to, counting the customer on the boundary
    in part (the top 20 % of 12 customers are 2.4 customers)."""
    whole, part = divmod(len(amounts) * TOP_SHARE, 1)
    head = sum(amounts[: int(whole)])
    return head + part * amounts[int(whole)] if part else head


def _premium_levels(treatment: Treatment) -> frozenset[str]:
    levels = treatment.policy.service_levels
    return frozenset(levels[levels.index(treatment.mix.premium_from) :])


def _premium_count(group: Group, premium: frozenset[str]) -> int:
    """How many of one customer's decisions are premium."""
    return sum(decision.service_level.name in premium for decision in group.decisions)
