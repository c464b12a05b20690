"""The server's own count of its answers, as the benchmark reads it from /metrics."""

from __future__ import annotations

import answers
from prometheus_client import CollectorRegistry, generate_latest
from tierline_server.metrics import Metrics


def _text(metrics: Metrics) -> str:
    return generate_latest(metrics.registry).decode()


def test_the_answers_of_one_method_over_one_protocol_are_accounted() -> None:
    metrics = Metrics(CollectorRegistry())
    metrics.rpcs.labels("Decide", "OK", "grpc").inc(7)
    before = _text(metrics)
    metrics.rpcs.labels("Decide", "OK", "connect").inc(40)
    metrics.rpcs.labels("Decide", "OK", "grpc").inc(3)  # another protocol: not this run's
    metrics.rpcs.labels("DecideBatch", "OK", "connect").inc(2)  # another method
    metrics.decision_duration.labels("Decide", "degraded").observe(0.001)

    counted = answers.account("Decide", "connect", [before], [_text(metrics)], responses=40)

    assert counted.codes == {"OK": 40}
    assert counted.degraded == 1
    assert counted.problems == []


def test_answers_not_ok_or_missing_are_problems() -> None:
    metrics = Metrics(CollectorRegistry())
    before = _text(metrics)
    metrics.rpcs.labels("DecideBatch", "OK", "connect").inc(44)
    metrics.rpcs.labels("DecideBatch", "RESOURCE_EXHAUSTED", "connect").inc(8)

    counted = answers.account("DecideBatch", "connect", [before], [_text(metrics)], responses=52)

    assert counted.problems == [
        "8 answered RESOURCE_EXHAUSTED",
        "the server counted 44 OK answers over connect, h2load 52",
    ]


def test_every_process_s_answers_are_summed() -> None:
    workers = [Metrics(CollectorRegistry()) for _ in range(2)]
    for count, metrics in zip((5, 6), workers, strict=True):
        metrics.rpcs.labels("Decide", "OK", "grpc").inc(count)

    codes, _ = answers.counted(_text(metrics) for metrics in workers)

    assert codes[("Decide", "grpc", "OK")] == 11
