"""A worker: one serving process started by the supervisor, with its own engine and event loop.

A worker serves one policy (and evaluates one shadow policy, when there is one) for its whole
life (durable-rules cannot drop a ruleset, so a reload is a new worker, never a new ruleset in an
old one). It talks to the supervisor over a pipe:

    worker -> supervisor    ("ready",)              serving
                            ("failed", message)     could not start
                            ("reload",)             a ReloadPolicy call asks for a reload
                            ("retiring",)           no longer listening (after "retire")
    supervisor -> worker    ("reloaded", result)    the answer to that call
                            ("retire",)             a newer worker serves: give way
                            ("shutdown",)           the server is stopping: drain

A worker whose supervisor disappears shuts down.
"""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, values

from tierline_server import logs
from tierline_server.config import ServerConfig, SettingError
from tierline_server.metrics import Metrics
from tierline_server.policy.compiled import Policy
from tierline_server.policy.compiler import load_policy
from tierline_server.policy.decider import Decider
from tierline_server.policy.errors import EngineUnavailable, PolicyInvalid
from tierline_server.ports import PortInUse
from tierline_server.reloads import ReloadResult
from tierline_server.server import TierlineServer

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker is to be."""

    identity: str
    """Names the worker in logs and in metrics files (reused across restarts, so that the
    number of metrics files stays bounded however many workers come and go)."""
    checksums: tuple[str, str]
    """The policy and shadow policy the supervisor checked (see ``checksums``): the worker
    refuses to serve any other."""


def load_shadow(config: ServerConfig) -> Policy | None:
    """The shadow policy, compiled (None without one): PolicyInvalid when it has errors."""
    return load_policy(config.shadow.policy) if config.shadow.policy else None


def checksums(policy: Policy, shadow: Policy | None) -> tuple[str, str]:
    """What a generation of workers serves: the checksums of the policy and of the shadow
    policy ('' without one)."""
    return policy.checksum, shadow.checksum if shadow is not None else ""


def run(config: ServerConfig, spec: WorkerSpec, pipe: Connection) -> None:
    """The worker process's entry point."""
    # The supervisor decides what SIGINT (Ctrl-C reaches the whole process group) and SIGHUP
    # mean; SIGTERM sent to a worker alone shuts it down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    logs.configure(config.log_format, config.log_level, spec.identity)
    # Metrics go to files in the supervisor's directory, named by the worker's identity.
    values.ValueClass = values.MultiProcessValue(lambda: spec.identity)  # type: ignore[no-untyped-call]
    try:
        asyncio.run(_serve(config, spec, pipe))
    except Exception:
        # One event with the traceback, rather than multiprocessing's loose lines on stderr;
        # the supervisor sees the exit and restarts the worker.
        log.exception("worker failed")
        raise SystemExit(1) from None


async def _serve(config: ServerConfig, spec: WorkerSpec, pipe: Connection) -> None:
    try:
        policy = load_policy(config.policy_path)
        decider = Decider(policy)
        candidate = load_shadow(config)
        shadow = Decider(candidate) if candidate is not None else None
    except (PolicyInvalid, EngineUnavailable) as error:
        pipe.send(("failed", str(error)))
        return
    if checksums(policy, candidate) != spec.checksums:
        pipe.send(("failed", "the policy files changed while the worker started"))
        return
    link = _SupervisorLink(pipe)
    try:
        server = TierlineServer(
            config,
            Metrics(CollectorRegistry()),
            decider,
            reload=link.reload,
            share_port=True,
            shadow=shadow,
        )
    except (SettingError, PortInUse) as error:
        pipe.send(("failed", str(error)))
        return
    try:
        await server.start()
    except RuntimeError as error:  # gRPC could not bind the port
        pipe.send(("failed", f"cannot listen on {config.listen}: {error}"))
        return
    pipe.send(("ready",))
    log.info("worker serving", policy=policy.name, policy_version=policy.version)
    ending = await link.ending()
    if ending == "retire":
        await server.retire(stopped_listening=lambda: pipe.send(("retiring",)))
    else:
        await server.stop()
    log.info("worker stopped", how=ending)


class _SupervisorLink:
    """The worker's end of the pipe, read on the event loop."""

    def __init__(self, pipe: Connection) -> None:
        self._pipe = pipe
        loop = asyncio.get_running_loop()
        self._end: asyncio.Future[str] = loop.create_future()
        self._answers: asyncio.Queue[ReloadResult] = asyncio.Queue()
        self._reloading = asyncio.Lock()
        loop.add_reader(pipe.fileno(), self._read)
        loop.add_signal_handler(signal.SIGTERM, self._finish, "shutdown")

    async def reload(self) -> ReloadResult:
        """Ask the supervisor for a reload; its result."""
        async with self._reloading:  # one question at a time: answers come back in order
            self._pipe.send(("reload",))
            return await self._answers.get()

    async def ending(self) -> str:
        """Wait until the worker must end: "retire" or "shutdown"."""
        return await self._end

    def _read(self) -> None:
        try:
            message: tuple[Any, ...] = self._pipe.recv()
        except (EOFError, OSError):  # the supervisor is gone
            asyncio.get_running_loop().remove_reader(self._pipe.fileno())
            self._finish("shutdown")
            return
        if message[0] == "reloaded":
            self._answers.put_nowait(message[1])
        else:
            self._finish(message[0])

    def _finish(self, how: str) -> None:
        if not self._end.done():
            self._end.set_result(how)
