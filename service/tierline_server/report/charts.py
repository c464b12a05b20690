"""Charts of the fairness figures, with plotly: pure functions from figures to figures to draw.

Shares are drawn as percentages; hovering a bar or cell shows the exact figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.colors
import plotly.graph_objects as go
import tierline.money

from tierline_server.report.figures import Breakdown, Concentration, Parity, percent

HEIGHT = 380
PERCENT_AXIS = {"tickformat": ".0%", "range": [0, 1]}
SAME_COLOR, DIFFERENT_COLOR = "#2e7d32", "#c62828"
BASELINE_COLOR, MORE_COLOR = "#b0bec5", "#00897b"
CATEGORIES = plotly.colors.qualitative.D3 + plotly.colors.qualitative.Set2
"""Colours for categories without an order (queues, perks): enough for 18 before repeating."""
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"


def _layout(figure: go.Figure, **layout: object) -> go.Figure:
    figure.update_layout(
        template="plotly_white",
        height=HEIGHT,
        margin={"l": 60, "r": 20, "t": 30, "b": 60},
        font={"family": FONT, "size": 13},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        **layout,
    )
    return figure


def _x(rows: Sequence[tuple[str, ...]]) -> list[str] | list[list[str]]:
    """Row labels as an axis: one level, or two (tier, then channel) as grouped categories."""
    if rows and len(rows[0]) == 2:
        return [[row[0] for row in rows], [row[1] for row in rows]]
    return [row[0] for row in rows]


def ordered_colors(count: int) -> list[str]:
    """Light to dark, for categories with an order (service levels, lowest first)."""
    points = [0.2 + 0.75 * i / (count - 1) for i in range(count)] if count > 1 else [0.6]
    colors: list[str] = plotly.colors.sample_colorscale("Blues", points)
    return colors


def _bars(
    table: Breakdown,
    palette: Sequence[str],
    *,
    scale: float = 1.0,
    value: str = ".1%",
    suffix: str = "",
    name: str = "{}",
) -> list[go.Bar]:
    """A bar trace per column (named ``name`` with the column), values times ``scale``, the
    exact value on hover (d3 format ``value``, then ``suffix``)."""
    return [
        go.Bar(
            name=name.format(column),
            x=_x(table.rows),
            y=[values[index] * scale for values in table.values],
            marker_color=palette[index % len(palette)],
            hovertemplate=f"{name.format(column)}: %{{y:{value}}}{suffix}<extra>%{{x}}</extra>",
        )
        for index, column in enumerate(table.columns)
    ]


def stacked_shares(table: Breakdown, colors: Sequence[str] | None = None) -> go.Figure:
    """One stacked bar per row, a segment per column: each row adds up to 100 %."""
    figure = go.Figure(_bars(table, colors or CATEGORIES))
    return _layout(figure, barmode="stack", yaxis={**PERCENT_AXIS, "title": table.unit})


def shares_heatmap(table: Breakdown) -> go.Figure:
    """Rows down, columns across, each cell its share as a percentage."""
    figure = go.Figure(
        go.Heatmap(
            z=[list(values) for values in table.values],
            x=list(table.columns),
            y=[" / ".join(row) for row in table.rows],
            zmin=0,
            zmax=1,
            colorscale="Blues",
            text=[[percent(value) if value else "" for value in values] for values in table.values],
            texttemplate="%{text}",
            hovertemplate="%{y}, %{x}: %{z:.1%} of decisions<extra></extra>",
            colorbar={"tickformat": ".0%", "title": {"text": table.unit}},
        )
    )
    return _layout(figure, xaxis={"tickangle": -30}, yaxis={"autorange": "reversed"})


def stacked_amounts(table: Breakdown, currency: str) -> go.Figure:
    """One stacked bar per row of amounts in minor units, drawn in major units."""
    places = tierline.money.exponent(currency)
    bars = _bars(table, CATEGORIES, scale=10**-places, value=f".{places}f", suffix=f" {currency}")
    return _layout(go.Figure(bars), barmode="stack", yaxis={"title": f"{currency} per interaction"})


def parity_bars(parity: Parity) -> go.Figure:
    """Per tier, the customers treated alike on every channel and those who are not."""
    return stacked_shares(parity.by_tier, (SAME_COLOR, DIFFERENT_COLOR))


def baseline_bars(table: Breakdown) -> go.Figure:
    """Per tier, the decisions that give only the baseline and those that give more."""
    return stacked_shares(table, (BASELINE_COLOR, MORE_COLOR))


def concentration_curve(concentration: Concentration) -> go.Figure:
    """Cumulative share of value and of premium decisions against customers, richest first."""
    x = list(concentration.customer_share)
    figure = go.Figure(
        [
            go.Scatter(
                x=[0, 1],
                y=[0, 1],
                name="equal shares",
                mode="lines",
                line={"dash": "dot", "color": "#9e9e9e"},
                hoverinfo="skip",
            ),
            go.Scatter(
                x=x,
                y=list(concentration.value_share),
                name=f"share of {concentration.feature}",
                mode="lines",
                line={"color": "#1565c0", "width": 3},
                hovertemplate="top %{x:.0%} of customers: %{y:.1%} of value<extra></extra>",
            ),
            go.Scatter(
                x=x,
                y=list(concentration.premium_share),
                name="share of premium decisions",
                mode="lines",
                line={"color": "#ef6c00", "width": 3},
                hovertemplate="top %{x:.0%} of customers: %{y:.1%} of premium decisions"
                "<extra></extra>",
            ),
        ]
    )
    return _layout(
        figure,
        xaxis={**PERCENT_AXIS, "title": f"customers, by {concentration.feature}, highest first"},
        yaxis={**PERCENT_AXIS, "title": "cumulative share"},
    )


def tier_shares(table: Breakdown) -> go.Figure:
    """Per tier, its share of customers, of value and of premium decisions, side by side."""
    bars = _bars(table, ("#90a4ae", "#1565c0", "#ef6c00"), name="share of {}")
    return _layout(go.Figure(bars), barmode="group", yaxis={**PERCENT_AXIS, "title": table.unit})
