"""How the decision log names a customer: the id, or a keyed hash of it (HMAC-SHA256).

With a key, the log holds no customer id, yet whoever has the key can still find a customer's
decisions (``decisions tail --customer``): the same id always gives the same hash, and without
the key the hash cannot be reversed or recomputed.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from tierline_server.config import DecisionLogSettings, SettingError

HASH_HEX_DIGITS = 32
"""128 bits of the HMAC: collisions are out of reach for any number of customers."""


class CustomerNames:
    """Names customers in the log: their ids, or keyed hashes when a key is set."""

    def __init__(self, key: bytes | None) -> None:
        self._mac = hmac.new(key, digestmod=hashlib.sha256) if key else None

    @property
    def hashed(self) -> bool:
        """Whether the log holds keyed hashes rather than ids."""
        return self._mac is not None

    def name(self, customer_id: str) -> str:
        """What the log holds for ``customer_id``."""
        if self._mac is None:
            return customer_id
        mac = self._mac.copy()  # the key's inner and outer pads are computed once
        mac.update(customer_id.encode())
        return mac.hexdigest()[:HASH_HEX_DIGITS]


def customer_key(settings: DecisionLogSettings) -> bytes | None:
    """The key of the settings (given, or read from its file); None when there is none.

    Raises SettingError when both are given or the file cannot be read.
    """
    if settings.customer_key and settings.customer_key_file:
        raise SettingError(
            "--decision-log-customer-key and --decision-log-customer-key-file are both set "
            "(TIERLINE_DECISION_LOG_CUSTOMER_KEY, TIERLINE_DECISION_LOG_CUSTOMER_KEY_FILE): "
            "give one"
        )
    if settings.customer_key:
        return settings.customer_key.strip().encode()
    if settings.customer_key_file:
        try:
            return Path(settings.customer_key_file).read_text().strip().encode()
        except OSError as error:
            raise SettingError(
                f"--decision-log-customer-key-file {settings.customer_key_file}: cannot be read "
                f"({error.strerror})"
            ) from None
    return None
