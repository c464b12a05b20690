"""How the bounded-read script's replies are understood."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio.connection import Connection
from tierline_server.features.bounded_read import (
    LOAD_SCRIPT,
    NOTHING,
    OTHER_TYPE,
    OVERSIZED,
    BoundedReader,
    StoredKind,
    stored_record,
)
from tierline_server.features.round_trip import Command


def test_no_key_is_nothing() -> None:
    assert stored_record(None) is NOTHING


def test_a_type_name_is_another_type() -> None:
    assert stored_record(b"string") is OTHER_TYPE
    assert stored_record(b"list") is OTHER_TYPE


def test_a_hash_gives_its_values_with_the_oversized_marked() -> None:
    record = stored_record([b"gold", None, 0, b"1700000000.000"])
    assert record.kind is StoredKind.HASH
    assert record.values == (b"gold", None, OVERSIZED, b"1700000000.000")


@given(
    keys=st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=5),
    fields=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=8),
    limit=st.integers(min_value=1, max_value=10**9),
)
def test_commands_go_on_the_wire_as_redis_py_would_send_them(
    keys: list[str], fields: list[str], limit: int
) -> None:
    round_trip = Recorder()
    reader = BoundedReader(round_trip, limit)
    asyncio.run(reader.read(keys, fields))
    packer = Connection()
    for command in round_trip.sent:
        assert command.wire == b"".join(packer.pack_command(*command.args))
        assert command.args[3] in {key.encode() for key in keys}


class Recorder:
    """A round trip that keeps what it is given and answers that no key exists."""

    def __init__(self) -> None:
        self.sent: list[Command] = []

    async def __call__(self, commands: Sequence[Command]) -> list[object]:
        self.sent.extend(commands)
        return [None] * len(commands)

    async def everywhere(self, command: Command) -> None:
        self.sent.append(command)


def test_loading_the_script_goes_on_the_wire_as_redis_py_would_send_it() -> None:
    assert LOAD_SCRIPT.wire == b"".join(Connection().pack_command(*LOAD_SCRIPT.args))
