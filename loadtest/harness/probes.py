"""What the load tools watch while traffic flows: hits read back, the worker's counters,
its CPU and memory, and its consumer group's lag."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import urllib.request
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from config.settings import Settings
from schemas.json import loads
from streams.reader import open_reader
from streams.readto import FetchedEnds, current_ends
from streams.security import kafka_python_security

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def wall_ms() -> float:
    """Return the wall clock in epoch milliseconds (the clock `observed_ts` is stamped with),
    as a float: the read and ack times it stamps keep their sub-millisecond part."""
    return time.time_ns() / 1_000_000


@dataclass(frozen=True, slots=True)
class HitSeen:
    """A hit read back from the hits topic, with the wall-clock time it was read."""

    hit_id: str
    source: str
    location_id: str
    observed_ts: int
    read_ms: float
    detected_ts: int | None = None  # when the worker made it (the hit's own field)


@dataclass
class HitReader:
    """Read the hits topic from its end as of `start()`; keep every hit with its read time.

    Following a partition live can skip a record on the embedded broker when several
    connections write it at once (streams/output_producers.py; several workers do), so
    `read_all` reads the same span again once the writers are done: the complete record
    of what was produced, while `seen` gives the read times.
    """

    bootstrap: str
    topic: str
    fetch_max_wait_ms: int
    settings: Settings | None = None  # how it connects (TLS, SASL); None: PLAINTEXT
    seen: list[HitSeen] = field(default_factory=list)
    _consumer: AIOKafkaConsumer | None = None
    _task: asyncio.Task | None = None
    _start: dict[TopicPartition, int] = field(default_factory=dict)

    async def _open(self) -> tuple[AIOKafkaConsumer, list[TopicPartition]]:
        """Return a started consumer of every partition of the topic, and the partitions."""
        return await open_reader(self.bootstrap, [self.topic], client_id="vigil-loadtest-hits",
                                 fetch_max_wait_ms=self.fetch_max_wait_ms, settings=self.settings)

    async def start(self) -> None:
        """Fix the start position (so no later hit is skipped) and begin reading."""
        self._consumer, tps = await self._open()
        self._start = await current_ends(self._consumer, tps, timeout_s=30)
        for tp, offset in self._start.items():
            self._consumer.seek(tp, offset)
        self._task = asyncio.create_task(self._read(self._consumer, self.seen))

    @staticmethod
    def _hits_of(batches: dict, read_ms: float) -> list[HitSeen]:
        out = []
        for records in batches.values():
            for r in records:
                hit = loads(r.value)
                out.append(HitSeen(hit["hit_id"], hit["source"], hit["location_id"],
                                   hit["observed_ts"], read_ms, hit.get("detected_ts")))
        return out

    async def _read(self, consumer: AIOKafkaConsumer, into: list[HitSeen]) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=10_000)
            into += self._hits_of(batches, wall_ms())

    async def read_all(self, timeout_s: float = 60) -> list[HitSeen]:
        """Read every hit from the start position to the topic's end as it is now (their
        read times are those of this read)."""
        consumer, _ = await self._open()
        hits: list[HitSeen] = []
        try:
            for tp, offset in self._start.items():
                consumer.seek(tp, offset)
            ends = FetchedEnds.from_now(self._start)
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=200, max_records=10_000)
                hits += self._hits_of(batches, wall_ms())
                ends.note(consumer.highwater, consumer.last_poll_timestamp)
                if not ends.unread({tp: await consumer.position(tp) for tp in self._start}):
                    break
        finally:
            await consumer.stop()
        return hits

    async def stop(self) -> None:
        """Stop reading and close the consumer."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()


def load_average() -> list[float]:
    """Return the machine's load average over 1, 5 and 15 minutes (benchmarks report it:
    other jobs share the cores)."""
    return [round(x, 2) for x in os.getloadavg()]


def worker_counters(base_url: str) -> dict[str, float]:
    """Return the worker's counters: `records_in/<source>/<format>`, `rejected/<source>`,
    `hits/<source>` and `out_of_scope/<source>`, summed over their other labels."""
    with urllib.request.urlopen(base_url + "/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "vigil_records_in_total":
                name = f"records_in/{s.labels['source']}/{s.labels['format']}"
            elif s.name == "vigil_rejected_total":
                name = f"rejected/{s.labels['source']}"
            elif s.name == "vigil_hits_total":
                name = f"hits/{s.labels['source']}"
            elif s.name == "vigil_out_of_scope_matches_total":
                name = f"out_of_scope/{s.labels['source']}"
            else:
                continue
            out[name] = out.get(name, 0.0) + s.value
    return out


@dataclass(frozen=True, slots=True)
class ProcessSample:
    """CPU seconds used so far and resident memory of a process."""

    cpu_s: float
    rss_bytes: int


def process_sample(pid: int) -> ProcessSample | None:
    """Read a process's CPU time and RSS from /proc; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/statm") as f:
            rss_pages = int(f.read().split()[1])
    except OSError:
        return None
    # Fields after the command: state is index 0, so utime/stime (14th, 15th) are 11 and 12.
    cpu = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    return ProcessSample(cpu, rss_pages * _PAGE)


class GroupLag:
    """Messages a consumer group has yet to commit on some topics (end offset - committed)."""

    def __init__(self, bootstrap: str, group: str, topics: list[str],
                 settings: Settings | None = None) -> None:
        self.group = group
        self.topics = topics
        security = kafka_python_security(settings)
        self._admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="vigil-loadtest",
                                       **security)
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, **security,
                                       client_id="vigil-loadtest-lag")

    def messages(self, ends: dict[TopicPartition, int] | None = None) -> int | None:
        """Return the group's lag in messages, or None when the group has committed nothing.

        The lag is measured against `ends` when given (say a writer's own acks), else
        against ListOffsets, which is wrong on the embedded broker for a topic written in
        batches of many records (streams/readto.py)."""
        committed = self.committed()
        if not committed:
            return None
        if ends is None:
            ends = self._consumer.end_offsets([
                TopicPartition(t, p) for t in self.topics
                for p in (self._consumer.partitions_for_topic(t) or ())])
        return sum(max(0, end - committed.get(tp, 0)) for tp, end in ends.items())

    def committed(self) -> dict[TopicPartition, int]:
        """Return the group's committed offset per partition (empty before its first commit)."""
        offsets = self._admin.list_group_offsets(self.group).get(self.group, {})
        return {tp: meta.offset for tp, meta in offsets.items()}

    def close(self) -> None:
        """Close the clients."""
        self._admin.close()
        self._consumer.close()


def wait_committed(bootstrap: str, group: str, topic: str, ends: dict[int, int],
                   settings: Settings | None, timeout_s: float, poll_s: float = 0.5) -> None:
    """Wait until `group` has committed `topic` up to `ends` (partition: offset after the
    last message); raise RuntimeError after `timeout_s`. The ends are the caller's (a
    writer's own acks): ListOffsets is wrong on the embedded broker for batched topics."""
    lag = GroupLag(bootstrap, group, [topic], settings)
    tp_ends = {TopicPartition(topic, p): end for p, end in ends.items()}
    deadline = time.monotonic() + timeout_s
    try:
        while (left := lag.messages(tp_ends)) is None or left > 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{group} has not committed {topic} after {timeout_s:.0f} s "
                                   f"({left} messages left)")
            time.sleep(poll_s)
    finally:
        lag.close()
