"""Write keyed records to a topic in large produce batches, partitioned as Kafka's default
partitioner does (murmur2 of the key), keeping each key's order.

For a bulk watchlist load (`vigil watchlist load`): a send per record through a client
costs tens of microseconds, which held a 10^6-command load to 10-13k commands/s. Records
are appended to one batch per partition instead (`create_batch`/`send_batch`), and a
partition has one batch in flight at a time, so a later command for an entry never
overtakes an earlier one. Keys are partitioned many at a time, in one compiled pass
(streams/partitioning.py). Only for topics whose readers take the end from fetch responses
(streams/readto.py), as every reader of `vigil.watchlist` does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from itertools import islice

from aiokafka import AIOKafkaProducer

from config.settings import Settings
from streams.clients import BULK_BATCH_BYTES
from streams.partitioning import default_partitions
from streams.security import aiokafka_security

# Records whose partitions are computed together (one call into the compiled partitioner;
# the event loop, and so the producer's acks, waits until they are appended to batches).
PARTITIONED_TOGETHER = 1_000


async def write_keyed(bootstrap: str, topic: str, records: Iterable[tuple[bytes, bytes]],
                      settings: Settings, progress: Callable[[int], None] | None = None
                      ) -> int:
    """Produce `(key, value)` records to `topic`; return how many the broker acknowledged.
    Raises the first send error (the caller reports it; nothing is retried silently)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", client_id="vigil-bulk-writer",
        max_batch_size=BULK_BATCH_BYTES, max_request_size=BULK_BATCH_BYTES * 2,
        **aiokafka_security(settings))
    await producer.start()
    try:
        partitions = sorted(await producer.partitions_for(topic))
        open_batches: dict[int, tuple[object, int]] = {}
        in_flight: dict[int, tuple[asyncio.Future, int]] = {}
        acked = 0

        async def send(partition: int) -> None:
            nonlocal acked
            batch, count = open_batches.pop(partition)
            if partition in in_flight:  # one batch in flight per partition: keys keep order
                previous, sent = in_flight.pop(partition)
                await previous
                acked += sent
                if progress:
                    progress(acked)
            future = await producer.send_batch(batch, topic, partition=partition)
            in_flight[partition] = (future, count)

        pending = iter(records)
        while chunk := list(islice(pending, PARTITIONED_TOGETHER)):
            indexes = default_partitions([key for key, _ in chunk], len(partitions)).tolist()
            for (key, value), index in zip(chunk, indexes, strict=True):
                p = partitions[index]
                batch, count = open_batches.get(p) or (producer.create_batch(), 0)
                if batch.append(key=key, value=value, timestamp=None) is None:
                    open_batches[p] = (batch, count)
                    await send(p)
                    batch, count = producer.create_batch(), 0
                    if batch.append(key=key, value=value, timestamp=None) is None:
                        raise ValueError(f"a record of {len(value)} bytes does not fit a batch")
                open_batches[p] = (batch, count + 1)
        for p in list(open_batches):
            await send(p)
        for future, count in in_flight.values():
            await future
            acked += count
        if progress:
            progress(acked)
        return acked
    finally:
        await producer.stop()
