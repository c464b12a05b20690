"""Helpers of the service integration tests: customers in Redis, requests, statuses, labels."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from hypothesis import strategies as st
from support.customers import write_features
from support.requests import request
from support.security import with_token
from support.tierline_process import TierlineProcess
from tierline import connection
from tierline.v1 import entitlement_pb2 as pb

StubT = TypeVar("StubT")

ServerFactory = Callable[..., TierlineProcess]
"""The ``start_server`` fixture: (redis_url, policy=..., extra_args=..., env=..., auth_file=...,
credentials=...) -> started."""

TIMEOUT = 10.0
"""Deadline of every test RPC: generous, so that a loaded CI machine never fails a test by time."""


CUSTOMERS: dict[str, dict[str, object]] = {
    "gold-1": {"tier": "gold", "ltv": 7000, "tenure_days": 400, "orders_12m": 8},
    "platinum-1": {"tier": "platinum", "ltv": 25000, "tenure_days": 900, "orders_12m": 20},
    "growth-1": {"tier": "growth", "ltv": 1500, "tenure_days": 300, "orders_12m": 14},
    "standard-1": {"tier": "standard", "ltv": 300, "tenure_days": 200},
    "basic-1": {"tier": "basic", "ltv": 50, "tenure_days": 200},
    "newbie-1": {"tier": "basic", "ltv": 10, "tenure_days": 5},
    "complainer-1": {"tier": "gold", "ltv": 6000, "tenure_days": 700, "complaints_90d": 7},
    "evangelist-1": {"tier": "standard", "ltv": 400, "tenure_days": 365, "evangelist": "true"},
}
"""Customers every test Redis holds, by the default policy's tiers (with a tenure past the
new-customer care, except newbie-1)."""

CHANNELS = [value for name, value in pb.Channel.items() if name != "CHANNEL_UNSPECIFIED"]

MORE_CUSTOMERS: dict[str, dict[str, object]] = {
    "chronic-1": {"tier": "growth", "ltv": 2000, "tenure_days": 50, "complaints_90d": 9},
    "loyal-growth-1": {"tier": "growth", "ltv": 3000, "tenure_days": 800, "orders_12m": 30},
    "fan-platinum-1": {"tier": "platinum", "ltv": 50000, "evangelist": "true"},
    "undecodable-1": {"tier": "diamond", "ltv": "lots", "tenure_days": "ages"},
    "empty-1": {},
}
"""Beyond the shared customers: complainers, fans, and stored values of the wrong type."""

KNOWN = [*CUSTOMERS, *MORE_CUSTOMERS]
INTENTS = ["", "support", "billing", "outage", "cancel", "purchase", "complaint"]

customer_ids = st.sampled_from([*KNOWN, "never-seen-1"]) | st.from_regex(
    r"[A-Za-z0-9._:@-]{1,128}", fullmatch=True
)
intents = st.sampled_from(INTENTS) | st.from_regex(r"[a-z0-9_.-]{0,64}", fullmatch=True)
orders = st.none() | st.tuples(
    st.integers(0, 10**12), st.sampled_from(["EUR", "USD", "JPY", "GBP"])
)
attribute_values = st.sampled_from(["spring-2026", "spring-26", "x"]) | st.text(
    st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=256
).filter(lambda value: len(value.encode()) <= 256)  # the API counts bytes of UTF-8
attributes = st.dictionaries(
    st.just("campaign") | st.from_regex(r"[A-Za-z0-9_.-]{1,64}", fullmatch=True),
    attribute_values,
    max_size=32,
)


@st.composite
def valid_requests(draw: st.DrawFn) -> pb.DecideRequest:
    order = draw(orders)
    return request(
        draw(customer_ids),
        draw(st.sampled_from(CHANNELS)),
        intent=draw(intents),
        order_value_minor=order[0] if order else None,
        currency=order[1] if order else draw(st.sampled_from(["", "CHF"])),
        item_count=draw(st.integers(0, 100_000)),
        attributes=draw(attributes),
        explain=draw(st.booleans()),
    )


def load_customers(redis_url: str) -> None:
    """Write CUSTOMERS."""
    write_features(redis_url, CUSTOMERS)


def set_version(rules: Path, version: str) -> None:
    """Change the version of the policy in ``rules`` (a copy of rules/)."""
    policy = rules / "policy.yaml"
    lines = policy.read_text().splitlines(keepends=True)
    policy.write_text(
        "".join(
            f'version: "{version}"\n' if line.startswith("version:") else line for line in lines
        )
    )


CLIENT_OPTIONS = connection.channel_options(connection.RetryPolicy(), None)
"""The Tierline client's channel options: its retry policy above all, which retries a call that
a retiring worker (after a reload) had received but not started."""


@contextmanager
def stub_on(
    target: str,
    stub_type: Callable[[grpc.Channel], StubT],
    *,
    retrying: bool = False,
    token: str | None = None,
) -> Iterator[StubT]:
    """A stub of ``stub_type`` on a fresh channel to ``target``, closed afterwards; with
    ``retrying``, the channel retries as the Tierline client does; with ``token``, every call
    sends it."""
    with grpc.insecure_channel(target, options=CLIENT_OPTIONS if retrying else None) as channel:
        yield stub_type(with_token(channel, token) if token else channel)


def bad_request(error: grpc.RpcError) -> list[tuple[str, str]]:
    """The (field, description) pairs of the google.rpc.BadRequest in an error's status."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "the status carries no google.rpc details"
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    violations: list[tuple[str, str]] = []
    for detail in status.details:
        found = error_details_pb2.BadRequest()
        if detail.Unpack(found):
            violations.extend((v.field, v.description) for v in found.field_violations)
    assert violations, "INVALID_ARGUMENT without BadRequest field violations"
    return violations


def perk_codes(decision: pb.Decision) -> set[str]:
    """The codes of a decision's perks."""
    return {perk.code for perk in decision.perks}


def label_values(samples: Iterable[tuple[str, frozenset[tuple[str, str]]]]) -> set[str]:
    """Every label value on the endpoint."""
    return {value for _, labels in samples for _, value in labels}


def at_least_baseline(decision: pb.Decision, baseline: pb.Baseline) -> list[str]:
    """How ``decision`` falls below ``baseline`` (empty when it does not)."""
    level, floor = decision.service_level, baseline.service_level
    worse = []
    if level.rank < floor.rank:
        worse.append(f"level {level.name} below {floor.name}")
    if level.sla.max_wait_seconds > floor.sla.max_wait_seconds:
        worse.append(f"max_wait {level.sla.max_wait_seconds} > {floor.sla.max_wait_seconds}")
    if level.sla.first_response_seconds > floor.sla.first_response_seconds:
        worse.append(
            f"first_response {level.sla.first_response_seconds} > "
            f"{floor.sla.first_response_seconds}"
        )
    if floor.sla.callback_offered and not level.sla.callback_offered:
        worse.append("no callback")
    if floor.sla.human_agent_guaranteed and not level.sla.human_agent_guaranteed:
        worse.append("no human agent")
    if decision.routing.priority < baseline.routing.priority:
        worse.append(f"priority {decision.routing.priority} < {baseline.routing.priority}")
    missing = {perk.code for perk in baseline.perks} - perk_codes(decision)
    if missing:
        worse.append(f"baseline perks missing: {sorted(missing)}")
    if not decision.baseline_applied:
        worse.append("baseline_applied false")
    return worse
