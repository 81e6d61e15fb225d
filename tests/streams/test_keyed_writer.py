"""The keyed bulk writer against an in-memory producer: every record where Kafka's default
partitioner puts it, each partition's records in input order, one batch in flight per
partition, each chunk's timestamp on its records, and the acknowledged count."""

from __future__ import annotations

import asyncio
import random

import hypothesis.strategies as st
import numpy as np
import pytest
from aiokafka.errors import KafkaTimeoutError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch
from hypothesis import given

from config.settings import load_settings
from schemas.clock import now_ms
from streams import keyed_writer
from streams.keyed_writer import rows_by_partition, write_keyed, write_keyed_chunks

PARTITIONS = [4, 0, 2]  # ids as a broker may list them: not 0..n-1, not sorted
BATCH_BYTES = 2_000  # a few records a batch, so that partitions fill many
ACK_S = 0.001  # later than the next batch could be sent, were acks not awaited


class MemoryProducer:
    """AIOKafkaProducer's batch interface in memory: `sent` holds (partition, records) per
    batch, a record as (key, value, timestamp); a batch is acknowledged ACK_S later."""

    def __init__(self, **_config: object) -> None:
        self.sent: list[tuple[int, list[tuple[bytes, bytes, int]]]] = []
        self.acks: dict[int, asyncio.Future] = {}

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def partitions_for(self, topic: str) -> set[int]:
        return set(PARTITIONS)

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(BATCH_BYTES, 0)

    async def send_batch(self, batch: BatchBuilder, topic: str, *,
                         partition: int) -> asyncio.Future:
        previous = self.acks.get(partition)
        assert previous is None or previous.done(), "two batches in flight on a partition"
        records = DefaultRecordBatch(bytes(batch._build()))
        self.sent.append((partition, [(r.key, r.value, r.timestamp) for r in records]))
        ack = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(ACK_S, ack.set_result, None)
        self.acks[partition] = ack
        return ack


@pytest.fixture
def producer(monkeypatch: pytest.MonkeyPatch) -> MemoryProducer:
    made = MemoryProducer()
    monkeypatch.setattr(keyed_writer, "AIOKafkaProducer", lambda **config: made)
    return made


def expected_partition(key: bytes) -> int:
    ids = sorted(PARTITIONS)
    return DefaultPartitioner()(key, ids, ids)


def test_chunks_land_keyed_in_order_with_their_timestamps(producer: MemoryProducer) -> None:
    rng = random.Random(7)
    chunks = []
    for c in range(5):
        keys = [f"W-{rng.randrange(40)}".encode() for _ in range(rng.randrange(1, 300))]
        values = [b"%d:%d:" % (c, i) + b"v" * rng.randrange(200) for i in range(len(keys))]
        chunks.append((keys, values, 1_700_000_000_000 + c))
    chunks.insert(2, ([], [], 1))  # an empty chunk is nothing to send
    acked: list[int] = []
    total = sum(len(keys) for keys, _, _ in chunks)

    assert asyncio.run(write_keyed_chunks("unused:9092", "t", chunks, load_settings(env={}),
                                          acked.append)) == total
    assert acked == sorted(acked) and acked[-1] == total
    assert len(producer.sent) > len(PARTITIONS)  # several batches a partition
    for partition in PARTITIONS:
        got = [r for p, batch in producer.sent if p == partition for r in batch]
        want = [(k, v, ts) for keys, values, ts in chunks
                for k, v in zip(keys, values, strict=True) if expected_partition(k) == partition]
        assert got == want


def test_records_one_by_one_are_stamped_with_the_time_they_are_taken(
        producer: MemoryProducer) -> None:
    records = [(b"W-%d" % i, b"value %d" % i) for i in range(2_500)]
    before = now_ms()
    assert asyncio.run(write_keyed("unused:9092", "t", iter(records),
                                   load_settings(env={}))) == len(records)
    sent = [r for _, batch in producer.sent for r in batch]
    assert sorted((k, v) for k, v, _ in sent) == sorted(records)
    assert all(before <= ts <= now_ms() for _, _, ts in sent)


@given(st.lists(st.integers(0, 6), max_size=60))
def test_rows_by_partition_keep_their_order(indexes: list[int]) -> None:
    want = {}
    for row, index in enumerate(indexes):
        want.setdefault(index, []).append(row)
    assert rows_by_partition(np.array(indexes, dtype=np.int64), 7) == sorted(want.items())


class RefusingProducer(MemoryProducer):
    """A producer whose third batch the broker refuses."""

    async def send_batch(self, batch: BatchBuilder, topic: str, *,
                         partition: int) -> asyncio.Future:
        ack = await super().send_batch(batch, topic, partition=partition)
        if len(self.sent) < 3:
            return ack
        refused = asyncio.get_running_loop().create_future()
        refused.set_exception(KafkaTimeoutError("refused"))
        return refused


def test_a_refused_batch_ends_the_write_with_its_error(monkeypatch: pytest.MonkeyPatch) -> None:
    producer = RefusingProducer()
    monkeypatch.setattr(keyed_writer, "AIOKafkaProducer", lambda **config: producer)
    chunks = [([b"W-%d" % i for i in range(100)], [b"v" * 100] * 100, 1)] * 50
    with pytest.raises(KafkaTimeoutError):
        asyncio.run(write_keyed_chunks("unused:9092", "t", chunks, load_settings(env={})))
    assert len(producer.sent) < 50  # of about 300: it stopped, not sent every batch first
