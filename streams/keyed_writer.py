"""Write keyed records to a topic in large produce batches, partitioned as Kafka's default
partitioner does (murmur2 of the key), keeping each key's order.

For a bulk watchlist load (`vigil watchlist load`): a send per record through a client
costs tens of microseconds, which held a 10^6-command load to 10-13k commands/s. Records
are appended to one batch per partition instead (`create_batch`/`send_batch`), and a
partition has one batch in flight at a time, so a later command for an entry never
overtakes an earlier one; the full batches behind it wait in a short queue, so that the
records that follow are read and judged meanwhile. Keys are partitioned a chunk at a time,
in one compiled pass (streams/partitioning.py), and a chunk's records are appended
partition by partition. Only for topics whose readers take the end from fetch responses
(streams/readto.py), as every reader of `vigil.watchlist` does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from itertools import islice

import numpy as np
from aiokafka import AIOKafkaProducer

from config.settings import Settings
from schemas.clock import now_ms
from streams.clients import BULK_BATCH_BYTES
from streams.partitioning import default_partitions
from streams.security import aiokafka_security

# Full batches of a partition that may wait behind the one in flight (each up to
# BULK_BATCH_BYTES).
QUEUED_BATCHES = 4
# Records whose partitions are computed together, when they come one by one (one call into
# the compiled partitioner; the event loop, and so the producer's acks, waits until they
# are appended to batches).
PARTITIONED_TOGETHER = 1_000

KeyedChunk = tuple[Sequence[bytes], Sequence[bytes], int]
"""Records as (keys, values, timestamp_ms): value i has key i, and every record the
timestamp (epoch ms) that its readers judge it against."""


def rows_by_partition(indexes: np.ndarray, partition_count: int
                      ) -> list[tuple[int, list[int]]]:
    """Return (partition index, the rows that go there, in order) for each partition index
    that `indexes` (one per row, 0 .. partition_count - 1) names, in index order."""
    order = np.argsort(indexes, kind="stable").tolist()  # stable: each key keeps its order
    ends = np.cumsum(np.bincount(indexes, minlength=partition_count)).tolist()
    starts = [0, *ends[:-1]]
    return [(index, order[start:end])
            for index, (start, end) in enumerate(zip(starts, ends, strict=True))
            if end > start]


class _PartitionSender:
    """Send one partition's full batches in order, each once the broker has acknowledged
    the one before: one batch in flight per partition, so a later command for an entry never
    overtakes an earlier one. Up to QUEUED_BATCHES wait behind it, so that the load goes on
    decoding while the broker acknowledges (it waited about a quarter of its time else)."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, partition: int,
                 acked: Callable[[int], None]) -> None:
        self.producer, self.topic, self.partition, self.acked = producer, topic, partition, acked
        self.queue: asyncio.Queue[tuple[object, int] | None] = asyncio.Queue(QUEUED_BATCHES)
        self.task = asyncio.create_task(self._send_queued())

    async def _send_queued(self) -> None:
        while (queued := await self.queue.get()) is not None:
            batch, count = queued
            await (await self.producer.send_batch(batch, self.topic, partition=self.partition))
            self.acked(count)

    async def put(self, batch: object, count: int) -> None:
        """Queue a full batch; raise the error that ended the sending, if one did."""
        await self._until_queued((batch, count))

    async def close(self) -> None:
        """Wait until every queued batch is acknowledged; raise the error of a send."""
        await self._until_queued(None)
        await self.task

    async def _until_queued(self, item: tuple[object, int] | None) -> None:
        put = asyncio.ensure_future(self.queue.put(item))
        await asyncio.wait({put, self.task}, return_when=asyncio.FIRST_COMPLETED)
        if not put.done():  # the sending ended (with an error: it ends on None only)
            put.cancel()
            self.task.result()


class _PartitionBatches:
    """The open batch of each partition and the sender of its full ones."""

    def __init__(self, producer: AIOKafkaProducer, topic: str,
                 progress: Callable[[int], None] | None) -> None:
        self.producer, self.topic, self.progress = producer, topic, progress
        self.open: dict[int, tuple[object, int]] = {}
        self.senders: dict[int, _PartitionSender] = {}
        self.acked = 0

    async def append(self, partition: int, keys: Sequence[bytes], values: Sequence[bytes],
                     timestamp_ms: int) -> None:
        """Append records to the partition's open batch, sending each batch that fills."""
        batch, count = self.open.pop(partition, None) or (self.producer.create_batch(), 0)
        append = batch.append
        for key, value in zip(keys, values, strict=True):
            if append(key=key, value=value, timestamp=timestamp_ms) is None:
                await self._send(partition, batch, count)
                batch, count = self.producer.create_batch(), 0
                append = batch.append
                if append(key=key, value=value, timestamp=timestamp_ms) is None:
                    raise ValueError(f"a record of {len(value)} bytes does not fit a batch")
            count += 1
        self.open[partition] = (batch, count)

    async def _send(self, partition: int, batch: object, count: int) -> None:
        if partition not in self.senders:
            self.senders[partition] = _PartitionSender(self.producer, self.topic, partition,
                                                       self._count_acked)
        await self.senders[partition].put(batch, count)

    def _count_acked(self, records: int) -> None:
        self.acked += records
        if self.progress:
            self.progress(self.acked)

    async def finish(self) -> int:
        """Send every open batch, wait until all are acknowledged; return the records acked."""
        for partition, (batch, count) in list(self.open.items()):
            await self._send(partition, batch, count)
        self.open.clear()
        for sender in self.senders.values():
            await sender.close()
        return self.acked

    def cancel(self) -> None:
        """Stop sending (after an error): what is not sent yet is not sent."""
        for sender in self.senders.values():
            sender.task.cancel()


async def write_keyed_chunks(bootstrap: str, topic: str, chunks: Iterable[KeyedChunk],
                             settings: Settings, progress: Callable[[int], None] | None = None
                             ) -> int:
    """Produce the records of each (keys, values, timestamp_ms) chunk to `topic`, chunk
    after chunk; return how many the broker acknowledged. Raises the first send error (the
    caller reports it; nothing is retried silently)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", client_id="vigil-bulk-writer",
        max_batch_size=BULK_BATCH_BYTES, max_request_size=BULK_BATCH_BYTES * 2,
        **aiokafka_security(settings))
    await producer.start()
    try:
        partitions = sorted(await producer.partitions_for(topic))
        batches = _PartitionBatches(producer, topic, progress)
        try:
            for keys, values, timestamp_ms in chunks:
                if not keys:
                    continue
                indexes = default_partitions(keys, len(partitions))
                for index, rows in rows_by_partition(indexes, len(partitions)):
                    await batches.append(partitions[index], list(map(keys.__getitem__, rows)),
                                         list(map(values.__getitem__, rows)), timestamp_ms)
                await asyncio.sleep(0)  # the senders' turn: an ack lets the next batch go
            return await batches.finish()
        finally:
            batches.cancel()
    finally:
        await producer.stop()


async def write_keyed(bootstrap: str, topic: str, records: Iterable[tuple[bytes, bytes]],
                      settings: Settings, progress: Callable[[int], None] | None = None
                      ) -> int:
    """Produce `(key, value)` records to `topic` as write_keyed_chunks does, stamped with
    the time their chunk was taken; return how many the broker acknowledged."""
    pending = iter(records)

    def chunks() -> Iterable[KeyedChunk]:
        while chunk := list(islice(pending, PARTITIONED_TOGETHER)):
            keys, values = zip(*chunk, strict=True)
            yield keys, values, now_ms()

    return await write_keyed_chunks(bootstrap, topic, chunks(), settings, progress)
