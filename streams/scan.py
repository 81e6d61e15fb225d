"""Reading a topic once: from its beginning, or from a time, to the end its fetch responses
report, with the group-less reader (streams/reader.py). The command line's reports read
this way; workers that follow a topic for good use the same seek."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from config.settings import Settings
from streams.reader import open_reader
from streams.readto import FetchedEnds

log = logging.getLogger(__name__)

# Records taken per poll: large, since a scan only counts what it reads.
SCAN_MAX_RECORDS = 10_000


class TopicNotFound(LookupError):
    """The broker has no such topic (never created there, or another deployment's prefix)."""


async def seek_to_time(consumer: AIOKafkaConsumer, tps: list[TopicPartition],
                       since_ms: int) -> None:
    """Move each of `tps` to its first record with a Kafka timestamp at or after `since_ms`
    (the end when there is none); a broker without timestamp lookups: to the beginning,
    which reads more but misses nothing."""
    try:
        found = await consumer.offsets_for_times(dict.fromkeys(tps, since_ms))
    except Exception:  # a broker without timestamp lookups: read everything there is
        log.warning("offsets_for_times failed on %s; reading it from the start",
                    ", ".join(sorted({tp.topic for tp in tps})))
        await consumer.seek_to_beginning(*tps)
        return
    for tp in tps:
        at = found.get(tp)
        if at is not None:
            consumer.seek(tp, at.offset)
        else:  # nothing that recent; ListOffsets may put it a batch short, which is harmless
            await consumer.seek_to_end(tp)


async def scan_topic(bootstrap: str, topic: str, settings: Settings, *, client_id: str,
                     since_ms: int | None = None) -> AsyncIterator[ConsumerRecord]:
    """Yield the records of every partition of `topic`, from the beginning (or, with
    `since_ms`, from the first record stamped at or after it; see `seek_to_time`) until
    each partition's position reaches the end that the first fetch response covering it
    reported. Records of one partition come in log order. Raise TopicNotFound when the
    broker has no such topic."""
    consumer, tps = await open_reader(bootstrap, [topic], client_id=client_id,
                                      fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms,
                                      settings=settings)
    try:
        if not tps:
            raise TopicNotFound(topic)
        if since_ms is None:
            await consumer.seek_to_beginning(*tps)
        else:
            await seek_to_time(consumer, tps, since_ms)
        # ListOffsets is short on the embedded broker for a topic written in batches: the
        # end comes from fetch responses (streams/readto.py).
        ends = FetchedEnds(tps)
        while True:
            batches = await consumer.getmany(timeout_ms=settings.kafka.fetch_max_wait_ms,
                                             max_records=SCAN_MAX_RECORDS)
            for records in batches.values():
                for record in records:
                    yield record
            ends.note(consumer.highwater)
            if not ends.unread({tp: await consumer.position(tp) for tp in tps}):
                return
    finally:
        await consumer.stop()
