"""Real redis-server processes on free loopback ports: one server, or a 3-node cluster.

``RedisServer(...)`` stops, kills, pauses and restarts (outages), and speaks TLS only when given
``tls`` files; ``RedisClusterNodes`` forms a cluster with redis-cli.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

REDIS_SERVER = "redis-server"
REDIS_CLI = "redis-cli"
START_TIMEOUT_SECONDS = 10.0
CLUSTER_NODES = 3
CLUSTER_BUS_OFFSET = 10_000
"""Redis Cluster nodes also listen on port + 10000 (the cluster bus)."""


def free_port(*, with_cluster_bus: bool = False) -> int:
    """A loopback port that is free now (and port + 10000 too, for a cluster node)."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if not with_cluster_bus:
            return port
        if port + CLUSTER_BUS_OFFSET < 65536 and _is_free(port + CLUSTER_BUS_OFFSET):
            return port
    raise RuntimeError("no free port for a cluster node")


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class RedisTls:
    """The files of a Redis that speaks TLS only and requires client certificates."""

    cert: Path
    key: Path
    ca: Path
    """Signs the server's certificate, and the clients' certificates it accepts."""
    client_cert: Path
    client_key: Path
    """A client certificate for the tests' own client."""


class RedisServer:
    """A redis-server process on 127.0.0.1, without persistence, in its own directory.

    ``stop()`` and ``kill()`` end it, ``start()`` starts it again on the same port (an outage and
    a recovery); ``pause()`` freezes it with SIGSTOP so that calls time out, ``resume()`` thaws it.
    With ``tls``, the port speaks TLS only and clients must present a certificate.
    """

    def __init__(
        self,
        directory: Path,
        extra_args: Sequence[str] = (),
        port: int = 0,
        tls: RedisTls | None = None,
    ) -> None:
        if shutil.which(REDIS_SERVER) is None:
            pytest.fail(f"{REDIS_SERVER} is not on PATH: install it (apt-get install redis-server)")
        self.directory = directory
        self.port = port or free_port(with_cluster_bus="--cluster-enabled" in extra_args)
        self.extra_args = tuple(extra_args)
        self.tls = tls
        self.password: str | None = None
        if "--requirepass" in self.extra_args:
            self.password = self.extra_args[self.extra_args.index("--requirepass") + 1]
        self._process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        """redis:// (rediss:// with TLS) URL of database 0 (with the password, if the server
        has one)."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis{'s' if self.tls else ''}://{auth}127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._process.pid if self._process else None

    def start(self) -> RedisServer:
        """Start the server and wait until it answers PING."""
        log = self.directory / "redis.log"
        if self.tls is None:
            ports = ["--port", str(self.port)]
        else:
            ports = [
                "--port", "0", "--tls-port", str(self.port),
                "--tls-cert-file", str(self.tls.cert), "--tls-key-file", str(self.tls.key),
                "--tls-ca-cert-file", str(self.tls.ca), "--tls-auth-clients", "yes",
            ]  # fmt: skip
        command = [
            REDIS_SERVER,
            *ports,
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "no",
            "--logfile", str(log),
            *self.extra_args,
        ]  # fmt: skip
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                error = self._process.stderr.read().decode() if self._process.stderr else ""
                self.kill()
                tail = log.read_text()[-2000:] if log.exists() else ""
                raise RuntimeError(f"redis-server did not start on {self.port}: {error}{tail}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Shut the server down (SIGTERM) and wait for it."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """Kill the server (SIGKILL), as a crash would."""
        self._end(signal.SIGKILL)

    def pause(self) -> None:
        """Freeze the server: connections stay open, nothing is answered."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Thaw a paused server."""
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def client(self) -> redis.Redis:
        """A plain client of this server (for set-up and checks), as its default user."""
        tls: dict[str, Any] = {}
        if self.tls is not None:
            tls = {
                "ssl": True,
                "ssl_ca_certs": str(self.tls.ca),
                "ssl_certfile": str(self.tls.client_cert),
                "ssl_keyfile": str(self.tls.client_key),
            }
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, **tls)

    def _answers(self) -> bool:
        try:
            with self.client() as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def _end(self, how: signal.Signals) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGTERM
            process.send_signal(how)
        process.wait(timeout=START_TIMEOUT_SECONDS)
        if process.stderr:
            process.stderr.close()


class RedisClusterNodes:
    """Three master nodes on loopback forming one Redis Cluster (no replicas)."""

    def __init__(self, directory: Path) -> None:
        self.nodes = [
            RedisServer(
                directory / f"node{index}",
                ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"],
            )
            for index in range(CLUSTER_NODES)
        ]

    @property
    def url(self) -> str:
        """redis+cluster:// URL of a seed node."""
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}/0"

    def start(self) -> RedisClusterNodes:
        """Start the nodes, join them, and wait until every slot is served."""
        for node in self.nodes:
            node.start()
        subprocess.run(
            [
                REDIS_CLI, "--cluster", "create",
                *(f"127.0.0.1:{node.port}" for node in self.nodes),
                "--cluster-replicas", "0", "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=START_TIMEOUT_SECONDS * 3,
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_SECONDS * 3
        while not all(self._state_ok(node) for node in self.nodes):
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")
            time.sleep(0.1)
        return self

    def flush(self) -> None:
        """Empty every node."""
        for node in self.nodes:
            with node.client() as client:
                client.flushall()

    def stop(self) -> None:
        """Shut every node down."""
        for node in self.nodes:
            node.stop()

    @staticmethod
    def _state_ok(node: RedisServer) -> bool:
        with node.client() as client:
            info = client.execute_command("CLUSTER", "INFO")
        text = info.decode() if isinstance(info, bytes) else str(info)
        return "cluster_state:ok" in text
