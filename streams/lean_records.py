"""Fetched records without aiokafka's ConsumerRecord, for readers of whole topics.

aiokafka makes one ConsumerRecord a fetched record, in Python (eleven fields, the headers
copied into a tuple): measured at 1.7-2.6 µs a record, against 0.4-0.7 µs to take aiokafka's
own record object from its C batch reader. At a cold start a worker reads 10^7 watchlist
commands, so that difference is some 15 s of it.

A consumer asks for lean records with `LEAN` as its options (a marker value deserializer):
its `getmany` then gives aiokafka's own record objects, which have `offset`, `timestamp`,
`key`, `value` and `headers` but no `topic` or `partition` (the answer's keys say those).
The switch is a subclass of aiokafka's `PartitionRecords` put in its place once; consumers
without the marker get ConsumerRecords as before. A subclass of its `FetchResult` takes a
lean consumer's records with the collector paused (`_LeanFetchResult`). Should a later
aiokafka make its records otherwise, the marker is an identity deserializer: such a
consumer then gets ConsumerRecords, which have the same fields, and is only slower.
"""

from __future__ import annotations

from typing import Any

from aiokafka.consumer import fetcher

from streams.collector import collector_paused


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


class _LeanFetchResult(fetcher.FetchResult):  # type: ignore[misc]
    """A partition's fetched records as `getmany` takes them, with the collector paused for
    a consumer that asked for lean records (streams/collector.py: a fetch's records, kept
    in a list until the batch ends, set off full collections of the whole process. With a
    worker's imports loaded, 3.5-3.7 µs of CPU a record read against 1.8-2.2 paused)."""

    def getall(self, max_records: int | None = None) -> list[Any]:
        records = self._partition_records
        if records is None or getattr(records, "_value_deserializer", None) is not _as_fetched:
            return super().getall(max_records)  # type: ignore[no-any-return]
        with collector_paused():
            return super().getall(max_records)  # type: ignore[no-any-return]


def lean_options() -> dict[str, Any]:
    """Return the AIOKafkaConsumer options of a consumer whose `getmany` gives lean records
    (schemas/fetched.py FetchedRecord), installing the switch on first use."""
    if hasattr(fetcher.PartitionRecords, "_consumer_record") \
            and not issubclass(fetcher.PartitionRecords, _LeanPartitionRecords):
        fetcher.PartitionRecords = _LeanPartitionRecords
    if hasattr(fetcher.FetchResult, "getall") \
            and not issubclass(fetcher.FetchResult, _LeanFetchResult):
        fetcher.FetchResult = _LeanFetchResult
    return {"value_deserializer": _as_fetched}
