"""Whether a checkpoint's marks fit the topic, against the real broker
(streams/checkpoint_fit.py). A topic "recreated" is a new topic with the same partitions:
that is what the check sees of a deleted and recreated one, on any broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping

import pytest
from aiokafka import AIOKafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from streams.checkpoint_fit import checkpoint_fits, seek_to_marks
from streams.reader import open_reader
from tables.checkpoint import LastRecord, PartitionMark

pytestmark = pytest.mark.integration

# Records per partition, written in batches of several, so marks fall inside batches.
PER_PARTITION = 30


def create_topic(bootstrap: str, partitions: int = 2) -> str:
    name = f"ckpt-{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="ckpt-test")
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        admin.close()
    return name


async def write(bootstrap: str, topic: str, tag: str, partitions: int = 2,
                count: int = PER_PARTITION) -> None:
    """Write `count` records to each partition, `tag` in every value."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    await producer.start()
    try:
        sent = [await producer.send(topic, f"{tag}-{p}-{i}".encode(), key=f"k{i}".encode(),
                                    partition=p)
                for i in range(count) for p in range(partitions)]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def marks_after(bootstrap: str, topic: str, counts: Mapping[int, int]
                      ) -> dict[int, PartitionMark]:
    """Read the first `counts[p]` records of each partition p; return the marks then."""
    consumer, tps = await open_reader(bootstrap, [topic], client_id="ckpt-test-read",
                                      fetch_max_wait_ms=100)
    try:
        await consumer.seek_to_beginning(*tps)
        marks = {tp.partition: PartitionMark(0) for tp in tps}
        read = dict.fromkeys(counts, 0)
        while any(read[p] < n for p, n in counts.items()):
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                wanted = records[:counts[tp.partition] - read[tp.partition]]
                if wanted:
                    marks[tp.partition] = PartitionMark.after(wanted[-1])
                    read[tp.partition] += len(wanted)
        return marks
    finally:
        await consumer.stop()


async def fit(bootstrap: str, topic: str, marks: Mapping[int, PartitionMark],
              auto_offset_reset: str = "earliest") -> str | None:
    consumer, _ = await open_reader(bootstrap, [topic], client_id="ckpt-test-fit",
                                    fetch_max_wait_ms=100, auto_offset_reset=auto_offset_reset)
    try:
        return await checkpoint_fits(consumer, marks, topic, timeout_s=20)
    finally:
        await consumer.stop()


def written_topic(bootstrap: str, tag: str = "a") -> str:
    topic = create_topic(bootstrap)
    asyncio.run(write(bootstrap, topic, tag))
    return topic


def test_marks_of_everything_read_fit_and_still_fit_once_more_is_written(bootstrap: str
                                                                          ) -> None:
    topic = written_topic(bootstrap)
    marks = asyncio.run(marks_after(bootstrap, topic, {0: PER_PARTITION, 1: PER_PARTITION}))
    assert marks[0] == PartitionMark(PER_PARTITION, marks[0].last)
    assert asyncio.run(fit(bootstrap, topic, marks)) is None
    asyncio.run(write(bootstrap, topic, "tail"))
    assert asyncio.run(fit(bootstrap, topic, marks)) is None


def test_marks_inside_a_batch_and_of_an_unread_partition_fit(bootstrap: str) -> None:
    topic = written_topic(bootstrap)
    marks = asyncio.run(marks_after(bootstrap, topic, {0: 7, 1: 0}))
    assert marks[0].next_offset == 7 and marks[1] == PartitionMark(0)
    assert asyncio.run(fit(bootstrap, topic, marks)) is None


def test_the_consumer_can_go_on_from_the_marks_after_the_check(bootstrap: str) -> None:
    topic = written_topic(bootstrap)
    marks = asyncio.run(marks_after(bootstrap, topic, {0: 12, 1: 3}))

    async def next_offsets() -> dict[int, int]:
        consumer, _ = await open_reader(bootstrap, [topic], client_id="ckpt-test-go-on",
                                        fetch_max_wait_ms=100)
        try:
            assert await checkpoint_fits(consumer, marks, topic, timeout_s=20) is None
            seek_to_marks(consumer, marks, topic)
            first: dict[int, int] = {}
            while len(first) < 2:
                for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                    first.setdefault(tp.partition, records[0].offset)
            return first
        finally:
            await consumer.stop()

    assert asyncio.run(next_offsets()) == {0: 12, 1: 3}


def test_marks_past_the_end_of_a_recreated_empty_topic_misfit(bootstrap: str) -> None:
    old = written_topic(bootstrap)
    marks = asyncio.run(marks_after(bootstrap, old, {0: PER_PARTITION, 1: 5}))
    why = asyncio.run(fit(bootstrap, create_topic(bootstrap), marks))
    assert why is not None and "past the log end 0" in why, why


@pytest.mark.parametrize("reset", ["earliest", "latest", "none"])
def test_marks_past_the_end_of_a_shorter_topic_misfit_whatever_the_reset_policy(
        bootstrap: str, reset: str) -> None:
    old = written_topic(bootstrap)
    marks = asyncio.run(marks_after(bootstrap, old, {0: PER_PARTITION, 1: PER_PARTITION}))
    shorter = create_topic(bootstrap)
    asyncio.run(write(bootstrap, shorter, "short", count=PER_PARTITION // 3))
    # The fetch at the last offset read is past the end. Apache Kafka answers
    # OffsetOutOfRange, and the consumer's reset policy moves it back (earliest), to the end
    # (latest) or raises (none); the embedded broker answers with no records.
    why = asyncio.run(fit(bootstrap, shorter, marks, auto_offset_reset=reset))
    assert why is not None and ("out of range" in why or "past the log end" in why), why


def test_marks_of_a_topic_refilled_to_the_same_length_misfit(bootstrap: str) -> None:
    old = written_topic(bootstrap, "old")
    marks = asyncio.run(marks_after(bootstrap, old, {0: PER_PARTITION, 1: PER_PARTITION}))
    refilled = written_topic(bootstrap, "new")
    why = asyncio.run(fit(bootstrap, refilled, marks))
    assert why is not None and "is not the one the checkpoint read" in why, why


def test_other_partition_counts_misfit(bootstrap: str) -> None:
    topic = written_topic(bootstrap)
    marks = asyncio.run(marks_after(bootstrap, topic, {0: 3, 1: 3}))
    wider = create_topic(bootstrap, partitions=3)
    why = asyncio.run(fit(bootstrap, wider, marks))
    assert why == f"partitions: the checkpoint has [0, 1], {wider} has [0, 1, 2]"
    why = asyncio.run(fit(bootstrap, topic, {0: marks[0]}))
    assert why is not None and why.startswith("partitions:"), why


def test_marks_that_skip_records_misfit(bootstrap: str) -> None:
    topic = written_topic(bootstrap)
    marks = asyncio.run(marks_after(bootstrap, topic, {0: 4, 1: 4}))
    last = marks[0].last
    assert last is not None
    # The last record read is right, but the next offset claims two more were read.
    skipping = {**marks, 0: PartitionMark(last.offset + 3, last)}
    why = asyncio.run(fit(bootstrap, topic, skipping))
    assert why == ("partition 0: a record at offset 4, before the checkpoint's next offset "
                   "6, was never read")
    # Nothing read, yet a next offset past records that are there.
    why = asyncio.run(fit(bootstrap, topic, {**marks, 1: PartitionMark(2)}))
    assert why is not None and "a record at offset 0" in why, why
    gone = {**marks, 1: PartitionMark(4, LastRecord(3, last.timestamp_ms, "0" * 16))}
    why = asyncio.run(fit(bootstrap, topic, gone))
    assert why is not None and "partition 1: the record at offset 3 is not the one" in why


def test_marks_from_a_broker_that_lost_its_data_misfit(bootstrap: str, fresh_broker: str
                                                       ) -> None:
    old = written_topic(bootstrap)
    marks = asyncio.run(marks_after(bootstrap, old, {0: PER_PARTITION, 1: PER_PARTITION}))
    # The same topic name on the broker that came back empty, then loaded again.
    admin = KafkaAdminClient(bootstrap_servers=fresh_broker, client_id="ckpt-test")
    try:
        admin.create_topics([NewTopic(old, 2, 1)])
    finally:
        admin.close()
    why = asyncio.run(fit(fresh_broker, old, marks))
    assert why is not None and "past the log end 0" in why, why
    asyncio.run(write(fresh_broker, old, "reloaded"))
    why = asyncio.run(fit(fresh_broker, old, marks))
    assert why is not None and "is not the one the checkpoint read" in why, why
