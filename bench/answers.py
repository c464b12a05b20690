"""Was every answer a gRPC OK? h2load cannot tell (an error is an HTTP 200 with a
``grpc-status`` trailer), so two other witnesses are asked:

- **the server's own count** of the answers it sent, by method and status, read from /metrics
  before and after a timed run. Over a run h2load completes every request it starts (see
  h2load.py), so the OK answers the server counted must equal h2load's responses, and no
  other status may appear. Today Tierline counts answers in its handler histogram
  (``tierline_decision_duration_seconds_count{method, outcome}``): ``ok`` and ``degraded`` are
  OK, ``invalid`` is INVALID_ARGUMENT, ``error`` another status. A call refused before the
  handler (RESOURCE_EXHAUSTED, UNIMPLEMENTED) is not counted there: it shows as a shortfall
  against h2load. :func:`answer_codes` is the one place to read a per-status counter
  (``tierline_rpcs_total{method, code}``) instead, once the server has one.
- **a decoded sample**: every body of the mix sent once by a Python client before and after
  the timed runs, its status checked and its answer decoded and compared with what the body
  expects (customer, tier, not degraded; every item of a batch). The bare echo servers count
  nothing, so for them this sample is the whole check, with h2load's own counts.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import grpc
from mix import Body
from prometheus_client.parser import text_string_to_metric_families
from tierline.v1 import entitlement_pb2 as pb

ANSWERS_METRIC = "tierline_decision_duration_seconds"
OUTCOME_CODES = {
    "ok": "OK",
    "degraded": "OK",
    "invalid": "INVALID_ARGUMENT",
    "error": "not OK (error)",
}
OK = "OK"
SAMPLE_DEADLINE_SECONDS = 5.0

Codes = collections.Counter[tuple[str, str]]
"""Answers by (method, gRPC status name)."""


def answer_codes(metrics_text: str) -> tuple[Codes, int]:
    """Answers a server sent so far, by method and status; and how many were degraded."""
    codes: Codes = collections.Counter()
    degraded = 0
    for family in text_string_to_metric_families(metrics_text):
        if family.name != ANSWERS_METRIC:
            continue
        for sample in family.samples:
            if not sample.name.endswith("_count"):
                continue
            method, outcome = sample.labels["method"], sample.labels["outcome"]
            codes[(method, OUTCOME_CODES.get(outcome, outcome))] += int(sample.value)
            degraded += int(sample.value) if outcome == "degraded" else 0
    return codes, degraded


@dataclass(frozen=True)
class Accounting:
    """The answers a server counted over one timed run, against h2load's responses."""

    method: str
    responses: int
    """Whole responses h2load received (HTTP 2xx or not)."""
    codes: dict[str, int]
    """Answers the server counted for ``method`` during the run, by gRPC status."""
    degraded: int
    """OK answers that carried a degraded decision (features unavailable)."""

    @property
    def problems(self) -> list[str]:
        """Why the answers were not all OK; empty when they were."""
        found = [f"{count:,} answered {code}" for code, count in self.codes.items() if code != OK]
        ok = self.codes.get(OK, 0)
        if ok != self.responses:
            found.append(f"the server counted {ok:,} OK answers, h2load {self.responses:,}")
        return found


def account(method: str, before: Iterable[str], after: Iterable[str], responses: int) -> Accounting:
    """Compare the /metrics texts of every process before and after a run with h2load's
    ``responses``."""
    counted_before, degraded_before = counted(before)
    counted_after, degraded_after = counted(after)
    codes = {
        code: counted_after[(name, code)] - counted_before[(name, code)]
        for (name, code) in counted_after
        if name == method and counted_after[(name, code)] != counted_before[(name, code)]
    }
    return Accounting(method, responses, codes, degraded_after - degraded_before)


def counted(texts: Iterable[str]) -> tuple[Codes, int]:
    """Answers counted by every process (their /metrics texts), and how many were degraded."""
    codes: Codes = collections.Counter()
    degraded = 0
    for text in texts:
        found, found_degraded = answer_codes(text)
        codes.update(found)
        degraded += found_degraded
    return codes, degraded


@dataclass
class Sampled:
    """What the decoded sample found."""

    decisions: int = 0
    """Decisions asked for (a batch body asks for many)."""
    problems: list[str] = field(default_factory=list)
    """Non-OK statuses and wrong answers: the run fails."""
    degraded: int = 0
    """Decisions answered OK but degraded (features unavailable: Redis over its budget or the
    circuit open). Not wrong, by the design, but not the full decision either: counted apart."""


def sample(
    target: str, path: str, bodies: Sequence[Body], *, echo_answer: bytes | None = None
) -> Sampled:
    """Send each body once (a Python gRPC client, the very bytes h2load sends) and check the
    status and the decoded answer.

    ``echo_answer``: the server is a bare echo and must answer exactly these bytes.
    """
    found = Sampled()
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(path)  # bytes in and out: nothing re-encoded
        for body in bodies:
            found.decisions += len(body.expected)
            try:
                answer = call(body.message, timeout=SAMPLE_DEADLINE_SECONDS)
            except grpc.RpcError as error:
                found.problems.append(f"{body.label}: {error.code().name} {error.details()}")
                continue
            if echo_answer is not None:
                if answer != echo_answer:
                    found.problems.append(f"{body.label}: the echo answered other bytes")
                continue
            problems, degraded = check(body, answer)
            found.problems.extend(f"{body.label}: {problem}" for problem in problems)
            found.degraded += degraded
    return found


def check(body: Body, answer: bytes) -> tuple[list[str], int]:
    """What is wrong with Tierline's answer to ``body`` (Decide or DecideBatch), and how many
    of its decisions were degraded (their tier is ``unknown`` by design: not compared)."""
    if not body.batch:
        decisions = [pb.DecideResponse.FromString(answer).decision]
    else:
        results = pb.DecideBatchResponse.FromString(answer).results
        bad = [result.status.code for result in results if result.status.code != 0]
        if bad or len(results) != len(body.expected):
            return [f"{len(bad)} items not OK (codes {sorted(set(bad))}) of {len(results)}"], 0
        decisions = [result.decision for result in results]
    problems, degraded = [], 0
    for decision, expected in zip(decisions, body.expected, strict=True):
        if decision.degraded:
            degraded += 1
        elif decision.customer_id != expected.customer_id or decision.tier != expected.tier:
            problems.append(
                f"asked {expected.customer_id} ({expected.tier}), "
                f"answered {decision.customer_id} ({decision.tier})"
            )
    return problems, degraded
