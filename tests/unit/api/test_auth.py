"""Identities and permissions from a callers file: parsing, token and certificate lookups, the
permission of each method, refusals counted by reason, the file read again when it changes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs
from support.security import CALLERS, TOKENS, WRONG_TOKEN, token_sha256, write_callers
from tierline_server.api import auth
from tierline_server.api.auth import Authenticator, CallersFile, Credentials, Permission
from tierline_server.config import AuthSettings, ServerConfig, SettingError
from tierline_server.errors import PermissionDenied, Unauthenticated
from tierline_server.metrics import AUTH_REFUSALS, Metrics

PEER = "ipv4:10.1.2.3:5555"
SUBJECT = "CN=checkout,O=Shop"


def bearer(token: str) -> Credentials:
    return Credentials(f"Bearer {token}", None, PEER)


def certificate(subject: str) -> Credentials:
    return Credentials(None, subject, PEER)


@pytest.fixture
def callers_path(tmp_path: Path) -> Path:
    return write_callers(
        tmp_path / "callers.yaml",
        {**CALLERS, "checkout": ("decide",)},
        subjects={"checkout": SUBJECT},
    )


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


def never(delay: float, then: object) -> None:
    """A scheduler that never ends a log period (these tests have no event loop)."""


@pytest.fixture
def authenticator(callers_path: Path, metrics: Metrics) -> Authenticator:
    return Authenticator(CallersFile(callers_path), metrics, call_later=never)


def refusals(metrics: Metrics, method: str, reason: str) -> float:
    labels = {"method": method, "reason": reason}
    return metrics.registry.get_sample_value("tierline_auth_refusals_total", labels) or 0.0


@pytest.mark.parametrize(
    ("caller", "method", "allowed"),
    [
        ("call-center", "Decide", True),
        ("call-center", "DecideBatch", True),
        ("call-center", "GetPolicy", True),
        ("call-center", "ReloadPolicy", False),
        ("support-lead", "Decide", True),
        ("support-lead", "ValidatePolicy", False),
        ("release", "ReloadPolicy", True),
        ("release", "ValidatePolicy", True),
        ("release", "Decide", False),  # admin is not decide: each permission is given
    ],
)
def test_each_method_needs_its_permission(
    authenticator: Authenticator, metrics: Metrics, caller: str, method: str, allowed: bool
) -> None:
    if allowed:
        assert authenticator.authenticate(method, bearer(TOKENS[caller])).name == caller
    else:
        with pytest.raises(PermissionDenied, match=f"caller {caller} may not call {method}"):
            authenticator.authenticate(method, bearer(TOKENS[caller]))
        assert refusals(metrics, method, "not_permitted") == 1


@pytest.mark.parametrize(
    ("credentials", "reason"),
    [
        (Credentials(None, None, PEER), "no_credentials"),
        (bearer(WRONG_TOKEN), "unknown_token"),
        (bearer(""), "malformed_credentials"),
        (Credentials(f"Basic {TOKENS['release']}", None, PEER), "malformed_credentials"),
        (Credentials(TOKENS["release"], None, PEER), "malformed_credentials"),
        (certificate("CN=checkout,O=Elsewhere"), "unknown_certificate"),
        # A token, when sent, is what identifies: a wrong one is not saved by a good certificate.
        (Credentials(f"Bearer {WRONG_TOKEN}", SUBJECT, PEER), "unknown_token"),
    ],
)
def test_missing_or_unknown_credentials_are_unauthenticated_and_counted(
    authenticator: Authenticator,
    metrics: Metrics,
    credentials: Credentials,
    reason: str,
) -> None:
    with capture_logs() as events:
        for _ in range(2):  # the second is counted, and logged with the period's sum
            with pytest.raises(Unauthenticated) as refused:
                authenticator.authenticate("Decide", credentials)

    assert refused.value.reason == reason
    assert refusals(metrics, "Decide", reason) == 2
    assert events == [
        {
            "event": "call refused", "log_level": "warning", "reason": reason, "calls": 1,
            "method": "Decide", "peer": PEER,
        }
    ]  # fmt: skip
    for token in (WRONG_TOKEN, TOKENS["release"]):
        assert token not in str(events)
        assert token not in str(refused.value)


def test_refusals_of_one_reason_are_summed_up_in_one_line_per_period(
    callers_path: Path, metrics: Metrics
) -> None:
    periods: list[object] = []
    authenticator = Authenticator(
        CallersFile(callers_path), metrics, call_later=lambda _, end: periods.append(end)
    )

    with capture_logs() as events:
        for _ in range(5):
            with pytest.raises(Unauthenticated):
                authenticator.authenticate("Decide", bearer(WRONG_TOKEN))
        with pytest.raises(PermissionDenied):
            authenticator.authenticate("ReloadPolicy", bearer(TOKENS["call-center"]))
        periods[0]()  # the unknown tokens' period ends

    assert [(e["reason"], e["calls"], e.get("caller")) for e in events] == [
        ("unknown_token", 1, None),
        ("not_permitted", 1, "call-center"),
        ("unknown_token", 4, None),
    ]
    assert refusals(metrics, "Decide", "unknown_token") == 5


def test_a_certificate_subject_identifies_its_caller(authenticator: Authenticator) -> None:
    identity = authenticator.authenticate("Decide", certificate(SUBJECT))

    assert identity.name == "checkout"
    assert identity.permissions == {Permission.DECIDE}


def test_the_bearer_scheme_is_case_insensitive(authenticator: Authenticator) -> None:
    credentials = Credentials(f"bearer {TOKENS['call-center']}", None, PEER)

    assert authenticator.authenticate("Decide", credentials).name == "call-center"


def test_explanations_need_the_explain_permission(
    authenticator: Authenticator, metrics: Metrics
) -> None:
    lead = authenticator.authenticate("Decide", bearer(TOKENS["support-lead"]))
    agent = authenticator.authenticate("Decide", bearer(TOKENS["call-center"]))

    authenticator.check_explain("Decide", lead, bearer(TOKENS["support-lead"]))
    with pytest.raises(PermissionDenied, match="may not ask for explanations") as refused:
        authenticator.check_explain("Decide", agent, bearer(TOKENS["call-center"]))
    assert refused.value.reason == "explain_not_permitted"
    assert refusals(metrics, "Decide", "explain_not_permitted") == 1


def test_without_authentication_everyone_decides_and_explains_but_nobody_administers(
    metrics: Metrics,
) -> None:
    open_door = Authenticator(None, metrics, call_later=never)
    anyone = Credentials(None, None, PEER)

    identity = open_door.authenticate("Decide", anyone)
    open_door.check_explain("Decide", identity, anyone)
    assert identity.name == ""
    with pytest.raises(PermissionDenied):
        open_door.authenticate("ReloadPolicy", anyone)


@given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=80))
def test_no_other_token_identifies_a_caller(token: str) -> None:
    callers = auth.parse_callers(
        "callers: [{name: a, permissions: [decide], token_sha256: "
        f"{token_sha256(TOKENS['call-center'])}}}]",
        "test",
    )

    found = callers.by_token(token)

    assert (found is not None) == (token == TOKENS["call-center"])


def test_every_refusal_reason_is_a_label_of_the_metric() -> None:
    raised = {
        "no_credentials", "malformed_credentials", "unknown_token", "unknown_certificate",
        "not_permitted", "explain_not_permitted",
    }  # fmt: skip
    assert set(AUTH_REFUSALS) == raised


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("callers: [{name: a, permissions: [decide], token_sha256: s3cret-plain-token}]",
         "callers[0].token_sha256: each must be the SHA-256 of a token"),
        ("callers: [{name: a, permissions: [root], token_sha256: " + "a" * 64 + "}]",
         "callers[0].permissions[0]: Input should be 'decide', 'explain' or 'admin'"),
        ("callers: [{name: a, permissions: []}]", "callers[0].permissions: List should have"),
        ("callers: [{name: a, permissions: [decide]}]",
         "callers[0] (a): needs token_sha256 or certificate_subject"),
        ("callers: [{name: 'a b', permissions: [decide], certificate_subject: CN=x}]",
         "callers[0].name: String should match pattern"),
        ("callers: [{name: a, permissions: [decide], certificate_subject: CN=x},"
         " {name: a, permissions: [admin], certificate_subject: CN=y}]",
         "callers[1] (a): a second caller of this name"),
        ("callers: [{name: a, permissions: [decide], token_sha256: " + "b" * 64 + "},"
         " {name: c, permissions: [admin], token_sha256: " + "B" * 64 + "}]",
         "callers[1] (c): a token hash of a too"),
        ("callers: [{name: a, permissions: [decide], certificate_subject: CN=x},"
         " {name: c, permissions: [admin], certificate_subject: CN=x}]",
         "callers[1] (c): the certificate subject of a"),
        ("callers: [{name: a, permission: [decide]}]", "callers[0].permission: Extra inputs"),
        ("callers: [{name: a, permissions: [decide], token_sha256: " + "1" * 64 + "}]",
         "callers[0].token_sha256: YAML read a hash as a number: put each hash in quotes"),
        ("callers: [unclosed", "not valid YAML"),
        ("[]", "(the file): Input should be a valid dictionary"),
    ],
)  # fmt: skip
def test_a_bad_callers_file_is_refused_saying_where(text: str, complaint: str) -> None:
    with pytest.raises(auth.CallersFileError) as refused:
        auth.parse_callers(text, "callers.yaml")

    assert str(refused.value).startswith("callers.yaml: ")
    assert complaint in str(refused.value)
    assert "s3cret-plain-token" not in str(refused.value)


def test_the_file_is_read_again_when_it_changes_and_a_bad_version_keeps_the_last_good_one(
    callers_path: Path,
    authenticator: Authenticator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(auth, "CHECK_SECONDS", 0.0)
    rotated = "test-token-call-center-rotated-77aa01"

    write_callers(callers_path, tokens={**TOKENS, "call-center": rotated})
    _touch_later(callers_path)
    assert authenticator.authenticate("Decide", bearer(rotated)).name == "call-center"
    with pytest.raises(Unauthenticated):
        authenticator.authenticate("Decide", bearer(TOKENS["call-center"]))

    callers_path.write_text("callers: [{name: a, permissions: [decide], token_sha256: oops}]")
    _touch_later(callers_path)
    with capture_logs() as events:
        assert authenticator.authenticate("Decide", bearer(rotated)).name == "call-center"
    assert [event["event"] for event in events] == ["callers file rejected"]
    assert "oops" not in str(events)


def _touch_later(path: Path) -> None:
    """Give the file a modification time of its own (writes within one clock tick look alike)."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, time.time_ns() + 1_000_000_000))


def test_enable_admin_needs_a_caller_with_admin(tmp_path: Path) -> None:
    path = write_callers(tmp_path / "callers.yaml", {"call-center": ("decide",)})
    config = ServerConfig(auth=AuthSettings(callers_file=str(path)), enable_admin=True)

    with pytest.raises(SettingError, match=r"no caller of --auth-file .* has the admin permission"):
        auth.callers_for(config)
