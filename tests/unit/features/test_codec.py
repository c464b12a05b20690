"""Decoding stored strings into the policy's types; what does not decode is missing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tierline_server.features.bounded_read import OVERSIZED
from tierline_server.features.codec import FeatureCodec
from tierline_server.policy.compiled import Policy


def values(codec: FeatureCodec, **stored: bytes) -> list[bytes | None]:
    """HMGET's answer for ``codec.fields`` given the stored fields."""
    return [stored.get(field) for field in codec.fields]


def test_fields_are_the_features_then_updated(every_type_policy: Policy) -> None:
    codec = FeatureCodec(every_type_policy.features)
    assert codec.fields == ("tier", "score", "visits", "vip", "region", "_updated")


def test_decodes_every_type(every_type_policy: Policy) -> None:
    codec = FeatureCodec(every_type_policy.features)
    decoded = codec.decode(
        values(
            codec,
            tier=b"gold",
            score=b"12.5",
            visits=b"7",
            vip=b"true",
            region=b"na",
            _updated=b"1700000000.250",
        )
    )
    assert decoded.found
    assert dict(decoded.features) == {
        "tier": "gold",
        "score": 12.5,
        "visits": 7,
        "vip": True,
        "region": "na",
    }
    assert decoded.updated == 1700000000.25
    assert decoded.undecodable == ()


@pytest.mark.parametrize(
    ("field", "raw"),
    [
        ("tier", b"diamond"),
        ("score", b"lots"),
        ("score", b"nan"),
        ("score", b"inf"),
        ("visits", b"7.5"),
        ("visits", b""),
        ("visits", "٣٣".encode()),  # Arabic-Indic digits: int() would say 33
        ("visits", "\N{FULLWIDTH DIGIT THREE}".encode()),
        ("visits", b"1_000"),
        ("visits", b" 7"),
        ("score", "٣٣.5".encode()),
        ("score", b"1_0.5"),
        ("score", b"infinity"),
        ("vip", b"maybe"),
        ("region", b"\xff\xfe"),
    ],
)
def test_an_undecodable_value_is_missing_and_named(
    every_type_policy: Policy, field: str, raw: bytes
) -> None:
    codec = FeatureCodec(every_type_policy.features)
    decoded = codec.decode(values(codec, **{field: raw}))
    assert decoded.found
    assert field not in decoded.features
    assert decoded.undecodable == (field,)


def test_a_bad_updated_stamp_is_named_too(every_type_policy: Policy) -> None:
    codec = FeatureCodec(every_type_policy.features)
    decoded = codec.decode(values(codec, tier=b"basic", _updated=b"yesterday"))
    assert decoded.updated is None
    assert decoded.undecodable == ("_updated",)


def test_no_hash_is_not_found(every_type_policy: Policy) -> None:
    codec = FeatureCodec(every_type_policy.features)
    decoded = codec.decode(values(codec))
    assert not decoded.found
    assert dict(decoded.features) == {}


def test_decode_hash_ignores_fields_outside_the_policy(every_type_policy: Policy) -> None:
    codec = FeatureCodec(every_type_policy.features)
    decoded = codec.decode_hash({b"visits": b"4", b"legacy_flag": b"1"})
    assert dict(decoded.features) == {"visits": 4}
    assert decoded.updated is None


def test_features_cannot_be_changed_by_a_caller(every_type_policy: Policy) -> None:
    codec = FeatureCodec(every_type_policy.features)
    decoded = codec.decode(values(codec, visits=b"4"))
    with pytest.raises(TypeError):
        decoded.features["visits"] = 5  # type: ignore[index]


def test_a_stamp_in_other_digits_is_named(every_type_policy: Policy) -> None:
    codec = FeatureCodec(every_type_policy.features)
    stamp = (
        "\N{ARABIC-INDIC DIGIT ONE}\N{ARABIC-INDIC DIGIT SEVEN}" + "\N{ARABIC-INDIC DIGIT ZERO}" * 8
    )
    decoded = codec.decode(values(codec, tier=b"basic", _updated=stamp.encode()))
    assert decoded.updated is None
    assert decoded.undecodable == ("_updated",)


def test_an_oversized_value_is_undecodable_and_named_as_such(every_type_policy: Policy) -> None:
    codec = FeatureCodec(every_type_policy.features)
    stored: list[object] = list(values(codec, tier=b"gold", _updated=b"1700000000"))
    stored[codec.fields.index("region")] = OVERSIZED
    decoded = codec.decode(stored)  # type: ignore[arg-type]
    assert dict(decoded.features) == {"tier": "gold"}
    assert decoded.undecodable == ("region",)
    assert decoded.oversized == ("region",)
    assert decoded.updated == 1700000000


@given(text=st.text(max_size=12))
def test_an_int_decodes_from_ascii_digits_only(every_type_policy: Policy, text: str) -> None:
    codec = FeatureCodec(every_type_policy.features)
    decoded = codec.decode(values(codec, visits=text.encode("utf-8", "surrogatepass")))
    digits = text[1:] if text[:1] in ("+", "-") else text
    if digits.isascii() and digits.isdigit():
        assert decoded.features["visits"] == int(text)
    else:
        assert "visits" not in decoded.features
