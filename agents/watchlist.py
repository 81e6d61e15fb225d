"""The watchlist on every worker: a global reader that builds the index, and the expiry
timer. Each command is dead-lettered and audited once, by agents/watchlist_audit.py.

Every worker reads all partitions of `vigil.watchlist` from the beginning with its own
consumer outside any group (the GlobalKTable pattern). FAUST-NOTES section 4 measured why
not Faust's GlobalTable: it does not apply external changelog writes live with the default
recovery buffer, and its readiness is tied to the assignor. The side effects of a command
(dead letter, audit event) must happen once per deployment, not once per worker, so they
belong to a consumer group instead (agents/watchlist_audit.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

import faust
import numpy as np
from aiokafka import AIOKafkaConsumer, TopicPartition
from mode import Service

from agents.context import WorkerContext
from agents.watchlist_state import WatchlistCheckpoints
from schemas.audit_events import expiry_event
from schemas.clock import now_ms
from schemas.fetched import Fetched, FetchedRecord
from schemas.rejection import Rejected
from schemas.watchlist import WatchlistDelete, WatchlistEntry, decode_watchlist_command
from schemas.watchlist_batch import (
    DELETE,
    IGNORED,
    REJECTED,
    TOMBSTONE,
    UPSERT,
    decode_watchlist_batch,
)
from streams.collector import collector_paused
from streams.delivery import deliver
from streams.lean_records import lean_options
from streams.reader import open_reader
from streams.readto import FetchedEnds, poll_ms
from streams.restarting import keep_running
from tables.watchlist import Gone

log = logging.getLogger(__name__)

Command = WatchlistEntry | WatchlistDelete | Rejected
# What each row of a decoded batch counts as, in vigil_watchlist_commands_total.
OUTCOMES = {UPSERT: "upsert", DELETE: "delete", TOMBSTONE: "tombstone", REJECTED: "rejected",
            IGNORED: "rejected"}


def judge_command(value: bytes | None, key: bytes | None, timestamp_ms: int,
                  max_ttl_days: int) -> Command | None:
    """Decode a watchlist record as it was judged when written (its Kafka timestamp), so
    every worker and every replay reaches the same verdict. None for a tombstone."""
    if value is None:
        return None
    try:
        return decode_watchlist_command(value, key, timestamp_ms, max_ttl_days)
    except Exception as exc:  # a decoder bug must not stop the reader
        log.exception("watchlist decoder failed")
        return Rejected("internal_error", f"{type(exc).__name__}: {exc}"[:200])


def apply_judged(ctx: WorkerContext, judged: Sequence[tuple[Command | None, bytes | None, int]]
                 ) -> Counter[str]:
    """Apply judged (command, record key, partition) triples to this worker's watchlist in
    one batch; return how many were upserts, deletes, tombstones and rejected."""
    done: Counter[str] = Counter()
    commands: list[WatchlistEntry | WatchlistDelete | Gone] = []
    partitions: list[int] = []
    for command, key, partition in judged:
        if isinstance(command, WatchlistEntry | WatchlistDelete):
            done["upsert" if isinstance(command, WatchlistEntry) else "delete"] += 1
        elif command is None and key:  # compaction tombstone
            done["tombstone"] += 1
            command = Gone(key.decode("utf-8", "replace"))
        else:
            done["rejected"] += 1
            continue
        commands.append(command)
        partitions.append(partition)
    if commands:
        ctx.watchlist.apply(commands, partitions)
    return done


async def grow_meanwhile(ctx: WorkerContext,
                         batches: Mapping[TopicPartition, Sequence[FetchedRecord]]) -> None:
    """Grow the index for `batches` (a `getmany` answer about to be applied) in a thread
    when it must grow, matching going on meanwhile against the index as it is
    (tables/index.py `WatchlistIndex.grown`): a bulk load that doubles the key table of a
    national list no longer holds matching for the second the rebuild takes. The reader is
    the index's writer and awaits this; the expiry timer waits on `watchlist_saving`."""
    index = ctx.watchlist.index
    upserts = sum(map(len, batches.values()))
    # An upsert's key is its entry id (a command whose key is not is refused): its bytes.
    id_bytes = sum(len(r.key or b"") for records in batches.values() for r in records)
    if not index.growing(upserts, id_bytes):
        return
    async with ctx.watchlist_saving:
        started = time.monotonic()
        room = await asyncio.to_thread(index.grown, upserts, id_bytes)
        if room is not None and index.adopt(room):
            log.info("watchlist index grown (%s) in %.2fs, matching meanwhile",
                     ", ".join(sorted(room.arrays)), time.monotonic() - started)


def apply_records(ctx: WorkerContext, batches: Mapping[TopicPartition, Sequence[FetchedRecord]]
                  ) -> Counter[str]:
    """Decode and apply watchlist records (a `getmany` answer) in one batch, judged by their
    Kafka timestamps; return how many were upserts, deletes, tombstones and rejected."""
    fetched = Fetched.of(batches)
    records, partitions = fetched.records, fetched.partitions
    max_ttl = ctx.settings.watchlist.max_ttl_days
    try:
        batch = decode_watchlist_batch([r.value for r in records], [r.key for r in records],
                                       [r.timestamp for r in records], max_ttl)
    except Exception:  # a decoder bug must not stop the reader: judge them one by one
        log.exception("watchlist batch decoder failed: judging %d commands one by one",
                      len(records))
        return apply_judged(ctx, [(judge_command(r.value, r.key, r.timestamp, max_ttl), r.key,
                                   p) for r, p in zip(records, partitions, strict=True)])
    ctx.watchlist.apply_batch(batch, partitions)
    counts = np.bincount(batch.op, minlength=len(OUTCOMES))
    done: Counter[str] = Counter()
    for op, outcome in OUTCOMES.items():
        if counts[op]:
            done[outcome] += int(counts[op])
    return done


async def expire_entries(ctx: WorkerContext, owned_partitions: Callable[[], frozenset[int] | None],
                         started_ms: int) -> int:
    """Remove expired entries from this worker's index; audit those this worker owns.

    Every worker removes every expired entry (each holds them all); the expiry is audited
    by the worker whose watchlist audit consumer owns the entry's partition
    (`owned_partitions()`, None while unknown), so once per deployment. Entries that
    expired before this worker started were audited by the worker that ran then. Return
    how many entries were removed.
    """
    owned = owned_partitions()
    if not ctx.watchlist_loaded.is_set() or owned is None:
        return 0  # ownership is unknown mid-rebalance: the next tick decides
    async with ctx.watchlist_saving:  # not while a checkpoint writes the arrays
        now = now_ms()
        due = ctx.watchlist.expired(now)
        if not due:
            return 0
        ctx.watchlist.apply([Gone(entry.entry_id) for entry in due])
    out = [ctx.audit.entry(expiry_event(entry, now)) for entry in due
           if entry.partition in owned and entry.expires_at >= started_ms]
    ctx.metrics.expiries.inc(len(due))
    await deliver(out, ctx.settings.worker.send_retries)
    return len(due)


# How often the reader checks that the watchlist topic still holds what it has read.
LOG_CHECK_S = 1.0
# Commands per reader batch: about 25 ms of the event loop at the reader's speed.
MAX_RECORDS = 5000
# Bytes a fetch takes from one partition (aiokafka's default is 1 MiB).
FETCH_BYTES = 4 << 20


async def _read_watchlist(ctx: WorkerContext, state: WatchlistCheckpoints) -> None:
    topic = ctx.topics.watchlist
    # Large fetches: at a cold start the reader is bound by how fast records arrive.
    consumer, tps = await open_reader(ctx.bootstrap, [topic], client_id="vigil-watchlist-reader",
                                      fetch_max_wait_ms=ctx.settings.kafka.fetch_max_wait_ms,
                                      settings=ctx.settings, max_partition_fetch_bytes=FETCH_BYTES,
                                      fetch_max_bytes=4 * FETCH_BYTES, paused=True,
                                      **lean_options())
    try:
        started = time.monotonic()
        if not await state.restore(consumer, tps):
            await consumer.seek_to_beginning(*tps)
            state.start_from_beginning(tps)
        # Ready once every partition is read up to where it ended when first fetched.
        ends = FetchedEnds.from_now(tps)
        empty = await ends.take_empty(consumer)  # then loaded before any poll
        consumer.resume(*tps)  # a fitting checkpoint's check resumed them already
        read_upto = {TopicPartition(topic, p): mark.next_offset
                     for p, mark in state.marks.items() if mark.last is not None}
        next_check = time.monotonic() + LOG_CHECK_S
        while True:
            # Batches of MAX_RECORDS: applying one holds the event loop the record agents
            # share, and getmany answers from its buffer without yielding it: the yield lets
            # the agents' waiting batches run between two of them (a bulk load otherwise held
            # matching for as many batches as a fetch brought).
            await asyncio.sleep(0)
            batches = {} if empty else await consumer.getmany(
                timeout_ms=poll_ms(ctx.watchlist_loaded.is_set()), max_records=MAX_RECORDS)
            empty = False
            # Until the watchlist is loaded nothing matches, so growth stays in place then.
            if batches and ctx.watchlist_loaded.is_set():
                await grow_meanwhile(ctx, batches)
            with collector_paused():
                applied = apply_records(ctx, batches)
            for done, count in applied.items():
                ctx.metrics.watchlist_commands.labels(done).inc(count)
            for tp, records in batches.items():
                if records:
                    read_upto[tp] = records[-1].offset + 1
                    state.note(tp, records)
            if batches:
                for name, count in ctx.watchlist.entries_by_list().items():
                    ctx.metrics.watchlist_entries.labels(name).set(count)
                ctx.metrics.index_bytes.set(ctx.watchlist.nbytes)
            if not ctx.watchlist_loaded.is_set():
                ends.note(consumer.highwater, consumer.last_poll_timestamp)
                if not ends.unread({tp: await consumer.position(tp) for tp in tps}):
                    ctx.watchlist_loaded.set()
                    state.ready_soon.set()
                    ctx.metrics.watchlist_ready.set(1)
                    log.info("watchlist loaded: %d entries from %s in %.2fs",
                             len(ctx.watchlist), topic, time.monotonic() - started)
                    # Right away: a worker restarted soon after still finds its state.
                    await state.save_if_due(0)
            else:
                await state.save_if_due()
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + LOG_CHECK_S
                if await _log_lost(ctx, consumer, read_upto):
                    return  # the caller reads the topic again from its beginning
    finally:
        await consumer.stop()


async def _log_lost(ctx: WorkerContext, consumer: AIOKafkaConsumer,
                    read_upto: dict[TopicPartition, int]) -> bool:
    """If a watchlist partition now ends before what was read from it (a broker that came
    back empty), clear the watchlist and mark it not loaded, so that matching waits until it
    has been read again; return whether that happened. Entries kept from a log that no
    longer exists would go on matching, and offsets already read would skip new commands."""
    if not read_upto:
        return False
    ends = await consumer.end_offsets(list(read_upto))
    # Where the end offset counts batches (BROKER.md defect 1), a batch of several commands
    # from another producer leaves it below what was read: only an empty partition counts.
    lost = {tp.partition: (ends[tp], upto) for tp, upto in read_upto.items()
            if (ends[tp] == 0 if ctx.one_record_per_batch else ends[tp] < upto)}
    if not lost:
        return False
    log.error("the watchlist topic %s is shorter than what was read from it (partition: "
              "(end, read) %s): the broker lost its data. Clearing the watchlist and reading "
              "it again; matching waits until then. Reload it with `vigil watchlist load`.",
              ctx.topics.watchlist, lost)
    ctx.watchlist_loaded.clear()
    ctx.metrics.watchlist_ready.set(0)
    ctx.watchlist.clear()
    for name in ctx.watchlist.entries_by_list():
        ctx.metrics.watchlist_entries.labels(name).set(0)
    ctx.metrics.watchlist_log_lost.inc()
    return True


class WatchlistReader(Service):
    """The global watchlist reader as a service whose start ends once the watchlist is read
    to its end; it then follows the topic for the life of the worker.

    The worker starts it just before Faust's consumer (agents/app.py), so a worker joins
    its consumer group only once it can match: one that joined first held the partitions
    a rebalance gave it while it read the watchlist, and their records waited meanwhile
    (measured: a second worker reading 10^6 entries for 38 s under 570,000 records/s, p99
    42 s). From a checkpoint the join starts as soon as its header fits the topic: its
    arrays and the tail are read in well under the join's own seconds. The web server is
    up already, so /healthz and /metrics answer during the read.
    """

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.checkpoints = WatchlistCheckpoints.for_worker(ctx)

    async def on_start(self) -> None:
        """Start the reader (from a fitting checkpoint, else from the topic's start; after
        a failure it starts again the same way), and return once the watchlist is loaded,
        or as soon as a checkpoint is found to fit: then only its arrays and the tail are
        left to read,
        and the group join (seconds of its own) goes on meanwhile, the record agents
        waiting for the watchlist anyway. Or when the worker stops."""
        self.add_future(keep_running("watchlist reader",
                                     lambda: _read_watchlist(self.ctx, self.checkpoints)))
        await self.wait(self.checkpoints.ready_soon.wait())

    async def on_stop(self) -> None:
        """Save what changed since the last checkpoint, so a restart reads only the rest."""
        if self.ctx.watchlist_loaded.is_set():
            await self.checkpoints.save_if_due(0)


def register_watchlist(app: faust.App, ctx: WorkerContext,
                       owned_partitions: Callable[[], frozenset[int] | None]) -> WatchlistReader:
    """Register the expiry timer on `app` (expiries audited for the watchlist partitions
    `owned_partitions()` names); return the global watchlist reader, for the worker to
    start before its consumer."""
    started_ms = now_ms()

    @app.timer(interval=ctx.settings.watchlist.expiry_check_s)
    async def expire() -> None:
        await expire_entries(ctx, owned_partitions, started_ms)

    return WatchlistReader(ctx)
