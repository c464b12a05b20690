"""One round trip of the read path: several commands sent together, every reply read.

A single node is driven at the connection level of redis-py: its command and pipeline layers
cost more per call (pool locks, observability hooks, a timer per read) than the round trip to a
nearby Redis. A cluster goes through redis-py's cluster pipeline, which routes each key to its
node and follows MOVED and ASK.

Each exchange is bounded by the read budget (``deadline.within``: time waiting for Redis, not
time the event loop spent elsewhere), one budget for every KEYS_PER_BUDGET commands it carries:
Redis serves them in turn, and a batch of a thousand must not fail where a thousand lookups of
one would not. Opening a connection is not bounded by the budget: it has the connect timeout
for TCP and TLS plus one read budget for Redis's answers to the handshake, so that a burst that
needs more connections, or a TLS handshake far away, does not fail lookups or open the circuit.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias

import redis.asyncio
from redis import exceptions
from redis.asyncio.connection import AbstractConnection

from tierline_server.config import RedisSettings
from tierline_server.features import deadline
from tierline_server.features.redis_client import AsyncClient

KEYS_PER_BUDGET = 100
"""Commands one read budget covers: Redis runs a hundred bounded reads in well under a
millisecond, a twentieth of the default budget."""

Reply: TypeAlias = Any
"""A command's reply; a ``redis.exceptions.ResponseError`` when Redis answered with an error."""


@dataclass(frozen=True)
class Command:
    """A command as redis-py's cluster client takes it (its arguments, for routing by key) and
    as it goes on the wire (RESP), which the connection level sends as it is.

    redis-py's own packing costs about 10 us per command of a dozen arguments, more than
    Redis spends running it; a caller that sends the same arguments over and over (the read
    script's fields) can frame them once (``resp``) and build each command's bytes cheaply.
    """

    args: tuple[Any, ...]
    """As redis-py takes them: the command's name as text ("SCRIPT LOAD"), then bytes."""
    wire: bytes


def resp(args: Sequence[bytes]) -> bytes:
    """Arguments in RESP: an array of bulk strings (without the array's header for a part of a
    command, see ``command``)."""
    return b"".join(b"$%d\r\n%b\r\n" % (len(arg), arg) for arg in args)


def command(name: str, *args: bytes) -> Command:
    """A command of this name (one or two words) and these arguments."""
    words = [word.encode() for word in name.split()]
    return Command((name, *args), b"*%d\r\n%b" % (len(words) + len(args), resp([*words, *args])))


class RoundTrip(Protocol):
    """Sends commands in one round trip and returns their replies in order: an error reply
    stands in the list; anything else (connection, cluster) raises."""

    async def __call__(self, commands: Sequence[Command]) -> list[Reply]: ...

    async def everywhere(self, command: Command) -> None:
        """Send a command without keys to every primary (PING, SCRIPT LOAD); raises on an
        error reply too."""


def budget_for(seconds: float, commands: int) -> float:
    """The time an exchange of ``commands`` may wait for Redis: one budget per KEYS_PER_BUDGET."""
    return seconds * max(1, math.ceil(commands / KEYS_PER_BUDGET))


def round_trip(client: AsyncClient, settings: RedisSettings) -> RoundTrip:
    """The round trip for a client of a single node or of a cluster."""
    if isinstance(client, redis.asyncio.RedisCluster):
        return ClusterRoundTrip(client, settings)
    return NodeRoundTrip(client, settings)


class NodeRoundTrip:
    """Round trips on connections that one node's pool makes (address, TLS, credentials,
    retry policy) and closes with the client, kept on a stack of their own while idle.

    The pool's own release (a lock, observability hooks) costs more than a nearby round trip.
    A failed or interrupted exchange leaves no connection with unread replies behind: redis-py
    closes the connection on any error or cancellation while it sends or reads, and the next
    use opens it again.
    """

    def __init__(self, client: redis.asyncio.Redis, settings: RedisSettings) -> None:
        self._pool = client.connection_pool
        self._budget = settings.timeout_seconds
        self._open_timeout = settings.connect_timeout_seconds + settings.timeout_seconds
        self._idle: list[AbstractConnection] = []

    async def __call__(self, commands: Sequence[Command]) -> list[Reply]:
        connection = self._idle.pop() if self._idle else self._new_connection()
        try:
            if not connection.is_connected:
                await self._open(connection)
            replies: list[Reply] = await deadline.within(
                budget_for(self._budget, len(commands)),
                connection.retry.call_with_retry(
                    lambda: _exchange(connection, commands), lambda _: connection.disconnect()
                ),
            )
            return replies
        finally:
            self._idle.append(connection)

    async def everywhere(self, command: Command) -> None:
        """Send a command without keys to the node; raises on an error reply too."""
        (reply,) = await self([command])
        if isinstance(reply, exceptions.ResponseError):
            raise reply

    def _new_connection(self) -> AbstractConnection:
        connection: AbstractConnection = self._pool.get_available_connection()  # type: ignore[no-untyped-call]  # unannotated in redis-py
        return connection

    async def _open(self, connection: AbstractConnection) -> None:
        try:
            await asyncio.wait_for(connection.connect(), self._open_timeout)  # type: ignore[no-untyped-call]  # unannotated in redis-py
        except BaseException:
            # A handshake cut short leaves a socket whose replies are still to come.
            await connection.disconnect()
            raise


async def _exchange(connection: AbstractConnection, commands: Sequence[Command]) -> list[Reply]:
    await connection.send_packed_command(b"".join(command.wire for command in commands))
    replies: list[Reply] = []
    for _ in commands:
        try:
            # math.inf: no read timeout of redis-py's own (the caller's deadline applies).
            replies.append(await connection.read_response(timeout=math.inf))
        except exceptions.ResponseError as error:
            replies.append(error)
    return replies


class ClusterRoundTrip:
    """A pipeline through redis-py's cluster client, which sends each command to its node.

    redis-py opens a cluster's connections inside the pipeline, so here the budget also covers
    opening one (rare: connections stay open between round trips).
    """

    def __init__(self, client: redis.asyncio.RedisCluster, settings: RedisSettings) -> None:
        self._client = client
        self._budget = settings.timeout_seconds

    async def __call__(self, commands: Sequence[Command]) -> list[Reply]:
        pipeline = self._client.pipeline()
        for command in commands:
            pipeline.execute_command(*command.args)
        replies: list[Reply] = await deadline.within(
            budget_for(self._budget, len(commands)), pipeline.execute(raise_on_error=False)
        )
        return replies

    async def everywhere(self, command: Command) -> None:
        """Send a command without keys to every primary; raises on an error reply too."""
        await deadline.within(
            self._budget,
            self._client.execute_command(*command.args, target_nodes=self._client.PRIMARIES),
        )
