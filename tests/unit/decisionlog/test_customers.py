"""Customers in the log: their ids, or keyed hashes that only the key's holders can match."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tierline_server.config import DecisionLogSettings, SettingError
from tierline_server.decisionlog.customers import CustomerNames, customer_key

KEY = b"k" * 32
ids = st.from_regex(r"[A-Za-z0-9._:@-]{1,128}", fullmatch=True)


def test_without_a_key_the_log_names_the_id() -> None:
    names = CustomerNames(None)

    assert not names.hashed
    assert names.name("c000042") == "c000042"


@given(customer=ids, other=ids)
def test_with_a_key_the_same_id_gives_the_same_hash_and_no_other(customer: str, other: str) -> None:
    names = CustomerNames(KEY)

    assert names.hashed
    assert names.name(customer) == names.name(customer)
    assert len(names.name(customer)) == 32
    assert (names.name(customer) == names.name(other)) == (customer == other)


def test_another_key_gives_other_hashes() -> None:
    assert CustomerNames(KEY).name("c1") != CustomerNames(b"x" * 32).name("c1")


def test_the_key_comes_from_the_setting_or_its_file(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("a-key-of-sixteen-bytes-or-more\n")

    assert customer_key(DecisionLogSettings()) is None
    assert customer_key(DecisionLogSettings(customer_key="k" * 20)) == b"k" * 20
    assert customer_key(DecisionLogSettings(customer_key_file=str(key_file))) == (
        b"a-key-of-sixteen-bytes-or-more"
    )


def test_two_keys_are_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("k" * 20)

    with pytest.raises(SettingError, match="both set"):
        customer_key(DecisionLogSettings(customer_key="k" * 20, customer_key_file=str(key_file)))


def test_a_key_file_that_went_away_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingError, match=r"--decision-log-customer-key-file .*cannot be read"):
        customer_key(DecisionLogSettings(customer_key_file=str(tmp_path / "gone")))
