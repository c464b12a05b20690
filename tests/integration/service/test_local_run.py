"""`make run` (deploy/local/run.sh) as a newcomer uses it: the banner says where Redis is, and
its commands work in another terminal."""

from __future__ import annotations

import json
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
from support.http_calls import post
from support.paths import REPO
from support.redis_server import free_port
from support.waiting import wait_for

pytestmark = pytest.mark.integration

START_SECONDS = 60.0
HTTP_LISTEN = f"127.0.0.1:{free_port()}"
"""Where the run's HTTP listener is (the README's example says 127.0.0.1:8080, its default)."""
README = REPO / "README.md"
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
        "TIERLINE_HTTP_LISTEN": HTTP_LISTEN,
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


def test_the_readme_s_curl_example_decides_over_http(
    local_run: tuple[subprocess.Popen[str], list[str]],
) -> None:
    (body,) = re.findall(
        r"curl -s http://127\.0\.0\.1:8080/\S+ .*?-d '(.*?)'", README.read_text(), re.DOTALL
    )
    url = f"http://{HTTP_LISTEN}"

    def ready() -> bool:
        try:
            return post(url, "/readyz", b"", method="GET").status == 200
        except OSError:
            return False

    wait_for(ready, START_SECONDS, "the HTTP listener of make run")
    answer = post(url, "/tierline.v1.EntitlementService/Decide", body.encode())

    assert answer.status == 200, answer
    decision = json.loads(answer.body)["decision"]
    assert decision["customerId"] == "c000001"
    assert decision["baselineApplied"] is True
