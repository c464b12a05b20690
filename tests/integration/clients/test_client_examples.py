"""The examples in clients/examples run to completion against a real Tierline."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.paths import REPO
from support.tierline_process import TierlineProcess

pytestmark = pytest.mark.integration

EXAMPLES = REPO / "clients" / "examples"
RUN_TIMEOUT_SECONDS = 60
ROW = re.compile(r"^\s*\d+\s+(phone|chat|social|email)\s")


def run(example: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / example), *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )


def test_call_center_decides_every_contact(tierline: TierlineProcess) -> None:
    result = run(
        "call_center.py", "--target", tierline.target, "--contacts", "15", "--interval", "0",
        "--customers", "30", "--timeout", "2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if ROW.match(line)]
    assert len(rows) == 15
    assert "15 contacts: 15 decided by Tierline, 0 baseline fallbacks" in result.stdout
    assert "FALLBACK" not in result.stdout


def test_call_center_falls_back_when_the_service_stops_mid_run(tierline: TierlineProcess) -> None:
    process = subprocess.Popen(
        [
            sys.executable, str(EXAMPLES / "call_center.py"), "--target", tierline.target,
            "--contacts", "30", "--interval", "0.05", "--customers", "30", "--timeout", "0.5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if sum(1 for row in seen if ROW.match(row)) == 5:
            break
    tierline.stop()
    rest, errors = process.communicate(timeout=RUN_TIMEOUT_SECONDS)
    output = "".join(seen) + rest
    assert process.returncode == 0, errors
    assert "FALLBACK" in output
    summary = re.search(r"30 contacts: (\d+) decided by Tierline, (\d+) baseline fallbacks", output)
    assert summary is not None, output
    decided, fallbacks = map(int, summary.groups())
    assert decided >= 5
    assert fallbacks >= 1
    assert "client_fallback" in errors  # the client logged the switch


def test_call_center_runs_on_the_desk_baseline_when_tierline_is_down(refused_target: str) -> None:
    result = run(
        "call_center.py", "--target", refused_target, "--contacts", "5", "--interval", "0",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # The client waits for a connection within each call's deadline, then answers with the
    # baseline.
    assert "is not answering (DEADLINE_EXCEEDED)" in result.stdout
    assert "5 contacts: 0 decided by Tierline, 5 baseline fallbacks" in result.stdout


def test_checkout_shows_perks_and_a_batch(tierline: TierlineProcess) -> None:
    result = run(
        "checkout.py", "--target", tierline.target, "--customer", "gold-1", "--carts", "6",
        "--customers", "30",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Cart of gold-1 (tier gold)" in result.stdout
    assert re.search(r"free shipping\s+yes", result.stdout)
    assert re.search(r"loyalty points\s+x3", result.stdout)
    assert "Batch of 7 carts in one DecideBatch call" in result.stdout
    assert "rejected: customer_id" in result.stdout


def test_checkout_says_so_when_the_service_is_unreachable(refused_target: str) -> None:
    result = run("checkout.py", "--target", refused_target)
    assert result.returncode == 1
    assert "not answering" in result.stderr


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_examples_document_their_arguments(example: str) -> None:
    result = run(example, "--help")
    assert result.returncode == 0
    assert re.search(r"--(target|url) ", result.stdout)  # where the service is
    assert Path(EXAMPLES / example).read_text().startswith('"""')


def test_flow_builder_routes_with_tierline_s_decision(http_tierline: TierlineProcess) -> None:
    result = run(
        "flow_builder.py", "gold-1", "--channel", "phone", "--intent", "cancel",
        "--url", http_tierline.http_url, "--timeout", "5",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    flow = json.loads(result.stdout)
    assert flow["source"] == "tierline"
    assert flow["queue"] == "retention"
    assert "retention-discount" in flow["perks"]


def test_flow_builder_routes_with_the_baseline_when_tierline_is_down(refused_target: str) -> None:
    result = run("flow_builder.py", "gold-1", "--url", f"http://{refused_target}")

    assert result.returncode == 0, result.stderr
    flow = json.loads(result.stdout)
    assert flow["source"].startswith("baseline (Tierline not reachable")
    assert (flow["queue"], flow["priority"], flow["service_level"]) == ("general", 10, "standard")


def test_flow_builder_routes_with_the_baseline_on_an_error_answer(
    http_tierline: TierlineProcess,
) -> None:
    result = run("flow_builder.py", "not a customer id", "--url", http_tierline.http_url)

    assert result.returncode == 0, result.stderr
    flow = json.loads(result.stdout)
    assert flow["source"].startswith("baseline (invalid_argument: customer_id: must be")
    assert flow["queue"] == "general"
