"""The shadow policy in front of the decision log: what it draws, decides, counts and passes on,
and that nothing it does reaches the caller."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import structlog.testing
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from support.outcomes import served
from tierline_server import shadow as shadow_module
from tierline_server.decisions import DecisionRequest, Outcome
from tierline_server.metrics import Metrics
from tierline_server.policy.compiler import compile_policy_text
from tierline_server.policy.decider import Decider
from tierline_server.policy.diff import Entitlement
from tierline_server.policy.domain import FEATURES_UNAVAILABLE, Context, Decision
from tierline_server.shadow import Shadow, unread_features

POLICY = """\
policy: shop
version: "{version}"
features:
  tier: {{type: enum, values: [unknown, basic, gold], default: unknown}}
  ltv: {{type: number, default: 0}}
{extra_features}service_levels: [standard, priority, premium]
baseline:
  service_level: standard
  sla: {{max_wait_seconds: 600, first_response_seconds: 3600, callback_offered: true, \
human_agent_guaranteed: true}}
  routing: {{queue: general, priority: 10}}
rules:
  - id: gold-care
    when: {{tier: gold}}
    grant: {{service_level: premium, routing: {{queue: gold, priority: 70}}}}
  - id: free-shipping
    when: {{order_value: {{gte: {{EUR: {euros}}}}}}}
    grant: {{perks: [{{code: free-shipping}}]}}
  - id: outage-credit
    when: {{intent: outage}}
    grant: {{perks: [{{code: outage-credit, amount: 500}}]}}
"""


def shop(euros: int = 50, version: str = "1", extra_features: str = "") -> Decider:
    """The shop policy, free shipping from ``euros``."""
    text = POLICY.format(euros=euros, version=version, extra_features=extra_features)
    return Decider(compile_policy_text(text))


LIVE = shop()
RAISED = shop(75, "2")


class Log:
    """A decision sink that keeps what it is given, as the decision log would queue it."""

    def __init__(self) -> None:
        self.taken: list[tuple[Outcome, bool, Decision | None]] = []

    def append(
        self,
        request: DecisionRequest,
        outcome: Outcome,
        *,
        batch: bool,
        shadow: Decision | None = None,
    ) -> None:
        self.taken.append((outcome, batch, shadow))


def made(
    features: Mapping[str, Any], context: Context, *, degraded: bool = False
) -> tuple[DecisionRequest, Outcome]:
    """A live decision as the decision service hands it to its sink."""
    return served(LIVE, "c1", features, context, degraded=degraded)


def order(value: int) -> Context:
    return Context(channel="web", intent="purchase", order_value=value, currency="EUR")


def count(metrics: Metrics, sample: str, /, **labels: str) -> float:
    return metrics.registry.get_sample_value(sample, labels) or 0.0


def results(metrics: Metrics) -> dict[str, float]:
    return {
        result: count(metrics, "tierline_shadow_decisions_total", result=result)
        for result in ("agree", "differ", "error", "skipped")
    }


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop that the test turns by hand (the shadow works on the serving loop)."""
    running = asyncio.new_event_loop()
    asyncio.set_event_loop(running)
    yield running
    running.close()


def on_loop(loop: asyncio.AbstractEventLoop, shadow: Shadow, *decisions: Any) -> None:
    """Append ``decisions`` from a task on ``loop`` (as the decision service does), then let the
    loop run until the shadow has done its work."""

    async def serve() -> None:
        for request, outcome, batch in decisions:
            shadow.append(request, outcome, batch=batch)
        await asyncio.sleep(shadow_module.DELAY_SECONDS)
        for _ in range(len(decisions) // shadow_module.CHUNK + 1):
            await asyncio.sleep(0)

    loop.run_until_complete(serve())


def test_a_raised_threshold_differs_exactly_where_free_shipping_is_lost(
    loop: asyncio.AbstractEventLoop,
) -> None:
    metrics, log = Metrics(CollectorRegistry()), Log()
    shadow = Shadow(LIVE, RAISED, 1.0, metrics, log)
    inputs = [
        (features, order(value))
        for features in ({}, {"tier": "basic"}, {"tier": "gold", "ltv": 9000.0})
        for value in (4000, 5000, 6000, 7499, 7500, 9000)
    ]

    on_loop(loop, shadow, *((*made(f, c), False) for f, c in inputs))

    # 5000 to 7499: free shipping under the live policy only, whatever the tier.
    assert results(metrics) == {"agree": 9.0, "differ": 9.0, "error": 0.0, "skipped": 0.0}
    assert count(metrics, "tierline_shadow_differences_total", kind="perk-lost") == 9
    assert count(metrics, "tierline_shadow_differences_total", kind="to-baseline") == 6
    assert count(metrics, "tierline_shadow_differences_total", kind="level-down") == 0
    assert count(metrics, "tierline_shadow_rule_differences_total", rule="free-shipping") == 9
    assert count(metrics, "tierline_shadow_rule_differences_total", rule="gold-care") == 0
    assert count(metrics, "tierline_shadow_evaluation_duration_seconds_count") == 18
    assert (
        count(
            metrics,
            "tierline_shadow_policy_info",
            name="shop",
            version="2",
            checksum=RAISED.policy.checksum,
        )
        == 1
    )


def test_every_decision_reaches_the_log_once_with_the_shadow_only_where_it_differs(
    loop: asyncio.AbstractEventLoop,
) -> None:
    log = Log()
    shadow = Shadow(LIVE, RAISED, 1.0, Metrics(CollectorRegistry()), log)
    decisions = [(*made({}, order(value)), batch) for value, batch in ((4000, False), (6000, True))]

    on_loop(loop, shadow, *decisions)

    (agreed, agreed_batch, none), (differed, differed_batch, candidate) = log.taken
    assert (agreed, agreed_batch, none) == (decisions[0][1], False, None)
    assert (differed, differed_batch) == (decisions[1][1], True)
    assert candidate is not None
    assert candidate.policy_version == "2"
    assert not candidate.has_perk("free-shipping")
    assert differed.decision.has_perk("free-shipping")  # what the caller got, untouched


def test_the_candidate_decides_a_moment_after_the_handler_has_returned(
    loop: asyncio.AbstractEventLoop,
) -> None:
    metrics, log = Metrics(CollectorRegistry()), Log()
    shadow = Shadow(LIVE, RAISED, 1.0, metrics, log)
    seen: list[int] = []

    async def handler() -> None:
        request, outcome = made({}, order(6000))
        shadow.append(request, outcome, batch=False)
        seen.append(len(log.taken))  # what the caller waits for ends here

    async def later() -> None:
        await asyncio.sleep(0)  # the loop's next turn: the answer is not out yet
        seen.append(len(log.taken))
        await asyncio.sleep(shadow_module.DELAY_SECONDS)
        seen.append(len(log.taken))

    loop.run_until_complete(handler())
    loop.run_until_complete(later())

    assert seen == [0, 0, 1]
    assert results(metrics)["differ"] == 1


def test_a_big_batch_is_decided_a_chunk_at_a_time(loop: asyncio.AbstractEventLoop) -> None:
    log = Log()
    shadow = Shadow(LIVE, RAISED, 1.0, Metrics(CollectorRegistry()), log)
    chunk = shadow_module.CHUNK
    seen: list[int] = []  # decisions passed on, at each turn of the loop
    started_after = 0.0

    async def batch() -> None:
        nonlocal started_after
        appended = time.perf_counter()
        for _ in range(3 * chunk):
            shadow.append(*made({}, order(6000)), batch=True)
        while not seen or seen[-1] < 3 * chunk:
            seen.append(len(log.taken))
            if seen[-1] and not started_after:
                started_after = time.perf_counter() - appended
            await asyncio.sleep(0)  # one turn: other calls go on between chunks

    loop.run_until_complete(batch())

    steps = [after - before for before, after in itertools.pairwise(seen) if after != before]
    assert steps == [chunk, chunk, chunk]  # never more than a chunk in one turn
    assert started_after >= shadow_module.DELAY_SECONDS  # the answer goes first


def test_a_share_of_zero_passes_every_decision_on_at_once_unshadowed(
    loop: asyncio.AbstractEventLoop,
) -> None:
    metrics, log = Metrics(CollectorRegistry()), Log()
    shadow = Shadow(LIVE, RAISED, 0.0, metrics, log)
    request, outcome = made({}, order(6000))

    shadow.append(request, outcome, batch=False)  # no event loop needed: nothing is queued

    assert log.taken == [(outcome, False, None)]
    assert results(metrics) == {"agree": 0.0, "differ": 0.0, "error": 0.0, "skipped": 0.0}


def test_a_share_draws_about_that_share(loop: asyncio.AbstractEventLoop) -> None:
    metrics = Metrics(CollectorRegistry())
    shadow = Shadow(LIVE, RAISED, 0.25, metrics, Log())

    on_loop(loop, shadow, *((*made({}, order(4000)), False) for _ in range(4000)))

    assert 800 <= results(metrics)["agree"] <= 1200  # binomial(4000, 0.25): sd about 27


def test_a_failing_candidate_is_counted_and_logged_and_the_decision_passed_on(
    loop: asyncio.AbstractEventLoop,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    metrics, log = Metrics(CollectorRegistry()), Log()
    candidate = shop(75, "2")

    def broken(*args: Any, **kwargs: Any) -> Decision:
        raise RuntimeError("the candidate's engine broke")

    monkeypatch.setattr(candidate, "decide", broken)
    shadow = Shadow(LIVE, candidate, 1.0, metrics, log)
    decisions = [(*made({}, order(6000)), False) for _ in range(3)]

    with structlog.testing.capture_logs() as events:
        on_loop(loop, shadow, *decisions)

    assert results(metrics)["error"] == 3
    assert [taken for taken, _, _ in log.taken] == [outcome for _, outcome, _ in decisions]
    assert all(shadow_decision is None for _, _, shadow_decision in log.taken)
    # Reported once, not once per failure: a broken candidate must not flood the log.
    [report] = [e for e in events if e["event"] == "shadow evaluation failed"]
    assert report["error"] == "RuntimeError: the candidate's engine broke"
    assert (report["log_level"], report["shadow_policy_version"]) == ("warning", "2")


def test_a_full_queue_skips_the_shadow_and_still_logs_the_decision(
    loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shadow_module, "QUEUE_SIZE", 2)
    metrics, log = Metrics(CollectorRegistry()), Log()
    shadow = Shadow(LIVE, RAISED, 1.0, metrics, log)

    on_loop(loop, shadow, *((*made({}, order(6000)), False) for _ in range(5)))

    assert results(metrics) == {"agree": 0.0, "differ": 2.0, "error": 0.0, "skipped": 3.0}
    assert len(log.taken) == 5


def test_closing_decides_what_is_queued(loop: asyncio.AbstractEventLoop) -> None:
    metrics, log = Metrics(CollectorRegistry()), Log()
    shadow = Shadow(LIVE, RAISED, 1.0, metrics, log)

    async def append_then_close() -> None:
        shadow.append(*made({}, order(6000)), batch=False)
        shadow.close()  # before the loop turns: at shutdown, the log closes next

    loop.run_until_complete(append_then_close())

    assert results(metrics)["differ"] == 1
    assert log.taken[0][2] is not None


def test_degraded_decisions_are_shadowed_degraded(loop: asyncio.AbstractEventLoop) -> None:
    log = Log()
    shadow = Shadow(LIVE, shop(75, "2"), 1.0, Metrics(CollectorRegistry()), log)
    outage = Context(channel="phone", intent="outage")

    on_loop(loop, shadow, (*made({}, outage, degraded=True), False))

    [(outcome, _, candidate)] = log.taken
    assert outcome.decision.degraded_reason == FEATURES_UNAVAILABLE
    assert candidate is None  # both grant the outage credit alone


def test_the_candidate_reads_the_live_features_by_its_own_schema(
    loop: asyncio.AbstractEventLoop,
) -> None:
    # The candidate has no basic tier (so reads a basic customer as unknown, its default) and
    # welcomes unknown customers; it also declares a feature the live policy does not read.
    text = POLICY.format(
        euros=50, version="2", extra_features="  vip: {type: bool, default: false}\n"
    )
    text = text.replace("[unknown, basic, gold]", "[unknown, gold]") + (
        "  - id: welcome\n    when: {tier: unknown}\n    grant: {perks: [{code: welcome}]}\n"
    )
    candidate = Decider(compile_policy_text(text))
    log = Log()

    on_loop(
        loop,
        Shadow(LIVE, candidate, 1.0, Metrics(CollectorRegistry()), log),
        (*made({"tier": "basic"}, order(4000)), False),
        (*made({"tier": "gold"}, order(4000)), False),
    )

    [(_, _, basic), (_, _, gold)] = log.taken
    assert basic is not None
    assert basic.has_perk("welcome")
    assert gold is None
    assert unread_features(LIVE.policy, candidate.policy) == ["vip"]


FEATURES = st.fixed_dictionaries(
    {},
    optional={
        "tier": st.sampled_from(["unknown", "basic", "gold"]),
        "ltv": st.floats(min_value=0, max_value=1e6, allow_nan=False),
    },
)
CONTEXTS = st.builds(
    Context,
    channel=st.sampled_from(["phone", "web", "chat"]),
    intent=st.sampled_from(["", "purchase", "outage"]),
    order_value=st.none() | st.integers(min_value=0, max_value=20_000),
    currency=st.just("EUR"),
)


@settings(max_examples=200, deadline=None)
@given(inputs=st.lists(st.tuples(FEATURES, CONTEXTS, st.booleans()), min_size=1, max_size=40))
def test_every_decision_reaches_the_log_unchanged_and_is_counted_once(
    inputs: list[tuple[dict[str, Any], Context, bool]],
) -> None:
    loop = asyncio.new_event_loop()
    try:
        metrics, log = Metrics(CollectorRegistry()), Log()
        shadow = Shadow(LIVE, RAISED, 1.0, metrics, log)
        decisions = [
            (*made(features, context, degraded=degraded), False)
            for features, context, degraded in inputs
        ]
        on_loop(loop, shadow, *decisions)
    finally:
        loop.close()

    assert [outcome for outcome, _, _ in log.taken] == [outcome for _, outcome, _ in decisions]
    counted = results(metrics)
    assert counted["agree"] + counted["differ"] == len(inputs)
    for (outcome, _, candidate), (_, context, degraded) in zip(log.taken, inputs, strict=True):
        expected = RAISED.decide(outcome.features, context, degraded=degraded)
        differs = Entitlement.of(expected) != Entitlement.of(outcome.decision)
        assert (candidate is not None) == differs
        if candidate is not None:
            assert dataclasses.replace(candidate, explanation=None) == expected
