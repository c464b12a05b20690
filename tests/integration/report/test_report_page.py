"""The fairness report opened in a real headless browser (Debian's chromium, driven by
Playwright): it loads with no console error and no network, every chart is drawn with data, and
the parity section reports 0 violations for the default policy; of a population file, and of the
decision log a real server wrote."""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from support.customers import write_population
from support.paths import DEFAULT_POLICY_DIR
from support.policies import raised_threshold
from support.requests import request
from support.tierline_process import TierlineProcess
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc
from tierline_server.cli import main
from tierline_server.report import page as report_page

pytestmark = pytest.mark.integration

CHROMIUM_FLAGS = [
    # As root, without a GPU, and with none of the background connections this closed network
    # would refuse.
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHART_IS_DRAWN = """el => ({
    plotted: el.classList.contains('js-plotly-plot'),
    traces: el.data.length,
    empty: el.data.filter(t => ((t.z || t.y || []).length === 0)).length,
    marks: el.querySelectorAll('.trace path, .heatmaplayer image').length,
    height: el.getBoundingClientRect().height,
})"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("the report's browser test needs Debian's chromium: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_population(tmp_path_factory.mktemp("population") / "customers.csv", 2000, 7)


@dataclass
class Opened:
    """A page as the browser loaded it, and what it said and asked for meanwhile."""

    page: Page
    problems: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


def open_report(browser: Browser, path: Path) -> Opened:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    opened = Opened(page)
    page.on(
        "console",
        lambda message: (
            opened.problems.append(f"console {message.type}: {message.text}")
            if message.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda error: opened.problems.append(f"page error: {error}"))
    page.on("request", lambda request: opened.requests.append(request.url))
    page.goto(path.as_uri(), wait_until="load")
    return opened


def write_report(population: Path, out: Path, *more: str) -> None:
    policy = str(DEFAULT_POLICY_DIR)
    status = main(
        ["report", "fairness", str(population), "--policy", policy, "--out", str(out), *more]
    )
    assert status == 0


def assert_every_chart_drawn(opened: Opened, policies: int) -> None:
    for index in range(policies):
        for section in report_page.SECTIONS:
            for chart in section.charts:
                drawn = opened.page.eval_on_selector(f"#chart-{chart.key}-{index}", CHART_IS_DRAWN)
                assert drawn["plotted"], chart.key
                assert drawn["traces"] > 0, chart.key
                assert drawn["empty"] == 0, chart.key
                assert drawn["marks"] > 0, chart.key
                assert drawn["height"] > 100, chart.key
                reading = opened.page.inner_text(f"#{chart.key}-{index} figcaption")
                assert reading.strip(), chart.key


def test_the_default_policys_report_in_a_browser(
    browser: Browser, population: Path, tmp_path: Path
) -> None:
    out = tmp_path / "fairness.html"
    write_report(population, out)
    opened = open_report(browser, out)
    assert opened.problems == []
    assert opened.requests == [out.as_uri()]  # the page needs nothing from the network
    assert_every_chart_drawn(opened, policies=1)
    parity = opened.page.locator("section#parity")
    assert parity.get_attribute("data-violations") == "0"
    assert parity.locator("figcaption").inner_text().startswith("0 violations:")
    floor = opened.page.locator("section#baseline table")
    assert set(floor.locator("td:last-child").all_inner_texts()) == {"0"}


def test_a_compared_candidate_is_drawn_beside_the_policy(
    browser: Browser, population: Path, tmp_path: Path
) -> None:
    out = tmp_path / "compare.html"
    write_report(population, out, "--compare", str(DEFAULT_POLICY_DIR))
    opened = open_report(browser, out)
    assert opened.problems == []
    assert_every_chart_drawn(opened, policies=2)
    assert opened.page.locator("section#parity").get_attribute("data-violations") == "0 0"


def serve_traffic(redis_url: str, customers: int) -> int:
    """Decisions from a real server into the decision log: the first ``customers`` of the
    population in an interaction each on two or three channels, some singly and some batched;
    the number of decisions made (all logged once the server has stopped)."""
    channels = itertools.cycle([pb.CHANNEL_PHONE, pb.CHANNEL_CHAT, pb.CHANNEL_WEB])
    intents = itertools.cycle(["support", "cancel", "purchase", "complaint"])
    calls = []
    for number in range(1, customers + 1):
        intent = next(intents)
        value = 6_000 if intent == "purchase" else None
        currency = "EUR" if value is not None else ""
        calls.append(
            [
                request(f"c{number:06d}", next(channels), intent=intent, order_value_minor=value,
                        currency=currency)
                for _ in range(2 + number % 2)
            ]
        )  # fmt: skip
    server = TierlineProcess(redis_url).start()
    try:
        with grpc.insecure_channel(server.target) as channel:
            stub = entitlement_pb2_grpc.EntitlementServiceStub(channel)
            for number, items in enumerate(calls):
                if number % 4:
                    for item in items:
                        stub.Decide(item, timeout=10)
                else:
                    stub.DecideBatch(pb.DecideBatchRequest(items=items), timeout=10)
    finally:
        assert server.stop() == 0  # the log writes what it has queued before the server exits
    return sum(len(items) for items in calls)


def test_the_report_of_a_log_a_real_server_wrote_in_a_browser(
    browser: Browser,
    population: Path,
    redis_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["features", "load", str(population), "--redis-url", redis_url]) == 0
    made = serve_traffic(redis_url, customers=300)
    candidate = raised_threshold(tmp_path)
    out = tmp_path / "from-log.html"
    capsys.readouterr()

    status = main(
        ["report", "fairness", "--from-log", "--redis-url", redis_url, "--policy",
         str(DEFAULT_POLICY_DIR), "--compare", str(candidate), "--out", str(out), "--json"]
    )  # fmt: skip

    assert status == 0
    current, other = json.loads(capsys.readouterr().out)["policies"]
    assert current["population"]["decisions"] == made
    assert current["population"]["customers"] == 300  # none degraded, none changed
    assert current["population"]["log"]["logged"] == made
    assert current["population"]["log"]["decided_otherwise"] == 0  # it wrote the log
    assert other["population"]["log"]["decided_otherwise"] > 0  # free shipping from 75.00
    parity = current["figures"]["parity"]
    assert (parity["customers"], parity["violations"]) == (300, 0)
    assert parity["comparisons"] == 300
    assert current["guarantees_hold"]
    assert other["guarantees_hold"]
    opened = open_report(browser, out)
    assert opened.problems == []
    assert opened.requests == [out.as_uri()]
    assert_every_chart_drawn(opened, policies=2)
    assert opened.page.locator("section#parity").get_attribute("data-violations") == "0 0"
    assert "Decision log" in opened.page.inner_text("p.meta")
