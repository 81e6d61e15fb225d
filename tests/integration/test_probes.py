"""The load tools' probes against the real broker: consumer-group lag, worker counters."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from kafka import KafkaConsumer, TopicPartition

from loadtest.harness.probes import GroupLag, HitReader, process_sample, worker_counters
from schemas.json import dumps

pytestmark = pytest.mark.integration


def test_group_lag_is_end_minus_committed_and_none_before_any_commit(deployment_factory) -> None:
    d = deployment_factory()
    for i in range(10):
        d.send("plates", {"n": i})
    group = f"lag-{uuid.uuid4().hex[:8]}"
    lag = GroupLag(d.bootstrap, group, [d.topics.plates])
    # Partitions assigned by hand: a commit needs no group join (which the embedded broker
    # holds for half the session timeout).
    consumer = KafkaConsumer(bootstrap_servers=d.bootstrap, group_id=group,
                             auto_offset_reset="earliest", enable_auto_commit=False)
    consumer.assign([TopicPartition(d.topics.plates, p)
                     for p in consumer.partitions_for_topic(d.topics.plates)])
    try:
        assert lag.messages() is None
        taken = 0
        while taken < 4:
            for records in consumer.poll(500, max_records=4 - taken).values():
                taken += len(records)
        consumer.commit()
        assert lag.messages() == 6
    finally:
        consumer.close()
        lag.close()


def test_worker_counters_and_process_sample_of_a_running_worker(deployment_factory) -> None:
    d = deployment_factory()
    d.start_worker()
    d.send("plates", [{"camera_id": "C-1", "ts": 1_795_000_000_000, "plate": "鲁K·12345"}] * 3)
    d.send("plates", {"camera_id": "C-1", "ts": 1_795_000_000_000, "plate": ""})
    d.read_until("deadletter", lambda vs: len(vs) >= 1)
    counters = worker_counters(d.base_url)
    assert counters["records_in/plate/json"] == 3
    assert counters["rejected/plate"] == 1
    sample = process_sample(d.worker.pid)
    assert sample is not None and sample.cpu_s > 0 and sample.rss_bytes > 10 << 20


async def _write_hits_in_batches(bootstrap: str, topic: str, ids: range) -> None:
    # Queued before the first request leaves, so each partition gets one many-record batch.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=200)
    await producer.start()
    try:
        sent = [await producer.send(topic, dumps({
            "hit_id": f"h{i}", "source": "sensing", "location_id": "S-1",
            "observed_ts": 1_795_000_000_000 + i}), key=f"e{i}".encode()) for i in ids]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def test_hit_reader_takes_hits_written_in_batches_from_its_start_to_the_end(
        deployment_factory) -> None:
    # ListOffsets on the embedded broker stops at the last batch's base offset + 1: a start
    # taken from it would include most of the batch before it, and a read up to it would
    # miss most of the batches after it.
    d = deployment_factory()

    async def run() -> set[str]:
        await _write_hits_in_batches(d.bootstrap, d.topics.hits, range(40))
        reader = HitReader(d.bootstrap, d.topics.hits, 100)
        await reader.start()
        try:
            for first in (40, 100, 160):
                await _write_hits_in_batches(d.bootstrap, d.topics.hits, range(first, first + 60))
            return {h.hit_id for h in await reader.read_all(timeout_s=30)}
        finally:
            await reader.stop()

    assert asyncio.run(run()) == {f"h{i}" for i in range(40, 220)}
