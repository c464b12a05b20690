"""Decision ids: unique and sortable by time (ULID layout: 48-bit ms time + 80 random bits)."""

from __future__ import annotations

import os
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
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
    value = (now_ms << 80) | random_part
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))
