"""Consumer lag of the partitions this worker owns, exported as a gauge on a timer.

Lag is counted as Kafka's own tools count it: the partition's end offset minus the group's
committed offset, i.e. what a restart would have to read again. Only partitions assigned
to this worker are exported, so a sum over workers counts each partition once. End offsets
are right on the embedded broker only with one record per produce batch (BROKER.md,
defect 1), which the start-up check switches on there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import faust
from aiokafka.admin import AIOKafkaAdminClient

from agents.context import WorkerContext

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]


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


async def _measure(app: faust.App, admin: AIOKafkaAdminClient, topics: set[str]
                   ) -> dict[TopicPartition, int]:
    tps = sorted(tp for tp in app.consumer.assignment() if tp.topic in topics)
    if not tps:
        return {}
    end = await app.consumer.highwaters(*tps)
    earliest = await app.consumer.earliest_offsets(*tps)
    offsets = await admin.list_consumer_group_offsets(app.conf.id, partitions=tps)
    committed = {tuple(tp): meta.offset for tp, meta in offsets.items()}
    return consumer_lag({tuple(tp): o for tp, o in end.items()}, committed,
                        {tuple(tp): o for tp, o in earliest.items()})


def register_consumer_lag(app: faust.App, ctx: WorkerContext) -> None:
    """Register the task that refreshes `vigil_consumer_lag_messages` every few seconds."""
    t = ctx.topics
    topics = {t.sensing, t.plates, t.checkins, t.watchlist}
    gauge = ctx.metrics.consumer_lag
    interval_s = ctx.settings.worker.lag_interval_s

    @app.task
    async def export_consumer_lag() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=ctx.bootstrap, client_id="vigil-lag")
        exported: set[tuple[str, str]] = set()
        failing = False
        try:
            await admin.start()
            while True:
                await asyncio.sleep(interval_s)
                try:
                    lag = await _measure(app, admin, topics)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # no assignment yet, a rebalance, the broker away
                    if not failing:
                        log.warning("consumer lag not measured: %s: %s", type(exc).__name__, exc)
                    failing = True
                    continue
                failing = False
                now = {(topic, str(partition)) for topic, partition in lag}
                for labels in exported - now:  # revoked partitions: drop, do not go stale
                    gauge.remove(*labels)
                for (topic, partition), records in lag.items():
                    gauge.labels(topic, str(partition)).set(records)
                exported = now
        finally:
            await admin.close()
