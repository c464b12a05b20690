"""Customer records as writers see them: read, write and delete, each write stamped and announced.

The protocol every writer follows: a record is a HASH at ``keys.customer_key``; a write sets the
features it gives plus ``_updated``; after Redis acknowledges, the changed ids are published on
the invalidation channel, so serving processes drop their near-cache entries and read the new
values.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain

from tierline_server.config import RedisSettings
from tierline_server.features import keys
from tierline_server.features.redis_client import SyncClient


class CustomerRecords:
    """Customer hashes in one Redis (or cluster), through a blocking client (the CLI, loaders)."""

    def __init__(self, client: SyncClient, settings: RedisSettings) -> None:
        self.client = client
        """The client the records are written through (a loader keeps its scratch beside them)."""
        self.key_prefix = settings.key_prefix
        self._channel = settings.invalidation_channel

    def key(self, customer_id: str) -> str:
        """The hash key of a customer; raises InvalidCustomerIdError for an id that is not one."""
        return keys.customer_key(self.key_prefix, customer_id)

    def read(self, customer_id: str) -> dict[bytes, bytes]:
        """Everything stored for a customer (empty when nothing is)."""
        stored: dict[bytes, bytes] = self.client.hgetall(self.key(customer_id))  # type: ignore[assignment]
        return stored

    def write(self, customer_id: str, features: Mapping[str, str]) -> None:
        """Set some of a customer's encoded features (others are kept)."""
        failed = self.write_many([(customer_id, features)])
        if failed:
            raise failed[0][1]

    def write_many(
        self,
        records: Sequence[tuple[str, Mapping[str, str]]],
        *,
        remove_absent: Sequence[str] = (),
    ) -> list[tuple[int, Exception]]:
        """Write records in one round trip, then announce them in one message.

        ``remove_absent``: feature names to delete from a record that does not give them. Returns
        the index of each record Redis refused (a key holding another type, say) with the error;
        raises when Redis cannot be reached.
        """
        keys_ = [self.key(customer_id) for customer_id, _ in records]
        updated = keys.updated_stamp(time.time())
        pipeline = self.client.pipeline(transaction=False)
        owners: list[int] = []  # the record of each command sent
        for index, ((_, features), key) in enumerate(zip(records, keys_, strict=True)):
            items = [*chain.from_iterable(features.items()), keys.UPDATED_FIELD, updated]
            pipeline.hset(key, items=items)
            owners.append(index)
            absent = [name for name in remove_absent if name not in features]
            if absent:
                # HSET first, then HDEL: a reader in between sees the new values and at worst
                # a field about to go, never a customer without features.
                pipeline.hdel(key, *absent)
                owners.append(index)
        replies = pipeline.execute(raise_on_error=False)
        failed: dict[int, Exception] = {}
        for index, reply in zip(owners, replies, strict=True):
            if isinstance(reply, Exception):
                failed.setdefault(index, reply)
        self._announce(customer_id for customer_id, _ in records)
        return sorted(failed.items())

    def delete(self, customer_id: str) -> bool:
        """Remove a customer's record (they become the unknown tier); whether there was one."""
        deleted = bool(self.client.delete(self.key(customer_id)))
        self._announce([customer_id])
        return deleted

    def _announce(self, customer_ids: Iterable[str]) -> None:
        # Published after the writes are acknowledged (in a cluster they span several nodes),
        # so that a service dropping its cache entry reads the new values.
        self.client.publish(self._channel, keys.invalidation_message(customer_ids))
