"""Lean records (streams/lean_records.py) against the real broker: a lean reader gets the
same offsets, timestamps, keys and values as a plain one, with the collector paused while
its records are taken, and a plain reader still gets aiokafka's ConsumerRecords, with the
collector running, once the switch is in."""

from __future__ import annotations

import asyncio
import gc

import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord

from streams import lean_records
from streams.lean_records import lean_options
from streams.reader import open_reader
from tests.integration.test_checkpoint_fit import create_topic

pytestmark = pytest.mark.integration

PARTITIONS = 2
PER_PARTITION = 40


async def write(bootstrap: str, topic: str) -> None:
    """Write PER_PARTITION records to each partition: values, tombstones, keyless ones."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    await producer.start()
    try:
        sent = [await producer.send(topic, None if i % 7 == 3 else f"v-{p}-{i}".encode(),
                                    key=None if i % 11 == 5 and i % 7 != 3 else f"k{i}".encode(),
                                    partition=p, timestamp_ms=1_700_000_000_000 + i)
                for i in range(PER_PARTITION) for p in range(PARTITIONS)]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def read_all(bootstrap: str, topic: str, lean: bool) -> dict[int, list]:
    """Read the whole topic; return each partition's records."""
    consumer, tps = await open_reader(bootstrap, [topic], client_id="lean-test",
                                      fetch_max_wait_ms=100,
                                      **(lean_options() if lean else {}))
    read: dict[int, list] = {tp.partition: [] for tp in tps}
    try:
        async with asyncio.timeout(30):
            while any(len(records) < PER_PARTITION for records in read.values()):
                for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                    read[tp.partition] += records
    finally:
        await consumer.stop()
    return read


def fields(records: list) -> list[tuple]:
    return [(r.offset, r.timestamp, r.key, r.value) for r in records]


def test_a_lean_reader_reads_what_a_plain_one_does(bootstrap: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    topic = create_topic(bootstrap, PARTITIONS)
    asyncio.run(write(bootstrap, topic))
    lean_options()  # the switch in, before the spy goes on its class
    taken = lean_records._LeanPartitionRecords._consumer_record
    collecting: list[bool] = []  # whether the collector ran as each record was taken

    def spy(self, tp, record):
        collecting.append(gc.isenabled())
        return taken(self, tp, record)

    monkeypatch.setattr(lean_records._LeanPartitionRecords, "_consumer_record", spy)
    lean = asyncio.run(read_all(bootstrap, topic, lean=True))
    assert collecting == [False] * PARTITIONS * PER_PARTITION
    collecting.clear()
    plain = asyncio.run(read_all(bootstrap, topic, lean=False))
    assert collecting == [True] * PARTITIONS * PER_PARTITION
    for p in range(PARTITIONS):
        assert fields(lean[p]) == fields(plain[p])
        assert [r.value for r in plain[p]].count(None) == len(range(3, PER_PARTITION, 7))
        assert not any(isinstance(r, ConsumerRecord) for r in lean[p])
        assert all(isinstance(r, ConsumerRecord) and r.partition == p for r in plain[p])
