"""The decision log behind the gRPC service: what callers get is what the log holds, sampled per
method, and an outage of Redis costs callers nothing but degraded answers."""

from __future__ import annotations

import grpc
import pytest
from log_support import CUSTOMERS, stored
from support.customers import write_features
from support.inprocess import InProcessServer, inprocess_server
from support.redis_server import RedisServer
from support.requests import request
from support.waiting import wait_for
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc
from tierline_server.config import DecisionLogSettings, NearCacheSettings, RedisSettings
from tierline_server.decisionlog.record import DecisionRecord
from tierline_server.features.lookup import FeatureSource
from tierline_server.policy.domain import Context

pytestmark = pytest.mark.integration

TIMEOUT = 10.0
NO_CACHE = NearCacheSettings(enabled=False)


def written(server: InProcessServer) -> float:
    return server.sample("tierline_decision_log_written_total")


def logged(url: str, count: int) -> list[DecisionRecord]:
    """The stream's records once it holds ``count``."""
    return wait_for(lambda: (found := stored(url)) and len(found) >= count and found)


def test_every_decision_a_caller_gets_is_logged_as_made(redis_url: str) -> None:
    write_features(redis_url, CUSTOMERS)
    with (
        inprocess_server(redis_url) as server,
        grpc.insecure_channel(server.target) as channel,
    ):
        stub = entitlement_pb2_grpc.EntitlementServiceStub(channel)
        one = stub.Decide(
            request("gold-1", pb.CHANNEL_PHONE, intent="cancel"), timeout=TIMEOUT
        ).decision
        batch = stub.DecideBatch(
            pb.DecideBatchRequest(
                items=[
                    request("nobody", pb.CHANNEL_WEB, order_value_minor=6000, currency="EUR"),
                    request("bad id"),  # invalid: no decision, nothing logged
                    request("growth-1", attributes={"campaign": "spring-2026"}),
                ]
            ),
            timeout=TIMEOUT,
        )
        records = logged(redis_url, 3)
        wait_for(lambda: written(server) == 3)  # counted once Redis has answered the writer

    answers = [one, batch.results[0].decision, batch.results[2].decision]
    assert [r.decision_id for r in records] == [a.decision_id for a in answers]
    assert [r.method for r in records] == ["Decide", "DecideBatch", "DecideBatch"]
    gold, nobody, growth = records
    assert gold.outcome.customer_id == "gold-1"
    assert gold.context == Context(channel="phone", intent="cancel")
    assert gold.outcome.features == {**CUSTOMERS["gold-1"]}
    assert gold.outcome.feature_source is FeatureSource.REDIS
    assert gold.decision.matched_rules == tuple(one.matched_rules)
    assert gold.decision.service_level.name == one.service_level.name == "premium"
    assert [p.code for p in gold.decision.perks] == [p.code for p in one.perks]
    assert gold.outcome.total_micros == one.metrics.total_micros
    assert nobody.outcome.feature_source is FeatureSource.MISSING
    assert nobody.context.order_value == 6000
    assert nobody.context.currency == "EUR"
    assert growth.context.attributes == {"campaign": "spring-2026"}


def test_each_method_is_sampled_on_its_own(redis_url: str) -> None:
    log = DecisionLogSettings(sample_decide=1.0, sample_batch=0.0)
    with (
        inprocess_server(redis_url, decision_log=log) as server,
        grpc.insecure_channel(server.target) as channel,
    ):
        stub = entitlement_pb2_grpc.EntitlementServiceStub(channel)
        stub.DecideBatch(pb.DecideBatchRequest(items=[request("a"), request("b")]), timeout=TIMEOUT)
        answer = stub.Decide(request("c"), timeout=TIMEOUT).decision
        [only] = logged(redis_url, 1)
        wait_for(lambda: written(server) == 1)

    assert only.decision_id == answer.decision_id


def test_with_the_log_off_nothing_is_written(redis_url: str) -> None:
    with (
        inprocess_server(redis_url, decision_log=DecisionLogSettings(enabled=False)) as server,
        grpc.insecure_channel(server.target) as channel,
    ):
        entitlement_pb2_grpc.EntitlementServiceStub(channel).Decide(request(), timeout=TIMEOUT)
        assert server.server.decision_log is None

    assert stored(redis_url) == []


def test_redis_stopped_mid_run_callers_are_answered_and_losses_counted(
    redis_server: RedisServer,
) -> None:
    write_features(redis_server.url, CUSTOMERS)
    log = DecisionLogSettings(queue_size=5, retry_seconds=0.5)
    redis = RedisSettings(url=redis_server.url, timeout_seconds=0.5, breaker_cooldown_seconds=0.2)
    with (
        inprocess_server(
            redis_server.url, decision_log=log, redis=redis, near_cache=NO_CACHE
        ) as server,
        grpc.insecure_channel(server.target) as channel,
    ):
        stub = entitlement_pb2_grpc.EntitlementServiceStub(channel)
        stub.Decide(request("gold-1"), timeout=TIMEOUT)
        wait_for(lambda: written(server) == 1)
        redis_server.stop()
        answers = [stub.Decide(request("gold-1"), timeout=TIMEOUT) for _ in range(8)]
        assert all(answer.decision.degraded for answer in answers)
        dropped = "tierline_decision_log_dropped_total"
        assert server.sample(dropped, reason="queue_full") == 3
        wait_for(lambda: server.sample(dropped, reason="redis") == 5)
        redis_server.start()
        after = stub.Decide(request("gold-1"), timeout=TIMEOUT).decision
        [record] = logged(redis_server.url, 1)

    assert record.decision_id == after.decision_id
