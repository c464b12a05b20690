"""Hostile or broken policy input against a real `tierline serve`: a regular expression that a
backtracking engine would take years over, candidates that are bombs or garbage, unreadable
policy files at start, on ReloadPolicy and on SIGHUP. Each is an answer or a policy error at a
line; none stops decisions, raises a traceback or answers UNKNOWN."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from service_support import (
    TIMEOUT,
    ServerFactory,
    bad_request,
    load_customers,
    perk_codes,
    stub_on,
)
from support.metrics import metric, scrape
from support.paths import REPO
from support.redis_server import RedisServer
from support.requests import request
from support.tierline_process import TierlineProcess
from support.waiting import wait_for
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc, policy_admin_pb2_grpc
from tierline.v1 import policy_admin_pb2 as admin_pb
from tierline_server.policy.source import MAX_NESTING_DEPTH, MAX_POLICY_BYTES

pytestmark = pytest.mark.integration

ADMIN_ARGS = ("--enable-admin", "true")

NOTE_RULE = """
  - id: note-of-as
    description: A pattern a backtracking engine takes exponential time over.
    when: {attributes.note: {matches: "^(a+)+$"}}
    grant: {perks: [{code: all-as}]}
"""

ALIAS_BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{name}: &{name} [{','.join([f'*{previous}'] * 9)}]\n"
    for previous, name in itertools.pairwise("abcdefghijklmnopqr")
)
"""18 anchors in under 800 bytes, nine references each: 9**18 strings once expanded."""


def default_policy_text() -> str:
    """The default policy as one YAML document."""
    rules = REPO / "rules"
    return (rules / "policy.yaml").read_text() + "\n" + (rules / "entitlements.yaml").read_text()


def large_policy_text(limit: int = MAX_POLICY_BYTES - 64 * 1024) -> str:
    """A valid policy of nearly ``limit`` bytes: the default rules, repeated under new ids."""
    text = default_policy_text()
    rules = (REPO / "rules" / "entitlements.yaml").read_text().split("rules:\n", 1)[1]
    copies: list[str] = []
    size, copy = len(text.encode()), 0
    while True:
        copy += 1
        more = re.sub(r"- id: (\S+)", rf"- id: \1-{copy}", rules)
        if size + len(more.encode()) > limit:
            return text + "".join(copies)
        copies.append(more)
        size += len(more.encode())


@pytest.fixture(scope="module")
def policy_server(
    _session_redis: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TierlineProcess]:
    """One Tierline for the module (its tests change nothing): the default policy plus
    NOTE_RULE, PolicyAdmin on."""
    rules = Path(shutil.copytree(REPO / "rules", tmp_path_factory.mktemp("policy") / "rules"))
    entitlements = rules / "entitlements.yaml"
    entitlements.write_text(entitlements.read_text().rstrip("\n") + "\n" + NOTE_RULE.lstrip("\n"))
    server = TierlineProcess(_session_redis.url, policy=rules, extra_args=ADMIN_ARGS).start()
    yield server
    server.stop()


@pytest.fixture
def admin(policy_server: TierlineProcess) -> Iterator[policy_admin_pb2_grpc.PolicyAdminServiceStub]:
    """PolicyAdmin on the module's server."""
    with stub_on(policy_server.target, policy_admin_pb2_grpc.PolicyAdminServiceStub) as stub:
        yield stub


@pytest.fixture
def entitlement(
    policy_server: TierlineProcess, redis_url: str
) -> Iterator[entitlement_pb2_grpc.EntitlementServiceStub]:
    """EntitlementService on the module's server, CUSTOMERS loaded."""
    load_customers(redis_url)
    with stub_on(policy_server.target, entitlement_pb2_grpc.EntitlementServiceStub) as stub:
        yield stub


@pytest.fixture
def reloading_server(
    start_server: ServerFactory, redis_url: str, rules_dir: Path
) -> TierlineProcess:
    """A Tierline of the test's own, PolicyAdmin on, serving the editable copy of the policy."""
    load_customers(redis_url)
    return start_server(redis_url, policy=rules_dir, extra_args=ADMIN_ARGS)


@pytest.mark.parametrize(
    ("note", "granted"),
    [
        pytest.param("a" * 27 + "!", False, id="28-bytes"),
        pytest.param("a" * 59 + "!", False, id="60-bytes"),
        pytest.param("a" * 255 + "!", False, id="256-bytes"),
        pytest.param("a" * 256, True, id="256-bytes-matching"),
    ],
)
def test_a_nested_quantifier_costs_a_caller_nothing(
    entitlement: entitlement_pb2_grpc.EntitlementServiceStub, note: str, granted: bool
) -> None:
    """A backtracking engine took 3.1 s at 28 bytes, doubling per byte; every caller waited."""
    decision = entitlement.Decide(
        request("gold-1", attributes={"note": note}), timeout=TIMEOUT
    ).decision
    assert ("all-as" in perk_codes(decision)) is granted
    assert entitlement.Decide(request("gold-1"), timeout=TIMEOUT).decision.policy_version


CANDIDATE_ERRORS = [
    pytest.param(
        default_policy_text() + ALIAS_BOMB,
        "yaml: anchors and aliases are not supported: write each value out (found &a)",
        id="alias-bomb",
    ),
    pytest.param(
        default_policy_text() + "deep: " + "[" * 5_000 + "]" * 5_000 + "\n",
        "yaml: exceeded maximum nesting depth",
        id="5000-deep",
    ),
    pytest.param(
        default_policy_text().replace("policy: default", "policy: def\0ault"),
        "yaml: character #x0000 is not allowed: control characters are not allowed",
        id="nul-byte",
    ),
    pytest.param(
        default_policy_text().replace('"^spring-[0-9]{4}$"', "'^(spring)-\\1$'"),
        "does not compile: invalid escape sequence: \\1",
        id="backreference",
    ),
    pytest.param("!!int ''", "yaml: tags are not supported", id="tagged-garbage"),
]


@pytest.mark.parametrize(("text", "reason"), CANDIDATE_ERRORS)
def test_validate_reports_a_hostile_candidate_as_invalid(
    admin: policy_admin_pb2_grpc.PolicyAdminServiceStub,
    entitlement: entitlement_pb2_grpc.EntitlementServiceStub,
    text: str,
    reason: str,
) -> None:
    """An error at a line, valid=false; never UNKNOWN, and decisions go on."""
    result = admin.ValidatePolicy(
        admin_pb.ValidatePolicyRequest(policy_text=text, name="candidate.yaml"), timeout=TIMEOUT
    )

    assert not result.valid
    (error,) = result.errors
    assert error.file == "candidate.yaml"
    assert reason in error.message
    assert error.message == f"{error.file}:{error.line}: {error.element}: {error.reason}"
    assert entitlement.Decide(request("gold-1"), timeout=TIMEOUT).decision.policy_version


def test_validate_refuses_a_candidate_over_the_size_limit(
    admin: policy_admin_pb2_grpc.PolicyAdminServiceStub,
) -> None:
    text = "#" * MAX_POLICY_BYTES + "\n"

    with pytest.raises(grpc.RpcError) as caught:
        admin.ValidatePolicy(admin_pb.ValidatePolicyRequest(policy_text=text), timeout=TIMEOUT)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request(caught.value) == [
        ("policy_text", f"{len(text):,} bytes; a policy may have at most {MAX_POLICY_BYTES:,}")
    ]


def test_decisions_go_on_while_a_large_candidate_compiles(
    admin: policy_admin_pb2_grpc.PolicyAdminServiceStub,
    entitlement: entitlement_pb2_grpc.EntitlementServiceStub,
) -> None:
    """Compiling takes seconds; decisions keep their deadlines meanwhile (compiling used to hold
    the event loop, and every Decide sent meanwhile missed its deadline)."""
    text = large_policy_text()
    validating = admin.ValidatePolicy.future(
        admin_pb.ValidatePolicyRequest(policy_text=text), timeout=120
    )
    answered_meanwhile = 0
    while not validating.done():
        decision = entitlement.Decide(request("gold-1"), timeout=2).decision
        assert decision.service_level.name == "premium"
        answered_meanwhile += not validating.done()

    assert validating.result().valid
    assert answered_meanwhile >= 3


UNREADABLE: dict[str, tuple[bytes, str]] = {
    # name: (the content of one more file in the policy's directory, the error after file:)
    "nul": (b"policy: def\0ault\n", "1: yaml: character #x0000 is not allowed"),
    "not-utf8": (b"policy: \xff\n", "1: yaml: not UTF-8 text (byte 0xff)"),
    "65-deep": (
        b"deep: " + b"[" * MAX_NESTING_DEPTH + b"]" * MAX_NESTING_DEPTH + b"\n",
        f"1: yaml: nested more than {MAX_NESTING_DEPTH} mappings or lists deep",
    ),
    "5000-deep": (  # refused by libyaml's own limit while it reads ahead
        b"deep: " + b"[" * 5_000 + b"]" * 5_000 + b"\n",
        "1: yaml: exceeded maximum nesting depth",
    ),
    "alias-bomb": (ALIAS_BOMB.encode(), "1: yaml: anchors and aliases"),
}


def test_serve_refuses_an_unreadable_policy_with_exit_2_and_a_message(
    redis_url: str, tmp_path: Path
) -> None:
    """Each unreadable policy in its own `tierline serve`, all at once (each exits at start)."""
    started = []
    for name, (content, error) in UNREADABLE.items():
        rules = Path(shutil.copytree(REPO / "rules", tmp_path / name))
        (rules / "extra.yaml").write_bytes(content)
        command = TierlineProcess(redis_url, policy=rules).args
        process = subprocess.Popen(
            command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        started.append((rules, error, process))

    for rules, error, process in started:
        output, _ = process.communicate(timeout=60)
        assert process.returncode == 2, output
        assert "Traceback" not in output
        events = [json.loads(line) for line in output.splitlines()]  # every line is an event
        (refusal,) = [event for event in events if event["event"] == "not serving"]
        assert refusal["reason"] == f"the policy at {rules} has errors"
        assert [e for e in refusal["errors"] if e.startswith(f"{rules / 'extra.yaml'}:{error}")]


def test_reload_of_an_unreadable_policy_is_rejected_with_its_error(
    reloading_server: TierlineProcess, rules_dir: Path
) -> None:
    extra = rules_dir / "extra.yaml"
    with stub_on(reloading_server.target, policy_admin_pb2_grpc.PolicyAdminServiceStub) as admin:
        for content, error in UNREADABLE.values():
            extra.write_bytes(content)

            result = admin.ReloadPolicy(admin_pb.ReloadPolicyRequest(), timeout=TIMEOUT)

            assert not result.reloaded
            (only,) = result.errors
            assert only.message.startswith(f"{extra}:{error}")


def test_sighup_with_an_unreadable_policy_is_a_rejected_reload_logged_once(
    reloading_server: TierlineProcess, rules_dir: Path
) -> None:
    """Counted as rejected, one log event each, no traceback; the old policy serves on."""
    extra = rules_dir / "extra.yaml"
    with stub_on(reloading_server.target, entitlement_pb2_grpc.EntitlementServiceStub) as stub:
        served = stub.GetPolicy(pb.GetPolicyRequest(), timeout=TIMEOUT).policy
        for count, (name, (content, _)) in enumerate(UNREADABLE.items(), start=1):
            extra.write_bytes(content)

            reloading_server.signal(signal.SIGHUP)

            wait_for(lambda n=count: rejected(reloading_server) == n, what=f"rejection of {name}")
            assert stub.GetPolicy(pb.GetPolicyRequest(), timeout=TIMEOUT).policy == served
            assert stub.Decide(request("gold-1"), timeout=TIMEOUT).decision.policy_version

    assert reloading_server.stop() == 0
    rejections = reloading_server.events("policy reload rejected")
    assert [event["serving_version"] for event in rejections] == [served.version] * len(UNREADABLE)
    for event, (_, error) in zip(rejections, UNREADABLE.values(), strict=True):
        (message,) = event["errors"]
        assert message.startswith(f"{extra}:{error}")
    assert "Traceback" not in reloading_server.output


def rejected(server: TierlineProcess) -> float:
    """How many reloads ``server`` has rejected."""
    return metric(scrape(server.metrics_port), "tierline_policy_reloads_total", result="rejected")
