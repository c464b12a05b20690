"""Helpers of the service integration tests: customers in Redis, requests, statuses, labels."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from support.customers import write_features
from support.tierline_process import TierlineProcess
from tierline import connection
from tierline.v1 import entitlement_pb2 as pb

StubT = TypeVar("StubT")

ServerFactory = Callable[..., TierlineProcess]
"""The ``start_server`` fixture: (redis_url, policy=..., extra_args=..., env=...) -> started."""

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
    target: str, stub_type: Callable[[grpc.Channel], StubT], *, retrying: bool = False
) -> Iterator[StubT]:
    """A stub of ``stub_type`` on a fresh channel to ``target``, closed afterwards; with
    ``retrying``, the channel retries as the Tierline client does."""
    with grpc.insecure_channel(target, options=CLIENT_OPTIONS if retrying else None) as channel:
        yield stub_type(channel)


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
