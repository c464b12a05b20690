"""A real Prometheus (Debian package ``prometheus``) on a free loopback port, for integration
tests: it scrapes given targets every second, evaluates given rule files, and answers PromQL."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.redis_server import free_port

PROMETHEUS = "prometheus"
START_TIMEOUT_SECONDS = 30.0
HTTP_TIMEOUT_SECONDS = 10.0
INTERVAL = "1s"
"""Scrape and rule evaluation interval: rates have samples a few seconds after traffic."""


class PrometheusServer:
    """``prometheus`` scraping ``targets`` as job ``job`` and loading ``rule_files``."""

    def __init__(
        self,
        directory: Path,
        job: str,
        targets: Sequence[str],
        rule_files: Sequence[Path] = (),
    ) -> None:
        binary = shutil.which(PROMETHEUS)
        if binary is None:
            pytest.fail(f"{PROMETHEUS} is not on PATH: install it (apt-get install prometheus)")
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        directory.mkdir(parents=True, exist_ok=True)
        self.config = directory / "prometheus.yml"
        self.config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": INTERVAL, "evaluation_interval": INTERVAL},
                    "rule_files": [str(path) for path in rule_files],
                    "scrape_configs": [
                        {"job_name": job, "static_configs": [{"targets": list(targets)}]}
                    ],
                }
            )
        )
        self._targets = len(targets)
        self._process: subprocess.Popen[bytes] | None = None
        self._log = directory / "prometheus.log"

    def start(self) -> PrometheusServer:
        """Start Prometheus and wait until it has scraped every target once: it hands new
        targets to the scrapers only every few seconds, and traffic before that is not seen."""
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={self.config}",
                    f"--storage.tsdb.path={self.directory / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not (self._ready() and len(self.query("up")) == self._targets):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"prometheus did not start scraping:\n{self._log.read_text()[-3000:]}"
                )
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        """Stop Prometheus and wait for it."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            process.wait(timeout=START_TIMEOUT_SECONDS)

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant vector ``promql`` evaluates to now; raises on an error of the query."""
        data = self.api("query", query=promql)
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/``path``; the ``data`` of a successful answer, else ``QueryError``."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_SECONDS) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:  # 400/422: a bad query, explained in the body
            body = json.load(error)
        if body.get("status") != "success":
            raise QueryError(f"{params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1.0) as response:
                return bool(response.status == 200)
        except OSError:
            return False


class QueryError(Exception):
    """Prometheus refused a query or could not evaluate it."""
