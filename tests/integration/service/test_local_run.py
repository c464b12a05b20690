"""`make run` (deploy/local/run.sh) as a newcomer uses it: the banner says where Redis is, and
its commands work in another terminal."""

from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.command import tierline
from support.paths import REPO
from support.redis_server import free_port

pytestmark = pytest.mark.integration

START_SECONDS = 60.0
EXPORT = re.compile(r"^\s*export TIERLINE_REDIS_URL=(redis://127\.0\.0\.1:(\d+)/0)$")


@pytest.fixture
def local_run() -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """run.sh with a small demo population, on free ports; stopped (SIGTERM) afterwards."""
    env = {
        **{name: value for name, value in os.environ.items() if name != "TIERLINE_REDIS_URL"},
        "BIN": str(Path(sys.executable).parent),
        "TIERLINE_DEMO_CUSTOMERS": "100",
        "TIERLINE_LISTEN": f"127.0.0.1:{free_port()}",
        "TIERLINE_METRICS_PORT": str(free_port()),
    }
    process = subprocess.Popen(
        ["bash", "deploy/local/run.sh"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    yield process, lines
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=START_SECONDS)
    lines.extend(out.splitlines())


def banner_lines(process: subprocess.Popen[str], lines: list[str]) -> Iterator[str]:
    """The script's output, line by line as it comes, for at most START_SECONDS."""
    assert process.stdout is not None
    deadline = time.monotonic() + START_SECONDS
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline and selector.select(deadline - time.monotonic()):
            line = process.stdout.readline()
            if not line:
                return
            lines.append(line.rstrip("\n"))
            yield lines[-1]


def test_the_banner_names_redis_and_its_commands_work_elsewhere(
    local_run: tuple[subprocess.Popen[str], list[str]],
) -> None:
    process, lines = local_run
    url = port = None
    for line in banner_lines(process, lines):
        if match := EXPORT.match(line):
            url, port = match.group(1), int(match.group(2))
            break
    assert url is not None, "\n".join(lines)
    assert any(line.strip() == url for line in lines)  # the URL on its own line, above

    # Another terminal: the export line, then the banner's first command.
    result = tierline("features", "get", "c000042", env={"TIERLINE_REDIS_URL": url})

    assert result.returncode == 0, result.stderr
    assert "c000042 (tierline:customer:c000042)" in result.stdout
    assert "tier" in result.stdout
    with socket.socket() as probe:  # the Redis of the run is still there, until Ctrl-C
        assert probe.connect_ex(("127.0.0.1", port)) == 0
