"""Hypothesis strategies for what a decision reads under the default policy: typed features and
interaction contexts."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from hypothesis import strategies as st
from tierline_server.policy.compiler import load_policy
from tierline_server.policy.domain import CHANNELS, Context

from support.paths import DEFAULT_POLICY_DIR

numbers = st.one_of(st.integers(-100, 30_000), st.integers(-40, 120_000).map(lambda n: n / 4))
"""Numbers as quarters and integers: floats that Python writes as ``1e-05`` break durable-rules
(test_engine.py records that bug)."""
short_text = st.text(max_size=6)
INTENTS = ("", "support", "billing", "outage", "cancel", "purchase", "complaint", "checkout")
CURRENCIES = ("EUR", "USD", "JPY", "CHF", "")
"""Orders' currencies: policies name the first three (CHF orders meet no money threshold)."""


@st.composite
def contexts(draw: st.DrawFn, attribute_values: Sequence[str]) -> Context:
    """An interaction context: any channel, common intents, orders, a few attributes."""
    values = st.sampled_from(attribute_values) | short_text
    attributes = draw(st.dictionaries(st.sampled_from(["campaign", "a", "b"]), values, max_size=3))
    return Context(
        channel=draw(st.sampled_from(CHANNELS)),
        intent=draw(st.one_of(st.sampled_from(INTENTS), short_text)),
        order_value=draw(st.none() | st.integers(0, 60_000)),
        item_count=draw(st.integers(0, 50)),
        currency=draw(st.sampled_from(CURRENCIES)),
        attributes=attributes,
    )


@cache
def _default_tiers() -> tuple[str, ...]:
    return load_policy(DEFAULT_POLICY_DIR).tiers


def default_features() -> st.SearchStrategy[dict[str, Any]]:
    """Typed features of the default policy; any of them may be missing."""
    return st.fixed_dictionaries(
        {},
        optional={
            "tier": st.sampled_from(_default_tiers()),
            "ltv": numbers,
            "tenure_days": st.integers(0, 3000),
            "orders_12m": st.integers(0, 40),
            "complaints_90d": st.integers(0, 12),
            "evangelist": st.booleans(),
        },
    )


default_contexts = contexts(attribute_values=("spring-2026", "spring-26", "spring-20261"))
"""Contexts with campaign codes around the default policy's pattern."""
