"""Decision ids: unique and sortable by time (ULID layout: 48-bit ms time + 80 random bits)."""

from __future__ import annotations

import os
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [first + second for first in _CROCKFORD for second in _CROCKFORD]
"""Every 10-bit value as two digits: half the lookups of one digit at a time."""
_DIGITS = frozenset(_CROCKFORD)
_TIME_CHARS = 10
ID_LENGTH = 26
_last_ms = 0
_last_random = 0


def new_decision_id() -> str:
    """A 26-character ULID; ids made in one process are strictly increasing."""
    global _last_ms, _last_random
    now_ms = time.time_ns() // 1_000_000
    if now_ms <= _last_ms:  # same millisecond (or clock step back): count up, stay sortable
        now_ms, random_part = _last_ms, _last_random + 1
    else:
        random_part = int.from_bytes(os.urandom(10), "big") >> 1  # room to count up
    _last_ms, _last_random = now_ms, random_part
    value = (now_ms << 80) | random_part  # 26 digits of 5 bits: 13 pairs
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in range(120, -1, -10)])


def decision_time(decision_id: str) -> float:
    """When a decision was made (epoch seconds, to the millisecond), read from its id;
    ValueError for a string that is not a decision id."""
    text = decision_id.upper()
    if len(text) != ID_LENGTH or not set(text) <= _DIGITS:
        raise ValueError(
            f"{decision_id!r} is not a decision id ({ID_LENGTH} characters of base 32)"
        )
    milliseconds = 0
    for char in text[:_TIME_CHARS]:  # the top 50 bits: 2 zero bits and the 48-bit time
        milliseconds = milliseconds * 32 + _CROCKFORD.index(char)
    return milliseconds / 1000
