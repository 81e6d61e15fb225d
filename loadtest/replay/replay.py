"""Record what flows on the input topics to a file, and send a recording back at N× its pace.

Replay keeps each message's key, value, headers, Kafka timestamp and partition (modulo
the target topic's partition count), so records carry their original `ts`: hit ids and
suppression come out as in the original run, and a recording of the replay holds the
same bytes per partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaProducer
from kafka.errors import KafkaError

from cli.progress import ProgressLine, bar
from config.settings import Settings
from loadtest.harness.probes import GroupLag, HitReader
from loadtest.replay.recording import (
    RECORDED_TOPICS,
    RecordedMessage,
    RecordingWriter,
    count_records,
    read_recording,
)
from streams.brokercheck import aiokafka_producer_kwargs
from streams.clients import needs_one_record_per_batch
from streams.reader import open_reader
from streams.security import aiokafka_security
from streams.topics import TopicNames, app_id, ensure_topics, topic_names
from tables.inputs import INPUT_STREAMS

MAX_MESSAGE_BYTES = 16 << 20
IN_FLIGHT = 2_000  # sends awaited together: bounds memory, keeps the producer busy
MATCHED_TOPICS = tuple(s.name for s in INPUT_STREAMS)


@dataclass(frozen=True)
class Totals:
    """Messages and records moved, and how long it took."""

    messages: int
    records: int
    seconds: float

    def line(self, verb: str) -> str:
        """Return a one-line summary ("recorded 10 messages ...")."""
        rate = self.records / self.seconds if self.seconds > 0 else 0.0
        return (f"{verb} {self.messages:,} messages, {self.records:,} records in "
                f"{self.seconds:.1f}s ({rate:,.0f} records/s)")


async def record(bootstrap: str, topics: TopicNames, path: Path, *, shorts: tuple[str, ...],
                 duration_s: float, idle_s: float, from_beginning: bool, fetch_max_wait_ms: int,
                 progress: ProgressLine | None = None, settings: Settings | None = None
                 ) -> Totals:
    """Write the messages arriving on the `shorts` topics to `path` until `duration_s` has
    passed or nothing arrived for `idle_s` (0 disables either)."""
    by_name = {topics.resolve(s): s for s in shorts}
    consumer, tps = await open_reader(bootstrap, list(by_name), client_id="vigil-loadtest-record",
                                      fetch_max_wait_ms=fetch_max_wait_ms, settings=settings,
                                      max_partition_fetch_bytes=MAX_MESSAGE_BYTES)
    try:
        if from_beginning:
            await consumer.seek_to_beginning(*tps)
        else:
            await consumer.seek_to_end(*tps)
        for tp in tps:  # fix the start now, so nothing sent from here on is skipped
            await consumer.position(tp)
        started = last = time.monotonic()
        with RecordingWriter(path) as writer:
            while True:
                now = time.monotonic()
                if (duration_s and now - started >= duration_s) or (
                        idle_s and now - last >= idle_s):
                    break
                batches = await consumer.getmany(timeout_ms=200, max_records=5_000)
                for tp, msgs in batches.items():
                    short = by_name[tp.topic]
                    for m in msgs:
                        writer.write(RecordedMessage(
                            short, tp.partition, m.timestamp, m.key, m.value,
                            tuple((k, bytes(v)) for k, v in m.headers or ()),
                            count_records(short, m.value)))
                    last = time.monotonic()
                if progress is not None:
                    progress.show(f"recording {path.name}: {writer.messages:,} messages, "
                                  f"{writer.records:,} records, {now - started:.0f}s")
            return Totals(writer.messages, writer.records, time.monotonic() - started)
    finally:
        await consumer.stop()


def _scan(path: Path) -> tuple[int, int]:
    """Return the number of messages in a recording and its first timestamp."""
    messages = first = 0
    for m in read_recording(path):
        if messages == 0:
            first = m.timestamp_ms
        messages += 1
    return messages, first


async def replay(settings: Settings, bootstrap: str, path: Path, *, speed: float,
                 progress: ProgressLine | None = None) -> Totals:
    """Send a recording to the deployment's topics at `speed`× its pace (0: as fast as
    possible); while it runs, show records/s, the workers' lag and the hits seen."""
    total_messages, first_ts = _scan(path)
    topics = topic_names(settings)
    ensure_topics(bootstrap, settings)
    one = needs_one_record_per_batch(settings, bootstrap)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                max_request_size=MAX_MESSAGE_BYTES,
                                client_id="vigil-loadtest-replay", **aiokafka_producer_kwargs(one),
                                **aiokafka_security(settings))
    hits = HitReader(bootstrap, topics.hits, settings.kafka.fetch_max_wait_ms, settings)
    lag = GroupLag(bootstrap, app_id(settings),
                   [topics.resolve(s) for s in MATCHED_TOPICS], settings)
    await producer.start()
    await hits.start()
    lag_now: list[int | None] = [None]

    async def watch_lag() -> None:
        while True:
            with contextlib.suppress(KafkaError):  # the display goes on without a figure
                lag_now[0] = await asyncio.to_thread(lag.messages)
            await asyncio.sleep(1)

    watcher = asyncio.create_task(watch_lag())
    started = time.monotonic()
    sent_messages = sent_records = 0
    try:
        partitions = {s: len(await producer.partitions_for(topics.resolve(s)))
                      for s in RECORDED_TOPICS}
        pending: list[asyncio.Future] = []
        for m in read_recording(path):
            if speed > 0:
                due = started + (m.timestamp_ms - first_ts) / 1000 / speed
                if due > time.monotonic():
                    await asyncio.sleep(due - time.monotonic())
            pending.append(await producer.send(
                topics.resolve(m.topic), value=m.value, key=m.key,
                partition=m.partition % partitions[m.topic], timestamp_ms=m.timestamp_ms,
                headers=list(m.headers)))
            sent_messages += 1
            sent_records += m.records
            if len(pending) >= IN_FLIGHT:
                await asyncio.gather(*pending)
                pending.clear()
            if progress is not None and sent_messages % 200 == 0:
                progress.show(_status(sent_messages / max(1, total_messages), sent_records,
                                      time.monotonic() - started, lag_now[0], len(hits.seen)))
        await asyncio.gather(*pending)
        elapsed = time.monotonic() - started
        if progress is not None:
            progress.done(_status(1.0, sent_records, elapsed, lag_now[0], len(hits.seen)))
        return Totals(sent_messages, sent_records, elapsed)
    finally:
        watcher.cancel()
        await hits.stop()
        await producer.stop()
        lag.close()


def _status(fraction: float, records: int, elapsed: float, lag: int | None, hits: int) -> str:
    rate = records / elapsed if elapsed > 0 else 0.0
    lag_text = "-" if lag is None else f"{lag:,} msgs"
    return (f"{bar(fraction)} {fraction:4.0%}  {records:,} records  {rate:,.0f} records/s  "
            f"lag {lag_text}  hits {hits:,}")
