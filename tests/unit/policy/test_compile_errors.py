"""Bad policies: every error is reported at once, exactly, as ``file:line: element: reason``.

In ``policy_text`` documents the first rule's ``- id:`` is on line 17 and its ``when:`` on 18.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from policy_support import FIRST_RULE_LINE, decide, decider_for, policy_text
from tierline_server.policy.compiler import compile_policy_text, load_policy
from tierline_server.policy.decider import Decider
from tierline_server.policy.errors import PolicyInvalid

MONEY_HINT = "a threshold per currency in major units, e.g. {gte: {EUR: 50, USD: 55, JPY: 8000}}"
UNKNOWN_FIELD_HINT = "(declare it under `features`, or use a context field or attributes.<key>)"
PARITY = (
    "reads `channel` but grants service level, SLA or perks; "
    "with channel_parity on, channel may steer routing only"
)
RE2_RULES = "RE2 syntax: no backreferences or lookaround; at most 1 MiB compiled"
MINIMAL_BASELINE = """\
baseline:
  service_level: standard
  sla: {max_wait_seconds: 600, first_response_seconds: 3600, callback_offered: true, \
human_agent_guaranteed: true}
  routing: {queue: general, priority: 10}
"""


def errors_of(text: str) -> list[str]:
    """The errors compiling ``text`` reports, as the CLI prints them."""
    with pytest.raises(PolicyInvalid) as caught:
        compile_policy_text(text)
    assert str(caught.value) == "\n".join(str(error) for error in caught.value.errors)
    return [str(error) for error in caught.value.errors]


def load_errors(path: Path) -> list[str]:
    """The errors loading the policy at ``path`` reports."""
    with pytest.raises(PolicyInvalid) as caught:
        load_policy(path)
    return [str(error) for error in caught.value.errors]


def test_first_rule_line_matches_the_helper() -> None:
    """The line numbers below rely on where policy_text puts the first rule."""
    lines = policy_text("- id: x\n  when: {tier: gold}\n  grant: {service_level: priority}")
    assert lines.splitlines()[FIRST_RULE_LINE - 1] == "  - id: x"


RULE_ERRORS = [
    pytest.param(
        """
        - id: x
          when: {colour: red}
          grant: {perks: [{code: p}]}
        """,
        f"<candidate>:18: rule x: when.colour: unknown field 'colour' {UNKNOWN_FIELD_HINT}",
        id="unknown-feature",
    ),
    pytest.param(
        """
        - id: x
          when:
            all:
              - {tier: gold}
              - any: [{visits: {gt: 5}}, {colour: red}]
          grant: {perks: [{code: p}]}
        """,
        f"<candidate>:19: rule x: when.all[1].any[1].colour: unknown field 'colour' "
        f"{UNKNOWN_FIELD_HINT}",
        id="unknown-feature-nested",
    ),
    pytest.param(
        """
        - id: x
          when: {visits: {between: [1, 2]}}
          grant: {perks: [{code: p}]}
        """,
        "<candidate>:18: rule x: when.visits.between: unknown operator 'between' "
        "(one of eq, in, not_in, gt, gte, lt, lte, exists, matches)",
        id="unknown-operator",
    ),
    pytest.param(
        """
        - id: x
          when: {tier: {gte: silver}}
          grant: {perks: [{code: p}]}
        """,
        "<candidate>:18: rule x: when.tier.gte: operator 'gte' does not apply to enum field 'tier'",
        id="gte-on-enum",
    ),
    pytest.param(
        """
        - id: x
          when: {score: {matches: "^1"}}
          grant: {perks: [{code: p}]}
        """,
        "<candidate>:18: rule x: when.score.matches: operator 'matches' does not apply to "
        "number field 'score'",
        id="matches-on-number",
    ),
    pytest.param(
        """
        - id: x
          when: {tier: platinum}
          grant: {perks: [{code: p}]}
        """,
        "<candidate>:18: rule x: when.tier: 'platinum' is not a value of 'tier' "
        "(one of unknown, basic, silver, gold)",
        id="value-not-in-enum",
    ),
    pytest.param(
        """
        - id: x
          when: {tier: {in: [gold, platinum]}}
          grant: {perks: [{code: p}]}
        """,
        "<candidate>:18: rule x: when.tier.in: 'platinum' is not a value of 'tier' "
        "(one of unknown, basic, silver, gold)",
        id="list-value-not-in-enum",
    ),
    pytest.param(
        """
        - id: x
          when: {score: {gte: high}}
          grant: {perks: [{code: p}]}
        """,
        "<candidate>:18: rule x: when.score.gte: 'high' is not a valid number for 'score' "
        "(numbers: at most 4 decimals, magnitude below 10^15)",
        id="wrong-type-constant",
    ),
    pytest.param(
        """
        - id: x
          when: {vip: "yes"}
          grant: {perks: [{code: p}]}
        """,
        "<candidate>:18: rule x: when.vip: 'yes' is not a valid bool for 'vip'",
        id="string-for-bool",
    ),
    pytest.param(
        """
        - id: x
          when: {visits: {exists: 1}}
          grant: {perks: [{code: p}]}
        """,
        "<candidate>:18: rule x: when.visits.exists: exists takes true or false",
        id="exists-not-bool",
    ),
    pytest.param(
        """
        - id: x
          when: {attributes.code: {matches: "^(spring"}}
          grant: {perks: [{code: p}]}
        """,
        "<candidate>:18: rule x: when.attributes.code.matches: regular expression '^(spring' "
        f"does not compile: missing ): ^(spring ({RE2_RULES})",
        id="bad-regex",
    ),
    pytest.param(
        r"""
        - id: x
          when: {attributes.code: {matches: '^(a+)\1$'}}
          grant: {perks: [{code: p}]}
        """,
        "<candidate>:18: rule x: when.attributes.code.matches: regular expression '^(a+)\\\\1$' "
        f"does not compile: invalid escape sequence: \\1 ({RE2_RULES})",
        id="regex-backreference",
    ),
    pytest.param(
        """
        - id: x
          when: {attributes.code: {matches: "^(?!test-)"}}
          grant: {perks: [{code: p}]}
        """,
        "<candidate>:18: rule x: when.attributes.code.matches: regular expression '^(?!test-)' "
        f"does not compile: invalid perl operator: (?! ({RE2_RULES})",
        id="regex-lookahead",
    ),
    pytest.param(
        """
        - id: x
          when: {attributes.code: {matches: "\\\\pL{1000}"}}
          grant: {perks: [{code: p}]}
        """,
        "<candidate>:18: rule x: when.attributes.code.matches: regular expression '\\\\pL{1000}' "
        f"does not compile: pattern too large - compile failed ({RE2_RULES})",
        id="regex-too-large",
    ),
    pytest.param(
        """
        - id: x
          when: {tier: gold}
          grant: {service_level: diamond}
        """,
        "<candidate>:17: rule x: service level 'diamond' is not declared "
        "(one of standard, priority, premium, concierge)",
        id="undeclared-service-level",
    ),
    pytest.param(
        """
        - id: x
          when: {tier: gold}
          grant: {perks: [{code: p}]}
        - id: x
          when: {tier: basic}
          grant: {perks: [{code: q}]}
        """,
        "<candidate>:20: rule x: duplicate id (first at <candidate>:17)",
        id="duplicate-rule-id",
    ),
    pytest.param(
        """
        - id: social-gift
          when: {channel: social}
          grant: {perks: [{code: p}]}
        """,
        f"<candidate>:17: rule social-gift: {PARITY}",
        id="channel-grants-perks",
    ),
    pytest.param(
        """
        - id: not-on-the-phone
          when: {all: [{tier: gold}, {not: {any: [{channel: phone}, {channel: chat}]}}]}
          grant: {service_level: premium}
        """,
        f"<candidate>:17: rule not-on-the-phone: {PARITY}",
        id="channel-deep-in-condition-grants-level",
    ),
    pytest.param(
        """
        - id: social-sla
          when: {channel: {in: [social, email]}}
          grant: {sla: {max_wait_seconds: 60}}
        """,
        f"<candidate>:17: rule social-sla: {PARITY}",
        id="channel-grants-sla",
    ),
    pytest.param(
        """
        - id: social-revoke
          when: {channel: social}
          revoke: [welcome]
        """,
        f"<candidate>:17: rule social-revoke: {PARITY}",
        id="channel-revokes-perks",
    ),
    pytest.param(
        """
        - id: x
          when: {tier: gold}
        """,
        "<candidate>:17: rule x: a rule must grant or revoke something",
        id="grants-nothing",
    ),
    pytest.param(
        """
        - id: x
          when: {tier: gold}
          grant: {}
        """,
        "<candidate>:17: rule x: a rule must grant or revoke something",
        id="empty-grant",
    ),
    pytest.param(
        """
        - id: x
          grant: {perks: [{code: p}]}
        """,
        "<candidate>:17: rule x: when: Field required",
        id="no-condition",
    ),
    pytest.param(
        """
        - id: x
          when: {tier: gold}
          grant:
            perks:
              - {code: p, amount: 1, percent: 2}
        """,
        "<candidate>:21: rule x: grant.perks.0: a perk has an amount or a percent, not both",
        id="perk-with-two-values",
    ),
    pytest.param(
        """
        - id: x
          when: {tier: gold}
          grant: {perks: [{code: p}, {code: p}]}
        """,
        "<candidate>:17: rule x: grants the same perk code twice",
        id="same-perk-twice",
    ),
    pytest.param(
        """
        - id: x
          when: {tier: gold}
          grant: {perk: [{code: p}]}
        """,
        "<candidate>:19: rule x: grant.perk: Extra inputs are not permitted",
        id="unknown-grant-field",
    ),
    pytest.param(
        """
        - id: x
          when: {tier: gold}
          when: {tier: basic}
          grant: {perks: [{code: p}]}
        """,
        "<candidate>:19: yaml: key 'when' is given twice",
        id="yaml-duplicate-key",
    ),
    pytest.param(
        """
        - id: x
          when: {tier: gold
          grant: {perks: [{code: p}]}
        """,
        "<candidate>:19: yaml: did not find expected ',' or '}'",
        id="yaml-syntax-error",
    ),
    pytest.param(
        """
        - id: big-order
          when: {order_value: {gte: 5000}}
          grant: {perks: [{code: p}]}
        """,
        "<candidate>:18: rule big-order: when.order_value.gte: 5000 names no currency: "
        f"order_value is money, give {MONEY_HINT}",
        id="money-without-currency",
    ),
    pytest.param(
        """
        - id: exact-order
          when: {order_value: 5000}
          grant: {perks: [{code: p}]}
        """,
        "<candidate>:18: rule exact-order: when.order_value: operator 'eq' does not apply to "
        f"money field 'order_value': compare it with {MONEY_HINT}",
        id="money-equal-to-a-bare-number",
    ),
    pytest.param(
        """
        - id: listed-orders
          when: {order_value: {in: [{EUR: 5}]}}
          grant: {perks: [{code: p}]}
        """,
        "<candidate>:18: rule listed-orders: when.order_value.in: operator 'in' does not apply "
        f"to money field 'order_value': compare it with {MONEY_HINT}",
        id="money-in-a-list",
    ),
    pytest.param(
        """
        - id: x
          when: {order_value: {lt: {EURO: 5}}}
          grant: {perks: [{code: p}]}
        """,
        "<candidate>:18: rule x: when.order_value.lt.EURO: 'EURO' is not an ISO 4217 currency "
        "code (such as EUR)",
        id="money-unknown-currency",
    ),
    pytest.param(
        """
        - id: x
          when: {order_value: {lt: {XAU: 1}}}
          grant: {perks: [{code: p}]}
        """,
        "<candidate>:18: rule x: when.order_value.lt.XAU: XAU has no minor unit: no amount can "
        "be in it",
        id="money-currency-without-minor-unit",
    ),
    pytest.param(
        """
        - id: x
          when: {order_value: {gte: {JPY: 8000.5}}}
          grant: {perks: [{code: p}]}
        """,
        "<candidate>:18: rule x: when.order_value.gte.JPY: 8000.5 has more decimals than JPY "
        "has (0)",
        id="money-more-decimals-than-the-currency",
    ),
    pytest.param(
        """
        - id: x
          when: {order_value: {gte: {EUR: 50, eur: 60}}}
          grant: {perks: [{code: p}]}
        """,
        "<candidate>:18: rule x: when.order_value.gte.eur: EUR is given twice",
        id="money-currency-twice",
    ),
    pytest.param(
        """
        - id: x
          when: {order_value: {gte: {EUR: fifty}}}
          grant: {perks: [{code: p}]}
        """,
        "<candidate>:18: rule x: when.order_value.gte.EUR: 'fifty' is not an amount "
        "(a number, 0 or more)",
        id="money-not-a-number",
    ),
]


@pytest.mark.parametrize(("rules", "expected"), RULE_ERRORS)
def test_bad_rule_is_reported_exactly(rules: str, expected: str) -> None:
    """One bad rule: exactly one error, at the rule's (or its condition's) line."""
    assert errors_of(policy_text(rules)) == [expected]


def test_every_error_is_reported_at_once_in_file_order() -> None:
    """Three bad rules and a good one: three errors, sorted by line."""
    text = policy_text(
        """
        - id: unknown-field
          when: {colour: red}
          grant: {perks: [{code: p}]}
        - id: fine
          when: {tier: gold}
          grant: {service_level: premium}
        - id: diamond
          when: {tier: gold}
          grant: {service_level: diamond}
        - id: social-level
          when: {channel: social}
          grant: {service_level: priority}
        - id: fine
          when: {vip: true}
          grant: {perks: [{code: q}]}
        """
    )
    assert errors_of(text) == [
        f"<candidate>:18: rule unknown-field: when.colour: unknown field 'colour' "
        f"{UNKNOWN_FIELD_HINT}",
        "<candidate>:23: rule diamond: service level 'diamond' is not declared "
        "(one of standard, priority, premium, concierge)",
        f"<candidate>:26: rule social-level: {PARITY}",
        "<candidate>:29: rule fine: duplicate id (first at <candidate>:20)",
    ]


def test_one_rule_reports_every_problem_in_its_condition() -> None:
    """Two problems in one condition are joined into one error for the rule."""
    text = policy_text(
        """
        - id: x
          when: {tier: {gte: gold}, colour: red}
          grant: {perks: [{code: p}]}
        """
    )
    assert errors_of(text) == [
        "<candidate>:18: rule x: when.tier.gte: operator 'gte' does not apply to enum field "
        f"'tier'; when.colour: unknown field 'colour' {UNKNOWN_FIELD_HINT}"
    ]


def test_channel_may_steer_routing_under_channel_parity() -> None:
    """A channel condition that grants routing only compiles, and routes."""
    decider = decider_for(
        """
        - id: social-care
          when: {channel: social}
          grant: {routing: {queue: social-care, priority: 20}}
        """
    )
    assert decide(decider, channel="social").routing.queue == "social-care"
    assert decide(decider, channel="phone").routing.queue == "general"


def test_channel_may_grant_perks_when_channel_parity_is_off() -> None:
    """Without the guarantee, a channel condition may grant perks."""
    decider = decider_for(
        """
        - id: app-gift
          when: {channel: mobile_app}
          grant: {perks: [{code: app-gift}]}
        """,
        channel_parity=False,
    )
    assert decide(decider, channel="mobile_app").has_perk("app-gift")
    assert not decide(decider, channel="web").has_perk("app-gift")


def test_unknown_top_level_section() -> None:
    """A typo in a section name is an error at the document's first line."""
    text = policy_text("- id: x\n  when: {tier: gold}\n  grant: {perks: [{code: p}]}")
    text = text.replace("guarantees:", "guarantee: {channel_parity: false}\nguarantees:")
    assert errors_of(text) == ["<candidate>:1: policy: unknown section 'guarantee'"]


@pytest.mark.parametrize(
    "baseline",
    [pytest.param("", id="missing"), pytest.param("baseline: {}\n", id="empty")],
)
def test_missing_or_empty_baseline(baseline: str) -> None:
    """Every policy needs a floor."""
    text = f'policy: t\nversion: "1"\nservice_levels: [standard]\n{baseline}'
    assert errors_of(text) == [
        "<candidate>:1: baseline: missing or empty: every policy needs a floor"
    ]


def test_baseline_with_an_undeclared_level() -> None:
    """The baseline's level must be declared."""
    text = 'policy: t\nversion: "1"\nservice_levels: [standard, gold]\n' + MINIMAL_BASELINE.replace(
        "service_level: standard", "service_level: platinum"
    )
    assert errors_of(text) == [
        "<candidate>:5: baseline: service level 'platinum' is not declared (one of standard, gold)"
    ]


def test_baseline_with_an_incomplete_sla() -> None:
    """The baseline states every SLA field; each missing one is reported."""
    text = (
        'policy: t\nversion: "1"\nservice_levels: [standard]\n'
        "baseline:\n"
        "  service_level: standard\n"
        "  sla: {max_wait_seconds: 600, callback_offered: true}\n"
        "  routing: {queue: general, priority: 10}\n"
    )
    assert errors_of(text) == [
        "<candidate>:6: baseline: sla.first_response_seconds: Field required",
        "<candidate>:6: baseline: sla.human_agent_guaranteed: Field required",
    ]


def test_bad_feature_declarations() -> None:
    """Feature names, types and defaults are checked, each at its own line."""
    text = (
        'policy: t\nversion: "1"\n'
        "features:\n"
        "  vip: {type: bool, default: 3}\n"
        "  channel: {type: int, default: 0}\n"
        "  Score: {type: number, default: 0}\n"
        "  tier: {type: enum, values: [basic, gold], default: silver}\n"
        f"service_levels: [standard]\n{MINIMAL_BASELINE}"
    )
    assert errors_of(text) == [
        "<candidate>:4: feature vip: default 3 is not a bool",
        "<candidate>:5: feature channel: name is taken by a context field",
        "<candidate>:6: feature Score: name must match ^[a-z][a-z0-9_]{0,63}$",
        "<candidate>:7: feature tier: default 'silver' is not one of ['basic', 'gold']",
    ]


def test_a_policy_must_be_a_mapping() -> None:
    """A YAML list is not a policy."""
    assert errors_of("- rules\n") == ["<candidate>:1: policy: a policy file must be a YAML mapping"]


def test_rules_that_are_not_a_list_are_an_error_for_text_policies_too() -> None:
    """``rules:`` left empty is a policy error, not a crash, also for ValidatePolicy's text."""
    text = policy_text("").rstrip("\n") + " 5\n"
    assert errors_of(text) == ["<candidate>:1: rules: must be a list"]


def test_a_number_constant_beyond_the_engine_range_is_an_error() -> None:
    """A constant the engine cannot compare exactly is rejected when the policy compiles."""
    text = policy_text(
        """
        - id: whale
          when: {score: {gte: 1.0e+16}}
          grant: {perks: [{code: p}]}
        """
    )
    assert errors_of(text) == [
        "<candidate>:18: rule whale: when.score.gte: 1e+16 is not a valid number "
        "for 'score' (numbers: at most 4 decimals, magnitude below 10^15)"
    ]


# --- a policy made of several files -------------------------------------------------------------

HEADER_FILE = f"""\
policy: split
version: "2"
features:
  tier: {{type: enum, values: [unknown, gold], default: unknown}}
service_levels: [standard, premium]
{MINIMAL_BASELINE}rules:
  - id: gold-premium
    when: {{tier: gold}}
    grant: {{service_level: premium}}
"""


def test_a_directory_policy_concatenates_rules_in_file_name_order(tmp_path: Path) -> None:
    """Files are read in name order, rules lists appended; tests/ is not part of the policy."""
    (tmp_path / "a-policy.yaml").write_text(HEADER_FILE)
    (tmp_path / "b-more.yml").write_text(
        "rules:\n  - id: gold-gift\n    when: {tier: gold}\n    grant: {perks: [{code: gift}]}\n"
    )
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "cases.yaml").write_text("cases: []\n")
    (tmp_path / "notes.txt").write_text("not yaml: [")
    policy = load_policy(tmp_path)
    assert [rule.id for rule in policy.rules] == ["gold-premium", "gold-gift"]
    assert policy.files == (str(tmp_path / "a-policy.yaml"), str(tmp_path / "b-more.yml"))
    assert policy.rules[1].location.file == str(tmp_path / "b-more.yml")
    decision = decide(Decider(policy), {"tier": "gold"})
    assert decision.service_level.name == "premium"
    assert decision.has_perk("gift")


def test_errors_in_a_directory_policy_name_their_file(tmp_path: Path) -> None:
    """An error in the second file is reported at that file and line."""
    (tmp_path / "a.yaml").write_text(HEADER_FILE)
    bad = tmp_path / "b.yaml"
    bad.write_text("# more rules\nrules:\n  - id: x\n    when: {tier: silver}\n    revoke: [p]\n")
    assert load_errors(tmp_path) == [
        f"{bad}:4: rule x: when.tier: 'silver' is not a value of 'tier' (one of unknown, gold)"
    ]


def test_a_key_set_in_two_files_is_rejected(tmp_path: Path) -> None:
    """Only rules and segments may be split across files."""
    (tmp_path / "a.yaml").write_text(HEADER_FILE)
    second = tmp_path / "b.yaml"
    second.write_text(f"# a second floor\n{MINIMAL_BASELINE}")
    assert load_errors(tmp_path) == [f"{second}:2: baseline: is set in more than one policy file"]


def test_a_directory_without_policy_files(tmp_path: Path) -> None:
    """An empty directory is reported, not silently an empty policy."""
    assert load_errors(tmp_path) == [f"{tmp_path}:0: policy: no *.yaml files in this directory"]
