"""Where durable-rules cannot load (say, built unchanged on 3.13), the CLI names the fix."""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Iterator

import pytest
from tierline_server import cli
from tierline_server.policy import engine


@pytest.fixture
def durable_missing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make `import durable` fail, as a broken engine does; restore the real engine afterwards."""
    engine._durable.cache_clear()
    monkeypatch.setitem(sys.modules, "durable", None)
    yield
    engine._durable.cache_clear()


@pytest.mark.usefixtures("durable_missing")
def test_policy_check_names_the_command_that_installs_the_engine(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Exit 2 with one line, no traceback, naming a command that runs for this Python."""
    assert cli.main(["policy", "check", "--policy", "rules"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    [line] = err.splitlines()
    assert line.startswith("error: the rule engine (durable-rules 2.0.28) cannot load on Python")
    command = line.partition("for this Python with: ")[2]
    assert shlex.split(command) == [sys.executable, "-m", "tierline_server.engine_build"]
    help_text = subprocess.run(
        [*shlex.split(command), "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "--wheel-dir" in help_text
