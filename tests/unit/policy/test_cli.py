"""``tierline policy check | test | eval`` through the CLI's entry point."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from policy_support import DEFAULT_POLICY, policy_text
from tierline_server.cli import main

GOOD_RULES = """
- id: gold-premium
  when: {tier: gold}
  grant: {service_level: premium}
- id: complaint
  when: {intent: complaint}
  grant: {perks: [{code: goodwill}]}
"""


def test_check_accepts_the_default_policy(capsys: pytest.CaptureFixture[str]) -> None:
    """Exit 0 and a one-line summary."""
    assert main(["policy", "check", "--policy", str(DEFAULT_POLICY)]) == 0
    out = capsys.readouterr().out
    assert re.fullmatch(
        r"ok default 2026\.11\.1: 19 rules, 5 segments, checksum [0-9a-f]{12}\n", out
    )


def test_check_reports_every_error_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each error on its own line with file and line, then the count."""
    path = tmp_path / "policy.yaml"
    path.write_text(
        policy_text(
            """
            - id: x
              when: {colour: red}
              grant: {perks: [{code: p}]}
            - id: y
              when: {channel: social}
              grant: {service_level: premium}
            """
        )
    )
    assert main(["policy", "check", "--policy", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"{path}:18: rule x: when.colour: unknown field 'colour' (declare it under `features`, "
        "or use a context field or attributes.<key>)",
        f"{path}:20: rule y: reads `channel` but grants service level, SLA or perks; with "
        "channel_parity on, channel may steer routing only",
        f"2 error(s) in {path}",
    ]


def test_check_reports_a_missing_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A path that does not exist is an error, not a traceback."""
    missing = tmp_path / "nowhere"
    assert main(["policy", "check", "--policy", str(missing)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"error: no policy at {missing} (looked for {missing}): point at a policy file or "
        "directory with --policy PATH or the TIERLINE_POLICY environment variable"
    ]


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (
            b"policy: def\0ault\n",
            "yaml: character #x0000 is not allowed: control characters are not allowed",
        ),
        (b"policy: \xff\n", "yaml: not UTF-8 text (byte 0xff): save the file as UTF-8"),
        (b"deep: " + b"[" * 5_000 + b"]" * 5_000 + b"\n", "yaml: exceeded maximum nesting depth"),
    ],
    ids=["nul", "not-utf8", "5000-deep"],
)
def test_check_reports_an_unreadable_file_at_its_line_and_exits_1(
    content: bytes, error: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bytes YAML cannot take are an error like any other, not a traceback."""
    path = tmp_path / "policy.yaml"
    path.write_bytes(content)
    assert main(["policy", "check", "--policy", str(path)]) == 1
    assert capsys.readouterr().err.splitlines() == [f"{path}:1: {error}", f"1 error(s) in {path}"]


def test_test_runs_the_default_policy_cases(capsys: pytest.CaptureFixture[str]) -> None:
    """rules/tests: every case passes and every rule is exercised."""
    assert main(["policy", "test", "--policy", str(DEFAULT_POLICY)]) == 0
    out = capsys.readouterr().out
    assert "coverage: 19/19 rules exercised\n" in out
    summary = re.search(r"^(\d+) passed, 0 failed$", out, re.MULTILINE)
    assert summary is not None
    assert int(summary.group(1)) >= 30
    assert "FAIL" not in out


def test_test_reports_failures_and_uncovered_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong expectation fails with the difference; unexercised rules are listed."""
    (tmp_path / "policy.yaml").write_text(policy_text(GOOD_RULES))
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "cases.yaml").write_text(
        """
cases:
  - name: gold is premium
    features: {tier: gold}
    context: {channel: phone}
    expect: {service_level: premium, matched_rules: [gold-premium]}
  - name: gold is concierge (wrong)
    features: {tier: gold}
    context: {channel: phone}
    expect: {service_level: concierge, queue: vip, perks: [lounge], no_perks: [welcome]}
"""
    )
    assert main(["policy", "test", "--policy", str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "PASS cases.yaml: gold is premium",
        "FAIL cases.yaml: gold is concierge (wrong)",
        "       service_level: expected 'concierge', got 'premium'",
        "       queue: expected 'vip', got 'general'",
        "       perk 'lounge' expected, not granted (granted: ['welcome'])",
        "       perk 'welcome' granted, expected absent",
        "coverage: 1/2 rules exercised; not exercised: complaint",
        "1 passed, 1 failed",
    ]


ONE_GOOD_CASE = """\
cases:
  - name: gold is premium
    features: {tier: gold}
    context: {channel: phone}
    expect: {service_level: premium}
"""
MALFORMED_CASES = (
    ONE_GOOD_CASE
    + """\
  - name: a typo in an expectation
    features: {tier: gold}
    context: {channel: phone}
    expect:
      servce_level: premium
  - name: no context
    expect: {service_level: premium}
  - features: {tier: gold}
    context: {channel: fax}
    expect: {service_level: premium}
"""
)


def test_test_reports_malformed_cases_at_their_lines_and_counts_them_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each malformed case: ``file:line: case <name>: reason``, a failure; the others still run."""
    (tmp_path / "policy.yaml").write_text(policy_text(GOOD_RULES))
    (tmp_path / "tests").mkdir()
    cases = tmp_path / "tests" / "cases.yaml"
    cases.write_text(MALFORMED_CASES)

    assert main(["policy", "test", "--policy", str(tmp_path)]) == 1

    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"{cases}:10: case a typo in an expectation: expect.servce_level: "
        "Extra inputs are not permitted",
        f"{cases}:11: case no context: context: Field required",
        f"{cases}:13: case #4: name: Field required",
        f"{cases}:14: case #4: context.channel: 'fax' is not a channel (phone, chat, email, "
        "social, web, mobile_app, in_store)",
    ]
    out = captured.out.splitlines()
    assert out[0] == "PASS cases.yaml: gold is premium"
    assert out[-1] == "1 passed, 3 failed"


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"cases: [\n", "2: yaml: did not find expected node content"),
        (
            b"cases:\n  - name: \xff\n",
            "2: yaml: not UTF-8 text (byte 0xff): save the file as UTF-8",
        ),
        (b"- name: x\n", "1: cases: a test file is a mapping with one key: cases (a list)"),
        (b"", "1: cases: a test file is a mapping with one key: cases (a list)"),
    ],
    ids=["yaml-syntax", "not-utf8", "a-list", "empty"],
)
def test_test_counts_an_unreadable_case_file_as_failed(
    content: bytes, error: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file that cannot be read: one error at its line, one failure, the other files run."""
    (tmp_path / "policy.yaml").write_text(policy_text(GOOD_RULES))
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "good.yaml").write_text(ONE_GOOD_CASE)
    bad = tmp_path / "tests" / "bad.yaml"
    bad.write_bytes(content)

    assert main(["policy", "test", "--policy", str(tmp_path)]) == 1

    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"{bad}:{error}"]
    assert captured.out.splitlines()[-1] == "1 passed, 1 failed"


def test_test_without_cases_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A policy with no test cases does not pass silently."""
    (tmp_path / "policy.yaml").write_text(policy_text(GOOD_RULES))
    assert main(["policy", "test", "--policy", str(tmp_path)]) == 1
    assert "no test cases" in capsys.readouterr().err


def test_eval_json_is_the_decision_message_in_proto_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The decision as JSON: the API's Decision in protobuf's JSON mapping, every field present
    (defaults too), as `tierline decide --json` prints it."""
    status = main(
        [
            "policy",
            "eval",
            "--policy",
            str(DEFAULT_POLICY),
            "--features",
            '{"tier": "gold", "tenure_days": 400}',
            "--context",
            '{"channel": "phone", "intent": "cancel"}',
            "--json",
            "--explain",
        ]
    )
    assert status == 0
    data = json.loads(capsys.readouterr().out)
    assert {
        "tier",
        "serviceLevel",
        "perks",
        "routing",
        "matchedRules",
        "policyVersion",
        "baselineApplied",
        "degraded",
        "degradedReason",
        "explanation",
    } <= set(data)
    assert data["tier"] == "gold"
    assert data["policyVersion"] == "2026.11.1"
    assert data["baselineApplied"] is True
    assert data["degraded"] is False
    assert data["serviceLevel"] == {
        "name": "premium",
        "rank": 2,
        "sla": {
            "maxWaitSeconds": 120,
            "firstResponseSeconds": 900,
            "callbackOffered": True,
            "humanAgentGuaranteed": True,
        },
    }
    assert data["routing"] == {"queue": "retention", "priority": 80, "skills": ["retention"]}
    assert data["perks"] == [
        {
            "code": "retention-discount",
            "description": "Discount to stay",
            "percent": 20.0,
            "grantedBy": "retention-offer",
        },
        {
            "code": "free-shipping",
            "description": "Free standard shipping",
            "grantedBy": "free-shipping",
        },
    ]
    assert data["matchedRules"] == [
        "gold-priority-support",
        "retention-offer",
        "cancellation-desk",
        "free-shipping",
    ]
    assert data["explanation"]["rules"][1] == {
        "ruleId": "retention-offer",
        "condition": "tier in [growth, gold, platinum] [tier='gold'] and "
        "intent == 'cancel' [intent='cancel']",
    }
    assert data["explanation"]["features"]["tier"] == "gold"
    assert data["explanation"]["context"]["intent"] == "cancel"


def test_eval_json_keeps_empty_fields(capsys: pytest.CaptureFixture[str]) -> None:
    """A baseline-only decision still has rank 0, no perks and no matched rules as keys."""
    status = main(
        ["policy", "eval", "--policy", str(DEFAULT_POLICY), "--json", "--context",
         '{"channel": "email"}', "--features", '{"tier": "basic", "tenure_days": 900}']
    )  # fmt: skip
    assert status == 0
    data = json.loads(capsys.readouterr().out)
    assert data["serviceLevel"]["rank"] == 0
    assert data["matchedRules"] == []
    assert data["perks"] == []


def test_eval_prints_a_table_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --json: a readable table with level, routing and perks."""
    status = main(
        [
            "policy",
            "eval",
            "--policy",
            str(DEFAULT_POLICY),
            "--context",
            '{"channel": "chat", "intent": "outage"}',
        ]
    )
    assert status == 0
    out = capsys.readouterr().out
    assert "priority (rank 1)" in out
    assert "incident (priority 60)" in out
    assert "outage-credit 1000 minor units (by outage-credit)" in out


@pytest.mark.parametrize(
    ("features", "context", "message"),
    [
        (
            '{"tier": "diamond"}',
            '{"channel": "phone"}',
            "tier: 'diamond' is not one of unknown, basic, standard, growth, gold, platinum",
        ),
        ("[1]", '{"channel": "phone"}', "features must be a mapping"),
        ("{}", '{"channel": "fax"}', "channel: 'fax' is not a channel (phone, chat,"),
        ("{}", '{"channel": "web", "currency": "euro"}', "'euro' is not an ISO 4217 currency"),
        ("{}", '{"channel": "web", "order_value": 5}', "order_value: needs a currency"),
        ("{not json", '{"channel": "phone"}', "invalid input"),
        ("{}", '{"channel": "phone"', "invalid input: Invalid JSON"),
    ],
)
def test_eval_rejects_bad_input_with_exit_2(
    features: str, context: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad features or context: exit 2 and a message, no decision."""
    args = [
        "policy",
        "eval",
        "--policy",
        str(DEFAULT_POLICY),
        "--features",
        features,
        "--context",
        context,
    ]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err
    assert len(captured.err.splitlines()) == 1
