"""Finding any hit a worker may be asked about by id, older ones included, at bounded cost.

In order: the recent hits the fan-out keeps (`access.recent_hits`), a small cache of hits
fetched before (`access.hit_lookup_cache`), then the position index (tables/hitindex.py,
`access.hit_lookup_hits`), which costs one fetch at the hit's offset. An id in none of them
is unknown, found without touching the broker. The index learns every hit the fan-out
reads; at start it is back-filled with the hits of the last `hit_lookup_hits` before the
fan-out's own read-back, read once by a reader of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.hits import Hit
from schemas.json import loads
from tables.hitindex import HitIndex, hit_id_number
from web.hitstream import HitFanout, parse_hit
from web.sse import Position

log = logging.getLogger(__name__)

# Reads the value at (partition, offset) of `vigil.hits` (streams.reader.read_record_at).
FetchAt = Callable[[int, int], Awaitable[bytes | None]]
BACKFILL_BATCH = 2000
# A lookup missed by the index waits this long for the back-fill of older hits to end.
BACKFILL_WAIT_S = 30.0


class HitLocator:
    """Returns the hit of an id, wherever this worker can find it."""

    def __init__(self, fanout: HitFanout, index: HitIndex, cache_size: int,
                 fetch_at: FetchAt) -> None:
        self.fanout, self.index = fanout, index
        self.cache_size = cache_size
        self.fetch_at = fetch_at
        self._cache: OrderedDict[str, Hit] = OrderedDict()
        # Set once the index holds the hits from before the fan-out began (backfill_index).
        self.backfilled = asyncio.Event()
        # One fetch at a time: a burst of lookups queues instead of opening many readers.
        self._fetching = asyncio.Lock()

    def _cached(self, hit_id: str) -> Hit | None:
        hit = self._cache.get(hit_id)
        if hit is not None:
            self._cache.move_to_end(hit_id)
        return hit

    def _cache_hit(self, hit: Hit) -> None:
        self._cache[hit.hit_id] = hit
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    async def find(self, hit_id: str) -> Hit | None:
        """Return the hit of `hit_id`, or None when this worker knows no such hit."""
        hit = self.fanout.recent.get(hit_id) or self._cached(hit_id)
        if hit is not None:
            return hit
        if hit_id_number(hit_id) is None:
            return None  # not a hit id at all: nothing to wait for
        position = self.index.find(hit_id)
        if position is None and not self.backfilled.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.backfilled.wait(), BACKFILL_WAIT_S)
            position = self.index.find(hit_id)
        if position is None:
            return None
        async with self._fetching:
            if (hit := self._cached(hit_id)) is not None:  # fetched while this one waited
                return hit
            try:
                hit = parse_hit(await self.fetch_at(*position))
            except (LookupError, TimeoutError) as exc:
                log.warning("hit %s at %s:%s not fetched (%s)", hit_id, *position,
                            type(exc).__name__)
                return None
        if hit is None or hit.hit_id != hit_id:
            return None
        self._cache_hit(hit)
        return hit


async def backfill_index(consumer: AIOKafkaConsumer, tps: list[TopicPartition],
                         index: HitIndex, upto: Position) -> int:
    """Note in `index` the positions of the hits before `upto` (where the fan-out began),
    going back at most the index's capacity spread over the partitions; return how many.
    `consumer` is assigned `tps`; the caller stops it."""
    begins = await consumer.beginning_offsets(tps)
    back = index.capacity // max(1, len(tps))
    ends = {tp: upto.get(tp.partition, 0) for tp in tps}
    starts = {tp: max(begins[tp], ends[tp] - back) for tp in tps}
    todo = {tp: ends[tp] for tp in tps if starts[tp] < ends[tp]}
    # Only the partitions with something to back-fill are fetched (an empty assignment
    # held the consumer's stop() until the worker stopped).
    consumer.pause(*(tp for tp in tps if tp not in todo))
    for tp in todo:
        consumer.seek(tp, starts[tp])
    noted = 0
    while todo:
        batches = await consumer.getmany(*todo, timeout_ms=1000, max_records=BACKFILL_BATCH)
        for tp, records in batches.items():
            for rec in records:
                if rec.offset >= todo[tp]:
                    break
                try:
                    hit_id = loads(rec.value or b"null")["hit_id"]
                except (ValueError, TypeError, KeyError):
                    continue  # not a hit: nothing to find there
                if isinstance(hit_id, str):
                    index.note(hit_id, tp.partition, rec.offset)
                    noted += 1
        for tp in list(todo):
            if await consumer.position(tp) >= todo[tp]:
                del todo[tp]
                consumer.pause(tp)
    return noted
