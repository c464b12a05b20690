"""Every client method, sync and asyncio, against a real Tierline on real Redis."""

from __future__ import annotations

import asyncio

import pytest
from support.tierline_process import TierlineProcess
from support.waiting import wait_for
from tierline import (
    AsyncEntitlementClient,
    BatchResult,
    Channel,
    Decision,
    DecisionRequest,
    EntitlementClient,
    FeatureSource,
    InvalidRequest,
    PolicyInfo,
)

pytestmark = pytest.mark.integration

TIMEOUT = 2.0
"""Generous deadline for the behaviour tests: a loaded CI machine must not turn them into
fallbacks. The fallback tests use the real 50 ms default."""

BATCH = [
    DecisionRequest("platinum-1", "web", intent="purchase", order_value="120.00", currency="EUR"),
    {"customer_id": "basic-1", "channel": "web", "order_value": "10", "currency": "EUR"},
    {"customer_id": "not a customer!", "channel": "web"},
    {"customer_id": "basic-1", "channel": "fax"},
    {"customer_id": "basic-1", "channel": "web", "order_value_minor": 6000, "currency": "EUR"},
]


def check_gold_cancellation(decision: Decision) -> None:
    assert decision.customer_id == "gold-1"
    assert decision.tier == "gold"
    assert decision.service_level.name == "premium"
    assert decision.service_level.sla.max_wait_seconds == 120
    assert decision.routing.queue == "retention"
    assert decision.routing.priority == 80
    assert decision.has_perk("retention-discount")
    assert decision.perk("retention-discount").percent == 20  # type: ignore[union-attr]
    assert decision.has_perk("free-shipping")
    assert "retention-offer" in decision.matched_rules
    assert decision.baseline_applied
    assert not decision.degraded
    assert not decision.is_fallback
    assert decision.metrics.feature_source in {FeatureSource.REDIS, FeatureSource.NEAR_CACHE}
    assert decision.metrics.total_micros > 0
    assert len(decision.decision_id) == 26
    assert 0 < decision.latency < TIMEOUT


def check_batch(results: list[BatchResult]) -> None:
    assert [result.ok for result in results] == [True, True, False, False, True]
    platinum, small, bad_id, bad_channel, large = results
    assert platinum.unwrap().has_perk("exclusive-offer")
    assert platinum.unwrap().service_level.name == "concierge"
    assert not small.unwrap().has_perk("free-shipping")
    assert large.unwrap().has_perk("free-shipping")  # 60.00 EUR, from 50.00 up
    assert isinstance(bad_id.error, InvalidRequest)
    assert [v.field for v in bad_id.error.field_violations] == ["customer_id"]
    assert isinstance(bad_channel.error, InvalidRequest)
    assert [v.field for v in bad_channel.error.field_violations] == ["context.channel"]
    with pytest.raises(InvalidRequest):
        bad_id.unwrap()


def check_policy(policy: PolicyInfo) -> None:
    assert policy.name == "default"
    assert policy.version
    assert len(policy.checksum) == 64
    assert "gold" in policy.tiers
    assert [level.name for level in policy.service_levels] == [
        "standard", "priority", "premium", "concierge",
    ]  # fmt: skip
    assert policy.baseline.service_level.name == "standard"
    assert policy.baseline.routing.queue == "general"
    assert policy.channel_parity


def check_invalid(raised: pytest.ExceptionInfo[InvalidRequest]) -> None:
    fields = {violation.field for violation in raised.value.field_violations}
    assert fields == {"customer_id", "context.order_value_minor", "context.currency"}
    assert all(violation.description for violation in raised.value.field_violations)


def test_sync_decide(tierline: TierlineProcess) -> None:
    with EntitlementClient(tierline.target, timeout=TIMEOUT) as client:
        check_gold_cancellation(client.decide("gold-1", "phone", intent="cancel"))
        unknown = client.decide("somebody-new", channel=Channel.CHAT, intent="support")
        assert unknown.tier == "unknown"
        assert unknown.metrics.feature_source is FeatureSource.MISSING
        assert unknown.routing.queue == "onboarding"
        assert client.fallback_count == 0


def test_sync_decide_with_order_attributes_and_explanation(tierline: TierlineProcess) -> None:
    with EntitlementClient(tierline.target, timeout=TIMEOUT) as client:
        decision = client.decide(
            "basic-1", "WEB", intent="purchase", order_value="250.00", currency="EUR",
            item_count=24, attributes={"campaign": "spring-2026"}, explain=True,
        )  # fmt: skip
    assert {"free-shipping", "volume-discount", "campaign-discount"} <= {
        perk.code for perk in decision.perks
    }
    assert decision.explanation is not None
    assert decision.explanation.features["tier"] == "basic"
    assert decision.explanation.context["order_value"] == "25000"
    assert "campaign-code" in {rule.rule_id for rule in decision.explanation.rules}


def test_sync_decide_batch(tierline: TierlineProcess) -> None:
    with EntitlementClient(tierline.target, batch_timeout=TIMEOUT) as client:
        check_batch(client.decide_batch(BATCH))
        assert client.decide_batch([]) == []


def test_sync_policy(tierline: TierlineProcess) -> None:
    with EntitlementClient(tierline.target) as client:
        assert client.cached_policy is None
        policy = client.policy()
        check_policy(policy)
        assert client.cached_policy == policy


def test_sync_invalid_argument_surfaces_with_field_violations(tierline: TierlineProcess) -> None:
    with EntitlementClient(tierline.target, timeout=TIMEOUT) as client:
        with pytest.raises(InvalidRequest) as raised:
            client.decide("no spaces allowed", "phone", order_value_minor=-5)
        check_invalid(raised)
        assert client.fallback_count == 0


def test_async_decide(tierline: TierlineProcess) -> None:
    async def scenario() -> None:
        async with AsyncEntitlementClient(tierline.target, timeout=TIMEOUT) as client:
            check_gold_cancellation(await client.decide("gold-1", "phone", intent="cancel"))
            decisions = await asyncio.gather(
                *(client.decide("growth-1", channel, intent="support") for channel in Channel)
            )
            # channel parity: the channel steers routing only, never level or perks
            assert {d.service_level.name for d in decisions} == {"priority"}
            assert len({tuple(p.code for p in d.perks) for d in decisions}) == 1
            assert client.fallback_count == 0

    asyncio.run(scenario())


def test_async_decide_batch(tierline: TierlineProcess) -> None:
    async def scenario() -> None:
        async with AsyncEntitlementClient(tierline.target, batch_timeout=TIMEOUT) as client:
            check_batch(await client.decide_batch(BATCH))

    asyncio.run(scenario())


def test_async_policy(tierline: TierlineProcess) -> None:
    async def scenario() -> None:
        async with AsyncEntitlementClient(tierline.target) as client:
            policy = await client.policy()
            check_policy(policy)
            assert client.cached_policy == policy

    asyncio.run(scenario())


def test_async_invalid_argument_surfaces_with_field_violations(tierline: TierlineProcess) -> None:
    async def scenario() -> None:
        async with AsyncEntitlementClient(tierline.target, timeout=TIMEOUT) as client:
            with pytest.raises(InvalidRequest) as raised:
                await client.decide("no spaces allowed", "phone", order_value_minor=-5)
            check_invalid(raised)
            assert client.fallback_count == 0

    asyncio.run(scenario())


def test_baseline_is_fetched_at_first_use_in_the_background(tierline: TierlineProcess) -> None:
    with EntitlementClient(tierline.target, timeout=TIMEOUT) as client:
        client.decide("gold-1", "chat")
        policy = wait_for(lambda: client.cached_policy, seconds=10, what="policy fetched")
        assert policy.baseline.routing.queue == "general"

    async def scenario() -> None:
        async with AsyncEntitlementClient(tierline.target, timeout=TIMEOUT) as client:
            await client.decide("gold-1", "chat")
            for _ in range(100):
                if client.cached_policy is not None:
                    return
                await asyncio.sleep(0.05)
            pytest.fail("the async client did not fetch the policy")

    asyncio.run(scenario())


def test_dns_target(tierline: TierlineProcess) -> None:
    with EntitlementClient(f"dns:///localhost:{tierline.port}", timeout=TIMEOUT) as client:
        assert client.decide("gold-1", "phone").tier == "gold"
