"""PolicyAdminService (with --enable-admin): validate candidates, reload the served policy —
atomically, under load, and never onto a bad policy. SIGHUP reloads too."""

from __future__ import annotations

import hashlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from service_support import (
    CLIENT_OPTIONS,
    TIMEOUT,
    ServerFactory,
    load_customers,
    perk_codes,
    set_version,
    stub_on,
)
from support.customers import write_features
from support.metrics import metric, scrape
from support.paths import REPO
from support.requests import request
from support.tierline_process import TierlineProcess
from support.waiting import wait_for
from tierline.v1 import entitlement_pb2 as pb
from tierline.v1 import entitlement_pb2_grpc, policy_admin_pb2_grpc
from tierline.v1 import policy_admin_pb2 as admin_pb

pytestmark = pytest.mark.integration

ADMIN_ARGS = ("--enable-admin", "true")
ORIGINAL_VERSION = 'version: "2026.11.1"'
LOAD_THREADS = 4

BROKEN_RULES = """\
  - id: broken-unknown-feature
    when: {colour: red}
    grant: {perks: [{code: paint}]}
  - id: broken-undeclared-level
    when: {tier: gold}
    grant: {service_level: diamond}
  - id: broken-channel-perk
    when: {channel: phone}
    grant: {perks: [{code: phone-perk}]}
  - id: gold-priority-support
    when: {tier: gold}
    grant: {perks: [{code: duplicate}]}
"""
"""Four rules, each wrong in its own way; appended to the rules list they are its last items."""


def default_policy_text() -> str:
    """The default policy as one YAML document (policy.yaml, then entitlements.yaml)."""
    rules = REPO / "rules"
    return (rules / "policy.yaml").read_text() + "\n" + (rules / "entitlements.yaml").read_text()


def version_of(path: Path) -> str:
    """The version line the policy at ``path`` has (policy.yaml)."""
    return next(
        line.split(":", 1)[1].strip().strip('"')
        for line in (path / "policy.yaml").read_text().splitlines()
        if line.startswith("version:")
    )


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the first line of ``text`` containing ``needle``."""
    return next(number for number, line in enumerate(text.splitlines(), 1) if needle in line)


def check_error_shape(error: admin_pb.PolicyError, file: str) -> None:
    assert error.file == file
    assert error.line > 0
    assert error.element
    assert error.reason
    assert error.message == f"{error.file}:{error.line}: {error.element}: {error.reason}"


@pytest.fixture
def admin_server(start_server: ServerFactory, redis_url: str, rules_dir: Path) -> TierlineProcess:
    """A Tierline with PolicyAdmin on, serving the editable copy of the policy."""
    load_customers(redis_url)
    return start_server(redis_url, policy=rules_dir, extra_args=ADMIN_ARGS)


@pytest.fixture
def admin(admin_server: TierlineProcess) -> Iterator[policy_admin_pb2_grpc.PolicyAdminServiceStub]:
    with stub_on(
        admin_server.target, policy_admin_pb2_grpc.PolicyAdminServiceStub, retrying=True
    ) as stub:
        yield stub


@pytest.fixture
def entitlement(
    admin_server: TierlineProcess,
) -> Iterator[entitlement_pb2_grpc.EntitlementServiceStub]:
    with stub_on(
        admin_server.target, entitlement_pb2_grpc.EntitlementServiceStub, retrying=True
    ) as stub:
        yield stub


class DecideLoad:
    """Threads that keep sending Decide calls, recording failures and the versions answered.

    The channel has the Tierline client's options (its retry policy above all), as callers'
    channels do: a reload retires the old workers, and a call one of them had received but not
    started is CANCELLED and retried on a new one."""

    def __init__(self, target: str) -> None:
        self._channel = grpc.insecure_channel(target, options=CLIENT_OPTIONS)
        self._stub = entitlement_pb2_grpc.EntitlementServiceStub(self._channel)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.failures: list[str] = []
        self.versions: list[str] = []
        self._threads = [
            threading.Thread(target=self._run, args=(index,), daemon=True)
            for index in range(LOAD_THREADS)
        ]

    def __enter__(self) -> DecideLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=TIMEOUT * 2)
        self._channel.close()

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.versions) + len(self.failures)

    def latest_version(self) -> str | None:
        with self._lock:
            return self.versions[-1] if self.versions else None

    def _run(self, index: int) -> None:
        customer = ["gold-1", "never-seen-1", "platinum-1", "growth-1"][index % 4]
        while not self._stopping.is_set():
            try:
                response = self._stub.Decide(
                    request(customer, pb.CHANNEL_PHONE, intent="cancel"), timeout=TIMEOUT
                )
            except grpc.RpcError as error:
                with self._lock:
                    self.failures.append(f"{error.code()}: {error.details()}")
            else:
                with self._lock:
                    self.versions.append(response.decision.policy_version)


def test_validate_accepts_a_good_policy_and_changes_nothing(
    admin: policy_admin_pb2_grpc.PolicyAdminServiceStub,
    entitlement: entitlement_pb2_grpc.EntitlementServiceStub,
) -> None:
    text = default_policy_text().replace(ORIGINAL_VERSION, 'version: "9999.1.1"')
    served = entitlement.GetPolicy(pb.GetPolicyRequest(), timeout=TIMEOUT).policy

    result = admin.ValidatePolicy(
        admin_pb.ValidatePolicyRequest(policy_text=text, name="candidate.yaml"), timeout=TIMEOUT
    )

    assert result.valid
    assert list(result.errors) == []
    assert result.version == "9999.1.1"
    assert result.checksum == hashlib.sha256(text.encode()).hexdigest()
    assert entitlement.GetPolicy(pb.GetPolicyRequest(), timeout=TIMEOUT).policy == served


def test_validate_reports_every_error_with_file_line_and_message(
    admin: policy_admin_pb2_grpc.PolicyAdminServiceStub,
) -> None:
    text = default_policy_text().rstrip("\n") + "\n" + BROKEN_RULES

    result = admin.ValidatePolicy(
        admin_pb.ValidatePolicyRequest(policy_text=text, name="candidate.yaml"), timeout=TIMEOUT
    )

    assert not result.valid
    assert result.version == ""
    assert result.checksum == ""
    for error in result.errors:
        check_error_shape(error, "candidate.yaml")
    by_rule: dict[str, list[admin_pb.PolicyError]] = {}
    for error in result.errors:
        by_rule.setdefault(error.element, []).append(error)
    assert set(by_rule) == {
        "rule broken-unknown-feature",
        "rule broken-undeclared-level",
        "rule broken-channel-perk",
        "rule gold-priority-support",
    }
    unknown = by_rule["rule broken-unknown-feature"][0]
    assert "colour" in unknown.reason
    assert unknown.line == line_of(text, "when: {colour: red}")
    level = by_rule["rule broken-undeclared-level"][0]
    assert "diamond" in level.reason
    assert level.line in range(
        line_of(text, "broken-undeclared-level"), line_of(text, "diamond") + 1
    )
    parity = by_rule["rule broken-channel-perk"][0]
    assert "channel" in parity.reason
    assert parity.line in range(
        line_of(text, "broken-channel-perk"), line_of(text, "phone-perk") + 1
    )
    duplicate = by_rule["rule gold-priority-support"][0]
    assert "duplicate" in duplicate.reason.lower()
    assert duplicate.line > line_of(text, "phone-perk")  # the second one, not the original
    lines = [error.line for error in result.errors]
    assert lines == sorted(lines)


def test_validate_reports_a_yaml_syntax_error_at_its_line(
    admin: policy_admin_pb2_grpc.PolicyAdminServiceStub,
) -> None:
    text = "policy: default\nversion: '1'\nfeatures: {tier: [unclosed\n"

    result = admin.ValidatePolicy(admin_pb.ValidatePolicyRequest(policy_text=text), timeout=TIMEOUT)

    assert not result.valid
    assert len(result.errors) == 1
    check_error_shape(result.errors[0], "<candidate>")
    assert result.errors[0].line >= 3


def test_validate_reports_an_empty_candidate(
    admin: policy_admin_pb2_grpc.PolicyAdminServiceStub,
) -> None:
    result = admin.ValidatePolicy(admin_pb.ValidatePolicyRequest(policy_text=""), timeout=TIMEOUT)

    assert not result.valid
    assert result.errors
    assert all(error.message for error in result.errors)


def test_the_admin_service_is_healthy_and_reflected_when_enabled(
    admin_server: TierlineProcess,
) -> None:
    assert admin_server.health("tierline.v1.PolicyAdminService") == (
        health_pb2.HealthCheckResponse.SERVING
    )
    with grpc.insecure_channel(admin_server.target) as channel:
        services = ProtoReflectionDescriptorDatabase(channel).get_services()
    assert "tierline.v1.PolicyAdminService" in services


def test_the_admin_service_can_be_enabled_from_the_environment(
    start_server: ServerFactory, redis_url: str
) -> None:
    server = start_server(redis_url, env={"TIERLINE_ENABLE_ADMIN": "true"})

    with grpc.insecure_channel(server.target) as channel:
        admin = policy_admin_pb2_grpc.PolicyAdminServiceStub(channel)
        result = admin.ReloadPolicy(admin_pb.ReloadPolicyRequest(), timeout=TIMEOUT)

    # Served, and answered: the files are unchanged, so there is nothing to reload.
    assert not result.reloaded
    assert not result.errors
    assert result.version == "2026.11.1"


def test_reload_swaps_a_good_policy_and_keeps_the_old_one_on_a_bad_one_under_load(
    admin_server: TierlineProcess,
    admin: policy_admin_pb2_grpc.PolicyAdminServiceStub,
    entitlement: entitlement_pb2_grpc.EntitlementServiceStub,
    rules_dir: Path,
) -> None:
    old = entitlement.GetPolicy(pb.GetPolicyRequest(), timeout=TIMEOUT).policy
    assert old.version == version_of(rules_dir)
    entitlements = rules_dir / "entitlements.yaml"
    good_rules = entitlements.read_text()

    with DecideLoad(admin_server.target) as load:
        wait_for(lambda: load.count >= 50, what="the load to get going")

        set_version(rules_dir, "2026.11.1-reloaded")
        good = admin.ReloadPolicy(admin_pb.ReloadPolicyRequest(), timeout=TIMEOUT)
        assert good.reloaded
        assert good.version == "2026.11.1-reloaded"
        assert good.checksum != old.checksum
        assert list(good.errors) == []
        wait_for(lambda: load.latest_version() == "2026.11.1-reloaded", what="the new version")
        served = entitlement.GetPolicy(pb.GetPolicyRequest(), timeout=TIMEOUT).policy
        assert (served.version, served.checksum) == (good.version, good.checksum)

        broken = good_rules.rstrip("\n") + "\n" + BROKEN_RULES
        entitlements.write_text(broken)
        set_version(rules_dir, "2026.11.1-broken")
        bad = admin.ReloadPolicy(admin_pb.ReloadPolicyRequest(), timeout=TIMEOUT)
        assert not bad.reloaded
        assert (bad.version, bad.checksum) == (good.version, good.checksum)
        assert len(bad.errors) >= 4
        for error in bad.errors:
            check_error_shape(error, str(entitlements))
        unknown = next(e for e in bad.errors if e.element == "rule broken-unknown-feature")
        assert unknown.line == line_of(broken, "when: {colour: red}")

        entitlements.write_text(good_rules.replace("rules:", "rules: [", 1))  # a YAML error
        syntax = admin.ReloadPolicy(admin_pb.ReloadPolicyRequest(), timeout=TIMEOUT)
        assert not syntax.reloaded
        assert syntax.version == good.version
        assert [e.file for e in syntax.errors] == [str(entitlements)]

        settled = load.count
        wait_for(lambda: load.count >= settled + 50, what="decisions after the rejected reloads")
        assert load.latest_version() == "2026.11.1-reloaded"
        served = entitlement.GetPolicy(pb.GetPolicyRequest(), timeout=TIMEOUT).policy
        assert (served.version, served.checksum) == (good.version, good.checksum)

    assert load.failures == []
    assert set(load.versions) == {old.version, "2026.11.1-reloaded"}
    samples = scrape(admin_server.metrics_port)
    assert metric(samples, "tierline_policy_reloads_total", result="success") == 1
    assert metric(samples, "tierline_policy_reloads_total", result="rejected") == 2
    assert metric(samples, "tierline_policy_info", version="2026.11.1-reloaded") == 1


def test_a_reloaded_policy_decides_differently(
    admin: policy_admin_pb2_grpc.PolicyAdminServiceStub,
    entitlement: entitlement_pb2_grpc.EntitlementServiceStub,
    rules_dir: Path,
) -> None:
    entitlements = rules_dir / "entitlements.yaml"
    before = entitlement.Decide(request("gold-1", intent="support"), timeout=TIMEOUT).decision
    assert before.service_level.name == "premium"
    entitlements.write_text(
        entitlements.read_text().replace(
            "when: {tier: gold}\n    grant:\n      service_level: premium",
            "when: {tier: gold}\n    grant:\n      service_level: concierge",
        )
    )

    assert admin.ReloadPolicy(admin_pb.ReloadPolicyRequest(), timeout=TIMEOUT).reloaded

    after = entitlement.Decide(request("gold-1", intent="support"), timeout=TIMEOUT).decision
    assert after.service_level.name == "concierge"


def test_a_reload_reads_features_the_new_policy_declares(
    admin: policy_admin_pb2_grpc.PolicyAdminServiceStub,
    entitlement: entitlement_pb2_grpc.EntitlementServiceStub,
    rules_dir: Path,
    redis_url: str,
) -> None:
    write_features(redis_url, {"vip-1": {"tier": "basic", "tenure_days": 400, "vip": "true"}})
    before = entitlement.Decide(request("vip-1"), timeout=TIMEOUT).decision
    assert "vip-lounge" not in perk_codes(before)
    policy = rules_dir / "policy.yaml"
    policy.write_text(
        policy.read_text().replace(
            "features:\n", "features:\n  vip: {type: bool, default: false}\n", 1
        )
    )
    entitlements = rules_dir / "entitlements.yaml"
    entitlements.write_text(
        entitlements.read_text().rstrip("\n")
        + "\n  - id: vip-lounge\n    when: {vip: true}\n"
        + "    grant: {perks: [{code: vip-lounge}]}\n"
    )

    assert admin.ReloadPolicy(admin_pb.ReloadPolicyRequest(), timeout=TIMEOUT).reloaded

    after = entitlement.Decide(request("vip-1", explain=True), timeout=TIMEOUT).decision
    assert after.explanation.features["vip"] == "True"
    assert "vip-lounge" in perk_codes(after)


def test_sighup_reloads_a_good_policy_and_rejects_a_bad_one(
    admin_server: TierlineProcess,
    entitlement: entitlement_pb2_grpc.EntitlementServiceStub,
    rules_dir: Path,
) -> None:
    def served() -> pb.PolicyInfo:
        return entitlement.GetPolicy(pb.GetPolicyRequest(), timeout=TIMEOUT).policy

    set_version(rules_dir, "2026.11.1-sighup")
    admin_server.signal(signal.SIGHUP)
    wait_for(lambda: served().version == "2026.11.1-sighup", what="the SIGHUP reload")
    checksum = served().checksum

    (rules_dir / "entitlements.yaml").write_text("rules: [{id: x, when: {colour: red}}]\n")
    set_version(rules_dir, "2026.11.1-bad")
    admin_server.signal(signal.SIGHUP)

    def rejected() -> float:
        samples = scrape(admin_server.metrics_port)
        return metric(samples, "tierline_policy_reloads_total", result="rejected")

    wait_for(lambda: rejected() == 1, what="the rejected SIGHUP reload")

    assert (served().version, served().checksum) == ("2026.11.1-sighup", checksum)
    decision = entitlement.Decide(request("gold-1"), timeout=TIMEOUT).decision
    assert decision.policy_version == "2026.11.1-sighup"
    assert admin_server.process is not None
    assert admin_server.process.poll() is None
