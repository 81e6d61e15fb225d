"""The location directory on every worker: a global reader of `vigil.locations` that keeps
`ctx.locations` as the topic says, and the audit of each location command, once per
deployment.

As for the watchlist (agents/watchlist.py): every worker reads all partitions from the
beginning with its own consumer outside any group, and is ready once it has read each
partition up to where the first fetch response said it ended (streams/readto.py: the
embedded broker's ListOffsets end is wrong, BROKER.md items 1 and 5). The dead letter and
the audit event of a command belong to a consumer group instead (the watchlist audit's
machinery, agents/watchlist_audit.py, with `LOCATIONS`). Locations have no expiry.
"""

from __future__ import annotations

import asyncio
import logging
import time

import faust
from aiokafka import TopicPartition
from mode import Service

from agents.context import WorkerContext
from agents.watchlist_audit import AuditedTopic, RecordAudit, RecordAudits, WatchlistAudit
from config.settings import Settings
from schemas.audit_events import location_record_event
from schemas.fetched import Fetched
from schemas.locations import LocationDelete, LocationUpsert, decode_location_command
from schemas.rejection import Rejected
from streams.reader import open_reader
from streams.readto import FetchedEnds, poll_ms, shrunk_partitions
from streams.restarting import keep_running
from streams.topics import locations_audit_group
from tables.locations import LocationDirectory

log = logging.getLogger(__name__)

Command = LocationUpsert | LocationDelete | Rejected

# Records a getmany: applying them holds the event loop, which the record agents share.
MAX_RECORDS = 1000
# How often the reader checks that the topic still holds what it has read.
LOG_CHECK_S = 1.0


def judge_location(value: bytes | None, key: bytes | None) -> Command | None:
    """Decode a `vigil.locations` record; None for a compaction tombstone."""
    if value is None:
        return None
    try:
        return decode_location_command(value, key)
    except Exception as exc:  # a decoder bug must not stop the reader
        log.exception("location decoder failed")
        return Rejected("internal_error", f"{type(exc).__name__}: {exc}"[:200])


def apply_location(directory: LocationDirectory, command: Command | None,
                   key: bytes | None) -> str:
    """Apply one judged command to `directory`; return the outcome (the metric's label):
    upsert, delete, tombstone or rejected (a refused command changes nothing)."""
    if isinstance(command, LocationUpsert):
        directory.upsert(command)
        return "upsert"
    if isinstance(command, LocationDelete):
        directory.delete(command.location_id)
        return "delete"
    if command is None and key:
        directory.delete(key.decode("utf-8", "replace"))
        return "tombstone"
    return "rejected"


def location_record_audit(settings: Settings) -> RecordAudit:
    """Return the RecordAudit of `vigil.locations` (no setting changes a verdict)."""
    def audit(fetched: Fetched, at_ms: int) -> RecordAudits:
        commands = [judge_location(rec.value, rec.key) for rec in fetched.records]
        return RecordAudits(
            [location_record_event(command, rec.key, fetched.source(i), at_ms)
             for i, (rec, command) in enumerate(zip(fetched.records, commands, strict=True))],
            {i: command for i, command in enumerate(commands) if isinstance(command, Rejected)})
    return audit


LOCATIONS = AuditedTopic("locations", locations_audit_group, location_record_audit)


def _export(ctx: WorkerContext) -> None:
    ctx.metrics.locations_known.set(len(ctx.locations))
    ctx.metrics.location_areas_known.set(ctx.locations.areas_known)


async def _read_locations(ctx: WorkerContext) -> None:
    topic = ctx.topics.locations
    consumer, tps = await open_reader(ctx.bootstrap, [topic], client_id="vigil-locations-reader",
                                      fetch_max_wait_ms=ctx.settings.kafka.fetch_max_wait_ms,
                                      settings=ctx.settings, paused=True)
    try:
        await consumer.seek_to_beginning(*tps)
        started = time.monotonic()
        ends = FetchedEnds(tps)
        empty = await ends.take_empty(consumer)  # then loaded before any poll (most often)
        consumer.resume(*tps)
        read_upto: dict[TopicPartition, int] = {}
        next_check = time.monotonic() + LOG_CHECK_S
        outcomes = ctx.metrics.location_commands
        while True:
            batches = {} if empty else await consumer.getmany(
                timeout_ms=poll_ms(ctx.locations_loaded.is_set()), max_records=MAX_RECORDS)
            empty = False
            for records in batches.values():
                for rec in records:
                    command = judge_location(rec.value, rec.key)
                    outcomes.labels(apply_location(ctx.locations, command, rec.key)).inc()
                    read_upto[TopicPartition(rec.topic, rec.partition)] = rec.offset + 1
            _export(ctx)
            if not ctx.locations_loaded.is_set():
                ends.note(consumer.highwater)
                if not ends.unread({tp: await consumer.position(tp) for tp in tps}):
                    ctx.locations_loaded.set()
                    ctx.metrics.locations_ready.set(1)
                    log.info("locations loaded: %d locations in %d areas from %s in %.2fs",
                             len(ctx.locations), ctx.locations.areas_known, topic,
                             time.monotonic() - started)
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + LOG_CHECK_S
                lost = await shrunk_partitions(consumer, read_upto, ctx.one_record_per_batch)
                if lost:
                    _forget(ctx, lost)
                    return  # the caller reads the topic again from its beginning
    finally:
        await consumer.stop()


def _forget(ctx: WorkerContext, lost: dict[int, tuple[int, int]]) -> None:
    """Clear the directory of a topic the broker lost, so that nothing is placed in an area
    by a command that no longer exists; readiness waits for the topic to be read again."""
    log.error("the locations topic %s is shorter than what was read from it (partition: "
              "(end, read) %s): the broker lost its data. Clearing the locations and reading "
              "them again. Reload them with `vigil locations load`.", ctx.topics.locations,
              lost)
    ctx.locations_loaded.clear()
    ctx.metrics.locations_ready.set(0)
    ctx.locations.clear()
    _export(ctx)


class LocationReader(Service):
    """The global locations reader as a service: its start begins the read and returns at
    once, so that it runs beside the watchlist's; `LocationsLoaded` then holds the consumer
    group join until the locations are read too."""

    def __init__(self, ctx: WorkerContext) -> None:
        super().__init__()
        self.ctx = ctx

    async def on_start(self) -> None:
        """Start the reader (after a failure the directory keeps what it has and the topic
        is read from the start)."""
        self.add_future(keep_running("locations reader", lambda: _read_locations(self.ctx)))


class LocationsLoaded(Service):
    """A service whose start ends once the locations are read to their end (or the worker
    stops): placed before the consumer, a worker joins its group only once it can place
    every location in its areas."""

    def __init__(self, loaded: asyncio.Event) -> None:
        super().__init__()
        self.loaded = loaded

    async def on_start(self) -> None:
        """Return once the locations are loaded."""
        await self.wait(self.loaded.wait())


def register_locations(app: faust.App, ctx: WorkerContext) -> tuple[Service, Service]:
    """Register the locations audit (a consumer group of its own) on `app`; return the
    reader and the readiness gate, for the worker to start before its consumer (the reader
    first, the gate after the watchlist reader, so both topics are read at once)."""
    app.service(WatchlistAudit(ctx, LOCATIONS))
    return LocationReader(ctx), LocationsLoaded(ctx.locations_loaded)
