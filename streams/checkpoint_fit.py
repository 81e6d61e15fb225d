"""Whether a watchlist checkpoint still fits its topic, asked of the broker before the
checkpoint's state is used (tables/checkpoint.py holds the file and the marks).

A checkpoint says, per partition, the next offset to read and the last record it read
(offset, timestamp, digest of key and value). It fits when the topic has the same
partitions and, in each, the next offset lies within [log start, log end], the record at
the last offset is still that record, and no record lies between it and the next offset
(one there was never read). Comparing the record, not only the offsets, is what catches a
topic deleted and refilled to the same length, or a broker that lost its data and was
loaded again. A record compacted away or deleted since the checkpoint is a misfit too:
that costs a read from the start, never a wrong state.

The log end comes from fetch responses (their high watermark counts records on every
broker; ListOffsets does not on the embedded one: BROKER.md items 1 and 5, as in
streams/readto.py), the log start from ListOffsets (earliest), so Apache Kafka and the
embedded broker are asked the same way.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import OffsetOutOfRangeError

from streams.reader import partitions_of
from streams.readto import FetchedEnds
from tables.checkpoint import PartitionMark, record_digest

# Longest the fit check waits for the broker before it gives up on the checkpoint.
FIT_TIMEOUT_S = 30.0


def _misfit_of_records(partition: int, mark: PartitionMark,
                       records: list[ConsumerRecord]) -> str | None:
    """Return why `records` (those found from the probed offset up to the mark's next
    offset, in order) do not fit `mark`, or None."""
    if (last := mark.last) is not None:
        if not records or records[0].offset != last.offset:
            return (f"partition {partition}: the record at offset {last.offset} is gone "
                    "(compacted or deleted since the checkpoint)")
        first = records.pop(0)
        if (first.timestamp != last.timestamp_ms
                or record_digest(first.key, first.value) != last.digest):
            return (f"partition {partition}: the record at offset {last.offset} is not the "
                    "one the checkpoint read (the topic was written anew)")
    if records:
        return (f"partition {partition}: a record at offset {records[0].offset}, before the "
                f"checkpoint's next offset {mark.next_offset}, was never read")
    return None


async def checkpoint_fits(consumer: AIOKafkaConsumer, marks: Mapping[int, PartitionMark],
                          topic: str, *, timeout_s: float = FIT_TIMEOUT_S) -> str | None:
    """Return None when a checkpoint's `marks` (partition -> mark) fit `topic` as it is
    now, else why not, in one line (see the module for the rules).

    `consumer`: assigned every partition of `topic`, no value or key deserializer (the
    record digests are of the raw bytes), started after the checkpoint was written, e.g.
    from streams.reader.open_reader. Its positions are moved and its partitions resumed:
    seek afterwards (`seek_to_marks` when it fits). A broker that does not answer within
    `timeout_s` is a misfit too: the checkpoint is not trusted.
    """
    partitions = await partitions_of(consumer, topic)
    if set(marks) != partitions:
        return (f"partitions: the checkpoint has {sorted(marks)}, {topic} has "
                f"{sorted(partitions)}")
    tps = {p: TopicPartition(topic, p) for p in sorted(partitions)}
    if unassigned := set(tps.values()) - consumer.assignment():
        raise ValueError(f"the consumer is not assigned {sorted(unassigned)}")
    starts = await consumer.beginning_offsets(list(tps.values()))
    probes: dict[int, int] = {}
    for p, mark in marks.items():
        start = starts[tps[p]]
        if mark.next_offset < start:
            return (f"partition {p}: the checkpoint's next offset {mark.next_offset} is "
                    f"before the log start {start}")
        probes[p] = mark.last.offset if mark.last is not None else start
        consumer.seek(tps[p], probes[p])
    consumer.resume(*tps.values())  # paused by a caller that had nothing fetched before
    found = await _records_up_to_marks(consumer, tps, marks, probes, timeout_s)
    if isinstance(found, str):
        return found
    records, ends = found
    for p, mark in marks.items():
        if mark.next_offset > ends[tps[p]]:
            return (f"partition {p}: the checkpoint's next offset {mark.next_offset} is past "
                    f"the log end {ends[tps[p]]}")
        if (why := _misfit_of_records(p, mark, records[p])) is not None:
            return why
    return None


async def _records_up_to_marks(
        consumer: AIOKafkaConsumer, tps: Mapping[int, TopicPartition],
        marks: Mapping[int, PartitionMark], probes: Mapping[int, int], timeout_s: float,
) -> tuple[dict[int, list[ConsumerRecord]], dict[TopicPartition, int]] | str:
    """Fetch from each partition's probed offset (where the consumer was just moved) until
    its end is known and its position has passed the mark's next offset or that end;
    return the records before the next offsets, and the ends, or why the check failed."""
    # Any response's end will do, the first included (no `from_now`, which waits for a
    # second one: 0.1-0.2 s of a warm start on the embedded broker): the consumer started
    # after the checkpoint was written, so every fetch it sent is newer than the marks.
    ends = FetchedEnds(tps.values())
    records: dict[int, list[ConsumerRecord]] = {p: [] for p in tps}
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            batches = await consumer.getmany(*tps.values(), timeout_ms=100, max_records=1000)
        except OffsetOutOfRangeError as exc:  # a consumer without auto_offset_reset
            return f"offsets out of range: {exc}"
        for tp, fetched in batches.items():
            p = tp.partition
            if fetched and fetched[0].offset < probes[p]:
                # Only a reset (auto_offset_reset) moves a consumer back: seek() drops what
                # was fetched from elsewhere.
                return f"partition {p}: offset {probes[p]} is out of range (reset to " \
                       f"{fetched[0].offset})"
            records[p] += [r for r in fetched if r.offset < marks[p].next_offset]
        ends.note(consumer.highwater, consumer.last_poll_timestamp)
        if (known := ends.known()) is not None:
            positions = {p: await consumer.position(tp) for p, tp in tps.items()}
            if all(positions[p] >= min(marks[p].next_offset, known[tp])
                   for p, tp in tps.items()):
                return records, known
        if time.monotonic() >= deadline:
            return f"the broker gave no end of {sorted(tps)} within {timeout_s}s"


def seek_to_marks(consumer: AIOKafkaConsumer, marks: Mapping[int, PartitionMark],
                  topic: str) -> None:
    """Move `consumer` to where a fitting checkpoint's marks say reading goes on."""
    for p, mark in marks.items():
        consumer.seek(TopicPartition(topic, p), mark.next_offset)
