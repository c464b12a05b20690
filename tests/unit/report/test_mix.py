"""The context mix: the default one, and the one-line messages for a mix that cannot be used."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_support import small_policy
from tierline_server.policy.conditions import Compare
from tierline_server.policy.domain import CHANNELS
from tierline_server.report.mix import (
    MixError,
    cohort_conditions,
    interaction_text,
    load_mix,
    money,
)

GOOD = """\
currency: EUR
channels: [phone, chat]
interactions:
  - {intent: support}
  - {intent: purchase, order_value: 25.00, item_count: 2, attributes: {campaign: spring-2026}}
cohorts:
  big spenders: {ltv: {gte: 1000}}
value_feature: ltv
premium_from: premium
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mix.yaml"
    path.write_text(text)
    return path


def test_the_default_mix_crosses_every_channel_with_every_interaction() -> None:
    mix = load_mix()
    assert mix.channels == CHANNELS
    assert mix.currency == "EUR"
    assert len(mix.contexts) == len(CHANNELS) * 8
    assert [c.channel for c in mix.contexts[: len(CHANNELS)]] == list(CHANNELS)
    orders = [c for c in mix.contexts if c.order_value is not None]
    assert orders
    assert {c.currency for c in orders} == {"EUR"}
    assert {c.currency for c in mix.contexts if c.order_value is None} == {""}
    assert set(mix.cohorts) == {"new customers", "frequent complainers"}


def test_a_mix_file_gives_contexts_interaction_by_interaction(tmp_path: Path) -> None:
    mix = load_mix(write(tmp_path, GOOD))
    assert [(c.channel, c.intent) for c in mix.contexts] == [
        ("phone", "support"),
        ("chat", "support"),
        ("phone", "purchase"),
        ("chat", "purchase"),
    ]
    purchase = mix.contexts[2]
    assert (purchase.order_value, purchase.currency, purchase.item_count) == (2500, "EUR", 2)
    assert dict(purchase.attributes) == {"campaign": "spring-2026"}
    assert interaction_text(purchase) == "purchase, 25.00 EUR, 2 items, campaign=spring-2026"
    assert interaction_text(mix.contexts[0]) == "support"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("currency: EUR", "currency: euro"), "currency: 'euro' is not an ISO 4217 currency code"),
        (("[phone, chat]", "[phone, fax]"), "channels: unknown fax (one of phone, chat,"),
        (("[phone, chat]", "[phone, phone]"), "channels: a channel is listed twice"),
        (("order_value: 25.00", "order_value: -1"), "interactions.1.order_value: Input should be"),
        (
            ("order_value: 25.00", "order_value: 25.001"),
            "order_value: 25.001 has more decimals than EUR has (2)",
        ),
        (("  - {intent: support}\n", "  - {intent: support, weight: 2}\n"), "weight: Extra inputs"),
        (("value_feature: ltv\n", ""), "value_feature: Field required"),
        (("big spenders:", "all customers:"), "'all customers' names the whole population"),
    ],
)
def test_a_bad_mix_is_reported_with_its_file_and_field(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(MixError) as raised:
        load_mix(path)
    assert f"{path}: " in str(raised.value)
    assert message in str(raised.value)


def test_a_mix_that_is_not_yaml_or_not_there(tmp_path: Path) -> None:
    with pytest.raises(MixError, match="not valid YAML"):
        load_mix(write(tmp_path, "channels: [phone"))
    with pytest.raises(MixError, match="cannot read"):
        load_mix(tmp_path / "missing.yaml")


def test_cohorts_become_conditions_over_the_policys_features(tmp_path: Path) -> None:
    cohorts = cohort_conditions(load_mix(write(tmp_path, GOOD)), small_policy())
    assert cohorts == {"big spenders": Compare("ltv", "gte", 1000)}


def test_a_mix_that_does_not_fit_the_policy_names_every_problem(tmp_path: Path) -> None:
    text = (
        GOOD.replace("{ltv: {gte: 1000}}", "{tenure_days: {lt: 90}}")
        .replace("value_feature: ltv", "value_feature: tier")
        .replace("premium_from: premium", "premium_from: gold")
    )
    with pytest.raises(MixError) as raised:
        cohort_conditions(load_mix(write(tmp_path, text)), small_policy())
    lines = str(raised.value).splitlines()
    assert len(lines) == 3
    assert (
        "value_feature: 'tier' is not a number feature of policy 'small' (one of ltv)" in lines[0]
    )
    assert "premium_from: 'gold' is not a service level of policy 'small'" in lines[1]
    assert "cohorts.big spenders.tenure_days: unknown field 'tenure_days'" in lines[2]


def test_money_is_shown_in_major_units() -> None:
    assert money(123456, "EUR") == "1,234.56 EUR"
    assert money(123456, "JPY") == "123,456 JPY"
    assert money(5125.7, "KWD") == "5.126 KWD"  # an average, rounded to the currency's places
