"""Read customer hashes with every value's size bounded by Redis itself.

A plain HMGET sends whatever a hash holds: one customer whose record holds 30 MB would keep a
connection busy past every budget and open the circuit for everybody. A small Lua script checks
the key's type and its values' sizes first and sends only values within the limit, so a bad
record costs one short reply. It touches one key, so in a cluster it runs on the key's node.

The script is sent by its SHA1 (EVALSHA). A node that does not know it yet (after a restart, a
failover or SCRIPT FLUSH) answers NOSCRIPT: the script is then loaded on every primary and
those keys are sent again.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from redis import exceptions

from tierline_server.features.round_trip import Command, RoundTrip, command, resp

SCRIPT: Final = """\
local key = KEYS[1]
local kind = redis.call('TYPE', key)['ok']
if kind == 'none' then return false end
if kind ~= 'hash' then return kind end
local limit = tonumber(ARGV[1])
local encoding = redis.call('OBJECT', 'ENCODING', key)
if (encoding == 'listpack' or encoding == 'ziplist')
    and redis.call('MEMORY', 'USAGE', key, 'SAMPLES', 0) <= limit then
  return redis.call('HMGET', key, unpack(ARGV, 2))
end
local values = {}
for i = 2, #ARGV do
  if redis.call('HSTRLEN', key, ARGV[i]) > limit then
    values[i - 1] = 0
  else
    values[i - 1] = redis.call('HGET', key, ARGV[i])
  end
end
return values
"""
"""KEYS[1]: a customer's hash; ARGV[1]: the longest value sent, in bytes; ARGV[2...]: the fields.
Returns nil when there is no such key, the key's type when it is not a hash, and otherwise one
entry per field: its value, nil when absent, or 0 when longer than the limit.

A compact hash (listpack; ziplist before Redis 7) whose whole size is within the limit cannot
hold a longer value, and Redis knows that size without reading it: such a hash, every customer
record in practice, is read with one HMGET. Any other is checked field by field with HSTRLEN,
which never reads a value either; its cost grows with the fields asked for, not the hash."""

SCRIPT_SHA: Final = hashlib.sha1(SCRIPT.encode()).hexdigest()
"""How EVALSHA names the script (SHA1 is what Redis uses, not a security measure)."""

LOAD_SCRIPT: Final = command("SCRIPT LOAD", SCRIPT.encode())
CALL: Final = ("EVALSHA", SCRIPT_SHA.encode(), b"1")
"""What every read command starts with (then the key, the limit, the fields)."""


class StoredKind(enum.Enum):
    """What a customer's key holds."""

    HASH = "hash"
    NOTHING = "nothing"
    OTHER_TYPE = "other_type"
    """A string, list, set...: not a customer record."""


class Oversized:
    """Stands for a value longer than the limit (Redis did not send it)."""

    def __repr__(self) -> str:
        return "OVERSIZED"


OVERSIZED: Final = Oversized()

StoredValue: TypeAlias = "bytes | Oversized | None"
"""One field as read: its bytes, None when absent, or OVERSIZED."""


@dataclass(frozen=True)
class StoredRecord:
    """A customer's key as read: what it holds and, for a hash, the requested fields in order."""

    kind: StoredKind
    values: tuple[StoredValue, ...] = ()


NOTHING: Final = StoredRecord(StoredKind.NOTHING)
OTHER_TYPE: Final = StoredRecord(StoredKind.OTHER_TYPE)


def stored_record(reply: Any) -> StoredRecord:
    """The record the script's reply describes."""
    if reply is None:
        return NOTHING
    if isinstance(reply, list):
        values = tuple(OVERSIZED if isinstance(value, int) else value for value in reply)
        return StoredRecord(StoredKind.HASH, values)
    return OTHER_TYPE


class BoundedReader:
    """Reads customers' records, values longer than ``max_value_bytes`` left out by Redis."""

    def __init__(self, round_trip: RoundTrip, max_value_bytes: int) -> None:
        self._round_trip = round_trip
        self._limit = str(max_value_bytes).encode()
        self._fields: Sequence[str] = ()
        self._tail: tuple[bytes, ...] = ()
        self._framing = (b"", b"")

    async def load_script(self) -> None:
        """Load the script on every primary; raises when Redis cannot be reached."""
        await self._round_trip.everywhere(LOAD_SCRIPT)

    async def read(
        self, keys: Sequence[str], fields: Sequence[str]
    ) -> list[StoredRecord | exceptions.ResponseError]:
        """Each key's record (one round trip, two after a NOSCRIPT), or the error Redis answered
        for that key; raises when Redis cannot be reached."""
        commands = self._commands(keys, fields)
        replies = await self._round_trip(commands)
        unknown = [
            index
            for index, reply in enumerate(replies)
            if isinstance(reply, exceptions.NoScriptError)
        ]
        if unknown:
            await self.load_script()
            again = await self._round_trip([commands[index] for index in unknown])
            for index, reply in zip(unknown, again, strict=True):
                replies[index] = reply
        return [
            reply if isinstance(reply, exceptions.ResponseError) else stored_record(reply)
            for reply in replies
        ]

    def _commands(self, keys: Sequence[str], fields: Sequence[str]) -> list[Command]:
        """EVALSHA sha 1 key limit field...: all but the key framed once per set of fields."""
        if fields != self._fields:
            self._fields = fields
            self._tail = (self._limit, *(field.encode() for field in fields))
            count = len(CALL) + 1 + len(self._tail)
            head = (CALL[0].encode(), *CALL[1:])
            self._framing = (b"*%d\r\n%b" % (count, resp(head)), resp(self._tail))
        prefix, suffix = self._framing
        commands = []
        for key in keys:
            name = key.encode()
            wire = b"%b$%d\r\n%b\r\n%b" % (prefix, len(name), name, suffix)
            commands.append(Command((*CALL, name, *self._tail), wire))
        return commands
