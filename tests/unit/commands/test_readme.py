"""The README as a newcomer reads it: one spelling of the command, and examples that show what
they say."""

from __future__ import annotations

import re
import shlex

from support.command import tierline
from support.paths import REPO

README = REPO / "README.md"
COMMAND = ".venv/bin/tierline"


def shell_commands() -> list[str]:
    """Every command in the README's ``sh`` blocks, continuation lines joined."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), re.DOTALL)
    return [
        command.strip()
        for block in blocks
        for command in block.replace("\\\n", " ").splitlines()
        if command.strip()
    ]


def test_every_tierline_command_is_spelled_the_same() -> None:
    """As `.venv/bin/tierline`, never a bare `tierline` that only an activated venv has (inside
    a container, where the image installs it, `tierline` is the command)."""
    commands = [c for c in shell_commands() if not c.startswith(("docker ", "kubectl "))]
    tierline = [command for command in commands if "tierline " in command.split("#")[0]]
    assert len(tierline) >= 10
    assert [command for command in tierline if not command.startswith(f"{COMMAND} ")] == []


def test_the_policy_eval_example_shows_a_gold_customer_going_to_retention() -> None:
    """What the text under the example says it shows, and not new-customer care."""
    (example,) = [c for c in shell_commands() if c.startswith(f"{COMMAND} policy eval")]
    args = shlex.split(example, comments=True)[1:]

    result = tierline(*args)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "gold" in out
    assert "premium (rank 2)" in out
    assert "retention (priority 80)" in out
    assert "retention-discount 20% (by retention-offer)" in out
    assert "why retention-offer" in out
    assert "new-customer-care" not in out
    assert "onboarding" not in out
