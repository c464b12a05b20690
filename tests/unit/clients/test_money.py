"""Money: ISO 4217 codes and minor units, from the iso4217 data package."""

from __future__ import annotations

import re
from decimal import Decimal

import iso4217
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tierline import money

AMOUNT_CURRENCIES = sorted(c.code for c in iso4217.Currency if c.exponent is not None)


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("59.90", "EUR", 5990),
        (5000, "JPY", 5000),
        ("5.5", "KWD", 5500),
        ("5.123", "KWD", 5123),
        ("1.2345", "CLF", 12345),
        (Decimal("0.01"), "usd", 1),
        (0, "EUR", 0),
    ],
)
def test_major_units_become_minor_units_by_the_currency_exponent(
    amount: money.Amount, currency: str, minor: int
) -> None:
    assert money.minor_units(amount, currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency", "problem"),
    [
        ("59.901", "EUR", "59.901 has more decimals than EUR has (2)"),
        ("5000.5", "JPY", "5000.5 has more decimals than JPY has (0)"),
        ("5.1234", "kwd", "5.1234 has more decimals than KWD has (3)"),
        ("ten", "EUR", "'ten' is not an amount"),
        (float("inf"), "EUR", "inf is not an amount"),
        (True, "EUR", "True is not an amount"),
        ("10", "EURO", "'EURO' is not an ISO 4217 currency code (such as EUR)"),
        ("10", "XAU", "XAU has no minor unit: no amount can be in it"),
    ],
)
def test_what_cannot_be_converted_says_why(
    amount: money.Amount, currency: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(problem)}$"):
        money.minor_units(amount, currency)


@pytest.mark.parametrize(("text", "code"), [("EUR", "EUR"), ("eur", "EUR"), ("Jpy", "JPY")])
def test_codes_are_case_insensitive(text: str, code: str) -> None:
    assert money.currency_code(text) == code


@pytest.mark.parametrize("text", ["", "EU", "EURO", " EUR", "XXX", "XTS"])
def test_what_is_not_a_currency_of_amounts_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"ISO 4217|no minor unit"):
        money.currency_code(text)


def test_exponents_are_iso_4217s() -> None:
    """The package's table, not ours: spot checks of each exponent in use."""
    assert {code: money.exponent(code) for code in ("EUR", "JPY", "KWD", "CLF", "ISK")} == {
        "EUR": 2,
        "JPY": 0,
        "KWD": 3,
        "CLF": 4,
        "ISK": 0,
    }


@given(currency=st.sampled_from(AMOUNT_CURRENCIES), minor=st.integers(0, 10**12))
def test_major_text_reads_back_as_the_same_minor_units(currency: str, minor: int) -> None:
    amount, code = money.major_text(minor, currency).split(" ")
    assert code == currency
    assert money.minor_units(amount, currency) == minor


def test_major_text_shows_every_decimal_of_the_currency() -> None:
    assert money.major_text(5990, "EUR") == "59.90 EUR"
    assert money.major_text(5000, "jpy") == "5000 JPY"
    assert money.major_text(5, "KWD") == "0.005 KWD"
