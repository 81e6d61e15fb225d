"""Keeps every worker's suppression state in step with `vigil.hits`.

A group-less consumer reads all partitions of the hits topic from `suppression_lookback_s`
back (by Kafka timestamp) and records each hit; the record agents wait until it has
caught up with the end offsets seen at start, so a restarted worker suppresses exactly as
the one before it did. Hits are few, so every worker reading all of them costs little.

The same holds at every partition assignment: records handed over by a rebalance may
have been matched by their previous owner already (its last batch before the handover,
say). Their hits are on the topic by then, because a batch is acknowledged only after
its hits, so the record agents wait again until the hits written up to the assignment
have been read: a record matched twice is suppressed the second time, not hit twice.
"""

from __future__ import annotations

import logging
import time

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.context import WorkerContext
from agents.restarting import keep_running
from schemas.hits import decode_hit

log = logging.getLogger(__name__)

# Pruning walks the whole state; after every fetch it took 3.6 % of a worker's samples at
# 250,000 records/s. Pairs only need to go before memory matters, so once a second will do.
PRUNE_EVERY_S = 1.0


async def _seek_lookback(consumer: AIOKafkaConsumer, tps: list[TopicPartition],
                         since_ms: int) -> None:
    try:
        found = await consumer.offsets_for_times(dict.fromkeys(tps, since_ms))
    except Exception:  # a broker without timestamp lookups: read everything there is
        log.warning("offsets_for_times failed on the hits topic; reading it from the start")
        await consumer.seek_to_beginning(*tps)
        return
    ends = await consumer.end_offsets(tps)
    for tp in tps:
        at = found.get(tp)
        consumer.seek(tp, at.offset if at is not None else ends[tp])


async def _behind(consumer: AIOKafkaConsumer, tps: list[TopicPartition]
                  ) -> dict[TopicPartition, int]:
    """The partitions whose end is past the consumer's position, with that end."""
    ends = await consumer.end_offsets(tps)
    return {tp: end for tp, end in ends.items() if await consumer.position(tp) < end}


async def _follow_hits(ctx: WorkerContext) -> None:
    topic = ctx.topics.hits
    alerts = ctx.settings.alerts
    consumer = AIOKafkaConsumer(
        bootstrap_servers=ctx.bootstrap, group_id=None, enable_auto_commit=False,
        client_id="vigil-suppression-reader",
        fetch_max_wait_ms=ctx.settings.kafka.fetch_max_wait_ms,
    )
    await consumer.start()
    try:
        await consumer.topics()
        parts = sorted(consumer.partitions_for_topic(topic) or ())
        tps = [TopicPartition(topic, p) for p in parts]
        consumer.assign(tps)
        now = time.time_ns() // 1_000_000
        await _seek_lookback(consumer, tps, now - alerts.suppression_lookback_s * 1000)
        pending = await _behind(consumer, tps)
        next_prune = time.monotonic()
        while True:
            if ctx.suppression_resync.is_set():
                ctx.suppression_resync.clear()
                pending = await _behind(consumer, tps)
            if not pending:
                ctx.suppression_loaded.set()
            # Short polls: a record agent waiting on a resync waits at most one of them.
            batches = await consumer.getmany(timeout_ms=ctx.settings.kafka.fetch_max_wait_ms,
                                             max_records=5000)
            for records in batches.values():
                for rec in records:
                    try:
                        hit = decode_hit(rec.value)
                    except Exception:  # not ours to judge: the hits topic is output
                        continue
                    ctx.suppression.remember(hit.entry_id, hit.location_id, hit.observed_ts)
            for tp in list(pending):
                if await consumer.position(tp) >= pending[tp]:
                    del pending[tp]
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + PRUNE_EVERY_S
                lookback_ms = max(alerts.suppression_lookback_s, alerts.suppress_seconds) * 1000
                ctx.suppression.forget_before(ctx.suppression.newest_ms - lookback_ms)
    finally:
        await consumer.stop()


def register_suppression(app: faust.App, ctx: WorkerContext) -> None:
    """Register the task that follows the hits topic into the suppression state, and the
    catch-up at each partition assignment."""

    @app.on_partitions_assigned.connect
    async def catch_up_with_hits(_app: faust.App, assigned: set, **_kwargs) -> None:
        ctx.suppression_loaded.clear()
        ctx.suppression_resync.set()

    @app.task
    async def follow_hits() -> None:
        await keep_running("suppression reader", lambda: _follow_hits(ctx))
