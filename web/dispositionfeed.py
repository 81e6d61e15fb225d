"""Each worker's reader of `vigil.dispositions`: every partition, from the beginning, then
followed, into the worker's DispositionBook (tables/dispositions.py).

Every worker reads the whole topic itself (no group), so a disposition recorded on one
worker is in force on all of them within a fetch wait (`kafka.fetch_max_wait_ms`) of its
write. `loaded` is set once the topic has been read to the ends its first fetch responses
reported (streams/readto.py), so a worker never answers from a half-read topic.
"""

from __future__ import annotations

import asyncio
import logging

from config.settings import Settings
from schemas.dispositions import Disposition, decode_disposition
from streams.reader import open_reader, read_record_at
from streams.readto import FetchedEnds
from tables.dispositions import DispositionBook

log = logging.getLogger(__name__)

LOOKUP_TIMEOUT_S = 5.0


class DispositionFeed:
    """The dispositions in force as this worker has read them, and the reader that keeps
    them current."""

    def __init__(self, bootstrap: str, topic: str, settings: Settings) -> None:
        self.bootstrap, self.topic, self.settings = bootstrap, topic, settings
        self.book = DispositionBook(settings.access.dispositions_cached)
        self.loaded = asyncio.Event()

    def _take(self, partition: int, offset: int, key: bytes | None, value: bytes | None
              ) -> None:
        if value is None:  # a tombstone: whoever wrote it withdrew the disposition
            if key:
                self.book.forget(key.decode("utf-8", "replace"), partition, offset)
            return
        try:
            disposition = decode_disposition(value)
        except (ValueError, TypeError):
            log.warning("vigil.dispositions holds a value that is not a disposition at "
                        "%d:%d; skipped", partition, offset)
            return
        self.book.apply(disposition, partition, offset)

    async def run(self) -> None:
        """Read the topic from the beginning, then follow it, until cancelled."""
        wait_ms = self.settings.kafka.fetch_max_wait_ms
        consumer, tps = await open_reader(self.bootstrap, [self.topic],
                                          client_id="vigil-dispositions-reader",
                                          fetch_max_wait_ms=wait_ms, settings=self.settings)
        try:
            await consumer.seek_to_beginning(*tps)
            ends: FetchedEnds | None = FetchedEnds(tps)
            while True:
                batches = await consumer.getmany(timeout_ms=wait_ms, max_records=1000)
                for tp, records in batches.items():
                    for rec in records:
                        self._take(tp.partition, rec.offset, rec.key, rec.value)
                if ends is not None:
                    ends.note(consumer.highwater)
                    if not ends.unread({tp: await consumer.position(tp) for tp in tps}):
                        ends = None
                        self.loaded.set()
        finally:
            await consumer.stop()

    async def in_force(self, hit_id: str) -> Disposition | None:
        """Return the disposition in force for `hit_id`, fetching it from the topic when
        only its position is kept; None when it has none (or cannot be fetched now)."""
        held = self.book.get(hit_id)
        if not isinstance(held, tuple):
            return held
        partition, offset = held
        try:
            value = await read_record_at(
                self.bootstrap, self.topic, partition, offset,
                client_id="vigil-dispositions-lookup", timeout_s=LOOKUP_TIMEOUT_S,
                fetch_max_wait_ms=self.settings.kafka.fetch_max_wait_ms,
                settings=self.settings)
        except (LookupError, TimeoutError) as exc:
            log.warning("disposition of %s at %d:%d not fetched (%s)", hit_id, partition,
                        offset, type(exc).__name__)
            return None
        if self.book.get(hit_id) != held:  # the reader moved on while this one fetched
            return await self.in_force(hit_id)
        self._take(partition, offset, hit_id.encode(), value)
        found = self.book.get(hit_id)
        return found if isinstance(found, Disposition) else None
