"""The processes under load: a private Redis with demo customers, `tierline serve` deployments
and bare echo servers, each started on loopback, found by its process ids, and stopped.

A deployment may be several processes sharing one port (SO_REUSEPORT) or one supervisor whose
workers are its child processes: ``Server.pids()`` is every process of it, for CPU and memory.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import grpc
import mix
import procfs
from echo_server import READY as ECHO_READY
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tierline_server.config import DEFAULT_KEY_PREFIX

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the test support that starts a real redis-server

from support.redis_server import RedisServer, free_port  # noqa: E402

POLICY = REPO / "rules"
ECHO_SCRIPT = Path(__file__).resolve().parent / "echo_server.py"
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0
LISTENING = '"event": "serving"'
"""What `tierline serve --log-format json` logs once every worker serves."""
SERVING = health_pb2.HealthCheckResponse.SERVING


class Refused(RuntimeError):
    """A server would not start as asked (e.g. a flag it does not have); the reason is its
    last line of output."""


@dataclass
class Server:
    """A running deployment: its name, gRPC target, processes and output."""

    name: str
    target: str
    popens: list[subprocess.Popen[str]]
    http_target: str | None = None
    """host:port of its HTTP listener (Connect, gRPC-Web), if it has one."""
    metrics_urls: list[str] = field(default_factory=list)
    """Each process's /metrics (one per process started; a supervisor serves one for all)."""
    log: list[str] = field(default_factory=list)
    readers: list[threading.Thread] = field(default_factory=list)

    def pids(self) -> list[int]:
        """Every live process of the deployment: those started and all below them."""
        found: list[int] = []
        for popen in self.popens:
            if popen.poll() is None:
                found.extend(procfs.process_tree(popen.pid))
        return found

    def stop(self) -> None:
        """SIGTERM to every process started (a supervisor drains its workers), then wait."""
        for popen in self.popens:
            if popen.poll() is None:
                popen.terminate()
        for popen in self.popens:
            try:
                popen.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()
        for reader in self.readers:
            reader.join(timeout=5)


def start_redis(directory: Path) -> RedisServer:
    """A private redis-server on a free loopback port, without persistence, answering PING."""
    return RedisServer(directory).start()


def load_customers(redis_url: str, directory: Path, count: int) -> float:
    """Write ``count`` demo customers and load them with the CLI; the seconds it took."""
    started = time.perf_counter()
    csv_path = directory / "customers.csv"
    cli = [sys.executable, "-m", "tierline_server.cli", "features"]
    demo = [*cli, "demo", "--count", str(count), "--seed", "1", "--out", str(csv_path)]
    subprocess.run(demo, check=True, capture_output=True, cwd=REPO, timeout=300)
    load = [*cli, "load", str(csv_path), "--redis-url", redis_url, "--policy", str(POLICY)]
    subprocess.run(load, check=True, capture_output=True, cwd=REPO, timeout=300)
    return time.perf_counter() - started


@dataclass(frozen=True)
class Population:
    """The demo customers loaded into a Redis."""

    load_seconds: float
    by_tier: dict[str, list[str]]
    """Their ids by the tier Redis holds for them, and unknown ids (mix.customers_by_tier)."""


def load_population(redis_url: str, directory: Path, count: int) -> Population:
    """Load ``count`` demo customers and group them by tier, for the request mix."""
    load_seconds = load_customers(redis_url, directory, count)
    return Population(load_seconds, mix.customers_by_tier(redis_url, count, DEFAULT_KEY_PREFIX))


def _drain(stream: IO[str], into: list[str], ready: threading.Event, marker: str) -> None:
    """Keep reading a child's output (its pipe must never fill); set ``ready`` on ``marker``."""
    for line in stream:
        into.append(line.rstrip("\n"))
        if marker in line:
            ready.set()


def _spawn(command: Sequence[str], server: Server, marker: str) -> threading.Event:
    """Start one process of ``server``; the event is set when it prints ``marker``."""
    popen = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    ready = threading.Event()
    assert popen.stdout is not None
    reader = threading.Thread(target=_drain, args=(popen.stdout, server.log, ready, marker))
    reader.daemon = True
    reader.start()
    server.popens.append(popen)
    server.readers.append(reader)
    return ready


def _await(server: Server, until: threading.Event | None = None, count: int = 0) -> None:
    """Wait for ``until`` (or ``count`` ready lines, or health SERVING); Refused if a process
    exits first or time runs out."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if any(popen.poll() is not None for popen in server.popens):
            server.stop()
            last = next((line for line in reversed(server.log) if line.strip()), "no output")
            raise Refused(last.strip())
        if until is not None and until.wait(0.05):
            return
        if count and sum(line.startswith(ECHO_READY) for line in server.log) >= count:
            return
        if until is None and not count and _health(server.target) == SERVING:
            return
        time.sleep(0.02)
    server.stop()
    raise Refused(f"not serving after {START_TIMEOUT_SECONDS:.0f} s")


def _health(target: str) -> int | None:
    """The overall gRPC health status at ``target``, or None when it does not answer."""
    with grpc.insecure_channel(target) as channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=0.5
            )
        except grpc.RpcError:
            return None
    status: int = answer.status
    return status


def start_tierline(
    name: str,
    redis_url: str,
    *,
    processes: int = 1,
    http: bool = False,
    extra_args: Sequence[str] = (),
) -> Server:
    """`tierline serve --workers processes` (with ``http``, an HTTP listener too), once every
    worker is SERVING (the decision log off unless ``extra_args`` turn it on, no authentication
    unless they give --auth-file); Refused with the server's own message when it will not
    start."""
    port, metrics_port = free_port(), free_port()
    server = Server(
        name,
        f"127.0.0.1:{port}",
        [],
        http_target=f"127.0.0.1:{free_port()}" if http else None,
        metrics_urls=[f"http://127.0.0.1:{metrics_port}/metrics"],
    )
    command = [
        sys.executable, "-m", "tierline_server.cli", "serve",
        "--listen", server.target, "--metrics-listen", f"127.0.0.1:{metrics_port}",
        *(["--http-listen", server.http_target] if server.http_target else []),
        "--workers", str(processes), "--decision-log", "false",
        *([] if "--auth-file" in extra_args else ["--insecure-no-auth"]),
        "--policy", str(POLICY), "--redis-url", redis_url, "--log-format", "json", *extra_args,
    ]  # fmt: skip
    listening = _spawn(command, server, LISTENING)
    _await(server, listening)
    return server


@dataclass(frozen=True)
class EchoModel:
    """How a bare echo server runs: ``aio`` (asyncio or uvloop) or ``sync`` with a thread
    pool, on one or more processes, pinned to a CPU each or not."""

    mode: str
    loop: str = "asyncio"
    threads: int = 0
    processes: int = 1
    pinned: bool = False

    @property
    def name(self) -> str:
        """e.g. ``echo aio`` ``echo aio-uvloop x2 pinned`` ``echo sync/4 x2``."""
        return f"echo {self.label}"

    @property
    def label(self) -> str:
        """The model alone, e.g. ``aio-uvloop x2 pinned`` ``sync/4 x2``."""
        model = f"aio-{self.loop}" if self.mode == "aio" else f"sync/{self.threads}"
        count = f" x{self.processes}" if self.processes > 1 else ""
        return f"{model}{count}{' pinned' if self.pinned else ''}"

    @classmethod
    def parse(cls, text: str) -> EchoModel:
        """``aio``, ``uvloop``, ``sync4`` ..., then ``:N`` processes, then ``:pin``.

        ``aio:2:pin`` is two pinned grpc.aio processes; ``sync10`` one sync server of 10 threads.
        """
        kind, *rest = text.split(":")
        pinned = "pin" in rest
        counts = [part for part in rest if part != "pin"]
        if kind in ("aio", "uvloop"):
            model = cls("aio", "uvloop" if kind == "uvloop" else "asyncio")
        elif kind.startswith("sync") and kind[4:].isdigit() and int(kind[4:]) > 0:
            model = cls("sync", threads=int(kind[4:]))
        else:
            raise ValueError(f"{text!r}: an echo model is aio, uvloop or syncN, then :N, :pin")
        if len(counts) > 1 or (counts and not (counts[0].isdigit() and int(counts[0]) > 0)):
            raise ValueError(f"{text!r}: after the model, :N processes (N >= 1) and/or :pin")
        processes = int(counts[0]) if counts else 1
        return cls(model.mode, model.loop, model.threads, processes, pinned)


def start_echo(model: EchoModel, answer: Path) -> Server:
    """A bare echo server (bench/echo_server.py) as ``model`` says, once every process serves."""
    port = free_port()
    command = [
        sys.executable, str(ECHO_SCRIPT), "--port", str(port), "--answer", str(answer),
        "--mode", model.mode, "--loop", model.loop, "--threads", str(max(model.threads, 1)),
        "--processes", str(model.processes), *(["--pin"] if model.pinned else []),
    ]  # fmt: skip
    return start_script(model.name, f"127.0.0.1:{port}", command, model.processes)


def start_script(
    name: str,
    target: str,
    command: Sequence[str],
    processes: int,
    metrics_urls: Sequence[str] = (),
) -> Server:
    """A bench server script (echo_server.py, sync_model.py) listening on ``target``, once each
    of its ``processes`` serving processes has printed echo_server.READY."""
    server = Server(name, target, [], metrics_urls=list(metrics_urls))
    _spawn(command, server, ECHO_READY)
    _await(server, count=processes)
    return server


def scrape(url: str) -> str:
    """The text of a /metrics endpoint."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text: str = response.read().decode()
    return text
