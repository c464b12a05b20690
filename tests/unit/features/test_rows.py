"""The loader without Redis: reading CSV and JSON Lines, checking rows, segmenting them."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from tierline_server.features import loader
from tierline_server.features.loader import InputFormat, Record, RowChecker, RowRejectedError
from tierline_server.policy.compiled import Policy

DEFAULT_COLUMNS = (
    "customer_id",
    "tier",
    "ltv",
    "tenure_days",
    "orders_12m",
    "complaints_90d",
    "evangelist",
)


def csv_records(text: str | bytes, columns: tuple[str, ...] = DEFAULT_COLUMNS) -> list[Record]:
    data = text.encode() if isinstance(text, str) else text
    return list(loader.read_records(io.BytesIO(data), InputFormat.CSV, columns))


def jsonl_records(data: bytes) -> list[Record]:
    return list(loader.read_records(io.BytesIO(data), InputFormat.JSONL, ()))


def check(policy: Policy, values: dict[str, object], *, keep_tier: bool = False) -> loader.Row:
    return RowChecker(policy, keep_tier=keep_tier).check(Record(1, values, b""))


def rejection(policy: Policy, values: dict[str, object]) -> str:
    with pytest.raises(RowRejectedError) as raised:
        check(policy, values)
    return str(raised.value)


# Reading


def test_csv_rows_with_their_line_numbers() -> None:
    records = csv_records(
        'customer_id,ltv\nc1,10\n\nc2,"2,000"\nc3,"multi\nline"\nc4,5\n',
        ("customer_id", "ltv"),
    )
    assert [(r.line, r.values) for r in records] == [
        (2, {"customer_id": "c1", "ltv": "10"}),
        (4, {"customer_id": "c2", "ltv": "2,000"}),
        (6, {"customer_id": "c3", "ltv": "multi\nline"}),
        (7, {"customer_id": "c4", "ltv": "5"}),
    ]


def test_csv_header_may_have_a_byte_order_mark_and_spaces() -> None:
    records = csv_records(b"\xef\xbb\xbfcustomer_id , ltv\nc1,10\n", ("customer_id", "ltv"))
    assert records[0].values == {"customer_id": "c1", "ltv": "10"}


def test_csv_row_with_the_wrong_number_of_fields_is_malformed() -> None:
    (record,) = csv_records("customer_id,ltv\nc1,10,extra\n", ("customer_id", "ltv"))
    assert record.values is None
    assert record.problem == "malformed: 3 fields, the header has 2"
    assert record.source == ["c1", "10", "extra"]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("ltv,tier", "no 'customer_id' column"),
        ("customer_id,ltv,shoe_size", "unknown column(s) shoe_size"),
        ("customer_id,ltv,ltv", "duplicated column(s) ltv"),
        ("", "no 'customer_id' column"),
    ],
)
def test_a_bad_csv_header_stops_the_load_before_any_row(header: str, message: str) -> None:
    with pytest.raises(loader.LoadError, match=re.escape(message)):
        csv_records(f"{header}\nc1,1\n")


def test_jsonl_rows_and_malformed_lines() -> None:
    records = jsonl_records(
        b'{"customer_id": "c1", "ltv": 10}\n\nnot json\n[1, 2]\n{"customer_id": "c\xff"}\n'
    )
    good, not_json, not_object, not_utf8 = records
    assert (good.line, good.values, good.problem) == (1, {"customer_id": "c1", "ltv": 10}, None)
    assert not_json.line == 3
    assert str(not_json.problem).startswith("malformed: not valid JSON")
    assert (not_object.line, not_object.problem) == (4, "malformed: a line must be a JSON object")
    assert not_utf8.line == 5
    assert str(not_utf8.problem).startswith("malformed: not valid JSON")


def test_format_by_extension_or_as_given(tmp_path: Path) -> None:
    assert loader.input_format(tmp_path / "a.CSV") is InputFormat.CSV
    assert loader.input_format(tmp_path / "a.jsonl") is InputFormat.JSONL
    assert loader.input_format(tmp_path / "a.ndjson") is InputFormat.JSONL
    assert loader.input_format(tmp_path / "a.txt", InputFormat.CSV) is InputFormat.CSV
    with pytest.raises(loader.LoadError, match="unknown format"):
        loader.input_format(tmp_path / "a.txt")


def test_rejects_go_beside_the_input_by_default() -> None:
    assert loader.default_rejects_path(Path("/data/customers.csv")) == Path(
        "/data/customers.rejects.csv"
    )


# Checking and segmenting


@pytest.mark.parametrize(
    ("features", "tier"),
    [
        ({"ltv": "25000"}, "platinum"),
        ({"ltv": "20000"}, "platinum"),
        ({"ltv": "5000"}, "gold"),
        ({"ltv": "1500", "orders_12m": "6"}, "growth"),
        ({"ltv": "1500", "orders_12m": "5"}, "standard"),
        ({"ltv": "200"}, "standard"),
        ({"ltv": "199.99"}, "basic"),
        ({}, "basic"),
    ],
)
def test_segments_assign_the_first_matching_tier(
    default_policy: Policy, features: dict[str, str], tier: str
) -> None:
    row = check(default_policy, {"customer_id": "c1", **features})
    assert row.tier == tier
    assert row.features["tier"] == tier


def test_segments_override_a_given_tier_unless_kept(default_policy: Policy) -> None:
    values = {"customer_id": "c1", "ltv": "10", "tier": "gold"}
    assert check(default_policy, values).tier == "basic"
    assert check(default_policy, values, keep_tier=True).tier == "gold"
    assert check(default_policy, {"customer_id": "c1", "ltv": "10"}, keep_tier=True).tier == "basic"


def test_values_are_stored_in_canonical_form(every_type_policy: Policy) -> None:
    row = check(
        every_type_policy,
        {"customer_id": "c1", "score": " 150 ", "visits": "7", "vip": "YES", "region": "na"},
    )
    assert row.customer_id == "c1"
    assert row.features == {
        "score": "150.0",
        "visits": "7",
        "vip": "true",
        "region": "na",
        "tier": "gold",
    }
    assert row.values == {"score": 150.0, "visits": 7, "vip": True, "region": "na", "tier": "gold"}


def test_json_values_keep_their_types(every_type_policy: Policy) -> None:
    row = check(
        every_type_policy, {"customer_id": "c1", "score": 150, "vip": False, "visits": None}
    )
    assert row.features == {"score": "150.0", "vip": "false", "tier": "gold"}


def test_empty_cells_are_absent_features(default_policy: Policy) -> None:
    row = check(default_policy, {"customer_id": "c1", "ltv": "", "evangelist": ""})
    assert row.features == {"tier": "basic"}


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"ltv": "10"}, "customer_id: missing"),
        ({"customer_id": "", "ltv": "10"}, "customer_id: missing"),
        ({"customer_id": "bad id"}, "customer_id: 'bad id' is not 1-128 characters"),
        ({"customer_id": 42}, "customer_id: 42 is not 1-128 characters"),
        ({"customer_id": "c1", "ltv": "lots"}, "ltv: 'lots' is not a valid number"),
        ({"customer_id": "c1", "tenure_days": "1.5"}, "tenure_days: '1.5' is not a valid int"),
        ({"customer_id": "c1", "evangelist": "maybe"}, "evangelist: 'maybe' is not a valid bool"),
        ({"customer_id": "c1", "tier": "diamond"}, "tier: 'diamond' is not one of unknown, basic"),
        ({"customer_id": "c1", "shoe_size": 42}, "unknown feature 'shoe_size'"),
    ],
)
def test_every_reject_reason(
    default_policy: Policy, values: dict[str, object], reason: str
) -> None:
    assert rejection(default_policy, values).startswith(reason)


def test_a_rejection_names_every_problem(default_policy: Policy) -> None:
    reason = rejection(default_policy, {"customer_id": "c 1", "ltv": "x", "orders_12m": "y"})
    assert reason.count(";") == 2


def test_invalid_utf8_in_a_string_feature(every_type_policy: Policy) -> None:
    (record,) = csv_records(b"customer_id,region\nc1,\xff\xfe\n", ("customer_id", "region"))
    with pytest.raises(RowRejectedError, match="region: not valid UTF-8"):
        RowChecker(every_type_policy, keep_tier=False).check(record)


def test_a_row_no_segment_matches(every_type_policy: Policy) -> None:
    assert rejection(every_type_policy, {"customer_id": "c1", "score": "5"}) == (
        "no segment matches (the policy's segments have no catch-all)"
    )


def test_a_malformed_record_is_rejected_with_its_problem(default_policy: Policy) -> None:
    record = Record(3, None, ["a", "b"], "malformed: 2 fields, the header has 1")
    with pytest.raises(RowRejectedError, match="malformed: 2 fields"):
        RowChecker(default_policy, keep_tier=False).check(record)


def test_remembered_text_never_stands_in_for_a_json_value(default_policy: Policy) -> None:
    checker = RowChecker(default_policy, keep_tier=False)
    first = checker.check(Record(1, {"customer_id": "c1", "tenure_days": "1"}, b""))
    assert first.features["tenure_days"] == "1"
    with pytest.raises(RowRejectedError, match="tenure_days: True is not a valid int"):
        checker.check(Record(2, {"customer_id": "c2", "tenure_days": True}, b""))
    assert checker.check(Record(3, {"customer_id": "c3", "tenure_days": 1}, b"")).features == {
        "tenure_days": "1",
        "tier": "basic",
    }
