"""The group-less reader: a consumer of every partition of some topics, outside any consumer
group, with nothing committed. Workers read the watchlist and the recent hits this way (each
holds them whole), and so do the CLI's and the load tests' readers.

One place builds them, so what every such client needs (no group, no auto-commit, the
deployment's fetch wait, how it connects: `settings`, streams/security.py) is set once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka import KafkaConsumer
from kafka.structs import TopicPartition as SyncTopicPartition

from config.settings import Settings
from streams.security import aiokafka_security, kafka_python_security


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    """Return the partitions of `topic` (none when it does not exist), asked of the broker.

    Not `consumer.partitions_for_topic`: that answers from the consumer's own metadata,
    which holds only the topics it already reads (Apache Kafka answers the consumer's
    start-up metadata request, which names no topic, with no topic; the embedded broker
    with all of them), and `consumer.topics()` drops the partitions it fetched. aiokafka's
    consumer has no public call that returns them, hence its client's all-topics fetch."""
    cluster = await consumer._client.fetch_all_metadata()
    return set(cluster.partitions_for_topic(topic) or ())


async def open_reader(bootstrap: str, topics: Iterable[str], *, client_id: str,
                      fetch_max_wait_ms: int, settings: Settings | None = None,
                      paused: bool = False,
                      **options: Any) -> tuple[AIOKafkaConsumer, list[TopicPartition]]:
    """Start an aiokafka consumer assigned every partition of `topics`; return it and its
    partitions (sorted). Its positions are the broker's default (`auto_offset_reset`,
    earliest unless `options` say otherwise): seek as needed. The caller stops it.
    `settings`: the deployment's, for TLS and SASL (None: PLAINTEXT). `paused`: the
    partitions paused before any fetch is sent (the caller resumes them), for a reader that
    first asks where to read from: the embedded broker answers a connection's requests in
    turn, so a fetch with nothing to return holds what follows it for the fetch's whole wait
    (BROKER.md item 6)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
        client_id=client_id, fetch_max_wait_ms=fetch_max_wait_ms,
        **{"auto_offset_reset": "earliest", **aiokafka_security(settings), **options})
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics
               for p in sorted(await partitions_of(consumer, t))]
        consumer.assign(tps)
        if paused:  # before this coroutine yields, so before the fetcher sends anything
            consumer.pause(*tps)
    except BaseException:
        await consumer.stop()
        raise
    return consumer, tps


async def read_record_at(bootstrap: str, topic: str, partition: int, offset: int, *,
                         client_id: str, fetch_max_wait_ms: int, timeout_s: float,
                         settings: Settings | None = None) -> bytes | None:
    """Return the value of the record at `offset` of `topic`'s `partition` (None for a
    tombstone); raise LookupError when the partition holds no record there (compacted away,
    or the broker lost it) and TimeoutError when no fetch answers within `timeout_s`.
    One short-lived reader of that one partition: for rare lookups, not for reading on."""
    consumer, tps = await open_reader(bootstrap, [topic], client_id=client_id,
                                      fetch_max_wait_ms=fetch_max_wait_ms, settings=settings)
    tp = TopicPartition(topic, partition)
    try:
        consumer.pause(*(other for other in tps if other != tp))
        consumer.seek(tp, offset)
        async with asyncio.timeout(timeout_s):
            while True:
                records = (await consumer.getmany(tp, timeout_ms=fetch_max_wait_ms,
                                                  max_records=1)).get(tp, [])
                if records:
                    if records[0].offset != offset:
                        raise LookupError(f"{topic}[{partition}] has no record at {offset}")
                    return records[0].value
    finally:
        await consumer.stop()


def open_sync_reader(bootstrap: str, topics: Iterable[str], *, client_id: str,
                     settings: Settings | None = None, **options: Any,
                     ) -> tuple[KafkaConsumer, list[SyncTopicPartition]]:
    """Return a kafka-python consumer assigned every partition of `topics`, and those
    partitions (sorted), for the command line's blocking readers. The caller closes it.
    `settings`: the deployment's, for TLS and SASL (None: PLAINTEXT)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False, client_id=client_id,
                             **{"auto_offset_reset": "earliest", **kafka_python_security(settings),
                                **options})
    try:
        tps = [SyncTopicPartition(t, p) for t in topics
               for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(tps)
    except BaseException:
        consumer.close()
        raise
    return consumer, tps
