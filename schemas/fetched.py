"""Records as a consumer fetched them, with where each one came from.

A lean reader's records (streams/lean_records.py) say their offset, timestamp, key and value
but not their topic or partition: the answer of `getmany` says those, by partition. What
judges and audits records a chunk at a time takes them as a `Fetched`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class FetchedRecord(Protocol):
    """What a fetched record has: an aiokafka ConsumerRecord, or a lean reader's record."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None


class Partition(Protocol):
    """A topic's partition (aiokafka's TopicPartition)."""

    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class Fetched:
    """Records of one topic in the order they were fetched (each with `offset`,
    `timestamp`, `key` and `value`) and the partition of each."""

    topic: str
    records: Sequence[FetchedRecord]
    partitions: Sequence[int]

    @classmethod
    def of(cls, batches: Mapping[Any, Sequence[FetchedRecord]]) -> Fetched:
        """Return the records of a `getmany` answer (partitions of one topic), in order."""
        tps: list[Partition] = list(batches)
        topics = {tp.topic for tp in tps}
        if len(topics) > 1:
            raise ValueError(f"records of several topics: {sorted(topics)}")
        return cls(topics.pop() if topics else "",
                   [rec for tp in tps for rec in batches[tp]],
                   [tp.partition for tp in tps for _ in batches[tp]])

    def __len__(self) -> int:
        return len(self.records)

    def source(self, i: int) -> dict[str, Any]:
        """Return where record i came from, as audit events record it."""
        return {"topic": self.topic, "partition": self.partitions[i],
                "offset": self.records[i].offset}
