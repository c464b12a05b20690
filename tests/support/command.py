"""Run the ``tierline`` command as a separate process, as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support.paths import REPO

COMMAND_SECONDS = 60.0


def tierline(
    *args: str, cwd: Path = REPO, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``tierline ARGS`` in ``cwd``: no TIERLINE_* variable of the test run leaks in (``env``
    adds some), and wide columns, so that tables are not wrapped."""
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("TIERLINE_")},
        "COLUMNS": "200",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "tierline_server.cli", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
        check=False,
    )
