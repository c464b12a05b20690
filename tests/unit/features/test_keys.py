"""Customer ids, keys and invalidation messages."""

from __future__ import annotations

import pytest
from tierline_server.features import keys


@pytest.mark.parametrize(
    "customer_id", ["c000001", "a", "x" * 128, "user@example.com", "tenant:42", "A.b_c-d"]
)
def test_valid_ids_become_keys(customer_id: str) -> None:
    assert keys.is_customer_id(customer_id)
    assert keys.customer_key("p:", customer_id) == "p:" + customer_id


@pytest.mark.parametrize(
    "customer_id",
    ["", "x" * 129, "with space", "c1\n", "tab\t", "star*", "{slot}", "é", "a/b", None, 42],
)
def test_invalid_ids_never_reach_a_key(customer_id: object) -> None:
    assert not keys.is_customer_id(customer_id)
    with pytest.raises(keys.InvalidCustomerIdError, match="1-128 characters"):
        keys.customer_key("p:", customer_id)  # type: ignore[arg-type]


def test_invalidation_message_round_trip() -> None:
    message = keys.invalidation_message(["c1", "c2", "user@example.com"])
    assert keys.invalidated_ids(message.encode()) == ["c1", "c2", "user@example.com"]


def test_invalidation_message_ignores_what_is_not_an_id() -> None:
    assert keys.invalidated_ids(b"c1  \xff\xfe bad*id c2\n") == ["c1", "c2"]
    assert keys.invalidated_ids("") == []
