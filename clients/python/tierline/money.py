"""Money: ISO 4217 currency codes and their minor units.

An amount travels as an integer of minor units of a named currency (``order_value_minor``:
5990 EUR is 59.90 euros, 5000 JPY is 5,000 yen). People write amounts in major units
(``59.90``); the currency's ISO 4217 exponent (EUR 2, JPY 0, KWD 3) converts between the two.
The exponents come from the ``iso4217`` package, which ships ISO's own table.

Currency codes are case-insensitive and normalised to upper case (``eur`` is ``EUR``). A code
that ISO 4217 does not list, or one without a minor unit (gold ``XAU``, ``XXX``), is not a
currency an amount can be in. Every function raises ``ValueError`` saying what is wrong.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from iso4217 import Currency

CODES_KEPT = 512
"""Currency codes whose lookup is kept (ISO 4217 lists about 180; any case of each)."""

Amount = Decimal | int | str | float
"""An amount in major units: ``Decimal("59.90")``, ``"59.90"``, ``59.9`` or ``59``."""


def currency_code(text: str) -> str:
    """The upper-case ISO 4217 code for ``text`` (any case); ValueError when it is none."""
    return _currency(text)[0]


def exponent(currency: str) -> int:
    """The number of decimals of ``currency`` (any case): EUR 2, JPY 0, KWD 3."""
    return _currency(currency)[1]


# Looking a code up in the enum costs more than the rest of a request's validation. (A code
# that is none raises, and is not kept.)
@lru_cache(maxsize=CODES_KEPT)
def _currency(text: str) -> tuple[str, int]:
    try:
        currency = Currency(text.upper() if isinstance(text, str) else text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 4217 currency code (such as EUR)") from None
    if currency.exponent is None:
        raise ValueError(f"{currency.code} has no minor unit: no amount can be in it")
    return currency.code, currency.exponent


def minor_units(amount: Amount, currency: str) -> int:
    """``amount`` in major units of ``currency`` as an integer of minor units.

    ``minor_units("59.90", "EUR") == 5990``, ``minor_units(5000, "JPY") == 5000``,
    ``minor_units("5.123", "KWD") == 5123``. An amount with more decimals than the currency has,
    or that is not a finite number, raises ValueError.
    """
    places = exponent(currency)
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int | str | float):
        raise ValueError(f"{amount!r} is not an amount")
    if isinstance(amount, float) and not math.isfinite(amount):
        raise ValueError(f"{amount!r} is not an amount")
    try:
        # str() of a float is its shortest round-trip form: 59.9 stays 59.9, not 59.899999...
        value = Decimal(str(amount) if isinstance(amount, float) else amount)
    except InvalidOperation:
        raise ValueError(f"{amount!r} is not an amount") from None
    if not value.is_finite():
        raise ValueError(f"{amount!r} is not an amount")
    scaled = value.scaleb(places)
    if scaled != scaled.to_integral_value():
        code = currency.upper()
        raise ValueError(f"{amount} has more decimals than {code} has ({places})")
    return int(scaled)


def major_text(minor: int, currency: str) -> str:
    """Minor units as the amount people read, with the currency: ``5990 EUR`` -> ``59.90 EUR``."""
    places = exponent(currency)
    return f"{Decimal(minor).scaleb(-places):.{places}f} {currency.upper()}"
