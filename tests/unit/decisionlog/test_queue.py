"""What a decision pays on the request path: a sampled, bounded append (no Redis involved)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from support.paths import DEFAULT_POLICY_DIR
from tierline_server.config import DecisionLogSettings, RedisSettings, ServerConfig
from tierline_server.decisionlog.customers import CustomerNames
from tierline_server.decisionlog.writer import DecisionLogWriter
from tierline_server.decisions import DecisionRequest, Outcome
from tierline_server.features.lookup import FeatureSource
from tierline_server.ids import new_decision_id
from tierline_server.metrics import Metrics
from tierline_server.policy.compiler import load_policy
from tierline_server.policy.decider import Decider
from tierline_server.policy.domain import Context

UNUSED_REDIS = RedisSettings(url="redis://127.0.0.1:1/0")
"""Nothing here connects: the writer is never started."""
REQUEST = DecisionRequest("c1", Context(channel="phone"))


def outcome() -> Outcome:
    decision = Decider(load_policy(DEFAULT_POLICY_DIR)).baseline
    return Outcome(new_decision_id(), "c1", decision, FeatureSource.MISSING, None, 1, 1, 2)


def writer(**settings: object) -> tuple[DecisionLogWriter, Metrics]:
    metrics = Metrics(CollectorRegistry())
    log = DecisionLogWriter(
        DecisionLogSettings(**settings),  # type: ignore[arg-type]
        UNUSED_REDIS,
        metrics,
        CustomerNames(None),
    )
    return log, metrics


def queued(metrics: Metrics) -> float:
    return metrics.registry.get_sample_value("tierline_decision_log_queue_entries") or 0.0


def dropped(metrics: Metrics, reason: str) -> float:
    return (
        metrics.registry.get_sample_value("tierline_decision_log_dropped_total", {"reason": reason})
        or 0.0
    )


def test_a_full_queue_drops_new_decisions_and_counts_them() -> None:
    log, metrics = writer(queue_size=3)
    made = outcome()

    for _ in range(5):
        log.append(REQUEST, made, batch=False)

    assert queued(metrics) == 3
    assert dropped(metrics, "queue_full") == 2


def test_each_method_has_its_own_share() -> None:
    log, metrics = writer(sample_decide=1.0, sample_batch=0.0)
    made = outcome()

    for _ in range(10):
        log.append(REQUEST, made, batch=True)
    log.append(REQUEST, made, batch=False)

    assert queued(metrics) == 1
    assert dropped(metrics, "queue_full") == 0


def test_a_decision_the_shadow_policy_decided_otherwise_is_kept_whatever_the_share() -> None:
    log, metrics = writer(sample_decide=0.0, sample_batch=0.0)
    made = outcome()

    log.append(REQUEST, made, batch=False)
    log.append(REQUEST, made, batch=True)
    log.append(REQUEST, made, batch=False, shadow=made.decision)
    log.append(REQUEST, made, batch=True, shadow=made.decision)

    assert queued(metrics) == 2


def test_a_share_between_keeps_about_that_share() -> None:
    log, metrics = writer(sample_decide=0.25, queue_size=100_000)
    made = outcome()

    for _ in range(4000):
        log.append(REQUEST, made, batch=False)

    assert 800 < queued(metrics) < 1200  # 1000 expected; outside is a 1-in-10^10 draw


def test_no_writer_when_the_log_is_off_or_samples_nothing() -> None:
    metrics = Metrics(CollectorRegistry())
    off = ServerConfig(decision_log=DecisionLogSettings(enabled=False))
    nothing = ServerConfig(decision_log=DecisionLogSettings(sample_decide=0, sample_batch=0))

    assert DecisionLogWriter.for_config(off, metrics) is None
    assert DecisionLogWriter.for_config(nothing, metrics) is None
    assert DecisionLogWriter.for_config(ServerConfig(redis=UNUSED_REDIS), metrics) is not None
