"""How the bounded-read script's replies are understood."""

from __future__ import annotations

from tierline_server.features.bounded_read import (
    NOTHING,
    OTHER_TYPE,
    OVERSIZED,
    StoredKind,
    stored_record,
)


def test_no_key_is_nothing() -> None:
    assert stored_record(None) is NOTHING


def test_a_type_name_is_another_type() -> None:
    assert stored_record(b"string") is OTHER_TYPE
    assert stored_record(b"list") is OTHER_TYPE


def test_a_hash_gives_its_values_with_the_oversized_marked() -> None:
    record = stored_record([b"gold", None, 0, b"1700000000.000"])
    assert record.kind is StoredKind.HASH
    assert record.values == (b"gold", None, OVERSIZED, b"1700000000.000")
