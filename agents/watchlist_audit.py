"""The watchlist audit: each command on `vigil.watchlist` audited once per deployment, in
batches, off the consumer that feeds matching.

Its own aiokafka consumer in a consumer group of its own (`watchlist_audit_group`), so the
topic's partitions are shared among the workers and each command is audited by one of
them, while Faust's consumer (shared by the record agents) never holds a bulk load's
backlog in its stream buffers. Each `getmany` batch becomes its audit events (sealed into
the worker's chain in one go, written in large produce batches) and the dead letters of its
refused commands; once the broker has them all, the batch's offsets are committed
(at-least-once: a crash or a rebalance before the commit audits those commands again,
with new `seq`s in the new owner's chain).

The partitions this consumer owns also decide which worker audits an entry's expiry
(agents/watchlist.py `expire_entries`).

The same machinery audits `vigil.locations` (agents/locations.py): an `AuditedTopic` says
which topic, which group and how a record becomes its audit event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, RebalanceInProgressError
from mode import Service

from agents.audit import AuditTrail
from agents.consumer_lag import export_lag, member_lag
from agents.context import WorkerContext
from agents.metrics import Metrics
from agents.watchlist import judge_command
from config.settings import Settings
from schemas.audit import Templated
from schemas.audit_events import Event
from schemas.clock import now_ms
from schemas.fetched import Fetched, FetchedRecord
from schemas.rejection import Rejected, encode_deadletter
from schemas.watchlist_batch import CommandBatch, decode_watchlist_batch
from schemas.watchlist_batch_events import watchlist_batch_events
from streams.batch_writer import BatchWriter
from streams.collector import collector_paused
from streams.delivery import Destination, Outgoing, deliver
from streams.lean_records import lean_options
from streams.restarting import keep_running
from streams.security import aiokafka_security
from streams.topics import TopicNames, watchlist_audit_group

log = logging.getLogger(__name__)

# Records per getmany: large enough that a bulk load is audited at batch speed. Not more:
# getmany makes a batch's records, and the writer its produce batches, without yielding the
# event loop (measured with 20,000: loop stalls of 90 ms at p99 against 35 ms with 5,000).
MAX_RECORDS = 5_000
# Records judged and sealed at a time, without yielding the event loop the record agents
# share: about 3.5 µs each (measured on bulk upserts, half of it decoding), so some 4 ms.
SEAL_CHUNK = 1_000
# On stop, how long the batch being written may take to be acked and committed.
STOP_WAIT_S = 10.0


@dataclass
class RecordAudits:
    """The audit events of a chunk of records, one a record in their order (dicts, or
    templated: schemas/audit.py `Templated`), and the verdicts of the refused ones by position."""

    events: list[Event | Templated]
    refused: dict[int, Rejected]


# Fetched records and when they are audited, to their audit events. A whole chunk at a time,
# so that a topic's decoder can judge its records in one call.
RecordAudit = Callable[[Fetched, int], RecordAudits]


def judge_commands(records: Sequence[FetchedRecord], max_ttl_days: int) -> CommandBatch:
    """Judge watchlist records as `judge_command` does, decoding them in one call; a record
    without a value is a tombstone (IGNORED without a key)."""
    values, keys, timestamps = (list(map(attrgetter(name), records))
                                for name in ("value", "key", "timestamp"))
    try:
        return decode_watchlist_batch(values, keys, timestamps, max_ttl_days)
    except Exception:  # a decoder bug: each record alone, the failing ones refused
        log.exception("watchlist decoder failed on a batch")
    # A tombstone stays an IGNORED row: its audit event names the entry from the key.
    batch = CommandBatch.empty(len(records))
    for i, rec in enumerate(records):
        command = judge_command(rec.value, rec.key, rec.timestamp, max_ttl_days)
        if command is not None:
            batch.put(i, command)
    return batch


def watchlist_record_audit(max_ttl_days: int) -> RecordAudit:
    """Return the RecordAudit of `vigil.watchlist`: each command judged as when written."""
    def audit(fetched: Fetched, at_ms: int) -> RecordAudits:
        batch = judge_commands(fetched.records, max_ttl_days)
        return RecordAudits(watchlist_batch_events(batch, fetched, at_ms), batch.rejected)
    return audit


@dataclass(frozen=True)
class AuditedTopic:
    """A command topic audited once per deployment by a consumer group of its own."""

    short: str  # the topic's short name; also the `vigil_rejected_total` source label
    group: Callable[[Settings], str]
    record_audit: Callable[[Settings], RecordAudit]


WATCHLIST = AuditedTopic("watchlist", watchlist_audit_group,
                         lambda s: watchlist_record_audit(s.watchlist.max_ttl_days))


@dataclass
class AuditBatch:
    """What one batch of watchlist records leads to."""

    values: list[bytes]  # audit topic values, in chain order (checkpoints included)
    checkpoints: list[int]  # counts of the signed checkpoints among them
    dead_letters: list[Outgoing]
    rejected: dict[str, int]  # reason: count
    offsets: dict[TopicPartition, int] = field(default_factory=dict)  # to commit after

    def extend(self, later: AuditBatch) -> None:
        """Add what the records after this batch's lead to (`later`, sealed after it)."""
        self.values += later.values
        self.checkpoints += later.checkpoints
        self.dead_letters += later.dead_letters
        for reason, count in later.rejected.items():
            self.rejected[reason] = self.rejected.get(reason, 0) + count
        self.offsets.update(later.offsets)


def split_batches(batches: Mapping[TopicPartition, Sequence], size: int
                  ) -> Iterator[dict[TopicPartition, Sequence]]:
    """Yield `batches` (a `getmany` answer) as answers of at most `size` records each, the
    records in the same order."""
    chunk: dict[TopicPartition, Sequence] = {}
    room = size
    for tp, records in batches.items():
        start = 0
        while start < len(records):
            chunk[tp] = records[start:start + room]
            start += len(chunk[tp])
            room -= len(chunk[tp])
            if not room:
                yield chunk
                chunk, room = {}, size
    if chunk:
        yield chunk


def audit_batch(batches: Mapping[TopicPartition, Sequence], trail: AuditTrail,
                record_audit: RecordAudit, at_ms: int,
                deadletter_topic: Destination) -> AuditBatch:
    """Judge each record of `batches` (a `getmany` answer: records with offset, key, value
    and timestamp in ms) with `record_audit`, and return their audit events sealed into
    `trail`'s chain, the dead letters of the refused, and the offsets to commit once the
    broker has both."""
    fetched = Fetched.of(batches)
    audited = record_audit(fetched, at_ms)
    dead_letters: list[Outgoing] = []
    rejected: dict[str, int] = {}
    for i, refused in sorted(audited.refused.items()):
        rec, topic = fetched.records[i], fetched.topic
        rejected[refused.reason] = rejected.get(refused.reason, 0) + 1
        dead_letters.append(Outgoing(
            deadletter_topic, topic.encode(),
            encode_deadletter(refused, rec.value, topic, fetched.partitions[i], rec.offset)))
    values, checkpoints = trail.seal_batch(audited.events)
    offsets = {tp: recs[-1].offset + 1 for tp, recs in batches.items() if recs}
    return AuditBatch(values, checkpoints, dead_letters, rejected, offsets)


class _Ownership(ConsumerRebalanceListener):
    """The partitions the audit consumer owns; None while unknown (before the first
    assignment and from a revocation until the next assignment)."""

    def __init__(self, short: str = "watchlist") -> None:
        self.short = short
        self.partitions: frozenset[int] | None = None

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        self.partitions = None

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        self.partitions = frozenset(tp.partition for tp in assigned)
        log.info("%s audit partitions assigned: %s", self.short, sorted(self.partitions))


@dataclass(frozen=True)
class AuditContext:
    """What an audit consumer uses of its process: the watchlist audit child builds one
    (agents/watchlist_audit_child.py); a worker passes its WorkerContext, which has these."""

    settings: Settings
    bootstrap: str
    topics: TopicNames
    metrics: Metrics
    audit: AuditTrail
    deadletter_topic: Destination


class WatchlistAudit(Service):
    """The audit consumer of `audited` (by default the watchlist) as a service started with
    the worker's app (the watchlist's: in the worker's audit child, unless
    `watchlist.audit_process` is off)."""

    def __init__(self, ctx: AuditContext | WorkerContext, audited: AuditedTopic = WATCHLIST
                 ) -> None:
        super().__init__()
        self.ctx = ctx
        self.audited = audited
        self._record_audit = audited.record_audit(ctx.settings)
        self.ownership = _Ownership(audited.short)
        self._consumer: AIOKafkaConsumer | None = None

    def owned(self) -> frozenset[int] | None:
        """Return the watchlist partitions this worker audits, None while unknown."""
        return self.ownership.partitions

    async def on_start(self) -> None:
        """Start the audit loop (restarted after a failure, from the committed offsets)."""
        self.add_future(keep_running(f"{self.audited.short} audit", self._run))
        self.add_future(keep_running(f"{self.audited.short} audit lag", self._export_lag))

    async def _export_lag(self) -> None:
        """Export this member's lag on `vigil.watchlist` as `vigil_consumer_lag_messages`
        (Faust's group, whose lag agents/consumer_lag.py exports, does not read it)."""
        gauge, exported = self.ctx.metrics.consumer_lag, set()
        try:
            while True:
                await asyncio.sleep(self.ctx.settings.worker.lag_interval_s)
                consumer = self._consumer
                lag = {}
                if consumer is not None and self.ownership.partitions is not None:
                    try:
                        lag = await member_lag(consumer)
                    except Exception as exc:  # a rebalance or the broker away: next time
                        log.debug("watchlist audit lag not measured: %s", exc)
                        continue
                exported = export_lag(gauge, lag, exported)
        finally:
            export_lag(gauge, {}, exported)

    async def _run(self) -> None:
        ctx, s = self.ctx, self.ctx.settings
        self.ownership.partitions = None
        consumer = AIOKafkaConsumer(
            bootstrap_servers=ctx.bootstrap, group_id=self.audited.group(s),
            client_id=f"vigil-{self.audited.short}-audit", enable_auto_commit=False,
            auto_offset_reset="earliest", fetch_max_wait_ms=s.kafka.fetch_max_wait_ms,
            session_timeout_ms=int(s.kafka.session_timeout_s * 1000),
            heartbeat_interval_ms=int(s.kafka.heartbeat_interval_s * 1000),
            max_partition_fetch_bytes=s.worker.fetch_partition_bytes,
            **aiokafka_security(s), **lean_options())
        writer = BatchWriter(ctx.bootstrap, ctx.topics.audit, s,
                             client_id=f"vigil-{self.audited.short}-audit",
                             retries=s.worker.send_retries)
        await consumer.start()
        self._consumer = consumer
        writing: asyncio.Future | None = None  # the previous batch's write and commit
        try:
            await writer.start()
            consumer.subscribe([getattr(ctx.topics, self.audited.short)], listener=self.ownership)
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=MAX_RECORDS)
                # A batch is judged and sealed while the previous one is being written; it
                # is written, and committed, only once the previous one is committed.
                batch = await self._seal(batches) if batches else None
                if writing is not None:
                    done, writing = writing, None
                    await done
                if batch is not None:
                    writing = asyncio.ensure_future(self._write(consumer, writer, batch))
        finally:
            self.ownership.partitions = None
            self._consumer = None
            if writing is not None:  # let the batch being written finish and commit
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(writing, STOP_WAIT_S)  # else audited again
            await writer.stop()
            await consumer.stop()

    async def _seal(self, batches: dict) -> AuditBatch:
        ctx = self.ctx
        sealed = AuditBatch([], [], [], {})
        for chunk in split_batches(batches, SEAL_CHUNK):
            # The record agents' batches first: getmany may have returned at once, after
            # making the batch's records, and the previous chunk ran just before that.
            await asyncio.sleep(0)
            with collector_paused():
                sealed.extend(audit_batch(chunk, ctx.audit, self._record_audit, now_ms(),
                                          ctx.deadletter_topic))
        for reason, count in sealed.rejected.items():
            ctx.metrics.rejected.labels(self.audited.short, reason).inc(count)
        return sealed

    async def _write(self, consumer: AIOKafkaConsumer, writer: BatchWriter,
                     batch: AuditBatch) -> None:
        ctx = self.ctx
        # The dead letters and the audit events on the broker, then the offsets committed.
        await asyncio.gather(writer.write(batch.values),
                             deliver(batch.dead_letters, ctx.settings.worker.send_retries))
        ctx.audit.acked(batch.checkpoints)
        try:
            await consumer.commit(batch.offsets)
        except (CommitFailedError, IllegalStateError, RebalanceInProgressError) as exc:
            # Partitions moved meanwhile: their new owner audits these commands again.
            log.warning("%s audit offsets not committed (%s): the partitions' new owner "
                        "audits these commands again", self.audited.short, type(exc).__name__)
