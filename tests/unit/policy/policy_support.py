"""Helpers shared by the policy unit tests: small policies as YAML text, and deciding with them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Mapping
from functools import cache
from typing import Any

from support.paths import REPO
from tierline_server.policy.compiled import Policy
from tierline_server.policy.compiler import compile_policy_text, load_policy
from tierline_server.policy.decider import Decider
from tierline_server.policy.domain import Context, Decision

DEFAULT_POLICY = REPO / "rules"

FIRST_RULE_LINE = 17
"""The line of the first rule in a ``policy_text`` document (its ``- id:`` line)."""

_HEADER = """\
policy: unit
version: "1"
features:
  tier: {{type: enum, values: [unknown, basic, silver, gold], default: unknown}}
  score: {{type: number, default: 0}}
  visits: {{type: int, default: 0}}
  vip: {{type: bool, default: false}}
  region: {{type: string, default: eu}}
service_levels: [standard, priority, premium, concierge]
baseline:
  service_level: {baseline_level}
  sla: {{max_wait_seconds: 600, first_response_seconds: 3600, callback_offered: false, \
human_agent_guaranteed: true}}
  routing: {{queue: general, priority: 10}}
  perks: [{{code: welcome, amount: 100}}]
guarantees: {{channel_parity: {channel_parity}}}
rules:
"""


def policy_text(
    rules: str, *, baseline_level: str = "standard", channel_parity: bool = True
) -> str:
    """A small policy: fixed features and baseline, then ``rules`` (a YAML list, dedented).

    Features: ``tier`` (enum unknown/basic/silver/gold), ``score`` (number), ``visits`` (int),
    ``vip`` (bool), ``region`` (string, default "eu"). Baseline: level ``baseline_level``, wait
    600 s, first response 3600 s, no callback, human agent guaranteed, queue ``general`` at
    priority 10, perk ``welcome`` (amount 100). The first rule starts on FIRST_RULE_LINE.
    """
    header = _HEADER.format(
        baseline_level=baseline_level, channel_parity="true" if channel_parity else "false"
    )
    body = textwrap.indent(textwrap.dedent(rules).strip("\n"), "  ")
    return header + body + "\n"


def compile_rules(rules: str, **options: Any) -> Policy:
    """Compile ``policy_text(rules, **options)``."""
    return compile_policy_text(policy_text(rules, **options))


def decider_for(rules: str, **options: Any) -> Decider:
    """A Decider (with its own durable-rules ruleset) for ``policy_text(rules, **options)``."""
    return Decider(compile_rules(rules, **options))


@cache
def default_decider() -> Decider:
    """One Decider for the default policy in rules/, shared by the tests of a process."""
    return Decider(load_policy(DEFAULT_POLICY))


def context(
    *,
    channel: str = "phone",
    intent: str = "",
    order_value: int | None = None,
    item_count: int = 0,
    currency: str = "",
    attributes: Mapping[str, str] | None = None,
) -> Context:
    """An interaction context; by default a phone call with no intent, order or attributes."""
    return Context(
        channel=channel,
        intent=intent,
        order_value=order_value,
        currency=currency,
        item_count=item_count,
        attributes=dict(attributes or {}),
    )


def decide(
    decider: Decider,
    features: Mapping[str, Any] | None = None,
    *,
    degraded: bool = False,
    **context_fields: Any,
) -> Decision:
    """Decide one interaction with typed ``features`` (None: an unknown customer).

    ``context_fields`` are the keyword arguments of ``context``.
    """
    return decider.decide(dict(features or {}), context(**context_fields), degraded=degraded)


def perk_codes(decision: Decision) -> set[str]:
    """The codes of the perks a decision grants."""
    return {perk.code for perk in decision.perks}


FIRST_MISS_PROBE = """
from tierline_server.policy.conditions import Compare
from tierline_server.policy.domain import Facts
from tierline_server.policy.engine import RuleEngine

engine = RuleEngine([("cancel", Compare("intent", "eq", "cancel"))])
assert engine.matched(Facts({"intent": "browse"}, frozenset())) == []
assert engine.matched(Facts({"intent": "cancel"}, frozenset())) == ["cancel"]
"""
"""A fresh ruleset whose very first fact matches no rule, then one that matches."""


@cache
def first_miss_crashes() -> bool:
    """Whether a fresh ruleset's first unmatched decision kills the process (see conftest)."""
    result = subprocess.run(
        [sys.executable, "-c", FIRST_MISS_PROBE], capture_output=True, timeout=60, check=False
    )
    return result.returncode != 0
