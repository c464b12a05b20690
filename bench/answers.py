"""Was every answer OK? h2load cannot tell for gRPC (an error is an HTTP 200 with a
``grpc-status`` trailer), so two other witnesses are asked:

- **the server's own count** of the answers it sent, by method, status and protocol
  (``tierline_rpcs_total{method, code, protocol}``), read from /metrics before and after a timed
  run. Over a run h2load completes every request it starts (see h2load.py), so the OK answers
  the server counted for the run's method and protocol must equal h2load's responses, and no
  other status may appear: a call shed or refused before the handler is counted too. How many
  OK answers carried a degraded decision comes from the handler's histogram
  (``tierline_decision_duration_seconds_count{method, outcome="degraded"}``).
- **a decoded sample**: every body of the mix sent once by a Python client, in the target's
  encoding (gRPC, or Connect JSON or protobuf over HTTP/1.1), before and after the timed runs,
  its status checked and its answer decoded and compared with what the body expects (customer,
  tier, not degraded; every item of a batch). The bare echo servers count nothing, so for them
  this sample is the whole check, with h2load's own counts.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import grpc
import wire
from google.protobuf import json_format
from mix import Body
from prometheus_client.parser import text_string_to_metric_families
from tierline.v1 import entitlement_pb2 as pb

ANSWERS_METRIC = "tierline_rpcs"
"""The family of ``tierline_rpcs_total`` (prometheus-client names a counter without _total)."""
DURATION_METRIC = "tierline_decision_duration_seconds"
OK = "OK"
SAMPLE_DEADLINE_SECONDS = 5.0
MAX_ERROR_CHARACTERS = 200
"""Of an HTTP error's body, quoted in a problem."""

Codes = collections.Counter[tuple[str, str, str]]
"""Answers by (method, protocol, gRPC status name)."""
Send = Callable[[Body], bytes]
"""Sends one body; its answer in binary protobuf; NotOK for any other status."""


class NotOK(Exception):
    """A sampled call was not answered OK; the message says with what."""


def answer_codes(metrics_text: str) -> tuple[Codes, int]:
    """Answers a server sent so far, by method, protocol and status; and how many were
    degraded."""
    codes: Codes = collections.Counter()
    degraded = 0
    for family in text_string_to_metric_families(metrics_text):
        if family.name == ANSWERS_METRIC:
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    labels = sample.labels
                    codes[(labels["method"], labels["protocol"], labels["code"])] += int(
                        sample.value
                    )
        elif family.name == DURATION_METRIC:
            degraded += sum(
                int(sample.value)
                for sample in family.samples
                if sample.name.endswith("_count") and sample.labels["outcome"] == "degraded"
            )
    return codes, degraded


@dataclass(frozen=True)
class Accounting:
    """The answers a server counted over one timed run, against h2load's responses."""

    method: str
    protocol: str
    responses: int
    """Whole responses h2load received (HTTP 2xx or not)."""
    codes: dict[str, int]
    """Answers the server counted for ``method`` over ``protocol`` during the run, by gRPC
    status."""
    degraded: int
    """OK answers that carried a degraded decision (features unavailable)."""

    @property
    def problems(self) -> list[str]:
        """Why the answers were not all OK; empty when they were."""
        found = [f"{count:,} answered {code}" for code, count in self.codes.items() if code != OK]
        ok = self.codes.get(OK, 0)
        if ok != self.responses:
            found.append(
                f"the server counted {ok:,} OK answers over {self.protocol}, "
                f"h2load {self.responses:,}"
            )
        return found


def account(
    method: str, protocol: str, before: Iterable[str], after: Iterable[str], responses: int
) -> Accounting:
    """Compare the /metrics texts of every process before and after a run with h2load's
    ``responses``, for the calls of ``method`` over ``protocol``."""
    counted_before, degraded_before = counted(before)
    counted_after, degraded_after = counted(after)
    codes = {}
    for (name, over, code), count in counted_after.items():
        change = count - counted_before[(name, over, code)]
        if (name, over) == (method, protocol) and change:
            codes[code] = change
    return Accounting(method, protocol, responses, codes, degraded_after - degraded_before)


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
    address: str,
    path: str,
    bodies: Sequence[Body],
    *,
    protocol: wire.Protocol = wire.GRPC,
    echo_answer: bytes | None = None,
) -> Sampled:
    """Send each body once to ``address`` (host:port of the listener ``protocol`` goes to) and
    check the status and the decoded answer.

    ``echo_answer``: the server is a bare echo and must answer exactly these bytes.
    """
    found = Sampled()
    with _sender(address, path, protocol) as send:
        for body in bodies:
            found.decisions += len(body.expected)
            try:
                answer = send(body)
            except NotOK as error:
                found.problems.append(f"{body.label}: {error}")
                continue
            if echo_answer is not None:
                if answer != echo_answer:
                    found.problems.append(f"{body.label}: the echo answered other bytes")
                continue
            problems, degraded = check(body, answer)
            found.problems.extend(f"{body.label}: {problem}" for problem in problems)
            found.degraded += degraded
    return found


@contextlib.contextmanager
def _sender(address: str, path: str, protocol: wire.Protocol) -> Iterator[Send]:
    """How the sample sends a body in ``protocol``: a gRPC channel, or HTTP/1.1 posts (the
    answer's encoding is what is checked; the transport under load is checked by h2load)."""
    if protocol.over_http:
        yield functools.partial(_post, f"http://{address}{path}", protocol)
        return
    with grpc.insecure_channel(address) as channel:
        call = channel.unary_unary(path)  # bytes in and out: nothing re-encoded

        def send(body: Body) -> bytes:
            try:
                answer: bytes = call(body.message, timeout=SAMPLE_DEADLINE_SECONDS)
            except grpc.RpcError as error:
                raise NotOK(f"{error.code().name} {error.details()}") from None
            return answer

        yield send


def _post(url: str, protocol: wire.Protocol, body: Body) -> bytes:
    """One Connect call over HTTP/1.1; its answer re-encoded in binary, so that one check reads
    the answers of every protocol."""
    headers = dict(header.split(": ", 1) for header in protocol.headers)
    request = urllib.request.Request(url, protocol.encode(body), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=SAMPLE_DEADLINE_SECONDS) as response:
            data: bytes = response.read()
            content_type: str = response.headers.get_content_type()
    except urllib.error.HTTPError as error:
        text = error.read().decode(errors="replace")[:MAX_ERROR_CHARACTERS]
        raise NotOK(f"HTTP {error.code} {text}") from None
    answer = (pb.DecideBatchResponse if body.batch else pb.DecideResponse)()
    if content_type == "application/json":
        json_format.Parse(data, answer)
    elif content_type == "application/proto":
        answer.ParseFromString(data)
    else:
        raise NotOK(f"HTTP {response.status} with content-type {content_type}")
    encoded: bytes = answer.SerializeToString()
    return encoded


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
