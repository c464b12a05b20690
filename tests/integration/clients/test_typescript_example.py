"""The TypeScript example (clients/examples/typescript) installs from its lock file, builds, holds
the code proto/ generates, and prices carts with Tierline's decisions over Connect, or with the
baseline when Tierline cannot answer."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.paths import REPO
from support.tierline_process import TierlineProcess

NPM = shutil.which("npm")
NODE_MAJOR_NEEDED = 20
"""package.json's engines: the Connect packages it pins need Node.js 20."""


def _node_major() -> int:
    """The major version of the node on PATH; 0 when there is none."""
    node = shutil.which("node")
    if node is None:
        return 0
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    return int(version.stdout.strip().lstrip("v").split(".")[0] or 0)


pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        NPM is None or _node_major() < NODE_MAJOR_NEEDED,
        reason=f"the TypeScript example needs Node.js {NODE_MAJOR_NEEDED} or newer and npm on PATH",
    ),
]

EXAMPLE = REPO / "clients" / "examples" / "typescript"
INSTALL_TIMEOUT_SECONDS = 300
"""npm ci fetches a few MB from the registry on a cold cache; a warm one takes seconds."""
RUN_TIMEOUT_SECONDS = 60


def _npm(*args: str) -> None:
    assert NPM is not None
    result = subprocess.run(
        [NPM, *args],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"npm {' '.join(args)} failed:\n{result.stdout}{result.stderr}")


@pytest.fixture(scope="module")
def built() -> None:
    """The example's packages installed as package-lock.json pins them (into its node_modules,
    from npm's cache when it has them) and the example compiled by tsc, which type-checks it
    against the generated code: once for this module."""
    _npm("ci", "--prefer-offline")
    _npm("run", "build")


def checkout(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the built example."""
    return subprocess.run(
        ["node", str(EXAMPLE / "dist" / "checkout.js"), *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )


def page(*args: str) -> dict[str, Any]:
    """What the example prints for the checkout page, checked to exit 0."""
    result = checkout(*args)
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


@pytest.mark.usefixtures("built")
def test_the_generated_code_matches_proto() -> None:
    result = subprocess.run(
        ["make", "--no-print-directory", "proto-ts-check", f"BIN={Path(sys.executable).parent}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.usefixtures("built")
def test_carts_are_priced_by_tier_and_order_value(http_tierline: TierlineProcess) -> None:
    gold = page("--customer", "gold-1", "--url", http_tierline.http_url, "--timeout-ms", "5000")
    basic = page("--customer", "basic-1", "--url", http_tierline.http_url, "--timeout-ms", "5000")

    carts = [gold["cart"], *gold["savedCarts"], basic["cart"], *basic["savedCarts"]]
    assert [cart["source"] for cart in carts] == ["tierline"] * 6
    assert [cart["tier"] for cart in carts] == ["gold"] * 3 + ["basic"] * 3
    # Gold ships free and earns triple points whatever the cart; basic ships free from 50 EUR.
    assert [cart["freeShipping"] for cart in carts] == [True, True, True, True, False, True]
    assert [cart["loyaltyMultiplier"] for cart in carts] == [3, 3, 3, 1, 1, 1]
    # Only the saved kit (24 items, 240 EUR) is a bulk order, which DecideBatch decides alone.
    assert ["volume-discount" in cart["perks"] for cart in carts] == [False, False, True] * 2


@pytest.mark.usefixtures("built")
def test_an_error_answer_prices_with_the_baseline(http_tierline: TierlineProcess) -> None:
    answer = page("--customer", "not a customer id", "--url", http_tierline.http_url)

    carts = [answer["cart"], *answer["savedCarts"]]
    # The Decide call fails as a whole; in the batch, each cart fails on its own status.
    assert all(cart["source"].startswith("baseline (invalid_argument: ") for cart in carts)
    assert all("customer_id" in cart["source"] for cart in carts)
    assert [(cart["tier"], cart["perks"]) for cart in carts] == [("unknown", [])] * 3


@pytest.mark.usefixtures("built")
def test_a_refused_connection_prices_with_the_baseline(refused_target: str) -> None:
    answer = page("--customer", "gold-1", "--url", f"http://{refused_target}")

    carts = [answer["cart"], *answer["savedCarts"]]
    assert all(cart["source"].startswith("baseline (unavailable: ") for cart in carts)
    assert [(c["tier"], c["freeShipping"], c["loyaltyMultiplier"]) for c in carts] == [
        ("unknown", False, 1)
    ] * 3


@pytest.mark.usefixtures("built")
def test_a_bad_option_is_one_line_and_the_usage() -> None:
    result = checkout("--timeout-ms", "soon")

    assert result.returncode == 2
    first, *rest = result.stderr.splitlines()
    assert first == "--timeout-ms soon: must be a whole number of milliseconds above 0"
    assert rest[0].startswith("usage: ")
