"""Start, health transitions, and graceful shutdown: SIGTERM drains in-flight requests (they all
complete), health says NOT_SERVING while draining, and the process exits 0."""

from __future__ import annotations

import queue
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from service_support import TIMEOUT, ServerFactory, load_customers
from support.requests import request
from support.tierline_process import TierlineProcess
from support.waiting import wait_for
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc

pytestmark = pytest.mark.integration

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
IN_FLIGHT = 32


@contextmanager
def watching_health(target: str) -> Iterator[queue.Queue[int]]:
    """Statuses of the overall health entry as a Watch stream delivers them."""
    statuses: queue.Queue[int] = queue.Queue()
    channel = grpc.insecure_channel(target)
    call = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""))

    def read() -> None:
        try:
            for response in call:
                statuses.put(response.status)
        except grpc.RpcError:
            pass  # cancelled by us, or the server went away

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    try:
        yield statuses
    finally:
        call.cancel()
        thread.join(timeout=TIMEOUT)
        channel.close()


def next_status(statuses: queue.Queue[int]) -> int:
    return statuses.get(timeout=TIMEOUT)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_health_goes_not_serving_on_a_signal_and_the_process_exits_0(
    start_server: ServerFactory, redis_url: str, signum: int
) -> None:
    server = start_server(redis_url)
    assert server.health("") == SERVING
    assert server.health("tierline.v1.EntitlementService") == SERVING
    # Redis is reported by a background probe, at once but not necessarily before SERVING
    wait_for(lambda: server.health("tierline.features") == SERVING, what="Redis reachable")

    with watching_health(server.target) as statuses:
        assert next_status(statuses) == SERVING
        server.signal(signum)
        assert next_status(statuses) == NOT_SERVING

    assert server.wait() == 0
    assert server.health("") is None  # gone
    assert server.events("draining", process="supervisor")
    assert server.events("worker stopped", how="shutdown")
    assert server.events("stopped", process="supervisor")


@pytest.mark.parametrize("outage", ["stop", "pause"], ids=["redis-down", "redis-hung"])
def test_sigterm_during_a_redis_outage_still_exits_0(
    start_server: ServerFactory, redis_server: Any, outage: str
) -> None:
    server = start_server(redis_server.url, extra_args=["--grace", "5"])
    getattr(redis_server, outage)()
    wait_for(lambda: server.health("tierline.features") == NOT_SERVING, what="the outage seen")

    server.signal(signal.SIGTERM)

    assert server.wait() == 0
    assert server.events("stopped", process="supervisor")


def test_sigterm_lets_every_request_in_flight_complete(
    start_server: ServerFactory, redis_server: Any
) -> None:
    load_customers(redis_server.url)
    server = start_server(
        redis_server.url,
        # every lookup goes to Redis and may wait for it longer than the test needs; the grace
        # period outlasts that wait
        extra_args=["--near-cache", "false", "--redis-timeout", "8", "--grace", "20"],
    )
    with (
        grpc.insecure_channel(server.target) as channel,
        watching_health(server.target) as statuses,
    ):
        stub = entitlement_pb2_grpc.EntitlementServiceStub(channel)
        assert stub.Decide(request("gold-1"), timeout=TIMEOUT).decision.tier == "gold"
        assert next_status(statuses) == SERVING
        redis_server.pause()  # lookups now wait: the requests below stay in flight
        try:
            calls = [
                stub.Decide.future(request("gold-1", intent="cancel"), timeout=30)
                for _ in range(IN_FLIGHT)
            ]
            calls.append(
                stub.DecideBatch.future(
                    pb.DecideBatchRequest(items=[request("platinum-1"), request("bad id")]),
                    timeout=30,
                )
            )
            # give them time to reach the server; none can finish while Redis is frozen
            threading.Event().wait(1.0)
            assert not any(call.done() for call in calls)

            server.signal(signal.SIGTERM)
            assert next_status(statuses) == NOT_SERVING
            refused = refuse_new_calls(server)
        finally:
            redis_server.resume()

        responses = [call.result() for call in calls]  # raises if any failed

    decisions = [response.decision for response in responses[:-1]]
    assert all(decision.customer_id == "gold-1" for decision in decisions)
    assert all(decision.baseline_applied for decision in decisions)
    batch = responses[-1].results
    assert [result.status.code for result in batch] == [0, 3]
    assert server.wait() == 0
    assert refused == grpc.StatusCode.UNAVAILABLE


def test_sigterm_under_load_cancels_nothing(start_server: ServerFactory, redis_url: str) -> None:
    """Callers keep calling while the server drains: each call is answered, or refused with
    UNAVAILABLE (which clients retry elsewhere or fall back on); none is CANCELLED."""
    load_customers(redis_url)
    server = start_server(redis_url)
    codes: list[grpc.StatusCode] = []
    stop = threading.Event()

    def caller() -> None:
        with grpc.insecure_channel(server.target) as channel:
            stub = entitlement_pb2_grpc.EntitlementServiceStub(channel)
            while not stop.is_set():
                try:
                    stub.Decide(request("gold-1"), timeout=TIMEOUT)
                    codes.append(grpc.StatusCode.OK)
                except grpc.RpcError as error:
                    codes.append(error.code())
                    if error.code() == grpc.StatusCode.UNAVAILABLE:
                        return

    callers = [threading.Thread(target=caller) for _ in range(8)]
    for thread in callers:
        thread.start()
    wait_for(lambda: len(codes) > 200, what="calls under way")
    server.signal(signal.SIGTERM)
    assert server.wait() == 0
    stop.set()
    for thread in callers:
        thread.join()

    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}, set(codes)


def refuse_new_calls(server: TierlineProcess) -> grpc.StatusCode | None:
    """The status of a new call made while the server drains (None if it was served)."""
    with grpc.insecure_channel(server.target) as channel:
        stub = entitlement_pb2_grpc.EntitlementServiceStub(channel)
        try:
            stub.Decide(request("gold-1"), timeout=TIMEOUT)
        except grpc.RpcError as error:
            return error.code()
    return None


def test_a_bad_policy_keeps_the_server_from_starting_with_a_clear_message(
    redis_url: str, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("policy: broken\nversion: '1'\nservice_levels: [standard]\nrules: oops\n")
    server = TierlineProcess(redis_url, policy=policy)

    with pytest.raises(RuntimeError, match="exited") as caught:
        server.start()

    output = str(caught.value)
    assert f"{policy}:1: rules: must be a list" in output
    assert "Traceback" not in output  # an operator's mistake, not a crash
    assert server.process is not None
    assert server.process.wait(timeout=TIMEOUT) != 0


def test_the_first_decision_after_serving_is_reported_succeeds(
    start_server: ServerFactory, redis_url: str
) -> None:
    load_customers(redis_url)
    server = start_server(redis_url)  # returns as soon as health says SERVING

    with grpc.insecure_channel(server.target) as channel:
        stub = entitlement_pb2_grpc.EntitlementServiceStub(channel)
        decision = stub.Decide(request("gold-1"), timeout=TIMEOUT).decision

    assert decision.tier == "gold"


def test_calls_over_the_concurrency_limit_are_resource_exhausted(
    start_server: ServerFactory, redis_server: Any
) -> None:
    load_customers(redis_server.url)
    server = start_server(
        redis_server.url,
        extra_args=["--max-in-flight", "2", "--near-cache", "false", "--redis-timeout", "8"],
    )
    with grpc.insecure_channel(server.target) as channel:
        stub = entitlement_pb2_grpc.EntitlementServiceStub(channel)
        redis_server.pause()
        try:
            held = [stub.Decide.future(request("gold-1"), timeout=30) for _ in range(2)]
            threading.Event().wait(1.0)  # time to reach the server; they wait for Redis
            assert not any(call.done() for call in held)
            with pytest.raises(grpc.RpcError) as caught:
                stub.Decide(request("gold-1"), timeout=TIMEOUT)
        finally:
            redis_server.resume()
        assert all(call.result().decision.tier == "gold" for call in held)

    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
