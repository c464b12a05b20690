"""One round trip of the read path: several commands sent together, every reply read.

A single node is driven at the connection level of redis-py: its command and pipeline layers
cost more per call (pool locks, observability hooks, a timer per read) than the round trip to a
nearby Redis. A cluster goes through redis-py's cluster pipeline, which routes each key to its
node and follows MOVED and ASK.

Neither sets a read timeout of its own: the caller bounds the whole round trip with its budget
(``deadline.within``) and cancels it when the budget is spent.
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

from tierline_server.features.redis_client import AsyncClient

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


def round_trip(client: AsyncClient, connect_timeout_seconds: float) -> RoundTrip:
    """The round trip for a client of a single node or of a cluster."""
    if isinstance(client, redis.asyncio.RedisCluster):
        return ClusterRoundTrip(client)
    return NodeRoundTrip(client, connect_timeout_seconds)


class NodeRoundTrip:
    """Round trips on connections that one node's pool makes (address, TLS, credentials,
    retry policy) and closes with the client, kept on a stack of their own while idle.

    The pool's own release (a lock, observability hooks) costs more than a nearby round trip.
    A connection that has to be opened is opened apart from the caller, within the connect
    timeout: when the caller's budget runs out first (a TLS handshake far away can take longer
    than one read), the connection still opens and serves the next round trip. A failed or
    interrupted exchange leaves no connection with unread replies behind: redis-py closes the
    connection on any error or cancellation while it sends or reads, and the next use opens it
    again.
    """

    def __init__(self, client: redis.asyncio.Redis, connect_timeout_seconds: float) -> None:
        self._pool = client.connection_pool
        self._connect_timeout = connect_timeout_seconds
        self._idle: list[AbstractConnection] = []
        self._opening: set[asyncio.Task[None]] = set()

    async def __call__(self, commands: Sequence[Command]) -> list[Reply]:
        connection = self._idle.pop() if self._idle else self._new_connection()
        if not connection.is_connected:
            await self._open(connection)
        try:
            replies: list[Reply] = await connection.retry.call_with_retry(
                lambda: _exchange(connection, commands), lambda _: connection.disconnect()
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
        """Open ``connection``; when that fails or the caller leaves, it is idle again (closed,
        or once open)."""
        opening = asyncio.ensure_future(self._connect(connection))
        try:
            await asyncio.shield(opening)
        except BaseException:
            if opening.done():
                self._idle.append(connection)
            else:  # the caller gave up; the connection is for the next round trip
                self._opening.add(opening)
                opening.add_done_callback(lambda _: self._opened(opening, connection))
            raise

    async def _connect(self, connection: AbstractConnection) -> None:
        try:
            await asyncio.wait_for(connection.connect(), self._connect_timeout)  # type: ignore[no-untyped-call]  # unannotated in redis-py
        except BaseException:
            # A handshake cut short leaves a socket whose replies are still to come.
            await connection.disconnect()
            raise

    def _opened(self, opening: asyncio.Task[None], connection: AbstractConnection) -> None:
        self._opening.discard(opening)
        if not opening.cancelled():
            opening.exception()  # retrieved: the next round trip on it reports any failure
        self._idle.append(connection)


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
    """A pipeline through redis-py's cluster client, which sends each command to its node."""

    def __init__(self, client: redis.asyncio.RedisCluster) -> None:
        self._client = client

    async def __call__(self, commands: Sequence[Command]) -> list[Reply]:
        pipeline = self._client.pipeline()
        for command in commands:
            pipeline.execute_command(*command.args)
        replies: list[Reply] = await pipeline.execute(raise_on_error=False)
        return replies

    async def everywhere(self, command: Command) -> None:
        """Send a command without keys to every primary; raises on an error reply too."""
        await self._client.execute_command(*command.args, target_nodes=self._client.PRIMARIES)
