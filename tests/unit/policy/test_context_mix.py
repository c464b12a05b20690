"""Context mixes for policy diff, and logged features read as a policy reads them."""

from __future__ import annotations

from pathlib import Path

import pytest
from policy_support import compile_rules
from tierline_server.policy.domain import Context
from tierline_server.policy.inputs import load_contexts, readable_features


def test_a_context_file_gives_named_contexts(tmp_path: Path) -> None:
    path = tmp_path / "contexts.yaml"
    path.write_text(
        "contexts:\n"
        "  - {name: phone cancel, channel: PHONE, intent: cancel}\n"
        "  - {channel: web, intent: purchase, order_value: 60.00, currency: eur, item_count: 2,"
        " attributes: {campaign: spring-2026}}\n"
    )

    contexts = load_contexts(path)

    assert contexts == [
        ("phone cancel", Context(channel="phone", intent="cancel")),
        (
            "web purchase 60.00 EUR 2 items campaign=spring-2026",
            Context(
                channel="web",
                intent="purchase",
                order_value=6000,
                currency="EUR",
                item_count=2,
                attributes={"campaign": "spring-2026"},
            ),
        ),
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("contexts: [{channel: web, order_value: 60}]", "needs a currency"),
        ("contexts: [{channel: fax}]", "'fax' is not a channel"),
        ("contexts: [{channel: web, colour: red}]", "colour"),
        ("contexts: []", "at least 1"),
        ("[{channel: web}]", "contexts"),
        ("contexts: [{channel: web", "flow"),
    ],
)
def test_a_bad_context_file_names_the_file_and_the_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "contexts.yaml"
    path.write_text(text)

    with pytest.raises(ValueError, match=problem) as raised:
        load_contexts(path)

    assert str(path) in str(raised.value)


def test_logged_features_are_read_as_the_policy_declares_them() -> None:
    policy = compile_rules("- {id: r, when: {vip: true}, grant: {perks: [{code: p}]}}")

    typed = readable_features(
        policy, {"tier": "gold", "score": 12, "visits": "x", "vip": True, "dropped": 1}
    )

    assert typed == {"tier": "gold", "score": 12.0, "vip": True}  # visits does not decode
