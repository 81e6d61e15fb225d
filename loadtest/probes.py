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

from schemas.json import loads

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def wall_ms() -> float:
    """Return the wall clock in epoch milliseconds (the clock `observed_ts` is stamped with)."""
    return time.time_ns() / 1_000_000


@dataclass(frozen=True, slots=True)
class HitSeen:
    """A hit read back from the hits topic, with the wall-clock time it was read."""

    hit_id: str
    source: str
    location_id: str
    observed_ts: int
    read_ms: float


@dataclass
class HitReader:
    """Read the hits topic from its end as of `start()`; keep every hit with its read time."""

    bootstrap: str
    topic: str
    fetch_max_wait_ms: int
    seen: list[HitSeen] = field(default_factory=list)
    _consumer: AIOKafkaConsumer | None = None
    _task: asyncio.Task | None = None

    async def start(self) -> None:
        """Fix the start position (so no later hit is skipped) and begin reading."""
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
            fetch_max_wait_ms=self.fetch_max_wait_ms, client_id="vigil-loadtest-hits")
        await self._consumer.start()
        await self._consumer.topics()
        tps = [TopicPartition(self.topic, p)
               for p in sorted(self._consumer.partitions_for_topic(self.topic) or ())]
        self._consumer.assign(tps)
        await self._consumer.seek_to_end(*tps)
        for tp in tps:
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=200, max_records=10_000)
            now = wall_ms()
            for records in batches.values():
                for r in records:
                    hit = loads(r.value)
                    self.seen.append(HitSeen(hit["hit_id"], hit["source"], hit["location_id"],
                                             hit["observed_ts"], now))

    async def stop(self) -> None:
        """Stop reading and close the consumer."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()


def worker_counters(base_url: str) -> dict[str, float]:
    """Return the worker's counters: `records_in/<source>/<format>`, `rejected/<source>`
    and `hits/<source>`, summed over their other labels."""
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

    def __init__(self, bootstrap: str, group: str, topics: list[str]) -> None:
        self.group = group
        self.topics = topics
        self._admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="vigil-loadtest")
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                       client_id="vigil-loadtest-lag")

    def messages(self) -> int | None:
        """Return the group's lag in messages, or None when the group has committed nothing."""
        tps = [TopicPartition(t, p) for t in self.topics
               for p in (self._consumer.partitions_for_topic(t) or ())]
        committed = self._admin.list_group_offsets(self.group).get(self.group, {})
        if not committed:
            return None
        ends = self._consumer.end_offsets(tps)
        return sum(max(0, ends[tp] - (committed[tp].offset if tp in committed else 0))
                   for tp in tps)

    def close(self) -> None:
        """Close the clients."""
        self._admin.close()
        self._consumer.close()
