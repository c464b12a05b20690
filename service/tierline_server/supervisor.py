"""`tierline serve`: a supervisor and N worker processes sharing the gRPC port.

The supervisor serves nothing itself. It claims the port (so that a second server cannot share
it by accident), checks the policy, starts the workers and restarts any that dies, serves
/metrics for all of them (prometheus-client's multiprocess mode), and reloads the policy:

    SIGHUP, a policy file change (--watch) or a ReloadPolicy call
      -> compile the policy (and the shadow policy, if any) here, off the serving path; a bad
         one changes nothing
      -> unchanged checksums: nothing to do
      -> start a new worker per slot on the new policies, wait until each is SERVING
      -> retire the old ones (they stop listening at once and finish their calls)

so no request fails and memory does not grow with reloads (durable-rules never frees a ruleset,
but a retired worker's process does). SIGTERM / SIGINT drain every worker and exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import multiprocessing
import os
import shutil
import signal
import ssl
import tempfile
from collections.abc import Coroutine, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, cast

import structlog
from prometheus_client import (
    CollectorRegistry,
    ProcessCollector,
    multiprocess,
    start_http_server,
    values,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from tierline_server import tls, worker
from tierline_server.api import auth
from tierline_server.config import (
    ServerConfig,
    SettingError,
    check_http,
    check_security,
    metrics_endpoint,
)
from tierline_server.decisionlog.customers import customer_key
from tierline_server.features import redis_client
from tierline_server.metrics import Metrics
from tierline_server.policy.compiled import Policy
from tierline_server.policy.compiler import load_policy
from tierline_server.policy.errors import Location, PolicyError, PolicyInvalid
from tierline_server.policy.source import read_policy_source
from tierline_server.ports import PortClaim, PortInUse
from tierline_server.reloads import ReloadResult
from tierline_server.shadow import unread_features

log = structlog.get_logger(__name__)

SUPERVISOR = "supervisor"
"""The supervisor's name in the metrics files and in the log."""
START_TIMEOUT_SECONDS = 60.0
"""How long a worker may take to become SERVING (imports, the engine, the port)."""
WATCH_SECONDS = 1.0
"""How often --watch looks at the policy files (their checksum, not their times: a
Kubernetes ConfigMap changes by swapping a symbolic link)."""
RESTART_FIRST_SECONDS = 0.5
RESTART_MAX_SECONDS = 30.0
HEALTHY_SECONDS = 60.0
"""A worker up this long has its restart back-off reset."""
EXIT_MARGIN_SECONDS = 5.0
"""After the grace period, how long a draining worker has to exit before it is killed."""


@dataclass(eq=False)
class Worker:
    """One worker process as the supervisor sees it."""

    slot: int
    identity: str
    process: BaseProcess
    pipe: Connection
    started_at: float
    ready: asyncio.Future[str | None] = field(repr=False)
    """Resolves with None once SERVING, or with the reason it could not start."""
    exited: asyncio.Future[None] = field(repr=False)
    retiring: asyncio.Future[None] = field(repr=False)
    """Resolves once a retiring worker no longer listens (new calls go to the others)."""
    leaving: bool = False
    """Retiring or shutting down: its exit is expected."""


class Supervisor:
    """Runs the workers of one `tierline serve`."""

    def __init__(self, config: ServerConfig) -> None:
        """Raises PortInUse, and SettingError for settings or files that cannot be used."""
        check_security(config)
        check_http(config)
        auth.callers_for(config)  # each worker reads the file itself: this checks it first
        redis_client.tls_options(config.redis)
        # Checks the TLS files now (workers read them again); /metrics serves with them.
        self._certificates = tls.watch_for(config.tls)
        self._claim = PortClaim(config.listen)  # raises PortInUse
        self._http_claim = None
        http = config.http
        if http.listen:
            try:
                self._http_claim = PortClaim(http.listen, "--http-listen")
            except PortInUse:
                self._claim.close()
                raise
            http = dataclasses.replace(http, listen=self._http_claim.address)
        # Workers listen on the ports claimed (chosen ones, when the configuration says 0).
        self.config = dataclasses.replace(config, listen=self._claim.address, http=http)
        self._workers: dict[int, Worker] = {}
        self._leaving: set[Worker] = set()
        self._generation = {slot: 0 for slot in range(config.workers)}
        self._backoff = dict.fromkeys(range(config.workers), RESTART_FIRST_SECONDS)
        self._served = ("", "")
        """The checksums of the policy and the shadow policy being served (worker.checksums)."""
        self._version = ""
        self._reloading = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._metrics_dir = Path(tempfile.mkdtemp(prefix="tierline-metrics-"))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(self._metrics_dir)  # workers inherit it
        # The supervisor's own counters (reloads, restarts) go to the shared directory too.
        values.ValueClass = values.MultiProcessValue(lambda: SUPERVISOR)  # type: ignore[no-untyped-call]
        self.metrics = Metrics(CollectorRegistry())
        self._context = multiprocessing.get_context("spawn")
        self._http: Any = None
        self._tasks: set[asyncio.Future[Any]] = set()
        """Work started from callbacks (signals, pipes): kept until done."""

    @property
    def port(self) -> int:
        """The gRPC port every worker listens on."""
        return self._claim.port

    @property
    def http_port(self) -> int | None:
        """The HTTP port every worker listens on, if they do."""
        return None if self._http_claim is None else self._http_claim.port

    async def run(self) -> int:
        """Serve until SIGTERM / SIGINT; the exit status."""
        try:
            policy = load_policy(self.config.policy_path)
        except PolicyInvalid as invalid:
            return _not_serving(invalid, f"the policy at {self.config.policy_path}")
        try:
            shadow = worker.load_shadow(self.config)
        except PolicyInvalid as invalid:
            return _not_serving(
                invalid, f"the shadow policy at {self.config.shadow.policy} (--shadow-policy)"
            )
        self._http = self._serve_metrics()
        self._served, self._version = worker.checksums(policy, shadow), policy.version
        failed = await self._start_generation(self._served)
        if failed:
            log.error("not serving", reason=failed)
            await self._stop_workers(self._workers.values(), "shutdown")
            return 2
        log.info(
            "serving",
            address=self._claim.address,
            http=f"{'https' if self.config.tls.enabled else 'http'}://{self.config.http.listen}"
            if self._http_claim
            else None,
            workers=self.config.workers,
            policy=policy.name,
            policy_version=policy.version,
            metrics="{}://{}:{}/metrics".format(
                "https" if self.config.tls.metrics else "http", *metrics_endpoint(self.config) or ()
            )
            if self._http
            else None,
        )
        for event, fields in _exposures(self.config):
            log.warning(event, **fields)
        self._announce_shadow(policy, shadow)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self._hangup)
        watch = asyncio.create_task(self._watch()) if self.config.watch else None
        await self._stopping.wait()
        log.info("draining", grace_seconds=self.config.grace_seconds)
        if watch is not None:
            watch.cancel()
        await self._stop_workers([*self._workers.values(), *self._leaving], "shutdown")
        log.info("stopped")
        return 0

    def close(self) -> None:
        """Release the ports, the metrics endpoint and the metrics files."""
        self._claim.close()
        if self._http_claim is not None:
            self._http_claim.close()
        if self._http is not None:
            self._http.shutdown()
        shutil.rmtree(self._metrics_dir, ignore_errors=True)

    async def reload(self) -> ReloadResult:
        """Check the policy at the configured path and roll the workers onto it if it changed."""
        async with self._reloading:
            if self._stopping.is_set():
                return self._unchanged()
            try:
                policy = load_policy(self.config.policy_path)
            except PolicyInvalid as invalid:
                return self._rejected(invalid.errors, "the policy has errors")
            try:
                shadow = worker.load_shadow(self.config)
            except PolicyInvalid as invalid:
                return self._rejected(invalid.errors, "the shadow policy has errors")
            checksums = worker.checksums(policy, shadow)
            if checksums == self._served:
                log.info("policy unchanged", policy_version=policy.version)
                return self._unchanged()
            old = list(self._workers.values())
            failed = await self._start_generation(checksums)
            if failed:
                new = [w for w in self._workers.values() if w not in old]
                self._workers = {w.slot: w for w in old}
                await self._stop_workers(new, "shutdown")
                problem = PolicyError(Location(self.config.policy_path, 0), "policy", failed)
                return self._rejected([problem], "a worker could not start")
            log.info(
                "policy reloaded",
                policy=policy.name,
                policy_version=policy.version,
                checksum=policy.checksum,
                previous_version=self._version,
            )
            self._served = checksums
            self._version = policy.version
            self.metrics.policy_reloads.labels("success").inc()
            self._announce_shadow(policy, shadow)
            self._in_background(self._stop_workers(old, "retire"))
            # Answer once the old workers no longer take calls: from then on, every new call
            # (this caller's next one included) is decided by the new policy.
            await asyncio.wait(
                [w.retiring for w in old], timeout=self.config.grace_seconds + EXIT_MARGIN_SECONDS
            )
            return ReloadResult(True, policy.version, policy.checksum)

    def _announce_shadow(self, live: Policy, shadow: Policy | None) -> None:
        """Say which shadow policy the workers now evaluate, and what it cannot see."""
        if shadow is None:
            return
        log.info(
            "shadowing",
            shadow_policy=shadow.name,
            shadow_policy_version=shadow.version,
            share=self.config.shadow.share,
            policy_version=live.version,
        )
        unread = unread_features(live, shadow)
        if unread:
            log.warning(
                "shadow reads defaults",
                features=unread,
                reason="the policy does not declare them, so lookups do not read them",
            )

    def _unchanged(self) -> ReloadResult:
        return ReloadResult(False, self._version, self._served[0])

    def _rejected(self, errors: Iterable[PolicyError], why: str) -> ReloadResult:
        errors = tuple(errors)
        self.metrics.policy_reloads.labels("rejected").inc()
        log.warning(
            "policy reload rejected",
            reason=why,
            serving_version=self._version,
            errors=[str(error) for error in errors],
        )
        return ReloadResult(False, self._version, self._served[0], errors)

    async def _start_generation(self, checksums: tuple[str, str]) -> str | None:
        """Start a worker in every slot on the policy and shadow policy of ``checksums``; None
        once all are SERVING, else why one could not start (the others keep running: the caller
        decides)."""
        started = [self._start_worker(slot, checksums) for slot in range(self.config.workers)]
        for new in started:
            self._workers[new.slot] = new
        reasons = await asyncio.gather(*(self._wait_ready(new) for new in started))
        return next((reason for reason in reasons if reason), None)

    def _start_worker(self, slot: int, checksums: tuple[str, str]) -> Worker:
        # Two identities per slot, alternating: the old worker of a slot may still be draining
        # while the new one starts, and metrics files stay bounded at two per slot.
        self._generation[slot] += 1
        identity = f"w{slot}{'ab'[self._generation[slot] % 2]}"
        multiprocess.mark_process_dead(identity)  # type: ignore[no-untyped-call]
        ours, theirs = self._context.Pipe()
        spec = worker.WorkerSpec(identity, checksums)
        process = self._context.Process(
            target=worker.run, args=(self.config, spec, theirs), name=f"worker-{identity}"
        )
        process.start()
        theirs.close()
        if self.config.pin_workers and process.pid is not None:
            # Two pinned workers answer about 1.5 times as much as two the scheduler moves
            # around (bench/README.md): each keeps its caches and its core.
            cpus = sorted(os.sched_getaffinity(0))
            os.sched_setaffinity(process.pid, {cpus[slot % len(cpus)]})
        log.info("worker started", worker=identity, worker_pid=process.pid, slot=slot)
        loop = asyncio.get_running_loop()
        new = Worker(
            slot,
            identity,
            process,
            ours,
            loop.time(),
            ready=loop.create_future(),
            exited=loop.create_future(),
            retiring=loop.create_future(),
        )
        loop.add_reader(ours.fileno(), self._read, new)
        loop.add_reader(process.sentinel, self._exited, new)
        return new

    async def _wait_ready(self, new: Worker) -> str | None:
        try:
            return await asyncio.wait_for(asyncio.shield(new.ready), START_TIMEOUT_SECONDS)
        except asyncio.TimeoutError:
            return f"worker {new.identity} did not start within {START_TIMEOUT_SECONDS:.0f}s"

    def _read(self, source: Worker) -> None:
        try:
            message: tuple[Any, ...] = source.pipe.recv()
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(source.pipe.fileno())
            return
        kind = message[0]
        if kind == "ready":
            _resolve(source.ready, None)
        elif kind == "failed":
            _resolve(source.ready, f"worker {source.identity}: {message[1]}")
        elif kind == "retiring":
            _resolve(source.retiring, None)
        elif kind == "reload":
            log.info("policy reload asked", by="ReloadPolicy", worker=source.identity)
            self._in_background(self._answer_reload(source))

    def _hangup(self) -> None:
        log.info("policy reload asked", by="SIGHUP")
        self._in_background(self.reload())

    def _in_background(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer_reload(self, source: Worker) -> None:
        result = await self.reload()
        with contextlib.suppress(OSError):  # it may have exited meanwhile
            source.pipe.send(("reloaded", result))

    def _exited(self, gone: Worker) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(gone.process.sentinel)
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(gone.pipe.fileno())
        gone.process.join()
        multiprocess.mark_process_dead(gone.identity)  # type: ignore[no-untyped-call]
        _resolve(gone.ready, f"worker {gone.identity} exited (status {gone.process.exitcode})")
        _resolve(gone.exited, None)
        _resolve(gone.retiring, None)
        self._leaving.discard(gone)
        if gone.leaving or self._workers.get(gone.slot) is not gone or self._stopping.is_set():
            log.info(
                "worker exited",
                worker=gone.identity,
                worker_pid=gone.process.pid,
                exit_status=gone.process.exitcode,
            )
            return
        # An unexpected exit: restart the slot after a back-off that grows while it keeps dying.
        uptime = loop.time() - gone.started_at
        if uptime > HEALTHY_SECONDS:
            self._backoff[gone.slot] = RESTART_FIRST_SECONDS
        delay = self._backoff[gone.slot]
        self._backoff[gone.slot] = min(delay * 2, RESTART_MAX_SECONDS)
        self.metrics.worker_restarts.inc()
        log.warning(
            "worker exited unexpectedly",
            worker=gone.identity,
            worker_pid=gone.process.pid,
            exit_status=gone.process.exitcode,
            restart_in_seconds=delay,
        )
        loop.call_later(delay, self._restart, gone.slot)

    def _restart(self, slot: int) -> None:
        if self._stopping.is_set() or self._reloading.locked():
            return  # a reload starts every slot anew; a stopping server needs none
        self._workers[slot] = self._start_worker(slot, self._served)

    async def _stop_workers(self, workers: Iterable[Worker], how: str) -> None:
        """Tell workers to retire or shut down, and wait until they have exited."""
        workers = [w for w in workers if not w.exited.done()]
        for leaving in workers:
            leaving.leaving = True
            self._leaving.add(leaving)
            with contextlib.suppress(OSError):
                leaving.pipe.send((how,))
        if not workers:
            return
        limit = self.config.grace_seconds + EXIT_MARGIN_SECONDS
        _, late = await asyncio.wait([w.exited for w in workers], timeout=limit)
        for stuck in workers:
            if not stuck.exited.done():
                log.error(
                    "worker killed", worker=stuck.identity, reason=f"did not exit in {limit:.0f}s"
                )
                stuck.process.kill()
        if late:
            await asyncio.wait(late)

    async def _watch(self) -> None:
        paths = [Path(self.config.policy_path)]
        if self.config.shadow.policy:
            paths.append(Path(self.config.shadow.policy))
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            try:
                checksums = [read_policy_source(path).checksum for path in paths]
            except (PolicyError, OSError):
                continue  # mid-change, or gone for a moment: look again next time
            if tuple(checksums) != self._served[: len(paths)] and not self._reloading.locked():
                log.info("policy reload asked", by="watch")
                await self.reload()

    def _serve_metrics(self) -> Any:
        endpoint = metrics_endpoint(self.config)
        if endpoint is None:
            return None
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, str(self._metrics_dir))  # type: ignore[no-untyped-call]
        registry.register(_WorkerCollector(self))
        ProcessCollector(registry=registry)  # the supervisor's own: its start time is the server's
        host, port = endpoint
        secure: dict[str, Any] = {}
        if self.config.tls.metrics and self._certificates is not None:
            files = self._certificates.files
            secure = {
                "certfile": files.cert,
                "keyfile": files.key,
                "client_cafile": files.client_ca or None,
                "client_auth_required": bool(files.client_ca),
            }
        try:
            server, _ = start_http_server(port, addr=host, registry=registry, **secure)
        except OSError as error:
            raise PortInUse(
                f"--metrics-listen {host}:{port}: cannot bind ({error.strerror}): another "
                "server or program is using it; choose another port, or 0 for none"
            ) from None
        if secure and self._certificates is not None:
            listening = cast(ssl.SSLSocket, server.socket)  # start_http_server wrapped it
            tls.follow(listening.context, self._certificates)
        return server

    def live_workers(self) -> Iterator[Worker]:
        """Every worker process still running (current, starting or leaving)."""
        for candidate in [*self._workers.values(), *self._leaving]:
            if not candidate.exited.done():
                yield candidate


class _WorkerCollector:
    """Per-worker figures where a sum over workers would mislead: memory and CPU."""

    def __init__(self, supervisor: Supervisor) -> None:
        self._supervisor = supervisor

    def collect(self) -> Iterator[Metric]:
        rss = GaugeMetricFamily(
            "tierline_worker_resident_memory_bytes",
            "Resident memory of each worker process.",
            labels=["worker"],
        )
        cpu = CounterMetricFamily(
            "tierline_worker_cpu_seconds",
            "CPU time of each worker process (user and system).",
            labels=["worker"],
        )
        workers = GaugeMetricFamily("tierline_workers", "Worker processes running.")
        count = 0
        for each in self._supervisor.live_workers():
            pid = each.process.pid
            with contextlib.suppress(OSError):
                rss.add_metric([each.identity], _rss_bytes(pid))
                cpu.add_metric([each.identity], _cpu_seconds(pid))
                count += 1
        workers.add_metric([], count)
        yield from (rss, cpu, workers)


def _exposures(config: ServerConfig) -> list[tuple[str, dict[str, str]]]:
    """What the configuration leaves open, said at start: events and their fields."""
    if config.auth.insecure_no_auth:
        return [
            (
                "authentication off",
                {
                    "address": config.listen,
                    "detail": "--insecure-no-auth: whoever reaches the address may ask for "
                    "decisions and read customers' features in explanations; never expose it",
                },
            )
        ]
    if not config.tls.enabled:
        return [
            (
                "no tls",
                {
                    "address": config.listen,
                    "detail": "no --tls-cert: bearer tokens, requests and decisions cross the "
                    "network in clear text (right only behind a proxy or mesh that adds TLS)",
                },
            )
        ]
    return []


def _rss_bytes(pid: int | None) -> float:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _cpu_seconds(pid: int | None) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _not_serving(invalid: PolicyInvalid, policy: str) -> int:
    """Log every error of a policy that keeps the server from starting; the exit status."""
    log.error(
        "not serving",
        reason=f"{policy} has errors",
        errors=[str(error) for error in invalid.errors],
    )
    return 2


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def serve(config: ServerConfig) -> int:
    """Run `tierline serve` until SIGTERM / SIGINT; the exit status (2: it could not start,
    with one line saying why)."""
    try:
        if config.decision_log.enabled:
            customer_key(config.decision_log)  # a key that cannot be used: say so now
        supervisor = Supervisor(config)
    except (PortInUse, SettingError) as problem:
        log.error("not serving", reason=str(problem))
        return 2
    try:
        return asyncio.run(supervisor.run())
    except PortInUse as taken:
        log.error("not serving", reason=str(taken))
        return 2
    finally:
        supervisor.close()
