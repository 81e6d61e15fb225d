"""The watchlist reader's warm-restart checkpoint: this worker's watchlist state and the
topic offsets it reflects, in one local file (`tables/checkpoint.py`), the way Kafka
Streams keeps a state directory and a checkpoint file.

A restarted worker takes a checkpoint only when it fits: same topic (prefix included),
same hash secret, same partitions, and every partition's mark still where the topic has
it (`streams/checkpoint_fit.py`: offsets within the log, the last record read still the
same record). Anything else is logged in one line and the topic is read from its start.

Checkpoints need `watchlist.hash_secret`: with none, each process hashes under a random
secret of its own, so no later process could use what this one wrote.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.context import WorkerContext
from schemas.clock import now_ms
from schemas.scope import encode_scope, read_scope
from streams.checkpoint_fit import checkpoint_fits, seek_to_marks
from tables.checkpoint import (
    PartitionMark,
    Stale,
    checkpoint_directory,
    marks_from_json,
    marks_to_json,
    open_checkpoint,
    secret_fingerprint,
    write_checkpoint,
)
from tables.index_arrays import RestoreBuffers

log = logging.getLogger(__name__)

# Bumped whenever the index's arrays change meaning: an older checkpoint is then stale.
STORE_FORMAT = 2


class WatchlistCheckpoints:
    """Restore and save the watchlist state of one worker's reader.

    `marks` is how far the state has read each partition; the reader moves it with every
    batch it applies (`note`), and `dirty` says whether the state changed since it was
    last saved or restored.
    """

    def __init__(self, ctx: WorkerContext, directory: Path | None) -> None:
        self.ctx = ctx
        self.directory = directory
        self.marks: dict[int, PartitionMark] = {}
        self.dirty = False
        # Set once the state is known to be ready soon: a fitting checkpoint was taken (only
        # the tail is left to read), or the topic was read to its end.
        self.ready_soon = asyncio.Event()
        self._next_save = 0.0

    @classmethod
    def for_worker(cls, ctx: WorkerContext) -> WatchlistCheckpoints:
        """Return the checkpoints of `ctx`'s worker (off without a hash secret or folder)."""
        directory = checkpoint_directory(ctx.settings)
        if directory is not None and not ctx.settings.watchlist.hash_secret:
            log.info("no watchlist checkpoints: watchlist.hash_secret is empty, so this "
                     "worker hashes under a random secret no later process could reuse")
            directory = None
        return cls(ctx, directory)

    def _expect(self, partitions: int) -> dict[str, Any]:
        return {"topic": self.ctx.topics.watchlist, "partitions": partitions,
                "secret": secret_fingerprint(self.ctx.watchlist.secret), "store": STORE_FORMAT}

    def start_from_beginning(self, tps: Sequence[TopicPartition]) -> None:
        """Note that the topic is read from its start (no checkpoint taken)."""
        self.marks = {tp.partition: PartitionMark(0) for tp in tps}
        self.dirty = True

    async def restore(self, consumer: AIOKafkaConsumer, tps: Sequence[TopicPartition]) -> bool:
        """Take this worker's checkpoint if it fits the topic, and seek `consumer` to its
        marks; return False (the caller reads from the start) when there is none or it
        does not fit, saying why in one log line.

        `ready_soon` is set once the header fits, before the arrays are read (most of the
        time a checkpoint takes: 0.9 s at 10^7 entries): the group join, seconds of its own,
        goes on meanwhile. Arrays found corrupt then still send the reader to the start.

        Best with `consumer`'s partitions paused since it was opened (the fit check resumes
        them): a fetch from the topic's start sent meanwhile (megabytes, dropped at the
        seek) held the check's own for up to 0.2 s of a warm start on the embedded broker."""
        if self.directory is None:
            return False
        started = time.monotonic()
        opened = await asyncio.to_thread(open_checkpoint, self.directory, self._expect(len(tps)))
        if isinstance(opened, Stale):
            if opened.reason != "none":
                self._discard(opened.reason)
            return False
        with opened:
            try:
                header = opened.header
                marks = marks_from_json(header["marks"])
                counters, list_names = header["counters"], header["lists"]
                scopes = [None if v is None else read_scope(v) for v in header["scopes"]]
            except (KeyError, TypeError, ValueError) as exc:
                self._discard(f"bad header: {exc}")
                return False
            misfit = await checkpoint_fits(consumer, marks, self.ctx.topics.watchlist)
            if misfit is not None:
                self._discard(f"it does not fit the topic: {misfit}")
                return False
            self.ready_soon.set()
            buffers = RestoreBuffers()
            arrays = await asyncio.to_thread(opened.read_arrays, buffers.allocate)
        if isinstance(arrays, Stale):
            self._discard(arrays.reason)
            return False
        self.ctx.watchlist.index.restore(buffers.arrays, counters)
        self.ctx.watchlist.restore(list_names, scopes)
        seek_to_marks(consumer, marks, self.ctx.topics.watchlist)
        self.marks, self.dirty = marks, False
        log.info("watchlist checkpoint taken: %d entries as of offsets %s, in %.2fs",
                 len(self.ctx.watchlist), {p: m.next_offset for p, m in sorted(marks.items())},
                 time.monotonic() - started)
        return True

    def _discard(self, why: str) -> None:
        log.warning("watchlist checkpoint in %s not used (%s): reading %s from its start",
                    self.directory, why, self.ctx.topics.watchlist)

    def note(self, tp: TopicPartition, records: Sequence[Any]) -> None:
        """Note that `records` (in offset order) of `tp` were applied."""
        if records:
            self.marks[tp.partition] = PartitionMark.after(records[-1])
            self.dirty = True

    async def save_if_due(self, interval_s: float | None = None) -> None:
        """Save the state when it changed and the last save is `interval_s` old (the
        setting by default; 0: now)."""
        if self.directory is None or not self.dirty:
            return
        interval = self.ctx.settings.watchlist.checkpoint_interval_s if interval_s is None \
            else interval_s
        if time.monotonic() < self._next_save and interval > 0:
            return
        await self.save()
        self._next_save = time.monotonic() + interval

    async def save(self) -> None:
        """Write the state now. The arrays are written as they are, not copied (a copy
        would double the memory of a national watchlist), so the state must not change
        meanwhile: the reader awaits this, and the expiry timer waits on
        `ctx.watchlist_saving`."""
        assert self.directory is not None
        started = time.monotonic()
        async with self.ctx.watchlist_saving:
            arrays, counters = self.ctx.watchlist.index.snapshot()
            header = {**self._expect(len(self.marks)), "marks": marks_to_json(self.marks),
                      "counters": counters, "lists": self.ctx.watchlist.list_names,
                      "scopes": [None if scope is None else encode_scope(scope)
                                 for scope in self.ctx.watchlist.scopes],
                      "written_ms": now_ms()}
            try:
                await asyncio.to_thread(write_checkpoint, self.directory, header, arrays)
            except OSError as exc:
                log.warning("watchlist checkpoint not written to %s: %s", self.directory, exc)
                return
        self.dirty = False
        log.info("watchlist checkpoint written: %d entries in %.2fs", len(self.ctx.watchlist),
                 time.monotonic() - started)
