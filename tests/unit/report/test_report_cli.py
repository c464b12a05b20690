"""``tierline report fairness``: the page, the table, --json, --compare, and bad input."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from report_support import small_population
from support.customers import write_population
from support.paths import DEFAULT_POLICY_DIR
from tierline_server.cli import main
from tierline_server.commands import report as report_commands
from tierline_server.report import figures, page


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_population(tmp_path_factory.mktemp("population") / "customers.csv", 600, 3)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["report", "fairness", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_json_gives_the_figures_and_the_page_is_written(
    population: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.html"
    status, stdout, stderr = run(capsys, str(population), "--out", str(out), "--json")
    assert status == 0
    (report,) = json.loads(stdout)["policies"]
    assert report["policy"]["name"] == "default"
    assert report["population"] == {
        "customers": 600,
        "rejected": 0,
        "rejects": [],
        "contexts": 56,
        "decisions": 600 * 56,
    }
    assert report["guarantees_hold"] is True
    assert report["figures"]["parity"]["violations"] == 0
    assert report["figures"]["floor"]["below"]["service level"] == 0
    assert report["figures"]["levels_by_tier"]["columns"] == [
        "standard",
        "priority",
        "premium",
        "concierge",
    ]
    html = out.read_text()
    for section in page.SECTIONS:
        for chart in section.charts:
            assert f'id="chart-{chart.key}-0"' in html
    assert report["figures"]["parity"]["reading"] in html
    assert "engine calls" in stderr
    assert f"wrote {out}" in stderr


def test_the_table_shows_each_tier_and_every_reading(
    population: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, stdout, _ = run(capsys, str(population), "--out", str(tmp_path / "r.html"))
    assert status == 0
    assert "default 2026.11.1: 600 customers x 56 interactions = 33,600 decisions" in stdout
    for tier in ("basic", "standard", "growth"):
        assert tier in stdout
    words = " ".join(stdout.split())  # the table wraps readings to the terminal's width
    assert "0 violations" in words
    assert "none of 33,600 decisions falls below it" in words


def test_compare_draws_a_candidate_beside_the_policy(
    population: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    candidate = tmp_path / "candidate"
    shutil.copytree(DEFAULT_POLICY_DIR, candidate)
    rules = candidate / "entitlements.yaml"
    # Gold's priority support grants concierge rather than premium.
    rules.write_text(
        rules.read_text().replace("service_level: premium\n", "service_level: concierge\n", 1)
    )
    policy = candidate / "policy.yaml"
    policy.write_text(policy.read_text().replace('version: "2026.11.1"', 'version: "next"'))
    out = tmp_path / "compare.html"
    status, stdout, _ = run(
        capsys, str(population), "--compare", str(candidate), "--out", str(out), "--json"
    )
    assert status == 0
    current, proposed = json.loads(stdout)["policies"]
    assert (current["policy"]["version"], proposed["policy"]["version"]) == ("2026.11.1", "next")

    def gold(report: dict[str, Any]) -> list[float]:
        levels = report["figures"]["levels_by_tier"]
        return levels["values"][levels["rows"].index(["gold"])]

    assert gold(current) == [0.0, 0.0, 1.0, 0.0]
    assert gold(proposed) == [0.0, 0.0, 0.0, 1.0]
    html = out.read_text()
    assert 'id="chart-levels-by-tier-1"' in html
    assert "default next" in html


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.csv"], "cannot read missing.csv"),
        (["{population}", "--mix", "missing.yaml"], "invalid mix: missing.yaml: cannot read"),
        (["{population}", "--policy", "missing/"], "missing"),
        (["{population}", "--format", "jsonl"], "no customer of"),
        ([], "give a population file or --from-log"),
        (["{population}", "--from-log"], "give a population file or --from-log"),
        (["{population}", "--since", "1d"], "--since and --until go with --from-log"),
        (["--from-log", "--keep-tier"], "--format and --keep-tier go with a population file"),
        (["--from-log", "--redis-url", "redis://127.0.0.1:1/0"], "Redis error"),
    ],
)
def test_bad_input_is_one_message_and_no_page(
    population: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    out = tmp_path / "report.html"
    filled = [arg.replace("{population}", str(population)) for arg in args]
    status, _, stderr = run(capsys, "--policy", str(DEFAULT_POLICY_DIR), "--out", str(out), *filled)
    assert status == 2
    assert message in stderr
    assert "Traceback" not in stderr
    assert not out.exists()


def test_a_cohort_the_candidate_cannot_read_is_reported(
    population: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mix = tmp_path / "mix.yaml"
    mix.write_text(
        (report_commands.DEFAULT_MIX.read_text()).replace("complaints_90d", "complaints_1y")
    )
    out = tmp_path / "x.html"
    status, _, stderr = run(capsys, str(population), "--mix", str(mix), "--out", str(out))
    assert status == 2
    assert "unknown field 'complaints_1y'" in stderr


def test_a_broken_guarantee_is_exit_status_1() -> None:
    """Channel parity is broken only where the policy declares it; the baseline always."""
    population = small_population()
    every = figures.figures(population)
    policy = population.policy
    no_parity = replace(policy, channel_parity=False)
    parity_broken = replace(every, parity=replace(every.parity, violations=1))
    floor_broken = replace(every, floor=replace(every.floor, below={"callback": 1}))
    assert not report_commands.guarantees_broken(every, policy)
    assert report_commands.guarantees_broken(parity_broken, policy)
    assert not report_commands.guarantees_broken(parity_broken, no_parity)
    assert report_commands.guarantees_broken(floor_broken, no_parity)
