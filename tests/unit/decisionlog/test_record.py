"""A decision record survives its JSON form, and an entry that is not a record is refused."""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.inputs import default_contexts, default_features
from support.paths import DEFAULT_POLICY_DIR
from tierline_server.decisionlog import record
from tierline_server.decisionlog.record import DecisionRecord, RecordError
from tierline_server.decisions import DecisionRequest, Outcome
from tierline_server.features.lookup import FeatureSource
from tierline_server.ids import decision_time, new_decision_id
from tierline_server.policy.compiler import load_policy
from tierline_server.policy.decider import Decider
from tierline_server.policy.domain import Context

GOLDEN = Path(__file__).with_name("record-v1.json")
"""A record as schema 1 writes it: logs written today must still read after a code change."""


@cache
def _decider() -> Decider:
    return Decider(load_policy(DEFAULT_POLICY_DIR))


def a_record(
    features: dict[str, Any],
    context: Context,
    *,
    degraded: bool = False,
    batch: bool = False,
    shadow: bool = False,
) -> DecisionRecord:
    decider = _decider()
    decision = decider.decide(features, context, degraded=degraded)
    outcome = Outcome(
        decision_id=new_decision_id(),
        customer_id="c000042",
        decision=decision,
        feature_source=FeatureSource.UNAVAILABLE if degraded else FeatureSource.REDIS,
        features_age_seconds=None if degraded else 12.5,
        lookup_micros=120,
        eval_micros=80,
        total_micros=230,
        features=MappingProxyType({} if degraded else features),  # as the feature store gives
    )
    logged = record.record_of(DecisionRequest("c000042", context), outcome, batch=batch)
    if shadow:
        logged = dataclasses.replace(logged, shadow=decider.decide({}, context))
    return logged


@settings(max_examples=100, deadline=None)
@given(
    features=default_features(),
    context=default_contexts,
    degraded=st.booleans(),
    batch=st.booleans(),
    shadow=st.booleans(),
)
def test_a_record_decodes_to_what_was_encoded(
    features: dict[str, Any], context: Context, degraded: bool, batch: bool, shadow: bool
) -> None:
    logged = a_record(features, context, degraded=degraded, batch=batch, shadow=shadow)

    decoded = record.decode(record.encode(logged))

    assert decoded == logged
    assert decoded.degraded is degraded
    assert decoded.method == ("DecideBatch" if batch else "Decide")


def test_the_time_is_the_decision_ids_in_utc() -> None:
    logged = a_record({"tier": "gold"}, Context(channel="phone"))

    assert logged.made_at == decision_time(logged.decision_id)
    assert logged.time == record.iso_time(logged.made_at)
    assert logged.time.endswith("Z")


def test_an_entry_is_one_json_object_a_person_can_read() -> None:
    logged = a_record({"tier": "gold"}, Context(channel="phone", intent="cancel"))

    document = json.loads(record.encode(logged))

    assert document["schema"] == 1
    assert document["outcome"]["decision_id"] == logged.decision_id
    assert document["outcome"]["decision"]["service_level"]["name"] == "premium"
    assert document["context"]["intent"] == "cancel"
    assert document["outcome"]["features"] == {"tier": "gold"}


def test_a_record_written_by_schema_1_still_reads() -> None:
    decoded = record.decode(GOLDEN.read_bytes())

    assert decoded.decision_id == "01KBCDEFGHJKMNPQRSTVWXYZ01"
    assert decoded.outcome.features == {"tier": "gold", "tenure_days": 400}
    assert decoded.context.order_value == 5999
    assert decoded.decision.service_level.name == "premium"
    assert [perk.code for perk in decoded.decision.perks] == ["retention-discount"]
    assert decoded.shadow is not None
    assert decoded.shadow.policy_version == "2026.12.0"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: "not json", "not JSON"),
        (lambda d: {**d, "schema": 2}, "a newer schema"),
        (lambda d: {k: v for k, v in d.items() if k != "outcome"}, "no outcome"),
        (
            lambda d: {**d, "outcome": {**d["outcome"], "decision_id": "not-an-id"}},
            "a bad decision id",
        ),
        (
            lambda d: {**d, "outcome": {**d["outcome"], "feature_source": "disk"}},
            "an unknown feature source",
        ),
        (lambda d: {**d, "context": {**d["context"], "item_count": "3"}}, "a wrong type"),
    ],
)
def test_an_entry_that_is_not_a_record_is_refused(change: Any, problem: str) -> None:
    document = json.loads(GOLDEN.read_text())
    changed = change(document)
    data = changed if isinstance(changed, str) else json.dumps(changed)

    with pytest.raises(RecordError):
        record.decode(data)
