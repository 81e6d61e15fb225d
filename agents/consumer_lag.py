"""Consumer lag of the partitions this worker owns, exported as a gauge on a timer.

Lag is counted as Kafka's own tools count it: the partition's end offset minus the group's
committed offset, i.e. what a restart would have to read again. Only partitions assigned
to this worker are exported, so a sum over workers counts each partition once.

The end is the larger of two figures, each never past the true end: the high watermark of
the consumer's latest fetch response for the partition, and ListOffsets. On the embedded
broker ListOffsets counts produce batches, not records (docs/embedded-broker.md), so a
partition fed by one 100,000-record batch looked drained while it was read; the fetch
response counts records. ListOffsets still counts where fetching is paused (the fetch
figure then ages), and is exact on Apache Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

import faust
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import Gauge

from agents.context import WorkerContext
from streams.security import aiokafka_security
from tables.inputs import INPUT_STREAMS

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]


def end_offsets(listed: Mapping[TopicPartition, int],
                fetched: Mapping[TopicPartition, int | None]) -> dict[TopicPartition, int]:
    """Return each partition's end: the larger of ListOffsets (`listed`) and the high
    watermark of the latest fetch response (`fetched`, None before the first)."""
    return {tp: max(end, fetched.get(tp) or 0) for tp, end in listed.items()}


def consumer_lag(end: Mapping[TopicPartition, int], committed: Mapping[TopicPartition, int],
                 earliest: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
    """Return the lag of each partition in `end`.

    A partition with no committed offset (missing or -1) is read from its earliest offset
    (`consumer_auto_offset_reset` is earliest), so all of it is lag.
    """
    lag = {}
    for tp, end_offset in end.items():
        done = committed.get(tp, -1)
        start = done if done >= 0 else earliest.get(tp, 0)
        lag[tp] = max(0, end_offset - start)
    return lag


async def member_lag(consumer: AIOKafkaConsumer) -> dict[TopicPartition, int]:
    """Return the lag of the partitions assigned to `consumer`, a member of its own group
    (the watchlist audit's), counted as for Faust's group above."""
    tps = sorted(consumer.assignment())
    if not tps:
        return {}
    listed = await consumer.end_offsets(tps)
    earliest = await consumer.beginning_offsets(tps)
    committed = {}
    for tp in tps:
        offset = await consumer.committed(tp)
        committed[(tp.topic, tp.partition)] = -1 if offset is None else offset
    end = end_offsets({(tp.topic, tp.partition): o for tp, o in listed.items()},
                      {(tp.topic, tp.partition): consumer.highwater(tp) for tp in tps})
    return consumer_lag(end, committed,
                        {(tp.topic, tp.partition): o for tp, o in earliest.items()})


def export_lag(gauge: Gauge, lag: Mapping[TopicPartition, int],
               exported: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Set `gauge` to `lag`, drop the series of partitions no longer owned (`exported`
    before); return the series exported now."""
    now = {(topic, str(partition)) for topic, partition in lag}
    for labels in exported - now:  # revoked partitions: drop, do not go stale
        gauge.remove(*labels)
    for (topic, partition), messages in lag.items():
        gauge.labels(topic, str(partition)).set(messages)
    return now


async def _measure(app: faust.App, admin: AIOKafkaAdminClient, topics: set[str]
                   ) -> dict[TopicPartition, int]:
    tps = sorted(tp for tp in app.consumer.assignment() if tp.topic in topics)
    if not tps:
        return {}
    listed = await app.consumer.highwaters(*tps)  # ListOffsets, despite the name
    end = end_offsets({tuple(tp): o for tp, o in listed.items()},
                      {tuple(tp): app.consumer.highwater(tp) for tp in tps})
    earliest = await app.consumer.earliest_offsets(*tps)
    offsets = await admin.list_consumer_group_offsets(app.conf.id, partitions=tps)
    committed = {tuple(tp): meta.offset for tp, meta in offsets.items()}
    return consumer_lag(end, committed,
                        {tuple(tp): o for tp, o in earliest.items()})


class _LagExporter:
    """Measure this worker's lag and keep the gauge's series to the partitions it owns."""

    def __init__(self, app: faust.App, ctx: WorkerContext) -> None:
        t = ctx.topics
        self.app, self.bootstrap, self.settings = app, ctx.bootstrap, ctx.settings
        # vigil.watchlist is read by the audit group, which exports its own lag
        # (agents/watchlist_audit.py).
        self.topics = {t.resolve(s.name) for s in INPUT_STREAMS}
        self.gauge = ctx.metrics.consumer_lag
        self.admin: AIOKafkaAdminClient | None = None
        self.exported: set[tuple[str, str]] = set()

    async def refresh(self) -> None:
        """Measure once and update the gauge; raise when the lag cannot be measured."""
        if self.admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="vigil-lag",
                                        **aiokafka_security(self.settings))
            await admin.start()
            self.admin = admin
        lag = await _measure(self.app, self.admin, self.topics)
        self.exported = export_lag(self.gauge, lag, self.exported)

    async def close(self) -> None:
        """Close the admin client, if one was started."""
        if self.admin is not None:
            admin, self.admin = self.admin, None
            await admin.close()


def register_consumer_lag(app: faust.App, ctx: WorkerContext) -> None:
    """Register the task that refreshes `vigil_consumer_lag_messages` every few seconds."""
    interval_s = ctx.settings.worker.lag_interval_s

    @app.task
    async def export_consumer_lag() -> None:
        exporter = _LagExporter(app, ctx)
        failing = False
        try:
            while True:
                await asyncio.sleep(interval_s)
                try:
                    await exporter.refresh()
                    failing = False
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # no assignment yet, a rebalance, the broker away
                    if not failing:
                        log.warning("consumer lag not measured: %s: %s", type(exc).__name__, exc)
                    failing = True
                    # A fresh client next time: this one may be what failed.
                    with contextlib.suppress(Exception):
                        await exporter.close()
        finally:
            await exporter.close()
