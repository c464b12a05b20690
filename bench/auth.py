"""What authentication and TLS cost a call.

(a) The authentication step alone (tierline_server.api.auth.Authenticator.authenticate), per
    call: a token among 3 and among 100 callers (one SHA-256, then a constant-time comparison
    with every hash), a client certificate's subject, and authentication off.
(b) End to end: one `tierline serve` worker over a real Redis, loaded by h2load with Decide calls
    (16 in flight on one connection, near-cache warm), three ways: no authentication, a token in
    plaintext metadata, and TLS with a token. h2load reuses its connection, so (b) shows the
    per-call cost, not the handshake's.

It prints figures and always exits 0: it is not a test. Other processes on the machine share its
CPUs: read the figures as rough.

    python bench/auth.py              # about a minute
    python bench/auth.py --seconds 5  # quicker
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the test support: certificates, callers files, Redis

from environment import environment_table, machine_facts, tool_version  # noqa: E402
from h2load import require_h2load  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from servers import load_customers, scrape, start_redis, start_tierline  # noqa: E402
from support.requests import request  # noqa: E402
from support.security import TOKENS, Pki, server_tls_args, write_callers  # noqa: E402
from tierline_server.api.auth import Authenticator, CallersFile, Credentials  # noqa: E402
from tierline_server.metrics import Metrics  # noqa: E402
from wire import grpc_frame  # noqa: E402

PEER = "ipv4:10.0.0.1:40000"
CALLS = 200_000
SUBJECT = "CN=checkout,OU=Tests,O=Shop"
POPULATION = 1_000
_FINISHED = re.compile(r"finished in [\d.]+\w+, (?P<rate>[\d.]+) req/s")
_LATENCY = re.compile(r"time for request:\s+(?P<min>\S+)\s+(?P<max>\S+)\s+(?P<mean>\S+)")


def step_costs(directory: Path) -> list[tuple[str, float]]:
    """Nanoseconds of CPU per authenticate() call, by case."""
    many = {f"caller-{n}": ("decide",) for n in range(97)}
    small = write_callers(
        directory / "small.yaml", {"call-center": ("decide",), "checkout": ("decide",)},
        subjects={"checkout": SUBJECT},
    )  # fmt: skip
    large = write_callers(
        directory / "large.yaml",
        {"call-center": ("decide",), **many},
        tokens={"call-center": TOKENS["call-center"], **{n: f"token-of-{n}" for n in many}},
    )
    token = Credentials(f"Bearer {TOKENS['call-center']}", None, PEER)
    cases = [
        ("token, 3 callers", Authenticator(CallersFile(small), _metrics()), token),
        ("token, 100 callers", Authenticator(CallersFile(large), _metrics()), token),
        (
            "certificate subject",
            Authenticator(CallersFile(small), _metrics()),
            Credentials(None, SUBJECT, PEER),
        ),
        ("authentication off", Authenticator(None, _metrics()), Credentials(None, None, PEER)),
    ]
    costs = []
    for name, authenticator, credentials in cases:
        started = time.process_time_ns()
        for _ in range(CALLS):
            authenticator.authenticate("Decide", credentials)
        costs.append((name, (time.process_time_ns() - started) / CALLS))
    return costs


def _metrics() -> Metrics:
    return Metrics(CollectorRegistry())


def grpc_body(directory: Path) -> Path:
    """One Decide request, framed as gRPC sends it."""
    body = directory / "decide.bin"
    body.write_bytes(grpc_frame(request("c000007").SerializeToString()))
    return body


def h2load(url: str, body: Path, seconds: float, headers: Sequence[str]) -> tuple[float, str]:
    """(requests per second, mean time per request) of one h2load run."""
    command = [
        "h2load", "-c", "1", "-m", "16", "-D", f"{round(seconds * 1000)}ms", "-d", str(body),
        "-H", "content-type: application/grpc", "-H", "te: trailers",
        *(argument for header in headers for argument in ("-H", header)), url,
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=False).stdout
    finished, latency = _FINISHED.search(output), _LATENCY.search(output)
    if finished is None or latency is None:
        return 0.0, "h2load: " + (output.strip().splitlines() or ["no output"])[-1]
    return float(finished["rate"]), latency["mean"]


def not_ok(metrics_url: str) -> int:
    """Calls the server answered with another status than OK (a refused token would show)."""
    return round(
        sum(
            sample.value
            for family in text_string_to_metric_families(scrape(metrics_url))
            for sample in family.samples
            if sample.name == "tierline_rpcs_total" and sample.labels["code"] != "OK"
        )
    )


def end_to_end(directory: Path, seconds: float) -> list[tuple[str, float, str, int]]:
    """(case, requests per second, mean latency, calls not OK) of each way of calling."""
    redis = start_redis(directory / "redis")
    try:
        load_customers(redis.url, directory, POPULATION)
        pki = Pki(directory / "pki")
        callers = write_callers(directory / "callers.yaml")
        bearer = f"authorization: Bearer {TOKENS['call-center']}"
        body = grpc_body(directory)
        path = "/tierline.v1.EntitlementService/Decide"
        cases = [
            ("no authentication", [], "http", []),
            ("token, plaintext", ["--auth-file", str(callers)], "http", [bearer]),
            (
                "TLS and token",
                ["--auth-file", str(callers), *server_tls_args(pki.server())],
                "https",
                [bearer],
            ),
        ]
        results = []
        for name, args, scheme, headers in cases:
            server = start_tierline(name, redis.url, extra_args=args)
            try:
                port = server.target.rpartition(":")[2]
                url = f"{scheme}://localhost:{port}{path}"
                h2load(url, body, 2.0, headers)  # warm the near-cache and the connection path
                rate, mean = h2load(url, body, seconds, headers)
                results.append((name, rate, mean, not_ok(server.metrics_urls[0])))
            finally:
                server.stop()
        return results
    finally:
        redis.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="each h2load run [15]")
    args = parser.parse_args(argv)
    console = Console()
    facts = machine_facts(["grpcio", "tierline"])
    facts["h2load"] = tool_version(["h2load", "--version"])
    console.print(environment_table(facts))
    with tempfile.TemporaryDirectory(prefix="tierline-bench-auth-") as temporary:
        directory = Path(temporary)
        steps = Table(title=f"(a) the authentication step, CPU per call ({CALLS:,} calls)")
        steps.add_column("case")
        steps.add_column("ns per call", justify="right")
        for name, nanoseconds in step_costs(directory):
            steps.add_row(name, f"{nanoseconds:,.0f}")
        console.print(steps)
        try:
            require_h2load()
        except RuntimeError as missing:
            console.print(f"(b) skipped: {missing}")
            return 0
        calls = Table(title="(b) Decide through one worker, 16 in flight on one connection")
        for column in ("case", "requests/s", "mean latency", "calls not OK"):
            calls.add_column(column, justify="left" if column == "case" else "right")
        for name, rate, mean, failed in end_to_end(directory, args.seconds):
            calls.add_row(name, f"{rate:,.0f}", mean, str(failed))
        console.print(calls)
    return 0


if __name__ == "__main__":
    sys.exit(main())
