"""The fail-safe against real failures: a hung socket, a frozen server, a stopped server."""

from __future__ import annotations

import asyncio
import logging
import time

import grpc
import pytest
from client_support import DEADLINE_MARGIN_SECONDS
from support.tierline_process import TierlineProcess
from support.waiting import wait_for
from tierline import (
    DEFAULT_TIMEOUT_SECONDS,
    AsyncEntitlementClient,
    Baseline,
    Decision,
    DecisionRequest,
    EntitlementClient,
    InvalidRequest,
    Keepalive,
    ServiceUnavailable,
)

pytestmark = pytest.mark.integration


def timed(call):  # type: ignore[no-untyped-def]
    """``call()``'s result and how long it took, in seconds."""
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def assert_policy_fallback(decision: Decision, version: str) -> None:
    """A fallback built from the baseline the service published."""
    assert decision.is_fallback
    assert decision.degraded
    assert decision.degraded_reason == "client_fallback"
    assert decision.policy_version == version
    assert decision.service_level.name == "standard"
    assert decision.routing.queue == "general"
    assert decision.tier == "unknown"
    assert decision.matched_rules == ()


def assert_configured_fallback(decision: Decision, baseline: Baseline) -> None:
    """A fallback built from the client's configured baseline."""
    assert decision.is_fallback
    assert decision.policy_version == ""
    assert decision.service_level == baseline.service_level
    assert decision.routing == baseline.routing


# --- deadline exceeded -----------------------------------------------------------------------


def test_hung_service_falls_back_within_the_default_deadline(
    silent_target: str, baseline: Baseline
) -> None:
    with EntitlementClient(silent_target, baseline=baseline) as client:
        for _ in range(3):
            decision, elapsed = timed(lambda: client.decide("gold-1", "phone", intent="cancel"))
            assert elapsed < DEFAULT_TIMEOUT_SECONDS + DEADLINE_MARGIN_SECONDS
            assert_configured_fallback(decision, baseline)
            assert decision.customer_id == "gold-1"
        assert client.fallback_count == 3


def test_deadline_is_overridable_per_call(silent_target: str, baseline: Baseline) -> None:
    with EntitlementClient(silent_target, baseline=baseline) as client:
        decision, elapsed = timed(lambda: client.decide("gold-1", "phone", timeout=0.3))
        assert decision.is_fallback
        assert 0.25 <= elapsed < 0.3 + DEADLINE_MARGIN_SECONDS


def test_async_hung_service_falls_back_within_the_deadline(
    silent_target: str, baseline: Baseline
) -> None:
    async def scenario() -> None:
        async with AsyncEntitlementClient(silent_target, baseline=baseline) as client:
            started = time.monotonic()
            decisions = await asyncio.gather(*(client.decide(f"c{n}", "chat") for n in range(10)))
            elapsed = time.monotonic() - started
            assert elapsed < DEFAULT_TIMEOUT_SECONDS + DEADLINE_MARGIN_SECONDS
            for decision in decisions:
                assert_configured_fallback(decision, baseline)
            assert client.fallback_count == 10

    asyncio.run(scenario())


def test_frozen_server_falls_back_to_its_published_baseline(tierline: TierlineProcess) -> None:
    with EntitlementClient(tierline.target) as client:
        version = client.policy().version
        assert not client.decide("gold-1", "phone").degraded
        tierline.freeze()  # connection open, nothing answered
        try:
            decision, elapsed = timed(lambda: client.decide("gold-1", "phone"))
            assert elapsed < DEFAULT_TIMEOUT_SECONDS + DEADLINE_MARGIN_SECONDS
            assert_policy_fallback(decision, version)
            results = client.decide_batch(
                [{"customer_id": "gold-1", "channel": "web"}], timeout=0.1
            )
            assert_policy_fallback(results[0].unwrap(), version)
        finally:
            tierline.thaw()
        after = wait_for(
            lambda: nonfallback(client.decide("gold-1", "phone")), seconds=10, what="recovery"
        )
        assert after.tier == "gold"
        assert client.fallback_count >= 2


def nonfallback(decision: Decision) -> Decision | None:
    return None if decision.is_fallback else decision


# --- service stopped, and back ------------------------------------------------------------------


def test_stopped_service_falls_back_and_recovers(
    tierline: TierlineProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tierline.client")
    with EntitlementClient(tierline.target) as client:
        version = client.policy().version
        assert client.decide("platinum-1", "phone").service_level.name == "concierge"
        tierline.stop()
        decision, elapsed = timed(lambda: client.decide("platinum-1", "phone"))
        assert elapsed < DEFAULT_TIMEOUT_SECONDS + DEADLINE_MARGIN_SECONDS
        assert_policy_fallback(decision, version)
        assert client.fallback_count == 1

        tierline.start()
        back = wait_for(
            lambda: nonfallback(client.decide("platinum-1", "phone")), seconds=10, what="back"
        )
        assert back.service_level.name == "concierge"
        assert not back.degraded
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert any(level == "WARNING" and "client_fallback" in text for level, text in messages)
    assert any(level == "INFO" and "answers again" in text for level, text in messages)


def test_async_stopped_service_falls_back_and_recovers(tierline: TierlineProcess) -> None:
    async def scenario() -> None:
        async with AsyncEntitlementClient(tierline.target) as client:
            version = (await client.policy()).version
            assert not (await client.decide("gold-1", "chat")).degraded
            tierline.stop()
            started = time.monotonic()
            decision = await client.decide("gold-1", "chat")
            assert time.monotonic() - started < DEFAULT_TIMEOUT_SECONDS + DEADLINE_MARGIN_SECONDS
            assert_policy_fallback(decision, version)
            [result] = await client.decide_batch([DecisionRequest("gold-1", "web")])
            assert_policy_fallback(result.unwrap(), version)
            assert client.fallback_count == 2

            tierline.start()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                decision = await client.decide("gold-1", "chat")
                if not decision.is_fallback:
                    assert decision.tier == "gold"
                    return
                await asyncio.sleep(0.05)
            pytest.fail("no decision from the service after it came back")

    asyncio.run(scenario())


# --- never reached -------------------------------------------------------------------------------


def test_never_reached_without_a_baseline_raises_service_unavailable(refused_target: str) -> None:
    with EntitlementClient(refused_target) as client:
        with pytest.raises(ServiceUnavailable, match="no baseline") as raised:
            client.decide("gold-1", "phone")
        assert raised.value.code == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(ServiceUnavailable):
            client.decide_batch([DecisionRequest("gold-1", "phone")])
        with pytest.raises(ServiceUnavailable):
            client.policy()
        assert client.fallback_count == 0


def test_never_answered_without_a_baseline_raises_within_the_deadline(silent_target: str) -> None:
    with EntitlementClient(silent_target) as client:
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable) as raised:
            client.decide("gold-1", "phone")
        assert time.monotonic() - started < DEFAULT_TIMEOUT_SECONDS + DEADLINE_MARGIN_SECONDS
        assert raised.value.code == grpc.StatusCode.DEADLINE_EXCEEDED


def test_async_never_reached_without_a_baseline_raises(refused_target: str) -> None:
    async def scenario() -> None:
        async with AsyncEntitlementClient(refused_target) as client:
            with pytest.raises(ServiceUnavailable):
                await client.decide("gold-1", "phone")
            with pytest.raises(ServiceUnavailable):
                await client.policy()

    asyncio.run(scenario())


def test_never_reached_with_a_configured_baseline_falls_back(
    refused_target: str, baseline: Baseline
) -> None:
    with EntitlementClient(refused_target, baseline=baseline) as client:
        decision, elapsed = timed(lambda: client.decide("gold-1", "phone"))
        assert elapsed < DEFAULT_TIMEOUT_SECONDS + DEADLINE_MARGIN_SECONDS
        assert_configured_fallback(decision, baseline)
        results = client.decide_batch(
            [DecisionRequest("a", "web"), {"customer_id": "b", "channel": "fax"}]
        )
        assert_configured_fallback(results[0].unwrap(), baseline)
        assert isinstance(results[1].error, InvalidRequest)  # still the caller's mistake
        assert client.fallback_count == 2
        assert client.cached_policy is None


def test_async_never_reached_with_a_configured_baseline_falls_back(
    refused_target: str, baseline: Baseline
) -> None:
    async def scenario() -> None:
        async with AsyncEntitlementClient(refused_target, baseline=baseline) as client:
            assert_configured_fallback(await client.decide("gold-1", "phone"), baseline)
            [result] = await client.decide_batch([DecisionRequest("a", "web")])
            assert_configured_fallback(result.unwrap(), baseline)
            assert client.fallback_count == 2

    asyncio.run(scenario())


def test_configured_baseline_gives_way_to_the_published_one(
    tierline: TierlineProcess, baseline: Baseline
) -> None:
    with EntitlementClient(tierline.target, baseline=baseline) as client:
        version = client.policy().version
        tierline.stop()
        assert_policy_fallback(client.decide("gold-1", "phone"), version)


def test_invalid_request_is_raised_even_with_a_baseline(
    tierline: TierlineProcess, baseline: Baseline
) -> None:
    with EntitlementClient(tierline.target, baseline=baseline, timeout=2.0) as client:
        with pytest.raises(InvalidRequest):
            client.decide("", "phone")
        assert client.fallback_count == 0


def test_idle_client_with_keepalive_still_decides_in_time(tierline: TierlineProcess) -> None:
    # Pings far more often than the service allows: it answers with GOAWAY too_many_pings
    # (see clients/README.md). The next call reconnects within the default deadline.
    with EntitlementClient(
        tierline.target, keepalive=Keepalive(time=0.3, timeout=1.0), connections=1
    ) as client:
        states: list[grpc.ChannelConnectivity] = []
        client._channels[0].subscribe(states.append)
        client.policy()
        # Idle, pinging, until the service closes the connection (GOAWAY too_many_pings) and
        # the channel has connected again on its own.
        ready = grpc.ChannelConnectivity.READY
        wait_for(
            lambda: states.count(ready) >= 2 and states[-1] is ready,
            what="the channel reconnecting after the service closed the over-pinging connection",
        )
        decisions = [client.decide("gold-1", "phone") for _ in range(3)]
        assert not any(decision.is_fallback for decision in decisions)
        assert client.fallback_count == 0
