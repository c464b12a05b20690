"""The fairness report as one self-contained HTML page: plotly's script inlined once, no
network needed to open it. Two policies (``--compare``) are drawn side by side."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jinja2
import plotly.graph_objects as go
import plotly.io
import plotly.offline

from tierline_server.policy import conditions
from tierline_server.report import charts
from tierline_server.report.figures import TOP_SHARE, Figures, percent
from tierline_server.report.mix import cohort_conditions, interaction_text
from tierline_server.report.treatment import Treatment


@dataclass(frozen=True)
class Report:
    """One policy's treatment of the population, and its figures."""

    treatment: Treatment
    figures: Figures


@dataclass(frozen=True)
class ChartSpec:
    """A chart of the page: its anchor, title, and how to draw it and read it from figures."""

    key: str
    title: str
    draw: Callable[[Report], go.Figure]
    reading: Callable[[Figures], str]


@dataclass(frozen=True)
class Section:
    """A section of the page: what it answers, and its charts."""

    key: str
    title: str
    question: str
    charts: tuple[ChartSpec, ...]


def _levels_colors(report: Report) -> list[str]:
    return charts.ordered_colors(len(report.treatment.policy.service_levels))


SECTIONS = (
    Section(
        "levels",
        "Service levels",
        "Which service level does each tier get, over all of its decisions?",
        (
            ChartSpec(
                "levels-by-tier",
                "By tier",
                lambda r: charts.stacked_shares(r.figures.levels_by_tier, _levels_colors(r)),
                lambda f: f.levels_by_tier.reading,
            ),
            ChartSpec(
                "levels-by-channel",
                "By tier and channel",
                lambda r: charts.stacked_shares(r.figures.levels_by_channel, _levels_colors(r)),
                lambda f: f.levels_by_channel.reading,
            ),
        ),
    ),
    Section(
        "perks",
        "Perks",
        "Which perks does each tier get, how often, and what are the fixed-value ones worth?",
        (
            ChartSpec(
                "perks-by-tier",
                "Share of decisions granting each perk",
                lambda r: charts.shares_heatmap(r.figures.perks_by_tier),
                lambda f: f.perks_by_tier.reading,
            ),
            ChartSpec(
                "perk-value-by-tier",
                "Fixed-value perks per interaction",
                lambda r: charts.stacked_amounts(
                    r.figures.perk_value_by_tier, r.treatment.mix.currency
                ),
                lambda f: f.perk_value_by_tier.reading,
            ),
        ),
    ),
    Section(
        "routing",
        "Routing",
        "Which queue does each tier reach?",
        (
            ChartSpec(
                "queues-by-tier",
                "Queue shares by tier",
                lambda r: charts.stacked_shares(r.figures.queues_by_tier),
                lambda f: f.queues_by_tier.reading,
            ),
        ),
    ),
    Section(
        "parity",
        "Channel parity",
        "Does anyone's service level, SLA or perks depend on the channel they use? "
        "(Routing may: a social post goes to the social care team.)",
        (
            ChartSpec(
                "parity-by-tier",
                "Customers treated alike on every channel",
                lambda r: charts.parity_bars(r.figures.parity),
                lambda f: f.parity.reading,
            ),
        ),
    ),
    Section(
        "baseline",
        "The baseline",
        "How often is the baseline all a customer gets, and does any decision fall below it?",
        (
            ChartSpec(
                "baseline-by-tier",
                "Decisions that give only the baseline",
                lambda r: charts.baseline_bars(r.figures.floor.only_baseline),
                lambda f: f.floor.reading,
            ),
        ),
    ),
    Section(
        "value",
        "Value concentration",
        "How much of the value do the most valuable customers hold, and how much of the "
        "premium service goes to them?",
        (
            ChartSpec(
                "concentration",
                "The 80/20 curve",
                lambda r: charts.concentration_curve(r.figures.concentration),
                lambda f: f.concentration.reading,
            ),
            ChartSpec(
                "value-by-tier",
                "Each tier's share of customers, value and premium decisions",
                lambda r: charts.tier_shares(r.figures.concentration.by_tier),
                lambda f: f.concentration.by_tier.reading,
            ),
        ),
    ),
    Section(
        "cohorts",
        "New customers and frequent complainers",
        "What do the mix's cohorts get, compared with all customers?",
        (
            ChartSpec(
                "levels-by-cohort",
                "Service levels",
                lambda r: charts.stacked_shares(r.figures.levels_by_cohort, _levels_colors(r)),
                lambda f: f.levels_by_cohort.reading,
            ),
            ChartSpec(
                "perks-by-cohort",
                "Share of decisions granting each perk",
                lambda r: charts.shares_heatmap(r.figures.perks_by_cohort),
                lambda f: f.perks_by_cohort.reading,
            ),
        ),
    ),
)


def render(reports: Sequence[Report], *, population: str = "") -> str:
    """The page for one report, or two side by side (current, then candidate); ``population``
    names the population file (a report of the decision log says what it replayed itself)."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("tierline_server.report"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["percent"] = percent
    drawn = {
        (index, chart.key): plotly.io.to_html(
            chart.draw(report),
            full_html=False,
            include_plotlyjs=False,
            # A fixed id keeps the page the same for the same input (a diffable example).
            div_id=f"chart-{chart.key}-{index}",
            default_height=charts.HEIGHT,
            config={"displaylogo": False, "responsive": True},
        )
        for index, report in enumerate(reports)
        for section in SECTIONS
        for chart in section.charts
    }
    mix, policy = reports[0].treatment.mix, reports[0].treatment.policy
    interactions = list(dict.fromkeys(interaction_text(context) for context in mix.contexts))
    cohorts = {
        name: conditions.render(condition)
        for name, condition in cohort_conditions(mix, policy).items()
    }
    return environment.get_template("fairness.html.j2").render(
        reports=reports,
        sections=SECTIONS,
        drawn=drawn,
        population=population,
        log=reports[0].treatment.log,
        mix=mix,
        interactions=interactions,
        cohorts=cohorts,
        top_share=TOP_SHARE,
        plotly_js=plotly.offline.get_plotlyjs(),
    )
