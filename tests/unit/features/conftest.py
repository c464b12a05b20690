"""Policies for the feature-store unit tests: the default one, and a small one of every type."""

from __future__ import annotations

import pytest
from support.paths import REPO
from tierline_server.policy.compiled import Policy
from tierline_server.policy.compiler import compile_policy_text, load_policy

EVERY_TYPE_POLICY = """\
policy: every-type
version: "1"
features:
  tier: {type: enum, values: [unknown, basic, gold], default: unknown}
  score: {type: number, default: 0}
  visits: {type: int, default: 0}
  vip: {type: bool, default: false}
  region: {type: string, default: eu}
service_levels: [standard]
baseline:
  service_level: standard
  sla: {max_wait_seconds: 600, first_response_seconds: 3600, callback_offered: false, \
human_agent_guaranteed: true}
  routing: {queue: general, priority: 10}
segments:
  - {tier: gold, when: {score: {gte: 100}}}
"""
"""Every feature type, and segments without a catch-all (a row can match none)."""


@pytest.fixture(scope="session")
def default_policy() -> Policy:
    """The policy in rules/."""
    return load_policy(REPO / "rules")


@pytest.fixture(scope="session")
def every_type_policy() -> Policy:
    """A policy with a feature of every type and a segment list without a catch-all."""
    return compile_policy_text(EVERY_TYPE_POLICY)
