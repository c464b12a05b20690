"""The page: what it shows beyond the charts (violations, rejects), and that it is reproducible."""

from __future__ import annotations

from dataclasses import replace

from report_support import WELCOME, decision, group, small_population, treatment
from tierline_server.report import figures, page
from tierline_server.report.treatment import Treatment


def render(*treatments: Treatment) -> str:
    reports = [page.Report(t, figures.figures(t)) for t in treatments]
    return page.render(reports, population="people.csv")


def test_parity_violations_are_listed_with_example_customers() -> None:
    base = decision("standard", "general", WELCOME)
    by_phone = decision("priority", "general", WELCOME)
    html = render(treatment(group("silver", (by_phone, base, base, base), 1, 2)))
    assert 'data-violations="2"' in html
    assert "silver-1, silver-2" in html
    assert "phone: priority, wait &lt;= 600 s" in html
    assert "2 violations" in html


def test_rejected_rows_are_shown_and_the_page_is_the_same_for_the_same_input() -> None:
    population = replace(
        small_population(), rejected=7, rejects=("line 3: ltv: 'x' is not a valid number",)
    )
    html = render(population)
    assert "7 rows rejected by small 1" in html
    assert "line 3: ltv: &#39;x&#39; is not a valid number" in html
    assert html == render(population)


def test_the_page_needs_no_network() -> None:
    html = render(small_population())
    assert "<script src" not in html
    assert "<link" not in html
    assert html.count("<script>") == 1 + sum(len(s.charts) for s in page.SECTIONS)


def test_two_policies_have_every_section_and_chart_each() -> None:
    html = render(small_population(), small_population())
    for section in page.SECTIONS:
        assert f'<section id="{section.key}"' in html
        for chart in section.charts:
            assert f'id="chart-{chart.key}-0"' in html
            assert f'id="chart-{chart.key}-1"' in html
