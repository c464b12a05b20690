"""Properties of every decision, under the default policy and under randomly generated policies.

(a) never below the baseline; (b) with channel_parity, the channel changes routing only;
(c) the rules' order in the file does not change level, SLA or perks; (d) durable-rules matches
exactly the rules whose conditions hold in Python.

Each compiled policy registers a durable-rules ruleset that cannot be deleted, so the tests over
random policies build a modest number of them. Numbers are drawn as quarters and integers: floats
that Python writes as ``1e-05`` break durable-rules (test_engine.py records that bug).

(e) The memoised replay (tierline_server.policy.replay) decides exactly as the decider.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from functools import cache
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_support import DEFAULT_POLICY, context, default_decider
from support.inputs import CURRENCIES, default_contexts, default_features
from tierline_server.policy import conditions
from tierline_server.policy.compiled import Policy
from tierline_server.policy.compiler import compile_policy_text
from tierline_server.policy.decider import Decider
from tierline_server.policy.domain import CHANNELS, Context, Decision
from tierline_server.policy.fields import FieldCatalog
from tierline_server.policy.source import read_policy_source

DEFAULT_SETTINGS = settings(max_examples=150, deadline=None)
RANDOM_POLICY_SETTINGS = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# --- facts ----------------------------------------------------------------------------------------

# --- what the properties compare ------------------------------------------------------------------


def entitlement(decision: Decision) -> tuple[Any, ...]:
    """Level, SLA and perks (with values and granter): what channel parity protects."""
    perks = sorted((p.code, p.amount, p.percent, p.granted_by) for p in decision.perks)
    return (decision.service_level, tuple(perks))


def order_free_part(decision: Decision) -> tuple[Any, ...]:
    """Level, SLA, perk codes and matched rules (as a set): what no rule order may change."""
    return (
        decision.service_level,
        frozenset(p.code for p in decision.perks),
        frozenset(decision.matched_rules),
    )


def assert_at_least_baseline(policy: Policy, decision: Decision) -> None:
    """Property (a): every field of the decision is at least the baseline's."""
    baseline = policy.baseline
    assert decision.service_level.rank >= policy.rank(baseline.service_level)
    assert decision.service_level.name in policy.service_levels
    sla = decision.service_level.sla
    assert sla.max_wait_seconds <= baseline.sla.max_wait_seconds
    assert sla.first_response_seconds <= baseline.sla.first_response_seconds
    assert sla.callback_offered >= baseline.sla.callback_offered
    assert sla.human_agent_guaranteed >= baseline.sla.human_agent_guaranteed
    assert decision.routing.priority >= baseline.routing.priority
    codes = [perk.code for perk in decision.perks]
    assert len(codes) == len(set(codes))
    assert {perk.code for perk in baseline.perks} <= set(codes)
    assert decision.baseline_applied is True


def assert_engine_agrees_with_python(
    decider: Decider, facts_context: Context, features: Mapping[str, Any]
) -> None:
    """Property (d): the engine matches exactly the rules whose condition holds in Python."""
    facts = decider.facts(features, facts_context)
    expected = [rule.id for rule in decider.policy.rules if conditions.holds(rule.condition, facts)]
    assert decider.engine.matched(facts) == expected


def channel_variants(base: Context) -> list[Context]:
    """The same interaction on every channel."""
    return [
        Context(
            channel=channel,
            intent=base.intent,
            order_value=base.order_value,
            currency=base.currency,
            item_count=base.item_count,
            attributes=base.attributes,
        )
        for channel in CHANNELS
    ]


# --- the default policy ---------------------------------------------------------------------------


@cache
def permuted_default_deciders() -> list[Decider]:
    """The default policy with its rules reversed and shuffled (three orders, three rulesets)."""
    document = read_policy_source(DEFAULT_POLICY).document
    deciders = []
    for seed in (None, 1, 2):
        rules = list(document["rules"])
        if seed is None:
            rules.reverse()
        else:
            random.Random(seed).shuffle(rules)
        text = yaml.safe_dump({**_plain(document), "rules": _plain(rules)}, sort_keys=False)
        deciders.append(Decider(compile_policy_text(text)))
    return deciders


def _plain(value: Any) -> Any:
    """A located YAML document as plain dicts and lists (for yaml.safe_dump)."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


@DEFAULT_SETTINGS
@given(features=default_features(), ctx=default_contexts, degraded=st.booleans())
def test_default_policy_never_below_baseline(
    features: dict[str, Any], ctx: Context, degraded: bool
) -> None:
    """(a) Whoever the customer, whatever the interaction, degraded or not."""
    decider = default_decider()
    assert_at_least_baseline(decider.policy, decider.decide(features, ctx, degraded=degraded))


@DEFAULT_SETTINGS
@given(features=default_features(), ctx=default_contexts)
def test_default_policy_same_entitlement_on_every_channel(
    features: dict[str, Any], ctx: Context
) -> None:
    """(b) The default policy has channel_parity on: only routing may differ by channel."""
    decider = default_decider()
    assert decider.policy.channel_parity
    seen = {entitlement(decider.decide(features, variant)) for variant in channel_variants(ctx)}
    assert len(seen) == 1


@DEFAULT_SETTINGS
@given(features=default_features(), ctx=default_contexts)
def test_default_policy_rule_order_does_not_matter(features: dict[str, Any], ctx: Context) -> None:
    """(c) Reversed or shuffled rules: the same level, SLA, perks and matched rules."""
    original = order_free_part(default_decider().decide(features, ctx))
    for permuted in permuted_default_deciders():
        assert order_free_part(permuted.decide(features, ctx)) == original


@DEFAULT_SETTINGS
@given(features=default_features(), ctx=default_contexts)
def test_default_policy_engine_agrees_with_python(features: dict[str, Any], ctx: Context) -> None:
    """(d) durable-rules and conditions.holds agree on every rule."""
    assert_engine_agrees_with_python(default_decider(), ctx, features)


@DEFAULT_SETTINGS
@given(features=default_features(), ctx=default_contexts)
def test_default_policy_degraded_applies_the_context_only_rules(
    features: dict[str, Any], ctx: Context
) -> None:
    """Degraded: exactly the matched rules that read no features, whatever the features."""
    decider = default_decider()
    degraded = decider.decide(features, ctx, degraded=True)
    unknown = decider.decide({}, ctx)
    reads_features = {
        rule.id
        for rule in decider.policy.rules
        if conditions.fields_read(rule.condition) & set(decider.policy.features)
    }
    assert degraded.matched_rules == tuple(
        rule for rule in unknown.matched_rules if rule not in reads_features
    )


# --- random policies ------------------------------------------------------------------------------

TIERS = ("unknown", "basic", "silver", "gold")
LEVELS = ("standard", "priority", "premium", "concierge")
PERK_CODES = ("welcome", "p1", "p2", "p3")
FEATURES = {
    "tier": {"type": "enum", "values": list(TIERS), "default": "unknown"},
    "score": {"type": "number", "default": 0},
    "visits": {"type": "int", "default": 0},
    "vip": {"type": "bool", "default": False},
    "region": {"type": "string", "default": "eu"},
}
ORDERED = ("eq", "in", "not_in", "gt", "gte", "lt", "lte", "exists")
MONEY = ("gt", "gte", "lt", "lte", "exists")
money_thresholds = st.dictionaries(
    st.sampled_from(CURRENCIES[:3]), st.sampled_from([0, 10, 50, 70]), min_size=1, max_size=3
)
STRINGY = ("eq", "in", "not_in", "matches", "exists")
ENUM = ("eq", "in", "not_in", "exists")
FIELDS: dict[str, tuple[tuple[str, ...], st.SearchStrategy[Any], tuple[str, ...]]] = {
    # field: (operators, constants, regular expressions)
    "tier": (ENUM, st.sampled_from(TIERS), ()),
    "score": (ORDERED, st.integers(-8, 40).map(lambda n: n / 4) | st.integers(-2, 10), ()),
    "visits": (ORDERED, st.integers(-1, 8), ()),
    "vip": (("eq", "exists"), st.booleans(), ()),
    "region": (STRINGY, st.sampled_from(["eu", "uk", "us", ""]), ("^e", "u", "^(eu|uk)$", "^$")),
    "channel": (ENUM, st.sampled_from(CHANNELS), ()),
    "intent": (STRINGY, st.sampled_from(["cancel", "outage", "", "buy"]), ("^c", "a", "^$")),
    "order_value": (MONEY, money_thresholds, ()),
    "item_count": (ORDERED, st.integers(0, 4), ()),
    "currency": (STRINGY, st.sampled_from(CURRENCIES), ("^E", "D$")),
    "attributes.a": (STRINGY, st.sampled_from(["x", "y", ""]), ("^x", "y$", "^$")),
}


@st.composite
def leaves(draw: st.DrawFn) -> dict[str, Any]:
    """One comparison as a policy writes it, e.g. ``{visits: {gte: 3}}`` or ``{tier: gold}``."""
    field = draw(st.sampled_from(sorted(FIELDS)))
    operators, constants, patterns = FIELDS[field]
    op = draw(st.sampled_from(operators))
    if op == "exists":
        return {field: {"exists": draw(st.booleans())}}
    if op == "matches":
        return {field: {"matches": draw(st.sampled_from(patterns))}}
    if op in ("in", "not_in"):
        return {field: {op: draw(st.lists(constants, min_size=1, max_size=3))}}
    value = draw(constants)
    return {field: value} if op == "eq" and draw(st.booleans()) else {field: {op: value}}


def _merge_keys(pair: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    return {**pair[0], **pair[1]}


conditions_yaml = st.recursive(
    leaves(),
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda items: {"all": items}),
        st.lists(children, min_size=1, max_size=3).map(lambda items: {"any": items}),
        children.map(lambda item: {"not": item}),
        st.tuples(children, children)
        .filter(lambda pair: not set(pair[0]) & set(pair[1]))
        .map(_merge_keys),
    ),
    max_leaves=6,
)


def fields_in(raw: Any) -> set[str]:
    """The fields a raw YAML condition reads."""
    if isinstance(raw, list):
        return set().union(*(fields_in(item) for item in raw))
    found: set[str] = set()
    for key, value in raw.items():
        found |= fields_in(value) if key in ("all", "any", "not") else {key}
    return found


routings = st.fixed_dictionaries(
    {"queue": st.sampled_from(["q1", "q2", "q3"]), "priority": st.integers(0, 100)}
)
perks = st.fixed_dictionaries(
    {"code": st.sampled_from(PERK_CODES)},
    optional={"amount": st.integers(0, 2000)},
) | st.fixed_dictionaries(
    {"code": st.sampled_from(PERK_CODES), "percent": st.sampled_from([5, 10, 20.5, 300])}
)
slas = st.fixed_dictionaries(
    {},
    optional={
        "max_wait_seconds": st.integers(0, 1200),
        "first_response_seconds": st.integers(0, 7200),
        "callback_offered": st.booleans(),
        "human_agent_guaranteed": st.booleans(),
    },
)


@st.composite
def grants(draw: st.DrawFn, routing_only: bool) -> dict[str, Any]:
    """A rule's grant and revoke: something, and only routing when it reads the channel."""
    rule: dict[str, Any] = {"grant": {}}
    grant = rule["grant"]
    if routing_only or draw(st.booleans()):
        grant["routing"] = draw(routings)
    if routing_only:
        return rule
    if draw(st.booleans()):
        grant["service_level"] = draw(st.sampled_from(LEVELS))
    if draw(st.booleans()):
        grant["sla"] = draw(slas)
    chosen = draw(st.lists(perks, max_size=3, unique_by=lambda perk: perk["code"]))
    if chosen:
        grant["perks"] = chosen
    revoke = draw(st.lists(st.sampled_from(PERK_CODES), max_size=2, unique=True))
    if revoke:
        rule["revoke"] = revoke
    if not grant and not revoke:
        grant["perks"] = [{"code": "p1"}]
    return rule


@st.composite
def random_policies(draw: st.DrawFn, channel_parity: bool | None = None) -> dict[str, Any]:
    """A whole policy document: the unit features, a random baseline, 1-6 random rules."""
    parity = draw(st.booleans()) if channel_parity is None else channel_parity
    rules = []
    for index in range(draw(st.integers(1, 6))):
        when = draw(conditions_yaml)
        routing_only = parity and "channel" in fields_in(when)
        rules.append({"id": f"r{index}", "when": when, **draw(grants(routing_only))})
    baseline = {
        "service_level": draw(st.sampled_from(LEVELS[:2])),
        "sla": {
            "max_wait_seconds": draw(st.integers(60, 900)),
            "first_response_seconds": draw(st.integers(60, 3600)),
            "callback_offered": draw(st.booleans()),
            "human_agent_guaranteed": draw(st.booleans()),
        },
        "routing": {"queue": "general", "priority": draw(st.integers(0, 50))},
        "perks": [{"code": "welcome", "amount": 100}],
    }
    return {
        "policy": "random",
        "version": "1",
        "features": FEATURES,
        "service_levels": list(LEVELS),
        "baseline": baseline,
        "guarantees": {"channel_parity": parity},
        "rules": rules,
    }


unit_features = st.fixed_dictionaries(
    {},
    optional={
        "tier": st.sampled_from(TIERS),
        "score": st.integers(-8, 40).map(lambda n: n / 4),
        "visits": st.integers(-1, 8),
        "vip": st.booleans(),
        "region": st.sampled_from(["eu", "uk", "us", "", "eux"]),
    },
)
unit_contexts = st.builds(
    context,
    channel=st.sampled_from(CHANNELS),
    intent=st.sampled_from(["cancel", "outage", "", "buy", "recancel"]),
    order_value=st.none() | st.sampled_from([0, 1, 999, 1000, 1001, 5000, 7000]),
    item_count=st.integers(0, 4),
    currency=st.sampled_from(CURRENCIES),
    attributes=st.dictionaries(
        st.sampled_from(["a", "b"]), st.sampled_from(["x", "y", "", "xy"]), max_size=2
    ),
)
interactions = st.lists(st.tuples(unit_features, unit_contexts), min_size=1, max_size=8)


def compiled(document: Mapping[str, Any]) -> Decider:
    """Compile a generated policy document into a Decider."""
    return Decider(compile_policy_text(yaml.safe_dump(dict(document), sort_keys=False)))


@RANDOM_POLICY_SETTINGS
@given(document=random_policies(), cases=interactions, degraded=st.booleans())
def test_random_policy_never_below_baseline(
    document: dict[str, Any], cases: list[tuple[dict[str, Any], Context]], degraded: bool
) -> None:
    """(a) Whatever rules grant or revoke, the decision is at least the baseline."""
    decider = compiled(document)
    for features, ctx in cases:
        assert_at_least_baseline(decider.policy, decider.decide(features, ctx, degraded=degraded))


@RANDOM_POLICY_SETTINGS
@given(document=random_policies(channel_parity=True), cases=interactions)
def test_random_policy_channel_parity(
    document: dict[str, Any], cases: list[tuple[dict[str, Any], Context]]
) -> None:
    """(b) Under channel_parity, only routing may change when only the channel does."""
    decider = compiled(document)
    for features, ctx in cases:
        seen = {entitlement(decider.decide(features, v)) for v in channel_variants(ctx)}
        assert len(seen) == 1


@RANDOM_POLICY_SETTINGS
@given(document=random_policies(), cases=interactions, data=st.data())
def test_random_policy_rule_order_does_not_matter(
    document: dict[str, Any], cases: list[tuple[dict[str, Any], Context]], data: st.DataObject
) -> None:
    """(c) The same policy with its rules permuted decides the same level, SLA and perks."""
    permuted = {**document, "rules": data.draw(st.permutations(document["rules"]))}
    original, shuffled = compiled(document), compiled(permuted)
    for features, ctx in cases:
        assert order_free_part(shuffled.decide(features, ctx)) == order_free_part(
            original.decide(features, ctx)
        )


@RANDOM_POLICY_SETTINGS
@given(document=random_policies(), cases=interactions)
def test_random_policy_engine_agrees_with_python(
    document: dict[str, Any], cases: list[tuple[dict[str, Any], Context]]
) -> None:
    """(d) durable-rules matches exactly what Python evaluates, on the normalised conditions
    and on the conditions as written (so pushing ``not`` down changes nothing)."""
    decider = compiled(document)
    catalog = FieldCatalog(decider.policy.features)
    written = [conditions.parse(rule["when"], catalog) for rule in document["rules"]]
    for features, ctx in cases:
        assert_engine_agrees_with_python(decider, ctx, features)
        facts = decider.facts(features, ctx)
        for rule, condition in zip(decider.policy.rules, written, strict=True):
            assert conditions.holds(condition, facts) == conditions.holds(rule.condition, facts)


@RANDOM_POLICY_SETTINGS
@given(document=random_policies(), cases=interactions, data=st.data())
def test_random_policy_reused_engine_answers_equal_the_engines(
    document: dict[str, Any], cases: list[tuple[dict[str, Any], Context]], data: st.DataObject
) -> None:
    """(e) The decider reuses an engine answer for inputs whose comparisons all come out the
    same; every answer it gives, reused or new, is what the engine itself answers."""
    decider = compiled(document)
    # Each case twice, in a drawn order: later ones are answered from what came before.
    for features, ctx in data.draw(st.permutations(cases + cases)):
        facts = decider.facts(features, ctx)
        assert list(decider.matched(facts)) == decider.engine.matched(facts)


@DEFAULT_SETTINGS
@given(cases=st.lists(st.tuples(default_features(), default_contexts), min_size=2, max_size=20))
def test_default_policy_reused_engine_answers_equal_the_engines(
    cases: list[tuple[dict[str, Any], Context]],
) -> None:
    """(e) on the default policy, with features and contexts of every kind."""
    decider = default_decider()
    for features, ctx in cases:
        facts = decider.facts(features, ctx)
        assert list(decider.matched(facts)) == decider.engine.matched(facts)
