"""Run `tierline serve` as a real process on free loopback ports, for integration tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from support.paths import REPO
from support.redis_server import free_port

START_TIMEOUT_SECONDS = 60.0
READY_EVENT = "serving"
"""What the supervisor logs once every worker is SERVING."""


class TierlineProcess:
    """`tierline serve` in a subprocess; start() waits until health says SERVING.

    Without ``auth_file`` the server runs without authentication (--insecure-no-auth), as most
    tests need nothing else; with one, callers must present the credentials it names.
    ``credentials``: how to reach a server with TLS (for its health), and ``server_name`` the
    name its certificate gives, when not the address.
    """

    def __init__(
        self,
        redis_url: str,
        policy: Path | str = REPO / "rules",
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        *,
        auth_file: Path | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        server_name: str | None = None,
        http: bool = False,
    ) -> None:
        self.port = free_port()
        # With ``http``, the HTTP listener too (Connect, gRPC-Web, /healthz) at ``http_url``.
        self.http_port = free_port() if http else None
        scheme = "https" if credentials else "http"
        self.http_url = f"{scheme}://127.0.0.1:{self.http_port}" if http else ""
        self.metrics_port = free_port()
        self.target = f"127.0.0.1:{self.port}"
        self.args = [
            sys.executable, "-m", "tierline_server.cli", "serve",
            "--listen", self.target,
            "--metrics-listen", f"127.0.0.1:{self.metrics_port}",
            "--workers", "1",
            # The default budget (5 ms) is right for production but would degrade decisions at
            # random on a busy CI machine; an outage still shows at once, since a stopped or
            # killed Redis refuses connections.
            "--redis-timeout", "1",
            "--policy", str(policy),
            "--redis-url", redis_url,
            *(["--auth-file", str(auth_file)] if auth_file else ["--insecure-no-auth"]),
            "--log-format", "json",  # what events() reads
            *(["--http-listen", f"127.0.0.1:{self.http_port}"] if http else []),
            *extra_args,
        ]  # fmt: skip
        self.credentials = credentials
        self._channel_options = (
            [("grpc.ssl_target_name_override", server_name)] if server_name else []
        )
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[str] | None = None
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread()

    def start(self) -> TierlineProcess:
        """Start the server and wait until it reports SERVING."""
        self.process = subprocess.Popen(
            self.args,
            env=self.env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: the supervisor and its workers
        )
        # Read the output as it comes: a full pipe would stop the server mid-log.
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._reader.join()
                raise RuntimeError(f"tierline serve exited:\n{self.output}")
            # Every worker started (the supervisor says so), and answering.
            started = any(e["event"] == READY_EVENT for e in self.events(process="supervisor"))
            if started and self.health() == health_pb2.HealthCheckResponse.SERVING:
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"tierline serve did not become SERVING:\n{self.output}")

    def _read(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._lock:
                self._lines.append(line)

    @property
    def output(self) -> str:
        """Everything the server printed so far."""
        with self._lock:
            return "".join(self._lines)

    def read_output(self) -> str:
        """Everything the server printed so far (while it runs)."""
        return self.output

    def channel(self) -> grpc.Channel:
        """A new channel to the server (TLS when it has ``credentials``)."""
        if self.credentials is None:
            return grpc.insecure_channel(self.target)
        return grpc.secure_channel(self.target, self.credentials, self._channel_options)

    def events(self, event: str | None = None, **fields: Any) -> list[dict[str, Any]]:
        """The log events printed so far (every line is one JSON object), or those named
        ``event`` whose fields include ``fields``."""
        with self._lock:
            lines = list(self._lines)
        parsed = []
        for line in lines:
            try:
                parsed.append(json.loads(line))
            except json.JSONDecodeError:
                raise AssertionError(f"a log line that is not JSON: {line!r}") from None
        return [
            e
            for e in parsed
            if (event is None or e["event"] == event) and fields.items() <= e.items()
        ]

    def health(self, service: str = "") -> int | None:
        """The health status of ``service`` ('' = overall), or None when unreachable."""
        with self.channel() as channel:
            try:
                response = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=service), timeout=0.5
                )
            except grpc.RpcError:
                return None
        status: int = response.status
        return status

    @property
    def pid(self) -> int:
        """The server's process id (the supervisor's, when it runs workers)."""
        assert self.process is not None, "the server has not been started"
        return self.process.pid

    def signal(self, signum: int = signal.SIGTERM) -> None:
        """Send a signal to the server process."""
        assert self.process is not None
        self.process.send_signal(signum)

    def freeze(self) -> None:
        """Stop every process of the server (SIGSTOP): connections stay open, nothing answers."""
        os.killpg(self.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """Resume every process of the server."""
        os.killpg(self.pid, signal.SIGCONT)

    def wait(self, timeout: float = 30.0) -> int:
        """Wait for exit; returns the exit code (the output is in ``output``)."""
        assert self.process is not None
        self.process.wait(timeout=timeout)
        self._reader.join(timeout=timeout)
        return self.process.returncode

    def stop(self) -> int:
        """SIGTERM and wait."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.signal(signal.SIGTERM)
        return self.wait()
