"""Rolling reloads under load: many reloads while callers keep deciding.

One `tierline serve --workers N` over a private Redis with demo customers and a copy of the
default policy; threads keep deciding through channels with the Tierline client's options (its
retry policy above all). Each reload changes the policy's version, sends SIGHUP and waits until
the server's /metrics counts the reload and every worker serves the new version. It prints
failed calls, whether each caller saw the versions in order (old, then new: never back), and the
resident memory of the whole server (supervisor and workers) at the start and the end.
It is not a test: it prints figures and exits 0.

    python bench/reloads.py                       # 200 reloads, about 10 minutes
    python bench/reloads.py --reloads 20          # quicker
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

import grpc
import procfs
import servers
from prometheus_client.parser import text_string_to_metric_families
from tierline import connection
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc as pb_grpc

RELOAD_TIMEOUT_SECONDS = 120.0
CALL_TIMEOUT_SECONDS = 2.0


def set_version(rules: Path, version: str) -> None:
    """Give the policy copy a new version (a new checksum: a reload rolls the workers)."""
    policy = rules / "policy.yaml"
    text = policy.read_text()
    old = text.split('version: "', 1)[1].split('"', 1)[0]
    policy.write_text(text.replace(f'version: "{old}"', f'version: "{version}"'))


class Callers:
    """Threads deciding in a loop, each keeping the versions it was answered with."""

    def __init__(self, target: str, threads: int) -> None:
        self.failures: list[str] = []
        self.versions: list[list[str]] = [[] for _ in range(threads)]
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(target, seen)) for seen in self.versions
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    @property
    def calls(self) -> int:
        return sum(map(len, self.versions)) + len(self.failures)

    def _run(self, target: str, seen: list[str]) -> None:
        options = connection.channel_options(connection.RetryPolicy(), None)
        with grpc.insecure_channel(target, options=options) as channel:
            stub = pb_grpc.EntitlementServiceStub(channel)
            request = pb.DecideRequest(
                customer_id="c000042", context=pb.InteractionContext(channel=pb.CHANNEL_PHONE)
            )
            while not self._stop.is_set():
                try:
                    seen.append(
                        stub.Decide(request, timeout=CALL_TIMEOUT_SECONDS).decision.policy_version
                    )
                except grpc.RpcError as error:
                    self.failures.append(f"{error.code().name}: {error.details()}")


def reloads_counted(server: servers.Server) -> float:
    text = servers.scrape(server.metrics_urls[0])
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "tierline_policy_reloads_total" and sample.labels["result"] == "success"
    )


def total_rss_mib(server: servers.Server) -> float:
    return sum(procfs.rss_kib(pid) for pid in server.pids()) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reloads", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--callers", type=int, default=4, help="threads deciding in a loop")
    parser.add_argument("--customers", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        redis = servers.start_redis(folder / "redis")
        rules = Path(shutil.copytree(servers.POLICY, folder / "rules"))
        server = None
        try:
            servers.load_customers(redis.url, folder, args.customers)
            server = servers.start_tierline(
                "tierline", redis.url, processes=args.workers, extra_args=["--policy", str(rules)]
            )
            popen = server.popens[0]
            callers = Callers(server.target, args.callers)
            time.sleep(2)  # warm: connections, near-cache, engine answers
            start_rss, started = total_rss_mib(server), time.perf_counter()
            for number in range(1, args.reloads + 1):
                set_version(rules, f"reload-{number:04d}")
                popen.send_signal(signal.SIGHUP)
                deadline = time.monotonic() + RELOAD_TIMEOUT_SECONDS
                while reloads_counted(server) < number:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"reload {number} not done: {RELOAD_TIMEOUT_SECONDS} s")
                    time.sleep(0.05)
                if number % 20 == 0:
                    rss = total_rss_mib(server)
                    calls, failed = callers.calls, len(callers.failures)
                    print(f"{number} reloads, {rss:.1f} MiB, {calls:,} calls, {failed} failed")
            time.sleep(2)  # the last old workers drain and exit
            end_rss, seconds = total_rss_mib(server), time.perf_counter() - started
            callers.stop()
        finally:
            if server is not None:
                server.stop()
            redis.stop()
    order = {"2026.11.1": 0} | {f"reload-{n:04d}": n for n in range(1, args.reloads + 1)}
    backwards = sum(
        1 for seen in callers.versions for a, b in itertools.pairwise(seen) if order[b] < order[a]
    )
    print(f"{args.reloads} reloads in {seconds:.0f} s with {args.workers} workers and "
          f"{args.callers} callers: {callers.calls:,} calls, {len(callers.failures)} failed, "
          f"{backwards} answers older than one a caller had already seen")  # fmt: skip
    print(f"server RSS (supervisor + workers): {start_rss:.1f} MiB at the start, "
          f"{end_rss:.1f} MiB at the end ({end_rss - start_rss:+.1f} MiB)")  # fmt: skip
    for failure in callers.failures[:5]:
        print(f"  failed: {failure}")


if __name__ == "__main__":
    main()
