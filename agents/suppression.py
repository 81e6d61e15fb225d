"""Keeps every worker's suppression state in step with `vigil.hits`.

A group-less consumer reads all partitions of the hits topic from `suppression_lookback_s`
back (by Kafka timestamp) and records each hit; the record agents wait until it has
caught up with the ends that fetch responses reported after it started, so a restarted
worker suppresses exactly as the one before it did. Hits are few, so every worker reading
all of them costs little (but see FOLLOW_EVERY_S).

The same holds at every partition assignment: records handed over by a rebalance may
have been matched by their previous owner already (its last batch before the handover,
say). Their hits are on the topic by then, because a batch is acknowledged only after
its hits, so the record agents wait again until the hits written up to the assignment
have been read: a record matched twice is suppressed the second time, not hit twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import faust
from mode import Service

from agents.context import WorkerContext
from schemas.clock import now_ms
from schemas.hits import decode_hit
from streams.reader import open_reader
from streams.readto import FetchedEnds
from streams.restarting import keep_running
from streams.scan import seek_to_time

log = logging.getLogger(__name__)

# Once caught up, the reader takes what has arrived this often, not each hit as it lands.
# Every fetch that returns records costs the embedded broker a walk over all the batches
# stored in the partition (README, "Why the broker slows down"), so a reader that fetched
# each hit made the broker's work grow with the square of the hits. A worker remembers its
# own hits as it sends them (Suppression.admit); another worker's hits reach it up to this
# much later than before, which matters only where two workers sight one entry at one
# location within that time (it always could race). A partition handover waits for them
# anyway (resync). aiokafka fetches a partition again only once its records are taken.
FOLLOW_EVERY_S = 0.5

# Pruning walks the whole state; after every fetch it took 3.6 % of a worker's samples at
# 250,000 records/s. Pairs only need to go before memory matters, so once a second will do.
PRUNE_EVERY_S = 1.0


async def _follow_hits(ctx: WorkerContext) -> None:
    topic = ctx.topics.hits
    alerts = ctx.settings.alerts
    consumer, tps = await open_reader(ctx.bootstrap, [topic],
                                      client_id="vigil-suppression-reader",
                                      fetch_max_wait_ms=ctx.settings.kafka.fetch_max_wait_ms,
                                      settings=ctx.settings)
    try:
        now = now_ms()
        await seek_to_time(consumer, tps, now - alerts.suppression_lookback_s * 1000)
        # Catching up: read to the ends that fetch responses report (ListOffsets is short on
        # the embedded broker for a topic written in batches, streams/readto.py).
        catch_up: FetchedEnds | None = FetchedEnds.from_now(tps)
        next_prune = time.monotonic()
        while True:
            if ctx.suppression_resync.is_set():
                ctx.suppression_resync.clear()
                catch_up = FetchedEnds.from_now(tps)
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
            if catch_up is not None:
                catch_up.note(consumer.highwater, consumer.last_poll_timestamp)
                if not catch_up.unread({tp: await consumer.position(tp) for tp in tps}):
                    catch_up = None
                    ctx.suppression_loaded.set()
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + PRUNE_EVERY_S
                lookback_ms = max(alerts.suppression_lookback_s, alerts.suppress_seconds) * 1000
                ctx.suppression.forget_before(ctx.suppression.newest_ms - lookback_ms)
            if catch_up is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ctx.suppression_resync.wait(), FOLLOW_EVERY_S)
    finally:
        await consumer.stop()


class HitsFollower(Service):
    """The reader that follows the hits topic into the suppression state, as a service:
    the worker starts it before its consumer, so the recent hits are read while the group
    is joined, and only the catch-up at the assignment is left after it."""

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__()
        self.ctx = ctx

    async def on_start(self) -> None:
        """Start the reader (restarted after a failure, from the lookback again)."""
        self.add_future(keep_running("suppression reader", lambda: _follow_hits(self.ctx)))


def register_suppression(app: faust.App, ctx: WorkerContext) -> HitsFollower:
    """Register the catch-up with the hits topic at each partition assignment; return the
    reader that follows it, for the worker to start before its consumer."""

    @app.on_partitions_assigned.connect
    async def catch_up_with_hits(_app: faust.App, assigned: set, **_kwargs) -> None:
        ctx.suppression_loaded.clear()
        ctx.suppression_resync.set()

    return HitsFollower(ctx)
