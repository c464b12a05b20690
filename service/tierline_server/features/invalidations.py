"""The invalidation listener: writers announce changed customers on a pub/sub channel, and every
serving process drops their near-cache entries at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from tierline_server import logs
from tierline_server.config import RedisSettings
from tierline_server.features import keys, redis_client

log = structlog.get_logger(__name__)

RETRY_FIRST_SECONDS = 0.1
RETRY_MAX_SECONDS = 1.0
"""Back-off while Redis is unreachable. Short: until it subscribes again, cached entries are only
as fresh as their TTL."""
POLL_SECONDS = 1.0
"""How long to wait for a message before checking the connection's health."""
CANCEL_RETRY_SECONDS = 0.05


class InvalidationListener:
    """Subscribes to the invalidation channel and reconnects forever.

    ``on_changed`` gets the customer ids of each message. ``on_subscribed`` is called after every
    (re)subscription: messages published while unsubscribed are lost, so the cache must start
    afresh.
    """

    def __init__(
        self,
        settings: RedisSettings,
        on_changed: Callable[[list[str]], None],
        on_subscribed: Callable[[], None],
    ) -> None:
        self._settings = settings
        self._on_changed = on_changed
        self._on_subscribed = on_subscribed
        self._task: asyncio.Task[None] | None = None
        self.listening = False
        """Whether invalidations are being received (False while Redis is unreachable)."""

    def start(self) -> None:
        """Start listening in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="tierline-invalidations")

    async def close(self) -> None:
        """Stop listening."""
        if self._task is None:
            return
        # redis-py can swallow a cancellation that lands while it connects: insist.
        while not self._task.done():
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=CANCEL_RETRY_SECONDS)
        self._task = None

    async def _listen(self) -> None:
        delay = RETRY_FIRST_SECONDS
        channel = self._settings.invalidation_channel
        while True:
            client = redis_client.listener_client(self._settings)
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(channel)
                    self._on_subscribed()
                    self.listening = True
                    log.info("invalidations subscribed", channel=channel)
                    delay = RETRY_FIRST_SECONDS
                    while True:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=POLL_SECONDS
                        )
                        if message is not None:
                            self._on_changed(keys.invalidated_ids(message["data"]))
            except redis_client.FAILURES as error:
                if self.listening:
                    log.warning("invalidations lost", error=logs.failure(error))
            finally:
                self.listening = False
                await client.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)
