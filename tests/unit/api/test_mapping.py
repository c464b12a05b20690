"""Domain -> protobuf: what a caller reads is what the decider decided."""

from __future__ import annotations

import pytest
from google.protobuf import json_format
from support.paths import DEFAULT_POLICY_DIR
from tierline.v1 import entitlement_pb2 as pb
from tierline_server.api import mapping
from tierline_server.decisions import Outcome
from tierline_server.features.lookup import FeatureSource
from tierline_server.policy.compiler import load_policy
from tierline_server.policy.decider import Decider
from tierline_server.policy.domain import Context


@pytest.fixture(scope="module")
def decider() -> Decider:
    return Decider(load_policy(DEFAULT_POLICY_DIR))


def test_a_decision_maps_field_by_field(decider: Decider) -> None:
    decision = decider.decide(
        {"tier": "gold", "tenure_days": 400}, Context(channel="phone", intent="cancel")
    )

    message = mapping.decision_message(decision)

    assert message.tier == "gold"
    assert message.policy_version == decision.policy_version
    assert message.service_level.name == decision.service_level.name
    assert message.service_level.rank == decision.service_level.rank
    sla = decision.service_level.sla
    assert message.service_level.sla.max_wait_seconds == sla.max_wait_seconds
    assert message.service_level.sla.first_response_seconds == sla.first_response_seconds
    assert message.routing.queue == decision.routing.queue
    assert list(message.routing.skills) == list(decision.routing.skills)
    assert list(message.matched_rules) == list(decision.matched_rules)
    assert [(p.code, p.granted_by) for p in message.perks] == [
        (p.code, p.granted_by) for p in decision.perks
    ]
    retention = next(p for p in message.perks if p.code == "retention-discount")
    assert retention.WhichOneof("value") == "percent"
    assert not message.degraded
    assert not message.HasField("explanation")


def test_an_amount_perk_keeps_its_minor_units(decider: Decider) -> None:
    decision = decider.decide({}, Context(channel="chat", intent="outage"))

    credit = next(p for p in mapping.decision_message(decision).perks if p.code == "outage-credit")

    assert credit.WhichOneof("value") == "amount_minor"
    assert credit.amount_minor == 1000


def test_explain_splits_what_the_rules_saw_into_features_and_context(decider: Decider) -> None:
    decision = decider.decide(
        {"tier": "gold"},
        Context(channel="phone", intent="cancel", attributes={"campaign": "x"}),
        explain=True,
    )

    explanation = mapping.decision_message(decision).explanation

    assert explanation.features["tier"] == "gold"
    assert "tenure_days" in explanation.features  # a default the rules saw
    assert explanation.context["channel"] == "phone"
    assert explanation.context["attributes.campaign"] == "x"
    assert not set(explanation.features) & set(explanation.context)
    assert [r.rule_id for r in explanation.rules] == list(decision.matched_rules)


def test_a_degraded_decision_says_why(decider: Decider) -> None:
    decision = decider.decide({}, Context(channel="web"), degraded=True)

    message = mapping.decision_message(decision)

    assert message.degraded
    assert message.degraded_reason == "features_unavailable"


def gold_outcome(decider: Decider, source: FeatureSource, age: float) -> Outcome:
    """A gold customer's web decision, its features ``age`` seconds old, from ``source``."""
    return Outcome(
        decision_id="01J000",
        customer_id="gold-1",
        decision=decider.decide({"tier": "gold"}, Context(channel="web")),
        feature_source=source,
        features_age_seconds=age,
        lookup_micros=3,
        eval_micros=40,
        total_micros=50,
        occurred_at_ns=1_700_000_000_123_456_789,
    )


def test_an_outcome_adds_id_customer_and_metrics(decider: Decider) -> None:
    message = mapping.outcome_message(gold_outcome(decider, FeatureSource.NEAR_CACHE, 12.5))

    assert message.occurred_at.ToNanoseconds() == 1_700_000_000_123_456_789
    assert (message.decision_id, message.customer_id) == ("01J000", "gold-1")
    assert message.metrics == pb.DecisionMetrics(
        total_micros=50,
        lookup_micros=3,
        eval_micros=40,
        feature_source=pb.FEATURE_SOURCE_NEAR_CACHE,
        features_age_seconds=12.5,
    )


def test_the_age_of_features_is_kept_to_milliseconds(decider: Decider) -> None:
    """Not 15 decimals of clock noise in every decision's JSON."""
    outcome = gold_outcome(decider, FeatureSource.REDIS, 3.0123456789012345)

    metrics = mapping.outcome_message(outcome).metrics

    assert metrics.features_age_seconds == 3.012
    assert json_format.MessageToDict(metrics)["featuresAgeSeconds"] == 3.012


def test_every_feature_source_has_an_api_value() -> None:
    assert set(mapping.FEATURE_SOURCES) == set(FeatureSource)


def test_policy_info_carries_the_baseline_clients_fall_back_on(decider: Decider) -> None:
    info = mapping.policy_info(decider.policy, decider.baseline)

    policy = decider.policy
    assert (info.name, info.version, info.checksum) == (
        policy.name,
        policy.version,
        policy.checksum,
    )
    assert list(info.tiers) == list(policy.tiers)
    assert [(s.name, s.rank) for s in info.service_levels] == [
        (name, rank) for rank, name in enumerate(policy.service_levels)
    ]
    assert info.baseline.service_level.name == policy.baseline.service_level
    assert info.baseline.routing.queue == policy.baseline.routing.queue
    assert info.channel_parity is policy.channel_parity
