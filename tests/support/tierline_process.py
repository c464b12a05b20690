"""Run `tierline serve` as a real process on free loopback ports, for integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from support.paths import REPO
from support.redis_server import free_port

START_TIMEOUT_SECONDS = 30.0


class TierlineProcess:
    """`tierline serve` in a subprocess; start() waits until health says SERVING."""

    def __init__(
        self,
        redis_url: str,
        policy: Path | str = REPO / "rules",
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.metrics_port = free_port()
        self.target = f"127.0.0.1:{self.port}"
        self.args = [
            sys.executable, "-m", "tierline_server.cli", "serve",
            "--listen", self.target,
            "--metrics-port", str(self.metrics_port),
            "--policy", str(policy),
            "--redis-url", redis_url,
            *extra_args,
        ]  # fmt: skip
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[str] | None = None
        self.output = ""

    def start(self) -> TierlineProcess:
        """Start the server and wait until it reports SERVING."""
        self.process = subprocess.Popen(
            self.args,
            env=self.env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tierline serve exited:\n{self.process.stdout.read()}")  # type: ignore[union-attr]
            if self.health() == health_pb2.HealthCheckResponse.SERVING:
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"tierline serve did not become SERVING:\n{self.output}")

    def health(self, service: str = "") -> int | None:
        """The health status of ``service`` ('' = overall), or None when unreachable."""
        with grpc.insecure_channel(self.target) as channel:
            try:
                response = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=service), timeout=0.5
                )
            except grpc.RpcError:
                return None
        status: int = response.status
        return status

    def signal(self, signum: int = signal.SIGTERM) -> None:
        """Send a signal to the server process."""
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self, timeout: float = 30.0) -> int:
        """Wait for exit; returns the exit code and keeps the output in ``output``."""
        assert self.process is not None
        out, _ = self.process.communicate(timeout=timeout)
        self.output += out or ""
        return self.process.returncode

    def stop(self) -> int:
        """SIGTERM and wait."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.signal(signal.SIGTERM)
        return self.wait()
