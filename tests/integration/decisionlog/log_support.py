"""Helpers of the decision log's integration tests: a running writer, decisions to log, what the
stream holds, the writer's metrics."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager
from functools import cache
from types import MappingProxyType
from typing import Any

import redis
from prometheus_client import CollectorRegistry
from support.paths import DEFAULT_POLICY_DIR
from support.waiting import wait_until
from tierline_server.config import DecisionLogSettings, RedisSettings
from tierline_server.decisionlog import record
from tierline_server.decisionlog.customers import CustomerNames
from tierline_server.decisionlog.record import DecisionRecord
from tierline_server.decisionlog.writer import DecisionLogWriter
from tierline_server.decisions import DecisionRequest, Outcome
from tierline_server.features.lookup import FeatureSource
from tierline_server.ids import new_decision_id
from tierline_server.metrics import Metrics
from tierline_server.policy.compiler import load_policy
from tierline_server.policy.decider import Decider
from tierline_server.policy.domain import Context

STREAM = "tierline:decisions"

CUSTOMERS: dict[str, dict[str, Any]] = {
    "gold-1": {"tier": "gold", "ltv": 7000.0, "tenure_days": 400, "orders_12m": 8},
    "basic-1": {"tier": "basic", "ltv": 50.0, "tenure_days": 200},
    "growth-1": {"tier": "growth", "ltv": 1500.0, "tenure_days": 300, "orders_12m": 14},
    "newbie-1": {"tier": "basic", "ltv": 10.0, "tenure_days": 5},
}
"""Typed features, as the feature store would hand them to the decider."""
CONTEXTS = (
    Context(channel="phone", intent="cancel"),
    Context(channel="web", intent="purchase", order_value=6000, currency="EUR", item_count=2),
    Context(channel="chat", intent="support"),
    Context(channel="web", intent="purchase", order_value=4000, currency="EUR"),
)


@cache
def default_decider() -> Decider:
    return Decider(load_policy(DEFAULT_POLICY_DIR))


def decision(
    customer_id: str, context: Context, features: Mapping[str, Any] | None = None
) -> tuple[DecisionRequest, Outcome]:
    """A decision of the default policy, as the decision service hands it to the log."""
    typed = CUSTOMERS.get(customer_id, {}) if features is None else features
    made = default_decider().decide(typed, context)
    outcome = Outcome(
        decision_id=new_decision_id(),
        customer_id=customer_id,
        decision=made,
        feature_source=FeatureSource.REDIS if typed else FeatureSource.MISSING,
        features_age_seconds=3.0 if typed else None,
        lookup_micros=150,
        eval_micros=90,
        total_micros=260,
        features=MappingProxyType(dict(typed)),
    )
    return DecisionRequest(customer_id, context), outcome


def decisions(count: int) -> Iterator[tuple[DecisionRequest, Outcome]]:
    """``count`` decisions over CUSTOMERS x CONTEXTS, cycled."""
    inputs = itertools.cycle(itertools.product(CUSTOMERS, CONTEXTS))
    for customer_id, context in itertools.islice(inputs, count):
        yield decision(customer_id, context)


@asynccontextmanager
async def running_writer(
    url: str, *, key: bytes | None = None, **settings: Any
) -> AsyncIterator[tuple[DecisionLogWriter, Metrics]]:
    """A started writer with metrics of its own; closed (its queue written or counted) after."""
    metrics = Metrics(CollectorRegistry())
    writer = DecisionLogWriter(
        DecisionLogSettings(**settings), RedisSettings(url=url), metrics, CustomerNames(key)
    )
    writer.start()
    try:
        yield writer, metrics
    finally:
        await writer.close()


def write_log(
    url: str,
    made: Iterable[tuple[DecisionRequest, Outcome]],
    key: str | None = None,
    **settings: Any,
) -> None:
    """Log ``made`` through a real writer (as Decide decisions, ``settings`` its
    DecisionLogSettings), and wait until all are in the stream."""
    decided = list(made)

    async def scenario() -> None:
        key_bytes = key.encode() if key else None
        async with running_writer(url, key=key_bytes, **settings) as (log, metrics):
            for request, outcome in decided:
                log.append(request, outcome, batch=False)
            await wait_until(lambda: written(metrics) == len(decided))

    asyncio.run(scenario())


def stored(url: str, stream: str = STREAM) -> list[DecisionRecord]:
    """Every record in the stream, oldest first."""
    with redis.Redis.from_url(url) as client:
        entries = client.xrange(stream)
    return [record.decode(fields[record.FIELD.encode()]) for _, fields in entries]


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    """A metric sample's value (0 when it has none)."""
    return metrics.registry.get_sample_value(name, labels) or 0.0


def written(metrics: Metrics) -> float:
    """Decisions written so far."""
    return sample(metrics, "tierline_decision_log_written_total")


def dropped(metrics: Metrics, reason: str) -> float:
    """Decisions dropped so far for ``reason``."""
    return sample(metrics, "tierline_decision_log_dropped_total", reason=reason)
