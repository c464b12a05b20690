"""The log of a real `tierline serve --log-format json` (a supervisor and two workers) through a
day in its life: start, decisions, shed load, a watched policy change, a worker killed, a Redis
outage and its end, shutdown. Every line is one JSON event, and each of those moments is one."""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from service_support import TIMEOUT, set_version, stub_on
from support.customers import write_features
from support.metrics import metric, scrape
from support.paths import REPO
from support.redis_server import RedisServer
from support.requests import request
from support.tierline_process import TierlineProcess
from support.waiting import wait_for
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc

pytestmark = pytest.mark.integration

Stub = entitlement_pb2_grpc.EntitlementServiceStub

REDIS_PASSWORD = "redis-password-never-logged"
CUSTOMER_KEY = "customer-key-never-logged-0123456789"
CUSTOMER = "log-probe-customer"
LTV = 123456.78
"""A feature value that nothing else in the log could contain."""
SHED_CALLS = 50
SHED_SUMMARY_SECONDS = 20.0
"""The guard's summary period (10 s) and a loaded machine's margin."""
NEW_VERSION = "2026.12.7"
OUTAGE_DECISIONS = 10
"""More than the breaker's 5 consecutive failures: the circuit opens during one of them."""


@dataclass
class Day:
    """The server, once stopped, and what its callers saw."""

    server: TierlineProcess
    exit_status: int
    shed_calls: float
    """As the metrics counted them."""
    outage_decision_ids: list[str]


def shed_burst(stub: Stub) -> None:
    """DecideBatch calls of two items against --max-in-flight 1: each is shed at once."""
    two = pb.DecideBatchRequest(items=[request(CUSTOMER), request(CUSTOMER)])
    for _ in range(SHED_CALLS):
        with pytest.raises(grpc.RpcError) as shed:
            stub.DecideBatch(two, timeout=TIMEOUT)
        assert shed.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def current_worker(server: TierlineProcess, slot: int) -> dict[str, Any]:
    """The latest "worker started" event of a slot."""
    return server.events("worker started", slot=slot)[-1]


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Day]:
    rules = Path(shutil.copytree(REPO / "rules", tmp_path_factory.mktemp("policy") / "rules"))
    redis = RedisServer(
        tmp_path_factory.mktemp("redis"), extra_args=["--requirepass", REDIS_PASSWORD]
    ).start()
    write_features(redis.url, {CUSTOMER: {"tier": "gold", "ltv": LTV, "tenure_days": 400}})
    server = TierlineProcess(
        redis.url,
        policy=rules,
        extra_args=["--workers", "2", "--watch", "--max-in-flight", "1"],
        env={"TIERLINE_DECISION_LOG_CUSTOMER_KEY": CUSTOMER_KEY},
    )
    try:
        server.start()
        with stub_on(server.target, Stub) as stub:  # one connection: one worker
            assert stub.Decide(request(CUSTOMER), timeout=TIMEOUT).decision.tier == "gold"
            shed_burst(stub)
            # The rest of the burst is summed up at the end of the period, by the same worker.
            wait_for(
                lambda: server.events("shedding load", calls=SHED_CALLS - 1),
                seconds=SHED_SUMMARY_SECONDS,
                what="the summary of the shed calls",
            )

        set_version(rules, NEW_VERSION)
        wait_for(lambda: server.events("policy reloaded"), what="the watched change reloaded")

        victim = current_worker(server, slot=0)
        os.kill(victim["worker_pid"], signal.SIGKILL)
        wait_for(
            lambda: (
                current_worker(server, slot=0)["worker_pid"] != victim["worker_pid"]
                and server.events(
                    "worker serving", pid=current_worker(server, slot=0)["worker_pid"]
                )
            ),
            what="the killed worker replaced",
        )

        redis.stop()
        with stub_on(server.target, Stub) as stub:
            outage_ids = [
                stub.Decide(request(f"unseen-{n}"), timeout=TIMEOUT).decision.decision_id
                for n in range(OUTAGE_DECISIONS)
            ]
            unreachable = wait_for(
                lambda: server.events("redis unreachable"), what="the probe sees the outage"
            )
            redis.start()
            wait_for(
                lambda: any(
                    event["timestamp"] > unreachable[0]["timestamp"]
                    for event in server.events("redis reachable")
                ),
                what="the probe sees the end of the outage",
            )
            wait_for(
                lambda: (
                    stub.Decide(request(CUSTOMER), timeout=TIMEOUT).decision.degraded is False
                    and server.events("redis circuit closed")
                ),
                what="Redis back for decisions",
            )
        shed = metric(scrape(server.metrics_port), "tierline_rpcs_total", code="RESOURCE_EXHAUSTED")
        server.signal(signal.SIGTERM)
        status = server.wait()
        yield Day(server, status, shed, outage_ids)
    finally:
        server.stop()
        redis.kill()


def test_every_line_is_one_json_event_with_a_level_and_a_time(day: Day) -> None:
    lines = day.server.output.splitlines()
    events = [json.loads(line) for line in lines]  # every line parses

    assert day.exit_status == 0
    assert len(events) > 20
    for event in events:
        assert {"timestamp", "level", "event", "logger", "process", "pid"} <= event.keys()
        assert event["level"] in {"debug", "info", "warning", "error", "critical"}
    processes = {event["process"] for event in events}
    assert "supervisor" in processes
    assert processes - {"supervisor"} <= {"w0a", "w0b", "w1a", "w1b"}
    assert len(processes) >= 3  # the supervisor and workers


def test_the_configuration_is_one_event_with_its_secrets_masked(day: Day) -> None:
    (starting,) = day.server.events("starting")
    config = starting["config"]

    assert config["redis"]["url"].startswith("redis://:***@127.0.0.1:")
    assert config["decision_log"]["customer_key"] == "***"
    assert config["workers"] == 2
    assert config["log_format"] == "json"
    assert REDIS_PASSWORD not in day.server.output
    assert CUSTOMER_KEY not in day.server.output


def test_shed_load_is_summed_up_not_logged_call_by_call(day: Day) -> None:
    shed = day.server.events("shedding load")

    assert day.shed_calls == SHED_CALLS
    assert [event["calls"] for event in shed] == [1, SHED_CALLS - 1]
    assert shed[0]["process"] == shed[1]["process"] != "supervisor"
    assert shed[0]["latest_method"] == "DecideBatch"
    assert "decisions in flight" in shed[0]["latest_reason"]


def test_a_watched_reload_is_an_event(day: Day) -> None:
    (asked,) = day.server.events("policy reload asked")
    (reloaded,) = day.server.events("policy reloaded")

    assert asked["by"] == "watch"
    assert reloaded["previous_version"] == "2026.11.1"
    assert reloaded["policy_version"] == NEW_VERSION
    retired = day.server.events("worker stopped", how="retire")
    assert len(retired) == 2


def test_a_worker_restart_is_an_event(day: Day) -> None:
    (exited,) = day.server.events("worker exited unexpectedly")
    restarted = [
        event
        for event in day.server.events("worker started", slot=0)
        if event["timestamp"] > exited["timestamp"]
    ]

    assert exited["exit_status"] == -signal.SIGKILL
    assert exited["restart_in_seconds"] > 0
    assert len(restarted) == 1
    assert restarted[0]["worker_pid"] != exited["worker_pid"]
    assert day.server.events("worker serving", pid=restarted[0]["worker_pid"])


def test_redis_state_changes_are_events_and_name_the_decision_that_saw_them(day: Day) -> None:
    (opened,) = day.server.events("redis circuit opened")

    assert opened["decision_id"] in day.outage_decision_ids
    assert opened["error_kind"] == "connection"
    assert day.server.events("redis unreachable")
    assert day.server.events("redis circuit closed")
    reachable = day.server.events("redis reachable")
    assert reachable[-1]["timestamp"] > day.server.events("redis unreachable")[0]["timestamp"]


def test_no_customer_and_no_feature_is_logged(day: Day) -> None:
    for event in day.server.events():
        text = json.dumps(event)
        assert CUSTOMER not in text
        assert str(LTV) not in text
