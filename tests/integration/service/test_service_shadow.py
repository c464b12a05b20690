"""`tierline serve --shadow-policy`: a candidate decides live traffic beside the served policy.

Callers get exactly what they would get without it; agreements and differences are counted in
/metrics, differences written to the decision log with both decisions; a bad shadow policy is
refused at start and on reload, and a reload rolls the workers onto the new shadow too."""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Sequence
from pathlib import Path

import pytest
from service_support import (
    CUSTOMERS,
    TIMEOUT,
    ServerFactory,
    label_values,
    load_customers,
    stub_on,
)
from support.metrics import Samples, metric, scrape
from support.paths import DEFAULT_POLICY_DIR
from support.policies import raised_threshold
from support.redis_server import RedisServer
from support.requests import request
from support.tierline_process import TierlineProcess
from support.waiting import wait_for
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc
from tierline_server.config import RedisSettings
from tierline_server.decisionlog.reader import DecisionLogReader
from tierline_server.decisionlog.record import DecisionRecord
from tierline_server.features.redis_client import writer_client
from tierline_server.policy.compiler import load_policy
from tierline_server.policy.decider import Decider
from tierline_server.policy.diff import Entitlement
from tierline_server.policy.domain import Context
from tierline_server.policy.inputs import readable_features

pytestmark = pytest.mark.integration

Stub = entitlement_pb2_grpc.EntitlementServiceStub

STREAM = "tierline:decisions"
CANDIDATE_VERSION = "2026.12.0"
NEWER = "2026.12.1"
ORDER_VALUES: tuple[int | None, ...] = (None, 4_000, 5_000, 6_000, 7_499, 7_500, 9_000)
"""Around both thresholds: free shipping from 5000 (served) and from 7500 (the candidate)."""


def traffic() -> list[pb.DecideRequest]:
    """Every test customer, and one without features, buying on the web at each order value;
    and a phone cancellation each, with an explanation (which the shadow must not change)."""
    customers = [*CUSTOMERS, "nobody-1"]
    purchases = [
        request(
            customer,
            pb.CHANNEL_WEB,
            intent="purchase",
            order_value_minor=value,
            currency="EUR" if value is not None else "",
        )
        for customer in customers
        for value in ORDER_VALUES
    ]
    cancels = [request(c, pb.CHANNEL_PHONE, intent="cancel", explain=True) for c in customers]
    return purchases + cancels


def expected_to_differ(candidate: Path, requests: Sequence[pb.DecideRequest]) -> list[bool]:
    """For each request, whether the candidate decides otherwise for the customer than the
    served policy: both evaluated here, directly, on the test customers' features."""
    served, other = Decider(load_policy(DEFAULT_POLICY_DIR)), Decider(load_policy(candidate))
    differs = []
    for item in requests:
        raw, given = CUSTOMERS.get(item.customer_id, {}), item.context
        context = Context(
            channel=pb.Channel.Name(given.channel).removeprefix("CHANNEL_").lower(),
            intent=given.intent,
            order_value=given.order_value_minor if given.HasField("order_value_minor") else None,
            currency=given.currency,
        )
        before = served.decide(readable_features(served.policy, raw), context)
        after = other.decide(readable_features(other.policy, raw), context)
        differs.append(Entitlement.of(before) != Entitlement.of(after))
    return differs


def comparable(decision: pb.Decision) -> pb.Decision:
    """A decision without what differs from one call to the next (id, timings, time)."""
    copy = pb.Decision()
    copy.CopyFrom(decision)
    for name in ("decision_id", "metrics", "occurred_at"):
        copy.ClearField(name)
    return copy


def answers(server: TierlineProcess, requests: Sequence[pb.DecideRequest]) -> list[pb.Decision]:
    """Each request decided one by one, then all of them again as one DecideBatch."""
    with stub_on(server.target, Stub) as stub:
        singles = [stub.Decide(item, timeout=TIMEOUT).decision for item in requests]
        batch = stub.DecideBatch(pb.DecideBatchRequest(items=requests), timeout=TIMEOUT)
    assert all(result.status.code == 0 for result in batch.results)
    return singles + [result.decision for result in batch.results]


def shadowed(samples: Samples) -> int:
    """Decisions the shadow has dealt with, whatever the result."""
    return int(metric(samples, "tierline_shadow_decisions_total"))


def logged(redis_url: str, count: int) -> list[DecisionRecord]:
    """The decision log's records, once it holds ``count``."""

    def read() -> list[DecisionRecord] | None:
        with writer_client(RedisSettings(url=redis_url)) as client:
            records = [e.record for e in DecisionLogReader(client, STREAM).between(0, 2e9)]
        return records if len(records) >= count else None

    return wait_for(read, what=f"{count} decisions in the log")


@dataclasses.dataclass(frozen=True)
class Traffic:
    """The same requests sent to a server without a shadow and to one with the candidate."""

    requests: list[pb.DecideRequest]
    differ: list[bool]
    """Per decision sent (singles, then batch items): whether the candidate decides otherwise."""
    plain: list[pb.Decision]
    shadowed: list[pb.Decision]
    samples: Samples
    """The shadowed server's /metrics once the shadow has dealt with every decision."""
    records: list[DecisionRecord]
    """The shadowed server's decision log."""


@pytest.fixture(scope="module")
def sent(_session_redis: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Traffic:
    """One run for the module's tests to read: starting servers costs seconds each."""
    with _session_redis.client() as client:
        client.flushall()
    url = _session_redis.url
    load_customers(url)
    candidate = raised_threshold(tmp_path_factory.mktemp("shadow"))
    requests = traffic()
    plain = TierlineProcess(url, extra_args=["--decision-log", "false"]).start()
    other = TierlineProcess(url, extra_args=["--shadow-policy", str(candidate)]).start()
    try:
        plain_answers, shadowed_answers = answers(plain, requests), answers(other, requests)
        total = len(shadowed_answers)
        samples = wait_for(
            lambda: (found := scrape(other.metrics_port)) and shadowed(found) == total and found,
            what="the shadow's counts",
        )
        records = logged(url, total)
    finally:
        plain.stop()
        other.stop()
    return Traffic(
        requests,
        expected_to_differ(candidate, requests) * 2,
        plain_answers,
        shadowed_answers,
        samples,
        records,
    )


def test_callers_get_what_they_get_without_a_shadow(sent: Traffic) -> None:
    assert [comparable(d) for d in sent.shadowed] == [comparable(d) for d in sent.plain]
    assert {d.policy_version for d in sent.shadowed} == {"2026.11.1"}
    explained = [d for d in sent.shadowed if d.HasField("explanation")]
    assert len(explained) == 2 * (len(CUSTOMERS) + 1)  # the cancellations, singly and batched


def test_exactly_the_decisions_the_candidate_changes_are_counted_as_differences(
    sent: Traffic,
) -> None:
    differ = sum(sent.differ)
    samples = sent.samples
    assert 0 < differ < len(sent.differ)  # the traffic has both kinds
    assert metric(samples, "tierline_shadow_decisions_total", result="differ") == differ
    assert metric(samples, "tierline_shadow_decisions_total", result="agree") == (
        len(sent.differ) - differ
    )
    assert metric(samples, "tierline_shadow_decisions_total", result="error") == 0
    # Raising the threshold only takes free shipping away (to the baseline, for some):
    assert metric(samples, "tierline_shadow_differences_total", kind="perk-lost") == differ
    for kind in ("level-up", "level-down", "perk-granted", "routing-moved", "sla-worse"):
        assert metric(samples, "tierline_shadow_differences_total", kind=kind) == 0, kind
    rules = "tierline_shadow_rule_differences_total"
    assert metric(samples, rules, rule="free-shipping") == differ
    assert metric(samples, rules) == differ  # no other rule is behind any difference
    assert metric(samples, "tierline_shadow_policy_info", version=CANDIDATE_VERSION) == 1
    assert not label_values(samples) & {*CUSTOMERS, "nobody-1"}


def test_each_difference_is_logged_with_both_decisions(sent: Traffic) -> None:
    by_id = {record.decision_id: record for record in sent.records}
    for answer, differs in zip(sent.shadowed, sent.differ, strict=True):
        record = by_id[answer.decision_id]
        assert (record.shadow is not None) == differs, answer.customer_id
        if record.shadow is not None:
            assert record.decision.policy_version == "2026.11.1"
            assert record.decision.has_perk("free-shipping")
            assert record.shadow.policy_version == CANDIDATE_VERSION
            assert not record.shadow.has_perk("free-shipping")
            assert 5_000 <= (record.context.order_value or 0) < 7_500


def broken_copy(directory: Path) -> Path:
    """A candidate whose rules file does not parse."""
    candidate = raised_threshold(directory)
    (candidate / "entitlements.yaml").write_text("rules:\n  - id: [unclosed\n")
    return candidate


def test_a_bad_shadow_policy_keeps_the_server_from_starting_with_a_clear_message(
    redis_url: str, tmp_path: Path
) -> None:
    candidate = broken_copy(tmp_path)
    missing = tmp_path / "no-such-policy"

    for path in (candidate, missing):
        server = TierlineProcess(redis_url, extra_args=["--shadow-policy", str(path)])
        with pytest.raises(RuntimeError, match="exited") as caught:
            server.start()

        assert server.wait() == 2
        assert "Traceback" not in str(caught.value)
        [refusal] = server.events("not serving")
        assert refusal["reason"] == f"the shadow policy at {path} (--shadow-policy) has errors"
        assert refusal["errors"]
        assert all(error.startswith(str(path)) for error in refusal["errors"])  # where each is


def test_a_bad_shadow_policy_is_refused_on_reload_and_a_good_one_rolled_out(
    start_server: ServerFactory, redis_url: str, tmp_path: Path
) -> None:
    load_customers(redis_url)
    candidate = raised_threshold(tmp_path)
    server = start_server(
        redis_url, extra_args=["--workers", "2", "--shadow-policy", str(candidate)]
    )
    free_until_9000 = request("nobody-1", pb.CHANNEL_WEB, order_value_minor=8_000, currency="EUR")

    def shadow_metric(name: str, **labels: str) -> float:
        return metric(scrape(server.metrics_port), f"tierline_shadow_{name}", **labels)

    def only_newer() -> bool:
        """Both new workers evaluate the newer shadow policy, and no old one is left."""
        return shadow_metric("policy_info") == 2 == shadow_metric("policy_info", version=NEWER)

    with stub_on(server.target, Stub, retrying=True) as stub:
        stub.Decide(free_until_9000, timeout=TIMEOUT)  # both ship it free from 75.00
        (candidate / "entitlements.yaml").write_text("rules: [oops\n")
        server.signal(signal.SIGHUP)
        wait_for(
            lambda: server.events("policy reload rejected", reason="the shadow policy has errors"),
            what="the reload refused",
        )
        refused = scrape(server.metrics_port)
        assert metric(refused, "tierline_policy_reloads_total", result="rejected") == 1
        assert metric(refused, "tierline_shadow_policy_info", version=CANDIDATE_VERSION) == 2
        assert shadow_metric("decisions_total", result="differ") == 0

        raised_threshold(tmp_path, euros=90, version=NEWER)
        server.signal(signal.SIGHUP)
        wait_for(only_newer, seconds=90, what="both new workers evaluating the new shadow policy")
        answer = stub.Decide(free_until_9000, timeout=TIMEOUT).decision
        wait_for(
            lambda: shadow_metric("decisions_total", result="differ") == 1,
            what="the new shadow's difference counted",
        )

    assert answer.policy_version == "2026.11.1"
    assert "free-shipping" in {perk.code for perk in answer.perks}
    samples = scrape(server.metrics_port)
    assert metric(samples, "tierline_policy_reloads_total", result="success") == 1


def test_watch_reloads_when_the_shadow_policy_changes(
    start_server: ServerFactory, redis_url: str, tmp_path: Path
) -> None:
    candidate = raised_threshold(tmp_path)
    server = start_server(redis_url, extra_args=["--watch", "--shadow-policy", str(candidate)])

    raised_threshold(tmp_path, version=NEWER)

    wait_for(
        lambda: metric(scrape(server.metrics_port), "tierline_shadow_policy_info", version=NEWER),
        seconds=90,
        what="the watched shadow policy evaluated",
    )
    assert server.events("policy reloaded", policy_version="2026.11.1")
    assert server.events("shadowing", shadow_policy_version=NEWER)
