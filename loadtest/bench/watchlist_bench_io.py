"""What `vigil loadtest watchlist-bench` does to Kafka and to its workers: the entries
written in large batches, their audit marked as done, the sensing traffic; workers started
with a progress bar and stopped by pid; their metrics, log and memory read.

Every Kafka client here connects as the deployment's kafka.* security settings say.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from kafka import TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from cli.progress import ProgressLine, bar
from loadtest.bench.watchlist_bench_figures import (
    WorkerMetrics,
    loaded_from_log,
    parse_metrics,
    parse_status,
)
from loadtest.harness.deployment import Deployment
from loadtest.harness.periodic import Periodic
from loadtest.harness.probes import wait_committed
from loadtest.traffic.groundtruth import ExpectedHit, planted_hits
from loadtest.traffic.traffic import TrafficGenerator
from schemas.clock import now_ms
from schemas.json import dumps
from streams.clients import BULK_BATCH_BYTES
from streams.security import aiokafka_security, kafka_python_security
from streams.topics import watchlist_audit_group

DAY_MS = 86_400_000
# Entries the bench writes besides the traffic generator's: MAC addresses numbered from a
# base, one base for the watchlist and one for the bulk load. The generator's watched MACs
# are random with a first digit 8-f and its background MACs start with 0-7, so background
# traffic never hits these; a generator MAC that falls in a range is left out of it.
WATCHLIST_MAC_BASE = 0xF0_0000_0000_00
BULK_MAC_BASE = 0xE0_0000_0000_00
_ENTRY = (b'{"op":"upsert","entry_id":"%s-%09d","list":"wanted-persons",'
          b'"subject_type":"device","id_type":"mac","key":"%012x","priority":1,'
          b'"legal_basis":"load test: synthetic case","requested_by":"loadtest",'
          b'"expires_at":%d}')
CHUNK = 50_000  # filler entries built at a time
SETTLE_S = 3.0  # after ready, before the RSS is read
PHASES = ("empty worker", "writing entries", "cold start", "warm start", "bulk load",
          "hits read back")


def numbered_entries(prefix: bytes, mac_base: int, count: int, expires_ms: int,
                     avoid: Iterable[str] = ()) -> Iterator[tuple[bytes, bytes]]:
    """Yield `count` (entry_id, command) upserts of devices with MACs numbered from
    `mac_base`, skipping the MACs in `avoid` (normalised: 12 lower-case hex digits)."""
    skip = {int(m, 16) - mac_base for m in avoid if len(m) == 12}
    made = i = 0
    while made < count:
        if i not in skip:
            line = _ENTRY % (prefix, i, mac_base + i, expires_ms)
            yield b"%s-%09d" % (prefix, i), line
            made += 1
        i += 1


def generator_macs(gen: TrafficGenerator) -> list[str]:
    """Return the MACs on the traffic generator's watchlist."""
    return [c["key"] for c in gen.commands if c.get("id_type") == "mac"]


async def write_entries(d: Deployment, gen: TrafficGenerator, filler: int, expires_ms: int,
                        progress: Callable[[int], None]) -> dict[int, int]:
    """Write the generator's watchlist and `filler` numbered entries to the deployment's
    watchlist topic, filling produce batches of BULK_BATCH_BYTES partition by partition;
    return each partition's end (the offset after its last command). `progress(written)`
    is called per batch.

    Batches go round the partitions (keys are unique, so no entry's order across
    partitions matters); a batch is built with aiokafka's batch builder, not a send per
    record, which is what makes 10^7 entries quick to write.
    """
    topic = d.topics.watchlist
    producer = AIOKafkaProducer(bootstrap_servers=d.bootstrap, acks="all",
                                client_id="vigil-loadtest-watchlist-bench",
                                max_batch_size=BULK_BATCH_BYTES,
                                max_request_size=BULK_BATCH_BYTES * 2,
                                **aiokafka_security(d.settings))
    await producer.start()
    ends: dict[int, int] = {}
    written = 0
    try:
        partitions = sorted(await producer.partitions_for(topic))
        records = _all_entries(gen, filler, expires_ms)
        pending: list[tuple[asyncio.Future, int]] = []
        batch, n = producer.create_batch(), 0
        for key, value in records:
            if batch.append(key=key, value=value, timestamp=None) is None:
                pending.append((await producer.send_batch(
                    batch, topic, partition=partitions[len(pending) % len(partitions)]), n))
                batch, n = producer.create_batch(), 0
                batch.append(key=key, value=value, timestamp=None)
            n += 1
            if len(pending) >= 4 * len(partitions):
                written += await _settle(pending, ends)
                progress(written)
        if n:
            pending.append((await producer.send_batch(
                batch, topic, partition=partitions[len(pending) % len(partitions)]), n))
        written += await _settle(pending, ends)
        progress(written)
    finally:
        await producer.stop()
    return ends


def _all_entries(gen: TrafficGenerator, filler: int, expires_ms: int
                 ) -> Iterator[tuple[bytes, bytes]]:
    for c in gen.commands:
        yield c["entry_id"].encode(), dumps(c)
    yield from numbered_entries(b"W-WB", WATCHLIST_MAC_BASE, filler, expires_ms,
                                generator_macs(gen))


async def _settle(pending: list[tuple[asyncio.Future, int]], ends: dict[int, int]) -> int:
    """Await the batches sent; note each partition's end; return the records acked."""
    metas = await asyncio.gather(*(f for f, _ in pending))
    count = 0
    for meta, (_, n) in zip(metas, pending, strict=True):
        ends[meta.partition] = max(ends.get(meta.partition, 0), meta.offset + n)
        count += n
    pending.clear()
    return count


def write_bulk_file(path: Path, count: int, expires_ms: int, gen: TrafficGenerator) -> None:
    """Write `count` new upserts, one JSON line each, for `vigil watchlist load`."""
    with path.open("wb") as f:
        lines = (line for _, line in numbered_entries(b"W-BULK", BULK_MAC_BASE, count,
                                                      expires_ms, generator_macs(gen)))
        while chunk := [line for _, line in zip(range(CHUNK), lines, strict=False)]:
            f.write(b"\n".join(chunk) + b"\n")


def mark_audited(d: Deployment, ends: dict[int, int]) -> list[str]:
    """Commit the workers' watchlist audit group (agents/watchlist_audit.py) at `ends`, as if
    an earlier deployment had audited those commands; return the errors (empty: done). The
    group must have no member yet."""
    admin = KafkaAdminClient(bootstrap_servers=d.bootstrap, client_id="vigil-loadtest-wb",
                             **kafka_python_security(d.settings))
    try:
        answer = admin.alter_group_offsets(
            watchlist_audit_group(d.settings),
            {TopicPartition(d.topics.watchlist, p): OffsetAndMetadata(end, "", -1)
             for p, end in ends.items()})
    except KafkaError as exc:
        return [f"{type(exc).__name__}: {exc}"]
    finally:
        admin.close()
    return [f"{tp.partition}: {err.__name__}" for tp, err in answer.items()
            if getattr(err, "errno", 0) != 0]


def worker_metrics(base_url: str) -> WorkerMetrics:
    """Read the worker's /metrics."""
    with urllib.request.urlopen(base_url + "/metrics", timeout=5) as resp:
        return parse_metrics(resp.read().decode())


def memory(pid: int) -> dict[str, int]:
    """Return the process's VmRSS, VmHWM (its peak RSS) ... in bytes; empty once gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return parse_status(f.read())
    except OSError:
        return {}


class RssSampler(Periodic):
    """Samples the VmRSS of the process `pid_of()` names (None: none now) at a steady pace;
    keeps the largest."""

    def __init__(self, pid_of: Callable[[], int | None], every_s: float = 0.5) -> None:
        super().__init__(every_s)
        self.pid_of = pid_of
        self.max_rss = 0

    def tick(self) -> None:
        pid = self.pid_of()
        if pid is not None:
            self.max_rss = max(self.max_rss, memory(pid).get("VmRSS", 0))


@dataclass
class Traffic:
    """Binary sensing messages with planted hits, sent at `rate` records/s until stopped."""

    gen: TrafficGenerator
    topic: str
    rate: float
    batch: int
    sent_records: int = 0
    expected: list[ExpectedHit] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, producer: AIOKafkaProducer) -> None:
        """Send message i at i × batch / rate seconds (at once when behind) until `stop`;
        every send is awaited before it returns."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        pending: list[asyncio.Future] = []
        messages = self.gen.messages("sensing_binary", 10**9, self.batch, self.rate)
        for i, msg in enumerate(messages):
            if self.stop.is_set():
                break
            delay = started + i * self.batch / self.rate - loop.time()
            if delay > 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), delay)
                if self.stop.is_set():
                    break
            ts = now_ms()
            pending.append(await producer.send(self.topic, msg.stamped(ts), key=msg.key,
                                               headers=list(msg.headers)))
            self.sent_records += msg.records
            self.expected += planted_hits(msg, ts)
            if len(pending) >= 100:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)


class Progress:
    """The bar: the phases in turn, each with how far it is."""

    def __init__(self) -> None:
        self.line = ProgressLine()

    def show(self, phase: int, fraction: float, detail: str) -> None:
        done = (phase + max(0.0, min(1.0, fraction))) / len(PHASES)
        self.line.show(f"watchlist-bench {bar(done)} {phase + 1}/{len(PHASES)} "
                       f"{PHASES[phase]}: {detail}")


def start_timeout_s(entries: int) -> float:
    """How long a worker may take to be ready with `entries` (2,000 entries/s at worst)."""
    return 120 + entries * 0.0005


@dataclass
class Starter:
    """Starts deployments' workers, showing their read's progress; `close` stops them all by
    pid, also one spawned while the run was being stopped."""

    progress: Progress
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self, d: Deployment, phase: int, entries: int) -> float:
        """Start the deployment's worker and wait until /readyz says ready; return the
        seconds from process start to ready."""
        outcome: dict[str, Any] = {}

        def start() -> None:
            try:
                outcome["ready_s"] = d.start_worker(start_timeout_s(entries))
            except BaseException as exc:  # raised again below
                outcome["error"] = exc

        thread = threading.Thread(target=start, daemon=True)
        self.threads.append(thread)
        started = time.monotonic()
        thread.start()
        while thread.is_alive():
            thread.join(0.5)
            read = 0.0
            with contextlib.suppress(OSError, ValueError):
                read = worker_metrics(d.base_url).entries
            self.progress.show(phase, read / max(1, entries),
                               f"{read:,.0f} of {entries:,} entries read, "
                               f"{time.monotonic() - started:.0f}s")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["ready_s"]

    def start_and_check(self, d: Deployment, phase: int, entries: int
                        ) -> tuple[float, float, int]:
        """Start the worker on `entries` entries; return the seconds to ready, the seconds
        its reader took (its log line; the time to ready without one), its settled RSS."""
        log_from = d.log_path.stat().st_size if d.log_path.exists() else 0
        ready_s = self.start(d, phase, entries)
        held = d.watchlist_entries()
        if held != entries:
            raise RuntimeError(f"the worker holds {held:,} entries, {entries:,} were written")
        with d.log_path.open("rb") as f:
            f.seek(log_from)
            loaded = loaded_from_log(f.read().decode(errors="replace"))
        read_s = max(loaded[1], 1e-3) if loaded and loaded[0] == entries else ready_s
        assert d.worker is not None
        return ready_s, read_s, settled_rss(d.worker.pid)

    def close(self, d: Deployment) -> None:
        """Stop the deployment's workers (stopping a worker ends its starter's wait)."""
        d.close()
        for thread in self.threads:
            thread.join(5)
        d.stop_worker()
        for thread in self.threads:
            thread.join(5)


def log_lines_since(d: Deployment, offset: int, text: str) -> list[str]:
    """Return the lines of the worker log from byte `offset` on that hold `text`, cut short."""
    with d.log_path.open("rb") as f:
        f.seek(offset)
        lines = f.read().decode(errors="replace").splitlines()
    return [line[line.find(text):][:160] for line in lines if text in line]


def wait_for_log(d: Deployment, text: str, timeout_s: float) -> float:
    """Wait until the worker log holds `text`; return the seconds waited."""
    started = time.monotonic()
    while not log_lines_since(d, 0, text):
        if time.monotonic() - started > timeout_s:
            raise RuntimeError(f"no {text!r} in the worker log after {timeout_s:.0f} s")
        time.sleep(0.2)
    return time.monotonic() - started


def settled_rss(pid: int) -> int:
    """Return the process's VmRSS after SETTLE_S."""
    time.sleep(SETTLE_S)
    return memory(pid).get("VmRSS", 0)


def wait_audited(d: Deployment, ends: dict[int, int], timeout_s: float) -> None:
    """Wait until the workers' watchlist audit group has committed the watchlist up to
    `ends`."""
    wait_committed(d.bootstrap, watchlist_audit_group(d.settings), d.topics.watchlist, ends,
                   d.settings, timeout_s)
