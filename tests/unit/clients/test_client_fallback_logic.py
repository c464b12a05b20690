"""The fallback decision, the cached policy's refresh schedule, and the fallback counter."""

from __future__ import annotations

import logging

import grpc
import pytest
from support.clock import Clock
from support.failed_call import FailedCall
from tierline import (
    FALLBACK_REASON,
    Baseline,
    DecisionRequest,
    EntitlementClient,
    FeatureSource,
    InvalidRequest,
    Perk,
    PermissionDenied,
    PolicyInfo,
    Routing,
    ServiceLevel,
    ServiceUnavailable,
    Sla,
    Unauthenticated,
)
from tierline.core import deadline
from tierline.fallback import (
    POLICY_RETRY_SECONDS,
    FallbackRecorder,
    PolicyCache,
    fallback_decision,
)

BASELINE = Baseline(
    service_level=ServiceLevel("standard", 0, Sla(600, True, True, 3600)),
    routing=Routing("general", 10),
    perks=(Perk("welcome", granted_by="baseline"),),
)
CONFIGURED = Baseline(ServiceLevel("basic", 0, Sla(900)), Routing("overflow", 1))


def policy(version: str = "1", checksum: str = "abc") -> PolicyInfo:
    return PolicyInfo("default", version, checksum, ("unknown",), (), BASELINE, True)


def test_fallback_decision_is_the_baseline_marked_degraded() -> None:
    request = DecisionRequest("c42", "phone", intent="cancel")
    decision = fallback_decision(request, BASELINE, "2026.1", latency=0.05)
    assert decision.customer_id == "c42"
    assert decision.tier == "unknown"
    assert decision.policy_version == "2026.1"
    assert decision.service_level == BASELINE.service_level
    assert decision.routing.queue == "general"
    assert decision.has_perk("welcome")
    assert decision.matched_rules == ()
    assert decision.baseline_applied
    assert decision.degraded
    assert decision.degraded_reason == FALLBACK_REASON == "client_fallback"
    assert decision.is_fallback
    assert decision.metrics.feature_source is FeatureSource.UNAVAILABLE
    assert decision.explanation is None
    assert decision.latency == 0.05
    assert decision.decision_id == ""


def test_policy_is_fetched_at_first_use_then_on_schedule() -> None:
    clock = Clock()
    cache = PolicyCache(refresh_interval=60, clock=clock)
    assert cache.claim_fetch()
    assert not cache.claim_fetch()  # one fetch at a time
    cache.store(policy())
    assert not cache.claim_fetch()
    clock.now += 59
    assert not cache.claim_fetch()
    clock.now += 1
    assert cache.claim_fetch()


def test_failed_fetch_is_retried_after_a_pause_not_at_every_call() -> None:
    clock = Clock()
    cache = PolicyCache(refresh_interval=60, clock=clock)
    assert cache.claim_fetch()
    cache.fetch_failed("UNAVAILABLE")
    assert not cache.claim_fetch()
    clock.now += POLICY_RETRY_SECONDS
    assert cache.claim_fetch()


def test_decision_from_another_policy_version_brings_the_refresh_forward() -> None:
    clock = Clock()
    cache = PolicyCache(refresh_interval=60, clock=clock)
    assert cache.claim_fetch()
    cache.store(policy("1"))
    cache.note_version("1")
    cache.note_version("")
    clock.now += POLICY_RETRY_SECONDS
    assert not cache.claim_fetch()
    cache.note_version("2")
    assert cache.claim_fetch()


def test_version_changes_are_throttled_during_a_rollout() -> None:
    clock = Clock()
    cache = PolicyCache(refresh_interval=60, clock=clock)
    assert cache.claim_fetch()
    cache.store(policy("1"))
    cache.note_version("2")  # replicas on two versions: not a fetch per call
    assert not cache.claim_fetch()
    clock.now += POLICY_RETRY_SECONDS
    assert cache.claim_fetch()


def test_fetched_baseline_wins_over_the_configured_one() -> None:
    cache = PolicyCache(configured=CONFIGURED)
    assert cache.baseline() == (CONFIGURED, "")
    cache.store(policy("7"))
    assert cache.baseline() == (BASELINE, "7")
    assert PolicyCache().baseline() is None


def test_policy_refresh_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        PolicyCache(refresh_interval=0)


def test_policy_changes_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    cache = PolicyCache()
    with caplog.at_level(logging.INFO, logger="tierline.client"):
        cache.store(policy("1", "a"))
        cache.store(policy("1", "a"))
        cache.store(policy("2", "b"))
    assert [r.getMessage() for r in caplog.records] == [
        "Tierline policy default 1 fetched",
        "Tierline policy changed: 1 -> 2",
    ]


def test_recorder_counts_decisions_and_logs_only_the_switches(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = FallbackRecorder()
    with caplog.at_level(logging.INFO, logger="tierline.client"):
        recorder.answered()
        recorder.fell_back("UNAVAILABLE", "down", 1)
        recorder.fell_back("DEADLINE_EXCEEDED", "slow", 3)
        recorder.answered()
        recorder.answered()
    assert recorder.count == 4
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "Tierline did not answer (UNAVAILABLE: down): answering with the baseline"
         " (client_fallback)"),
        ("INFO", "Tierline answers again (4 fallback decisions so far)"),
    ]  # fmt: skip


def client_of(baseline: Baseline | None = None) -> EntitlementClient:
    """A client that never calls: its channel is opened lazily, at the first call."""
    return EntitlementClient("127.0.0.1:1", baseline=baseline, retry=None, keepalive=None)


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.CANCELLED,  # a server shutting down
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.UNIMPLEMENTED,  # a target that is not Tierline (logged)
    ],
)
def test_every_failure_but_the_callers_own_falls_back(code: grpc.StatusCode) -> None:
    client = client_of(CONFIGURED)
    requests = [DecisionRequest("a", "web"), DecisionRequest("b", "web")]
    decisions = client._fall_back(FailedCall(code), requests, started=0.0)
    assert [d.customer_id for d in decisions] == ["a", "b"]
    assert all(d.is_fallback and d.routing.queue == "overflow" for d in decisions)
    assert client.fallback_count == 2


def test_no_baseline_at_all_raises_service_unavailable() -> None:
    with pytest.raises(ServiceUnavailable, match="no baseline") as raised:
        client_of()._fall_back(
            FailedCall(grpc.StatusCode.UNAVAILABLE), [DecisionRequest("a", "web")], 0
        )
    assert raised.value.code == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, InvalidRequest),
        (grpc.StatusCode.UNAUTHENTICATED, Unauthenticated),
        (grpc.StatusCode.PERMISSION_DENIED, PermissionDenied),
    ],
)
def test_caller_mistakes_are_raised_never_answered_with_the_baseline(
    code: grpc.StatusCode, error: type[Exception]
) -> None:
    client = client_of(CONFIGURED)
    with pytest.raises(error) as raised:
        client._fall_back(FailedCall(code, "nope"), [DecisionRequest("a", "web")], 0)
    assert isinstance(raised.value.__cause__, grpc.RpcError)
    assert client.fallback_count == 0


@pytest.mark.parametrize("timeout", [0, -1.0])
def test_deadlines_must_be_positive(timeout: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        deadline(timeout, 1.0)
    assert deadline(None, 0.05) == 0.05
