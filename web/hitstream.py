"""Fan `vigil.hits` out to subscriber streams, each filtered by clearance and bounded.

Every worker reads all partitions of `vigil.hits` itself (no group), so a subscriber on any
worker sees every hit it is cleared for. The live reader never waits for a stream: a stream
whose buffer is full is cut off (its client resumes from the topic with Last-Event-ID).
A stream that resumes from an older position first catches up with a reader of its own,
then joins the live reader at the exact offsets where the two meet.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import Counter, Gauge

from config.settings import Settings
from config.subscribers import Principal
from schemas.hits import Hit, decode_hit
from streams.reader import open_reader
from streams.readto import FetchedEnds, current_ends
from tables.hitindex import HitIndex
from web.sse import Position, encode_position

log = logging.getLogger(__name__)

# How long the live reader may take to learn where the topic ends when it starts.
START_TIMEOUT_S = 30.0
# Lookups that may wait for the hit reader to catch up at once (each is checked after every
# fetch answer); past it a lookup does not wait.
MAX_CATCHING_UP = 1000


@dataclass(frozen=True, slots=True)
class QueuedHit:
    """A hit waiting to be written to one stream, with the event id that resumes after it."""

    hit: Hit
    value: bytes
    event_id: str


class HitStream:
    """One subscriber connection: what it may see, where it is, and its bounded buffer.

    `next` holds, per partition, the first offset this stream has not yet taken in; a
    record below it was already queued (or skipped as not cleared) and is ignored.
    """

    def __init__(self, principal: Principal, start: Position, capacity: int,
                 depth: Gauge) -> None:
        self.principal = principal
        self.next: Position = dict(start)
        self.queue: asyncio.Queue[QueuedHit] = asyncio.Queue(capacity)
        self.cut_off = False
        self._depth = depth.labels(principal.name)

    def _cleared(self, hit: Hit | None) -> bool:
        return hit is not None and self.principal.may_see(hit.list, hit.priority)

    def _advance(self, partition: int, offset: int) -> str:
        """Move past a record; return the event id that resumes after it."""
        self.next[partition] = offset + 1
        return encode_position(self.next)

    def offer(self, partition: int, offset: int, hit: Hit | None, value: bytes) -> bool:
        """Take a record from the live reader without waiting; False when the buffer is full."""
        if offset < self.next.get(partition, 0):
            return True  # already taken in by this stream's catch-up reader
        if not self._cleared(hit):
            self._advance(partition, offset)
            return True
        if self.queue.full():
            return False
        self.queue.put_nowait(QueuedHit(hit, value, self._advance(partition, offset)))
        self._depth.inc()
        return True

    async def put(self, partition: int, offset: int, hit: Hit | None, value: bytes) -> None:
        """Take a record from this stream's own catch-up reader, waiting for buffer space."""
        if offset < self.next.get(partition, 0):
            return
        event_id = self._advance(partition, offset)
        if self._cleared(hit):
            await self.queue.put(QueuedHit(hit, value, event_id))
            self._depth.inc()

    async def take(self, most: int, timeout_s: float) -> list[QueuedHit]:
        """Return 1 to `most` queued hits, waiting up to `timeout_s` for the first; [] if none."""
        try:
            taken = [await asyncio.wait_for(self.queue.get(), timeout_s)]
        except TimeoutError:
            return []
        while len(taken) < most and not self.queue.empty():
            taken.append(self.queue.get_nowait())
        self._depth.dec(len(taken))
        return taken

    def discard_queue(self) -> None:
        """Forget what is still queued (the stream is closing)."""
        self._depth.dec(self.queue.qsize())
        while not self.queue.empty():
            self.queue.get_nowait()


def parse_hit(value: bytes | None) -> Hit | None:
    """Return the hit in a `vigil.hits` value, or None (logged) if it is not one."""
    try:
        return decode_hit(value or b"")
    except (ValueError, TypeError):
        log.warning("vigil.hits holds a value that is not a hit; skipped")
        return None


class HitFanout:
    """The worker's live reader of `vigil.hits` and the streams it feeds."""

    def __init__(self, bootstrap: str, topic: str, fetch_max_wait_ms: int, recent_hits: int,
                 drops: Counter, settings: Settings | None = None,
                 index: HitIndex | None = None) -> None:
        self.bootstrap = bootstrap
        self.settings = settings  # how the reader connects (TLS, SASL); None: PLAINTEXT
        self.topic = topic
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.recent_limit = recent_hits
        self.drops = drops
        self.ready = asyncio.Event()
        # Next offset the live reader will read, per partition.
        self.position: Position = {}
        # Where "now" was when the reader started: new streams never start before it.
        self.live_from: Position = {}
        self.streams: set[HitStream] = set()
        # Recent hits by id, so an ack can be checked against the hit's list.
        self.recent: OrderedDict[str, Hit] = OrderedDict()
        # Where every hit read is on the topic, for lookups of older hits (web/hitlookup.py).
        self.index = index
        # Where this reader began on its first run (the recent hits before "now"); hits
        # before it are known only to the index's back-fill.
        self.read_from: Position = {}
        # Lookups waiting for this reader to read what the broker held when they asked.
        self._catching_up: dict[FetchedEnds, asyncio.Future[None]] = {}
        self._partitions: list[TopicPartition] = []

    async def _reader(self, client_id: str) -> tuple[AIOKafkaConsumer, list[TopicPartition]]:
        return await open_reader(self.bootstrap, [self.topic], client_id=client_id,
                                 fetch_max_wait_ms=self.fetch_max_wait_ms,
                                 settings=self.settings)

    def remember(self, hit: Hit) -> None:
        """Keep `hit` among the recent ones (oldest forgotten first)."""
        self.recent[hit.hit_id] = hit
        self.recent.move_to_end(hit.hit_id)
        while len(self.recent) > self.recent_limit:
            self.recent.popitem(last=False)

    def dispatch(self, partition: int, offset: int, value: bytes | None) -> None:
        """Hand one record to every live stream; cut off the streams that cannot take it."""
        hit = parse_hit(value)
        if hit is not None:
            self.remember(hit)
            if self.index is not None:
                self.index.note(hit.hit_id, partition, offset)
        self.position[partition] = offset + 1
        for stream in list(self.streams):
            if not stream.offer(partition, offset, hit, value or b""):
                self.streams.discard(stream)
                stream.cut_off = True
                self.drops.labels(stream.principal.name).inc()
                log.warning("hit stream of %s cut off: %d hits queued", stream.principal.name,
                            stream.queue.qsize())

    async def run(self) -> None:
        """Read `vigil.hits` live; on the first run, first read back `recent_hits` for acks."""
        consumer, tps = await self._reader("vigil-hit-fanout")
        try:
            if not self.position:
                ends = await current_ends(consumer, tps, START_TIMEOUT_S)
                begins = await consumer.beginning_offsets(tps)
                back = self.recent_limit // max(1, len(tps))
                self.live_from = {tp.partition: ends[tp] for tp in tps}
                self.position = {tp.partition: max(begins[tp], ends[tp] - back) for tp in tps}
                self.read_from = dict(self.position)
            for tp in tps:
                consumer.seek(tp, self.position.get(tp.partition, 0))
            self._partitions = tps
            self.ready.set()
            while True:
                # Not longer than a fetch waits: a lookup waiting in `caught_up` is told
                # after each answer.
                batches = await consumer.getmany(timeout_ms=self.fetch_max_wait_ms,
                                                 max_records=2000)
                for tp, records in batches.items():
                    for rec in records:
                        self.dispatch(tp.partition, rec.offset, rec.value)
                if self._catching_up:
                    self._tell_caught_up(consumer)
        finally:
            await consumer.stop()

    def _tell_caught_up(self, consumer: AIOKafkaConsumer) -> None:
        positions = {tp: self.position.get(tp.partition, 0) for tp in self._partitions}
        for ends, done in self._catching_up.items():
            ends.note(consumer.highwater, consumer.last_poll_timestamp)
            if not done.done() and not ends.unread(positions):
                done.set_result(None)

    async def caught_up(self, timeout_s: float) -> bool:
        """Wait until this reader has read every hit the broker held when called; return
        False if that took longer than `timeout_s` (or the reader is not running), or at
        once when MAX_CATCHING_UP lookups wait already (a flood of made-up ids)."""
        if len(self._catching_up) >= MAX_CATCHING_UP:
            return False
        ends = FetchedEnds.from_now(self._partitions)
        done = self._catching_up[ends] = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(done, timeout_s)
            return True
        except TimeoutError:
            return False
        finally:
            del self._catching_up[ends]

    def open(self, principal: Principal, resume: Position | None, capacity: int,
             depth: Gauge) -> HitStream:
        """Return a stream starting now, or at `resume` (an event id's position)."""
        now = {p: max(o, self.live_from.get(p, 0)) for p, o in self.position.items()}
        start = now if resume is None else {p: resume.get(p, 0) for p in now}
        return HitStream(principal, start, capacity, depth)

    def try_join(self, stream: HitStream) -> bool:
        """Join the live reader if `stream` is at or past it on every partition."""
        if all(stream.next.get(p, 0) >= o for p, o in self.position.items()):
            self.streams.add(stream)
            return True
        return False

    def close(self, stream: HitStream) -> None:
        """Stop feeding `stream`."""
        self.streams.discard(stream)

    async def catch_up(self, stream: HitStream) -> None:
        """Read from the stream's position with a reader of its own until it meets the live
        reader, then hand it over (no await between the check and the join)."""
        if self.try_join(stream):
            return
        consumer, tps = await self._reader("vigil-hit-catchup")
        try:
            for tp in tps:
                consumer.seek(tp, stream.next.get(tp.partition, 0))
            while not self.try_join(stream):
                batches = await consumer.getmany(timeout_ms=200, max_records=500)
                for tp, records in batches.items():
                    for rec in records:
                        hit = parse_hit(rec.value)
                        await stream.put(tp.partition, rec.offset, hit, rec.value or b"")
                    # Offsets may skip (compaction, transaction markers): the reader's
                    # position is where this stream now stands.
                    if tp.partition in stream.next:
                        position = await consumer.position(tp)
                        stream.next[tp.partition] = max(stream.next[tp.partition], position)
        finally:
            await consumer.stop()
