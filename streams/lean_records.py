"""Fetched records without aiokafka's ConsumerRecord, for readers of whole topics.

aiokafka makes one ConsumerRecord a fetched record, in Python (eleven fields, the headers
copied into a tuple): measured at 1.7-2.6 µs a record, against 0.4-0.7 µs to take aiokafka's
own record object from its C batch reader. At a cold start a worker reads 10^7 watchlist
commands, so that difference is some 15 s of it.

A consumer asks for lean records with `LEAN` as its options (a marker value deserializer):
its `getmany` then gives aiokafka's own record objects, which have `offset`, `timestamp`,
`key`, `value` and `headers` but no `topic` or `partition` (the answer's keys say those).
The switch is a subclass of aiokafka's `PartitionRecords` put in its place once; consumers
without the marker get ConsumerRecords as before. Should a later aiokafka make its records
otherwise, the marker is an identity deserializer: such a consumer then gets
ConsumerRecords, which have the same fields, and is only slower.
"""

from __future__ import annotations

from typing import Any

from aiokafka.consumer import fetcher


def _as_fetched(value: bytes | None) -> bytes | None:
    """The marker deserializer: the value as fetched."""
    return value


class _LeanPartitionRecords(fetcher.PartitionRecords):  # type: ignore[misc]
    """aiokafka's fetched records of one partition, as its own record objects for a
    consumer that asked for them (module doc)."""

    def _consumer_record(self, tp: Any, record: Any) -> Any:
        if self._value_deserializer is _as_fetched:
            return record
        return super()._consumer_record(tp, record)


def lean_options() -> dict[str, Any]:
    """Return the AIOKafkaConsumer options of a consumer whose `getmany` gives lean records
    (schemas/fetched.py FetchedRecord), installing the switch on first use."""
    if hasattr(fetcher.PartitionRecords, "_consumer_record") \
            and not issubclass(fetcher.PartitionRecords, _LeanPartitionRecords):
        fetcher.PartitionRecords = _LeanPartitionRecords
    return {"value_deserializer": _as_fetched}
