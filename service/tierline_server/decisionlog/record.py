"""One entry of the decision log: what a decision saw and answered, and its JSON form.

An entry of the stream has one field, ``record``, holding the record as one JSON object, so that
an operator can read it with redis-cli and ``decisions export --format jsonl`` writes entries as
they are stored. The JSON mirrors Tierline's own types (Outcome, Context, Decision) field for
field; msgspec encodes them and checks every field's type when decoding, so an entry that is not
a record of this schema raises RecordError (readers skip it rather than stop).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Final, Literal

import msgspec

from tierline_server import ids
from tierline_server.decisions import DecisionRequest, Outcome
from tierline_server.features.lookup import FeatureSource
from tierline_server.policy.domain import Context, Decision

SCHEMA_VERSION: Final = 1
FIELD = "record"
"""The one field of a stream entry."""
DECIDE = "Decide"
DECIDE_BATCH = "DecideBatch"


class RecordError(ValueError):
    """A stream entry that is not a decision record of this schema."""


@dataclass(frozen=True)
class DecisionRecord:
    """A logged decision: the outcome the caller got, the context it was for, and how it came.

    ``outcome.customer_id`` is the customer id, or its keyed hash when ``customer_hashed``;
    ``outcome.features`` are the typed features the rules were given (a feature left out took
    the policy's default), read from ``outcome.feature_source``.
    """

    time: str
    """When the decision was made, ISO 8601 in UTC (for people: it is in the decision id too)."""
    method: str
    """DECIDE or DECIDE_BATCH."""
    context: Context
    outcome: Outcome
    customer_hashed: bool = False
    caller: str = ""
    """Who asked: the caller's name ('' when the service ran without authentication)."""
    shadow: Decision | None = None
    """A candidate policy's decision for the same inputs, when it differed from the one the
    caller got (``outcome.decision``)."""
    schema: Literal[1] = SCHEMA_VERSION

    @property
    def decision_id(self) -> str:
        """The decision's id (time-ordered)."""
        return self.outcome.decision_id

    @property
    def made_at(self) -> float:
        """When the decision was made (epoch seconds), from its id."""
        return ids.decision_time(self.outcome.decision_id)

    @property
    def decision(self) -> Decision:
        """What the caller got."""
        return self.outcome.decision

    @property
    def degraded(self) -> bool:
        """Whether the decision was made without the customer's features."""
        return self.outcome.feature_source is FeatureSource.UNAVAILABLE


def record_of(
    request: DecisionRequest,
    outcome: Outcome,
    *,
    batch: bool,
    customer_hashed: bool = False,
    shadow: Decision | None = None,
) -> DecisionRecord:
    """The record of a decision the service made (``outcome`` names the customer as logged)."""
    return DecisionRecord(
        time=iso_time(ids.decision_time(outcome.decision_id)),
        method=DECIDE_BATCH if batch else DECIDE,
        context=request.context,
        outcome=outcome,
        customer_hashed=customer_hashed,
        caller=request.caller,
        shadow=shadow,
    )


def iso_time(epoch: float) -> str:
    """An instant as ISO 8601 in UTC, to the millisecond: 2026-11-03T10:00:00.123Z."""
    moment = datetime.fromtimestamp(epoch, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _builtin(value: object) -> object:
    """What msgspec cannot encode by itself: read-only mappings (features, attributes)."""
    if isinstance(value, Mapping):
        return dict(value)
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


_ENCODER = msgspec.json.Encoder(enc_hook=_builtin)
_DECODER = msgspec.json.Decoder(DecisionRecord)


def encode(record: DecisionRecord) -> bytes:
    """The record as one line of JSON."""
    return _ENCODER.encode(record)


def decode(data: bytes | str) -> DecisionRecord:
    """The record in a stream entry's ``record`` field; RecordError if it is not one."""
    try:
        record = _DECODER.decode(data)
        ids.decision_time(record.decision_id)
    except (msgspec.DecodeError, ValueError) as error:  # ValidationError is a DecodeError
        raise RecordError(f"not a decision record: {error}") from None
    return record


def entry_id(epoch: float, sequence: int = 0) -> str:
    """The id of the stream entry written at ``epoch`` (seconds) with ``sequence``: stream ids
    are milliseconds-sequence, and none comes before 1970."""
    return f"{max(int(epoch * 1000), 0)}-{sequence}"


def written_at(entry_id: str) -> float:
    """When a stream entry was written (epoch seconds), from its id."""
    return int(entry_id.partition("-")[0]) / 1000
